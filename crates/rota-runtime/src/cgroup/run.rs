//! One run's cgroup: made with its limits before the run, read while and after it runs,
//! emptied and removed after it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::files;
use super::hierarchy::{Hierarchy, ParentDir, Version};
use super::{Resources, Usage};

/// The CFS period used for CPU quotas: 100 ms, the kernel's default.
pub(crate) const CPU_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts.
const CPU_QUOTA_MIN_US: u64 = 1_000;
/// Memory still charged to a finished run's cgroup (kernel objects, page cache) that is left
/// there when the cgroup is kept for the next run: giving it back (`memory.force_empty`)
/// makes the kernel scan for pages to reclaim, which costs more than the start of a small
/// program, and a run of `/bin/true` leaves about 160 KiB that no scan frees.
const RESIDUE_KEPT_BYTES: u64 = 1 << 20;
/// How long [`RunCgroup::reclaim`] waits for SIGKILLed members to leave.
const RECLAIM_WAIT: Duration = Duration::from_secs(2);

/// What the memory controller says about the OOM killer in a run's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OomSign {
    /// The kernel counts OOM kills (`oom_kill` in `memory.events` on v2, in
    /// `memory.oom_control` on v1 since Linux 4.13): this many processes were killed.
    Kills(u64),
    /// No kill counter on this kernel, but the limit was hit (`memory.failcnt`): an OOM kill
    /// when the process died of SIGKILL that the runtime did not send.
    LimitHit,
    /// Nothing to say: no memory controller, or the limit was never reached.
    None,
}

/// One directory of a run's cgroup: one per hierarchy used.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dir {
    path: PathBuf,
    controllers: Vec<String>,
    parent: PathBuf,
}

/// A run's cgroup, in every hierarchy that rota uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunCgroup {
    pub(super) version: Version,
    dirs: Vec<Dir>,
    /// The OOM kills the kernel had counted when this run got the cgroup: a reused cgroup
    /// (see [`super::pool`]) keeps the count of the runs before, which v1 cannot reset.
    oom_base: u64,
    /// The memory charged to a reused cgroup when this run got it (v1): at most
    /// [`RESIDUE_KEPT_BYTES`] left by the runs before, taken off the peak.
    memory_base: u64,
}

impl Hierarchy {
    /// Makes the cgroup `name` under the parent directories and writes `resources` into it. A
    /// cgroup of that name left by an earlier process is emptied (SIGKILL) and made anew.
    pub(crate) fn create(&self, name: &str, resources: &Resources) -> io::Result<RunCgroup> {
        let run = self.run(name);
        for (dir, parent) in run.dirs.iter().zip(&self.parents) {
            self.make_dir(parent, &dir.path, &run)?;
        }
        if let Err(e) = run.set_limits(resources) {
            let _ = run.remove();
            return Err(e);
        }
        Ok(run)
    }

    /// The cgroup `name` if it exists (reconciliation after a restart).
    pub(crate) fn find(&self, name: &str) -> Option<RunCgroup> {
        let run = self.run(name);
        run.dirs.iter().any(|d| d.path.is_dir()).then_some(run)
    }

