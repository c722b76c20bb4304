//! The `rota dev` under test: this same binary, started as a child process on a free loopback
//! port and a temporary data directory, killed and restarted on demand, and cleaned up (with
//! any runs it left) when dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rota_client::Client;

/// How to start `rota dev`.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// Cores the node offers (`--cores`).
    pub cores: f64,
    /// Memory the node offers in MB (`--mems`).
    pub mems: i64,
    /// Its `RUST_LOG`.
    pub log: String,
    /// Keep the data directory after the benchmark.
    pub keep: bool,
    /// A command line to start it under (empty: none).
    pub wrap: Vec<String>,
}

/// How long a start took, from the spawn.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    /// Until it printed `serving http://…` (the listener is bound; `rota dev` prints this
    /// before it opens and recovers the store).
    pub listening: Duration,
    /// Until `GET /healthz` answered.
    pub healthy: Duration,
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`, bytes.
    pub rss: u64,
    /// `VmHWM` (the peak of `VmRSS`), bytes.
    pub hwm: u64,
}

/// CPU time a process has used, from `/proc/PID/stat`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu {
    /// Its own user and system time.
    pub own: Duration,
    /// Of which system time (in the kernel on its behalf).
    pub system: Duration,
    /// The user and system time of its children it has reaped (the runs' processes).
    pub children: Duration,
}

impl Cpu {
    /// The CPU time of process `pid` (`self` for this one).
    pub fn of(pid: &str) -> Result<Cpu> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        let after = &stat[stat.rfind(')').context("a comm")? + 1..];
        let fields: Vec<u64> = after
            .split_whitespace()
            .skip(11)
            .take(4)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // utime, stime, cutime, cstime in clock ticks of 1/100 s (USER_HZ on Linux).
        let ticks = |n: u64| Duration::from_millis(n * 10);
        Ok(Cpu {
            own: ticks(fields[0] + fields[1]),
            system: ticks(fields[1]),
            children: ticks(fields[2] + fields[3]),
        })
    }

    /// The CPU time used since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            own: self.own.saturating_sub(earlier.own),
            system: self.system.saturating_sub(earlier.system),
            children: self.children.saturating_sub(earlier.children),
        }
    }
}

/// A running `rota dev`.
pub struct DevServer {
    child: Option<Child>,
    url: String,
    root: PathBuf,
    options: DevOptions,
    spawns: usize,
}

impl DevServer {
    /// Starts `rota dev` in a new temporary directory and waits until it is healthy.
    pub async fn start(options: DevOptions) -> Result<(DevServer, Startup)> {
        let root = std::env::temp_dir().join(format!(
            "rota-bench-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_nanosecond()
        ));
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        if !options.wrap.is_empty() {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777))?;
        }
        let mut server = DevServer {
            child: None,
            url: String::new(),
            root,
            options,
            spawns: 0,
        };
        let startup = server.spawn().await?;
        Ok((server, startup))
    }

    /// A new client of it.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// Where its agent writes the runs' logs.
    pub fn log_root(&self) -> PathBuf {
        self.root.join("data").join("logs")
    }

    /// Its store's file.
    pub fn store_file(&self) -> PathBuf {
        self.root.join("data").join("store").join("rota.redb")
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its resident memory now.
    pub fn memory(&self) -> Result<Memory> {
        let pid = self.pid().context("rota dev is not running")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        let field = |name: &str| -> Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .context("a number")?
                .parse()?;
            Ok(kib * 1024)
        };
        Ok(Memory {
            rss: field("VmRSS:")?,
            hwm: field("VmHWM:")?,
        })
    }

    /// The CPU time it has used so far.
    pub fn cpu(&self) -> Result<Cpu> {
        Cpu::of(&self.pid().context("rota dev is not running")?.to_string())
    }

    /// Kills it with SIGKILL, as a crash would (its runs are left to the next start).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same data directory (after [`DevServer::kill9`]).
    pub async fn restart(&mut self) -> Result<Startup> {
        if self.child.is_some() {
            bail!("rota dev is still running");
        }
        self.spawn().await
    }

    async fn spawn(&mut self) -> Result<Startup> {
        self.spawns += 1;
        let stderr_path = self.root.join(format!("dev-{}.stderr", self.spawns));
        let stderr = File::create(&stderr_path)
            .with_context(|| format!("cannot create {}", stderr_path.display()))?;
        let exe = std::env::current_exe().context("cannot find the rota binary")?;
        let began = Instant::now();
        let mut command = match self.options.wrap.split_first() {
            Some((wrapper, args)) => {
                let mut command = Command::new(wrapper);
                command.args(args).arg(exe);
                command
            }
            None => Command::new(exe),
        };
        let child = command
            .arg("dev")
            .arg("--data")
            .arg(self.root.join("data"))
            .args(["--listen", "127.0.0.1:0", "--time-zone", "UTC"])
            .args(["--kill-grace", "1"])
            .arg("--cores")
            .arg(self.options.cores.to_string())
            .arg("--mems")
            .arg(self.options.mems.to_string())
            .env("RUST_LOG", &self.options.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .context("cannot start rota dev")?;
        self.child = Some(child);
        self.url = self.wait_for_address(&stderr_path).await?;
        let listening = began.elapsed();
        let client = self.client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.health().await.is_err() {
            if Instant::now() > deadline {
                bail!("rota dev at {} did not become healthy", self.url);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(Startup {
            listening,
            healthy: began.elapsed(),
        })
    }

    /// Reads `serving http://ADDR` from its stderr.
    async fn wait_for_address(&mut self, stderr_path: &Path) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(1800);
        loop {
            let text = std::fs::read_to_string(stderr_path).unwrap_or_default();
            if let Some(at) = text.find("serving http://") {
                let rest = &text[at + "serving ".len()..];
                if let Some(end) = rest.find(char::is_whitespace) {
                    return Ok(rest[..end].to_string());
                }
            }
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                bail!("rota dev exited ({status}) before serving:\n{text}");
            }
            if Instant::now() > deadline {
                bail!("rota dev did not start serving:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid() {
            kill_children(pid);
            // A graceful stop first, so that a wrapper such as valgrind writes its output.
            let grace = if self.options.wrap.is_empty() { 5 } else { 300 };
            terminate(pid, Duration::from_secs(grace), self.child.as_mut());
        }
        self.kill9();
        let cleaned = super::cgroups::remove_leftovers(&self.root.join("data"));
        if cleaned > 0 {
            eprintln!("rota bench: removed {cleaned} cgroups the server left");
        }
        if self.options.keep {
            eprintln!("rota bench: kept {}", self.root.display());
        } else if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("rota bench: cannot remove {}: {e}", self.root.display());
        }
    }
}

/// SIGTERM to `pid`, then waits up to `grace` for `child` to exit.
fn terminate(pid: u32, grace: Duration, child: Option<&mut Child>) {
    let Some(child) = child else { return };
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    if !sent.is_ok_and(|s| s.success()) {
        return;
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILL to every child of `parent`, with its process group when it leads one (a run does).
fn kill_children(parent: u32) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in entries.flatten() {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.len() < 3 || fields[1] != parent.to_string() {
            continue;
        }
        let pid = entry.file_name().to_string_lossy().into_owned();
        // Only a group's leader has its group killed: another child shares this process's.
        let target = if fields[2] == pid {
            format!("-{pid}")
        } else {
            pid
        };
        let _ = Command::new("kill")
            .args(["-9", "--", &target])
            .stderr(Stdio::null())
            .status();
    }
}
