//! Starts the real `rota dev` binary on a free loopback port and a temporary directory, and
//! drives it with the real CLI.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The rota binary under test.
pub fn rota_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rota")
}

/// The repository's `examples/` directory.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// Polls `probe` every 50 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `rota dev`.
pub struct Dev {
    child: Option<Child>,
    /// Its base URL.
    pub url: String,
    /// Its data directory's parent (also holds app files and its stderr).
    pub dir: PathBuf,
    _temp: Option<TempDir>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl Dev {
    /// Starts `rota dev` in a new temporary directory, with `extra` arguments.
    pub fn start(extra: &[&str]) -> Dev {
        Dev::start_with_env(extra, &[])
    }

    /// Like [`Dev::start`], with these environment variables set for `rota dev` (and for its
    /// restarts).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Dev {
        let temp = tempfile::tempdir().expect("temp dir");
        let dir = temp.path().to_path_buf();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut dev = Dev::spawn(dir, extra.iter().map(|s| s.to_string()).collect(), env);
        dev._temp = Some(temp);
        dev
    }

    /// Starts `rota server` (no local agent) in a new temporary directory.
    pub fn start_server(extra: &[&str]) -> Dev {
        let mut args = vec!["--server-mode".to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let temp = tempfile::tempdir().expect("temp dir");
        let mut dev = Dev::spawn(temp.path().to_path_buf(), args, Vec::new());
        dev._temp = Some(temp);
        dev
    }

    fn spawn(dir: PathBuf, extra: Vec<String>, env: Vec<(String, String)>) -> Dev {
        let server_mode = extra.first().is_some_and(|a| a == "--server-mode");
        let args: Vec<String> = extra
            .iter()
            .filter(|a| *a != "--server-mode")
            .cloned()
            .collect();
        let stderr_path = dir.join(format!("dev-{}.log", now_nanos()));
        let stderr = File::create(&stderr_path).expect("stderr file");
        let child = Command::new(rota_bin())
            .arg(if server_mode { "server" } else { "dev" })
            .arg("--data")
            .arg(dir.join("data"))
            .args(["--listen", "127.0.0.1:0"])
            .args(if server_mode {
                &[][..]
            } else {
                &["--kill-grace", "1"][..]
            })
            .args(if args.iter().any(|a| a == "--time-zone") {
                &[][..]
            } else {
                &["--time-zone", "UTC"][..]
            })
            .args(&args)
            .env("RUST_LOG", "info")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn rota dev");
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            if let Some(at) = text.find("serving http://") {
                let rest = &text[at + "serving ".len()..];
                if let Some(end) = rest.find(|c: char| c.is_whitespace()) {
                    break rest[..end].to_string();
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for rota dev to listen; it said:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let dev = Dev {
            child: Some(child),
            url,
            dir,
            _temp: None,
            extra,
            env,
        };
        let _logs = LogsOnPanic(vec![stderr_path]);
        wait_for("rota dev to be healthy", Duration::from_secs(60), || {
            dev.rota(&["queues"]).status.success().then_some(())
        });
        dev
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// Starts a new `rota dev` on the same data directory (after `kill9`).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        let next = Dev::spawn(self.dir.clone(), self.extra.clone(), self.env.clone());
        self.url = next.url.clone();
        self.child = next.into_child();
    }

    fn into_child(mut self) -> Option<Child> {
        self.child.take()
    }

    /// Runs the CLI against this server.
    pub fn rota(&self, args: &[&str]) -> Output {
        Command::new(rota_bin())
            .args(["--server", &self.url])
            .args(args)
            .output()
            .expect("run rota")
    }

    /// Runs the CLI and returns its stdout, failing the test if it fails.
    pub fn rota_ok(&self, args: &[&str]) -> String {
        let out = self.rota(args);
        assert!(
            out.status.success(),
            "rota {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Runs the CLI with `--output json` and parses its stdout.
    pub fn rota_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        serde_json::from_str(&self.rota_ok(&all)).expect("json output")
    }

    /// Writes an app (or any) JSON file into the test's directory.
    pub fn write(&self, file: &str, json: &Value) -> String {
        let path = self.dir.join(file);
        std::fs::write(&path, serde_json::to_vec_pretty(json).unwrap()).expect("write file");
        path.display().to_string()
    }

    /// Adds an app from JSON.
    pub fn add(&self, json: Value) {
        let name = format!("{}.json", json["name"].as_str().expect("name"));
        let path = self.write(&name, &json);
        self.rota_ok(&["add", &path]);
    }

    /// An app's records.
    pub fn records(&self, app: &str) -> Vec<Value> {
        match self.rota_json(&["records", app]) {
            Value::Array(runs) => runs,
            other => panic!("records is not an array: {other}"),
        }
    }

    /// Waits until the run of `app` at `time` is in `state`, and returns it.
    pub fn wait_state(&self, app: &str, time: &str, state: &str) -> Value {
        wait_for(
            &format!("{app} at {time} to be {state}"),
            Duration::from_secs(30),
            || {
                let runs = self.rota_json(&["records", app, "--time", time]);
                let run = runs.as_array()?.first()?.clone();
                (run["state"] == state).then_some(run)
            },
        )
    }
}

impl Drop for Dev {
    /// Kills the runs still running, then stops `rota dev` with SIGTERM, so that its agent
    /// removes the cgroups it keeps idle for the next runs (SIGKILL after 5 s).
    fn drop(&mut self) {
        if self.child.is_some() {
            let running = self.rota(&["running", "--output", "json"]);
            if let Ok(Value::Array(runs)) = serde_json::from_slice::<Value>(&running.stdout) {
                for run in runs {
                    if let Some(pid) = run["process"]["pid"].as_i64() {
                        kill_group(pid);
                    }
                }
            }
        }
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// SIGTERM to `child`, then SIGKILL if it has not exited within `grace`; reaps it.
fn terminate(child: &mut Option<Child>, grace: Duration) {
    let Some(mut process) = child.take() else {
        return;
    };
    let _ = Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = process.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = process.kill();
    let _ = process.wait();
}

/// SIGKILL to a process group.
pub fn kill_group(pgid: i64) {
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// True while any process of the group is alive (zombies aside).
pub fn group_alive(pgid: i64) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            return false;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string()
    })
}

/// The pid logged in a run's start.log (`start pid=N`), the last one if several attempts.
pub fn logged_pid(start_log: &str) -> i64 {
    let at = start_log.rfind("start pid=").expect("a start line") + "start pid=".len();
    let rest = &start_log[at..];
    rest[..rest.find(' ').unwrap()].parse().expect("pid")
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A UTC time `seconds` from now as `YYYY-MM-DD HH:MM:SS`, whole seconds.
pub fn utc_in(seconds: i64) -> String {
    let ts = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(seconds);
    ts.to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Parses a run's RFC 3339 `schedule_time`.
pub fn schedule_time(run: &Value) -> jiff::Timestamp {
    run["schedule_time"]
        .as_str()
        .expect("schedule_time")
        .parse()
        .expect("RFC 3339")
}

/// A running `rota agent`.
pub struct AgentProcess {
    child: Option<Child>,
    server: String,
    args: Vec<String>,
    log: PathBuf,
}

impl AgentProcess {
    /// Starts `rota agent --node NODE --cores CORES` against `dev`, with its logs under the
    /// test's directory.
    pub fn start(dev: &Dev, node: &str, cores: &str) -> AgentProcess {
        Self::start_with(dev, node, cores, &[])
    }

    /// Like [`AgentProcess::start`], with more arguments.
    pub fn start_with(dev: &Dev, node: &str, cores: &str, more: &[&str]) -> AgentProcess {
        Self::start_against(&dev.url, &dev.dir, node, cores, more)
    }

    /// Starts `rota agent --node NODE --cores CORES` against `server` (one URL or several,
    /// comma-separated), with its log and its runs' logs in `dir`.
    pub fn start_against(
        server: &str,
        dir: &Path,
        node: &str,
        cores: &str,
        more: &[&str],
    ) -> AgentProcess {
        let mut args = vec![
            "--node".to_string(),
            node.to_string(),
            "--cores".into(),
            cores.into(),
            "--mems".into(),
            "4096".into(),
            "--kill-grace".into(),
            "1".into(),
            "--log-dir".into(),
            dir.join(format!("agent-{node}")).display().to_string(),
        ];
        args.extend(more.iter().map(|s| s.to_string()));
        let mut agent = AgentProcess {
            child: None,
            server: server.to_string(),
            log: dir.join(format!("agent-{node}.log")),
            args,
        };
        agent.spawn();
        agent
    }

    fn spawn(&mut self) {
        let log = File::create(&self.log).expect("agent log");
        let child = Command::new(rota_bin())
            .args(["--server", &self.server, "agent"])
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn rota agent");
        self.child = Some(child);
    }

    /// Kills it with SIGKILL, as a crash would; the processes of its runs live on.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// Starts it again with the same arguments.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        self.spawn();
    }
}

impl Drop for AgentProcess {
    /// Stops the agent with SIGTERM, so that it removes the cgroups it keeps idle for the next
    /// runs (SIGKILL after 5 s).
    fn drop(&mut self) {
        terminate(&mut self.child, Duration::from_secs(5));
    }
}

/// Prints the last lines of each log file when the test that holds it panics, so that a
/// failure in CI shows what the servers and agents said.
pub struct LogsOnPanic(pub Vec<PathBuf>);

impl Drop for LogsOnPanic {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for path in &self.0 {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!(
                "--- last lines of {} ---\n{}",
                path.display(),
                tail.join("\n")
            );
        }
    }
}
