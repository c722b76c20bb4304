//! The process runtime's limits and usage, with real cgroups. Each test makes its runs'
//! cgroups under a parent of its own and checks at the end that the parent is gone: no cgroup
//! is left behind. Where cgroups cannot be used the tests say so and return.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rota_runtime::{
    CONTAINER_LOG, CgroupConfig, Ending, ExitReason, Limits, ProcessRuntime, ProcessSpec,
    Resources, START_LOG, is_alive, set_child_subreaper,
};
use tempfile::TempDir;

use super::eventually;

/// A runtime whose runs' cgroups go under a parent named after the test, and a run's
/// directories.
struct Limited {
    runtime: ProcessRuntime,
    _tmp: TempDir,
    workdir: PathBuf,
    log_dir: PathBuf,
}

impl Limited {
    /// `None` (after saying why) where cgroups cannot be used.
    fn new(test: &str) -> Option<Limited> {
        set_child_subreaper().expect("subreaper");
        let parent = format!("rota-test-{}-{test}", std::process::id());
        let runtime = ProcessRuntime::with_cgroups(&CgroupConfig::UnderOwn(parent));
        if let Limits::NotEnforced { reason } = runtime.limits() {
            println!("skipped: limits are not enforced here ({test}): {reason}");
            return None;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        Some(Limited {
            runtime,
            workdir: tmp.path().join("work"),
            log_dir: tmp.path().join("logs/q/app/20260101000000"),
            _tmp: tmp,
        })
    }

    fn spec<S: Into<String>>(&self, argv: impl IntoIterator<Item = S>) -> ProcessSpec {
        ProcessSpec::new(argv, &self.workdir, &self.log_dir)
    }

    fn read(&self, file: &str) -> String {
        read(&self.log_dir.join(file))
    }

    /// No cgroup of this runtime is left once the idle ones have lingered: the parents
    /// themselves are gone.
    async fn assert_nothing_left(&self) {
        let runtime = &self.runtime;
        let gone = eventually(Duration::from_secs(10), || {
            runtime.cgroups().is_empty() && runtime.cgroup_parents().iter().all(|p| !p.exists())
        })
        .await;
        assert!(gone, "left behind: {:?}", runtime.cgroups());
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn memory(mb: u64) -> Resources {
    Resources {
        cores: None,
        memory_bytes: Some(mb << 20),
    }
}

#[tokio::test]
async fn a_process_over_its_memory_limit_is_oom_killed_and_ends_oom() {
    let Some(t) = Limited::new("oom") else { return };
    // tail keeps the last ten "lines" of an endless file without a newline: it grows forever.
    let spec = t.spec(["tail", "/dev/zero"]).resources(memory(32));
    let outcome = t.runtime.start(spec).await.expect("starts").wait().await;

    assert_eq!(outcome.ending, Ending::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::Oom, "{outcome:?}");
    assert_eq!(outcome.signal, Some(9), "{outcome:?}");
    assert!(outcome.reason.starts_with("out of memory"), "{outcome:?}");
    let peak = outcome
        .usage
        .peak_memory_bytes
        .expect("peak memory measured");
    assert!(peak > 16 << 20 && peak <= 33 << 20, "peak {peak}");
    let log = t.read(START_LOG);
    assert!(log.contains(" limits cgroup="), "{log}");
    assert!(log.contains("cores=unlimited memory=32MB"), "{log}");
    assert!(
        log.contains(" the OOM killer killed 1 process in cgroup "),
        "{log}"
    );
    assert!(log.contains(" end failed: out of memory"), "{log}");
    t.assert_nothing_left().await;
}

#[tokio::test]
async fn a_cpu_bound_process_limited_to_half_a_core_gets_about_half_a_core() {
    let Some(t) = Limited::new("cpu") else { return };
    let spec = t
        .spec(["sh", "-c", "while :; do :; done"])
        .resources(Resources {
            cores: Some(0.5),
            memory_bytes: None,
        })
        .kill_grace(Duration::from_secs(2));
    let running = t.runtime.start(spec).await.expect("starts");
    let cpu = |r: &rota_runtime::RunningProcess| r.usage().cpu_time.expect("CPU accounted");

    let (began, cpu_began) = (Instant::now(), cpu(&running));
    let deadline = began + Duration::from_secs(20);
    // One second of CPU takes about two seconds of wall time at half a core.
    while cpu(&running) - cpu_began < Duration::from_secs(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let used = (cpu(&running) - cpu_began).as_secs_f64();
    let share = used / began.elapsed().as_secs_f64();
    println!("CPU share with a quota of 0.5 cores: {share:.3} ({used:.3}s of CPU)");
    assert!((0.3..=0.7).contains(&share), "share {share:.3}");

    running.killer().kill();
    let outcome = running.wait().await;
    assert_eq!(outcome.ending, Ending::Killed, "{outcome:?}");
    assert!(outcome.usage.cpu_time.expect("CPU time") >= Duration::from_secs(1));
    assert!(t.read(START_LOG).contains(" cores=0.5 memory=unlimited"));
    t.assert_nothing_left().await;
}

#[tokio::test]
async fn the_program_runs_in_its_cgroup_from_its_first_instruction() {
    let Some(t) = Limited::new("join") else {
        return;
    };
    // cat is the exec'd program itself: what it reads is where it was when it started.
    let spec = t.spec(["cat", "/proc/self/cgroup"]).cgroup("run-5-1");
    let outcome = t.runtime.start(spec).await.expect("starts").wait().await;
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    let output = t.read(CONTAINER_LOG);
    let memory_line = output
        .lines()
        .find(|l| l.contains(":memory:") || l.starts_with("0::"))
        .expect(&output);
    assert!(memory_line.ends_with("/run-5-1"), "{output}");
    assert!(outcome.usage.cpu_time.is_some(), "{outcome:?}");
    assert!(outcome.usage.peak_memory_bytes.is_some(), "{outcome:?}");
    t.assert_nothing_left().await;
}

#[tokio::test]
async fn a_process_that_left_its_group_is_still_killed_through_the_cgroup() {
    let Some(t) = Limited::new("escape") else {
        return;
    };
    let pid_file = t.log_dir.join("escaped.pid");
    let file = pid_file.display();
    // The child leaves the run's process group and session; the run waits for its pid, then
    // exits, leaving it behind.
    let script = format!(
        "setsid sh -c 'echo $$ > {file}.tmp && mv {file}.tmp {file}; exec sleep 30' & \
         until [ -s {file} ]; do sleep 0.01; done"
    );
    let outcome = t
        .runtime
        .start(t.spec(["sh", "-c", &script]))
        .await
        .expect("starts")
        .wait()
        .await;
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    let escaped: i32 = read(&pid_file).trim().parse().expect("a pid");
    let log = t.read(START_LOG);
    assert!(log.contains(" left in cgroup "), "{log}");
    let stat = std::fs::read_to_string(format!("/proc/{escaped}/stat")).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the escaped process still runs: {stat}"
    );
    t.assert_nothing_left().await;
}

#[tokio::test]
async fn a_cgroup_left_by_an_earlier_agent_is_reclaimed_with_its_processes() {
    let Some(t) = Limited::new("reclaim") else {
        return;
    };
    let running = t
        .runtime
        .start(t.spec(["sleep", "30"]).cgroup("run-9-1"))
        .await
        .expect("starts");
    let id = running.identity();
    assert_eq!(t.runtime.cgroups(), vec!["run-9-1".to_string()]);
    let runtime = t.runtime.clone();
    let killed = tokio::task::spawn_blocking(move || runtime.reclaim("run-9-1"))
        .await
        .unwrap();
    assert_eq!(killed.expect("found").expect("reclaimed"), 1);
    let outcome = running.wait().await;
    assert!(!is_alive(id));
    assert_eq!(outcome.exit_reason, ExitReason::Signaled, "{outcome:?}");
    assert!(t.runtime.reclaim("run-9-1").is_none(), "gone");
    t.assert_nothing_left().await;
}

#[tokio::test]
async fn without_cgroups_the_runtime_says_so_and_caps_memory_with_rlimit_as() {
    let runtime = ProcessRuntime::with_cgroups(&CgroupConfig::Disabled);
    let Limits::NotEnforced { reason } = runtime.limits() else {
        panic!("{:?}", runtime.limits());
    };
    assert!(reason.contains("disabled"), "{reason}");
    assert!(runtime.cgroup_parents().is_empty());
    let tmp = tempfile::tempdir().unwrap();
    let log_dir = tmp.path().join("logs");
    let spec = ProcessSpec::new(["sh", "-c", "ulimit -v"], tmp.path(), &log_dir)
        .resources(Resources::new(0.5, 64));
    let outcome = runtime.start(spec).await.expect("starts").wait().await;
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    assert_eq!(outcome.usage, Default::default(), "nothing measures it");
    assert_eq!(read(&log_dir.join(CONTAINER_LOG)).trim(), "65536");
    let log = read(&log_dir.join(START_LOG));
    assert!(
        log.contains(
            " limits not enforced (no cgroups: cgroups are disabled in the configuration)"
        ),
        "{log}"
    );
}