    /// The names of the cgroups under the parent directories.
    pub(crate) fn children(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .parents
            .iter()
            .filter_map(|p| fs::read_dir(&p.dir).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn run(&self, name: &str) -> RunCgroup {
        RunCgroup {
            version: self.version,
            oom_base: 0,
            memory_base: 0,
            dirs: self
                .parents
                .iter()
                .map(|p| Dir {
                    path: p.dir.join(name),
                    controllers: p.controllers.clone(),
                    parent: p.dir.clone(),
                })
                .collect(),
        }
    }

    fn make_dir(&self, parent: &ParentDir, path: &PathBuf, run: &RunCgroup) -> io::Result<()> {
        // The parent is removed when its last run ends, possibly between our two calls: try
        // again then.
        let mut tries = 0;
        loop {
            tries += 1;
            self.ensure_parent(parent)?;
            match fs::create_dir(path) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 3 => {
                    tracing::warn!(cgroup = %path.display(), "a cgroup of this name was left behind; emptying it");
                    run.reclaim()?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 3 => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl RunCgroup {
    /// A cgroup that someone else made, to read (see [`super::probe::cgroup_of_pid`]).
    pub(crate) fn existing(version: Version, dirs: Vec<(PathBuf, Vec<String>)>) -> RunCgroup {
        RunCgroup {
            version,
            oom_base: 0,
            memory_base: 0,
            dirs: dirs
                .into_iter()
                .map(|(path, controllers)| Dir {
                    parent: path.parent().map(PathBuf::from).unwrap_or_default(),
                    path,
                    controllers,
                })
                .collect(),
        }
    }

    /// Its directory to show people: the one of the memory controller where it has one (on
    /// v2, the only one).
    pub(crate) fn path(&self) -> PathBuf {
        self.with("memory")
            .or_else(|| self.dirs.first().map(|d| &d.path))
            .cloned()
            .unwrap_or_default()
    }

    fn with(&self, controller: &str) -> Option<&PathBuf> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| &d.path)
    }

    fn set_limits(&self, resources: &Resources) -> io::Result<()> {
        if let (Some(cores), Some(dir)) = (resources.cores, self.with("cpu")) {
            let quota = ((cores * CPU_PERIOD_US as f64).round() as u64).max(CPU_QUOTA_MIN_US);
            match self.version {
                Version::V1 => {
                    files::write(dir, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                    files::write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                }
                Version::V2 => files::write(dir, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?,
            }
        }
        if let (Some(bytes), Some(dir)) = (resources.memory_bytes, self.with("memory")) {
            let bytes = bytes.to_string();
            match self.version {
                Version::V1 => {
                    files::write(dir, "memory.limit_in_bytes", &bytes)?;
                    // Memory plus swap at the same value: no swapping past the limit. Absent
                    // when the kernel does not account swap.
                    if dir.join("memory.memsw.limit_in_bytes").exists() {
                        files::write(dir, "memory.memsw.limit_in_bytes", &bytes)?;
                    }
                }
                Version::V2 => {
                    files::write(dir, "memory.max", &bytes)?;
                    ignore_missing(files::write(dir, "memory.swap.max", "0"))?;
                    // One OOM kill takes the whole run down, as a container's would.
                    ignore_missing(files::write(dir, "memory.oom.group", "1"))?;
                }
            }
        }
        Ok(())
    }

    /// Opens `cgroup.procs` in each directory, to be written by the child in `pre_exec`.
    pub(crate) fn open_procs(&self) -> io::Result<Vec<File>> {
        self.dirs
            .iter()
            .map(|d| {
                OpenOptions::new()
                    .write(true)
                    .open(d.path.join("cgroup.procs"))
            })
            .collect()
    }

    /// The processes in the cgroup, in any of its hierarchies.
    pub(crate) fn pids(&self) -> Vec<i32> {
        let mut pids: Vec<i32> = self
            .dirs
            .iter()
            .flat_map(|d| files::procs(&d.path))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Sends `signal` to every process in the cgroup; returns how many there were.
    pub(crate) fn signal_all(&self, signal: Signal) -> usize {
        let pids = self.pids();
        if signal == Signal::SIGKILL
            && self.version == Version::V2
            && let Some(dir) = self.dirs.first()
            && dir.path.join("cgroup.kill").exists()
            && files::write(&dir.path, "cgroup.kill", "1").is_ok()
        {
            return pids.len();
        }
        for pid in &pids {
            match kill(Pid::from_raw(*pid), signal) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(err) => {
                    tracing::warn!(pid, %signal, %err, "cannot signal a process of a run's cgroup")
                }
            }
        }
        pids.len()
    }

    /// CPU time and peak memory so far. Peak memory is the kernel's own high-water mark
    /// (`memory.max_usage_in_bytes` on v1, `memory.peak` on v2 since Linux 5.19); `None` when
    /// the kernel keeps none (see [`RunCgroup::memory_current`] to sample it instead).
    pub(crate) fn usage(&self) -> Usage {
        let (peak, cpu) = match self.version {
            Version::V1 => (
                self.with("memory")
                    .and_then(|d| files::read_u64(d, "memory.max_usage_in_bytes"))
                    .map(|peak| peak.saturating_sub(self.memory_base)),
                self.with("cpuacct")
                    .and_then(|d| files::read_u64(d, "cpuacct.usage"))
                    .map(Duration::from_nanos),
            ),
            Version::V2 => (
                self.with("memory")
                    .and_then(|d| files::read_u64(d, "memory.peak")),
                self.dirs
                    .first()
                    .and_then(|d| files::read(&d.path, "cpu.stat"))
                    .and_then(|text| files::keyed(&text, "usage_usec"))
                    .map(Duration::from_micros),
            ),
        };
        Usage {
            peak_memory_bytes: peak,
            cpu_time: cpu,
        }
    }

    /// The memory in use now (to sample a peak where the kernel keeps none).
    pub(crate) fn memory_current(&self) -> Option<u64> {
        let dir = self.with("memory")?;
        match self.version {
            Version::V1 => files::read_u64(dir, "memory.usage_in_bytes"),
            Version::V2 => files::read_u64(dir, "memory.current"),
        }
    }

    /// Whether the kernel keeps the peak itself.
    pub(crate) fn keeps_peak(&self) -> bool {
        self.usage().peak_memory_bytes.is_some()
    }

    /// What the memory controller says about OOM kills.
    pub(crate) fn oom(&self) -> OomSign {
        let Some(dir) = self.with("memory") else {
            return OomSign::None;
        };
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        let text = files::read(dir, file).unwrap_or_default();
        match files::keyed(&text, "oom_kill") {
            Some(kills) => OomSign::Kills(kills.saturating_sub(self.oom_base)),
            None if self.version == Version::V1
                && files::read_u64(dir, "memory.failcnt").unwrap_or(0) > 0 =>
            {
                OomSign::LimitHit
            }
            None => OomSign::None,
        }
    }

    /// Removes the cgroup's directories, then the parents if no other run uses them. Fails
    /// (EBUSY) while a process is still in it.
    pub(crate) fn remove(&self) -> io::Result<()> {
        let mut first_error = None;
        for dir in &self.dirs {
            match fs::remove_dir(&dir.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for dir in &self.dirs {
            // Busy when another run is in it: then that run removes it.
            let _ = fs::remove_dir(&dir.parent);
        }
        Ok(())
    }

    /// SIGKILLs whatever is in the cgroup, waits (blocking, at most 2 s) for it to be empty,
    /// and removes it. Returns how many processes were killed. For a cgroup that an earlier
    /// agent left behind, and as the last resort after a run.
    pub(crate) fn reclaim(&self) -> io::Result<usize> {
        let deadline = Instant::now() + RECLAIM_WAIT;
        let mut killed = 0;
        let mut pause = Duration::from_millis(1);
        loop {
            let pids = self.pids();
            if !pids.is_empty() {
                killed = killed.max(pids.len());
                self.signal_all(Signal::SIGKILL);
            }
            match self.remove() {
                Ok(()) => return Ok(killed),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }
}

impl RunCgroup {
    /// The same cgroup under the name `name` (v1 only: v2 cannot rename). On failure, the
    /// cgroup as it now is (some directories may have been renamed) and the error.
    pub(super) fn rename(self, name: &str) -> Result<RunCgroup, (RunCgroup, io::Error)> {
        let mut renamed = self.clone();
        for dir in &mut renamed.dirs {
            let to = dir.parent.join(name);
            if let Err(e) = fs::rename(&dir.path, &to) {
                return Err((renamed, e));
            }
            dir.path = to;
        }
        Ok(renamed)
    }

    /// Makes a cgroup that held an earlier run ready for a new one (v1): its high-water mark,
    /// limit-hit count and CPU time back to zero, its OOM kill count and the memory still
    /// charged to it taken as the new bases, its CPU quota written again (which refills it),
    /// and the memory limit written where it differs from `before` (an absent limit is
    /// lifted).
    pub(super) fn reset_for(
        &mut self,
        resources: &Resources,
        before: &Resources,
    ) -> io::Result<()> {
        if let Some(dir) = self.with("memory") {
            files::write(dir, "memory.max_usage_in_bytes", "0")?;
            let residue = files::read_u64(dir, "memory.max_usage_in_bytes").unwrap_or(0);
            files::write(dir, "memory.failcnt", "0")?;
            let text = files::read(dir, "memory.oom_control").unwrap_or_default();
            self.memory_base = residue;
            self.oom_base = files::keyed(&text, "oom_kill").unwrap_or(0);
        }
        if let Some(dir) = self.with("cpuacct") {
            files::write(dir, "cpuacct.usage", "0")?;
        }
        if resources.cores != before.cores
            && resources.cores.is_none()
            && let Some(dir) = self.with("cpu")
        {
            files::write(dir, "cpu.cfs_quota_us", "-1")?;
        }
        if resources.memory_bytes != before.memory_bytes
            && let Some(dir) = self.with("memory")
            && dir.join("memory.memsw.limit_in_bytes").exists()
        {
            // Memory plus swap may never be below memory alone: lift it before the change.
            files::write(dir, "memory.memsw.limit_in_bytes", "-1")?;
        }
        if resources.memory_bytes != before.memory_bytes
            && resources.memory_bytes.is_none()
            && let Some(dir) = self.with("memory")
        {
            files::write(dir, "memory.limit_in_bytes", "-1")?;
        }
        // The CPU quota is written even when it is the same: writing it gives the cgroup its
        // whole quota back, so that the new run does not wait out a period that the run
        // before used up.
        let changed = Resources {
            cores: resources.cores,
            memory_bytes: resources
                .memory_bytes
                .filter(|_| resources.memory_bytes != before.memory_bytes),
        };
        self.set_limits(&changed)
    }

    /// After a run, before the cgroup is kept for another (v1): gives back the memory still
    /// charged to it (page cache the run left) when it is more than [`RESIDUE_KEPT_BYTES`],
    /// so that little of the next run's limit is taken by what the runs before left.
    pub(super) fn release_memory(&self) -> io::Result<()> {
        match self.with("memory") {
            Some(dir)
                if files::read_u64(dir, "memory.usage_in_bytes").unwrap_or(0)
                    > RESIDUE_KEPT_BYTES =>
            {
                files::write(dir, "memory.force_empty", "0")
            }
            _ => Ok(()),
        }
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}
