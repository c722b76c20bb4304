//! The process runtime against real processes (`sh`, `sleep`) in temporary directories.
//!
//! Each test makes the test process a child subreaper: PID 1 of some containers (this one
//! included) never reaps orphans, so a killed grandchild would stay a zombie of PID 1 and its
//! process group would never vanish. As a subreaper the test process inherits those orphans and
//! the runtime reaps them, as it would for an agent that is PID 1 or calls `set_child_subreaper`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use rota_runtime::{
    CONTAINER_LOG, Ending, Outcome, ProcessRuntime, ProcessSpec, RunningProcess, RuntimeError,
    START_LOG, is_alive, kill_orphan, set_child_subreaper,
};
use tempfile::TempDir;

use super::eventually;

/// A run's directories: a working directory and a log directory, neither created yet.
struct Run {
    _tmp: TempDir,
    workdir: PathBuf,
    log_dir: PathBuf,
}

impl Run {
    fn new() -> Run {
        set_child_subreaper().expect("subreaper");
        let tmp = tempfile::tempdir().expect("tempdir");
        let workdir = tmp.path().join("work").join("app");
        let log_dir = tmp.path().join("logs/queue/app/20261122010203");
        Run {
            _tmp: tmp,
            workdir,
            log_dir,
        }
    }

    fn sh(&self, script: &str) -> ProcessSpec {
        ProcessSpec::new(["sh", "-c", script], &self.workdir, &self.log_dir)
    }

    fn start_log(&self) -> String {
        read(&self.log_dir.join(START_LOG))
    }

    fn container_log(&self) -> String {
        read(&self.log_dir.join(CONTAINER_LOG))
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

async fn start(spec: ProcessSpec) -> RunningProcess {
    ProcessRuntime::new().start(spec).await.expect("starts")
}

/// Whether a signal sent to the process group would reach any process, zombies included.
fn group_exists(pgid: i32) -> bool {
    kill(Pid::from_raw(-pgid), None) != Err(Errno::ESRCH)
}

fn assert_ended(outcome: &Outcome, ending: Ending, reason: &str) {
    assert_eq!(outcome.ending, ending, "{outcome:?}");
    assert!(outcome.reason.contains(reason), "{outcome:?}");
    assert!(outcome.started_at <= outcome.ended_at, "{outcome:?}");
}

mod exits {
    use super::*;

    #[tokio::test]
    async fn a_command_that_prints_succeeds_with_its_output_in_container_log() {
        let run = Run::new();
        let spec = run
            .sh("echo out; echo err >&2; echo \"var=$ROTA_TEST_VAR\"; pwd")
            .env("ROTA_TEST_VAR", "hello world");
        let running = start(spec).await;
        let pid = running.identity().pid;
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::Succeeded, "exit code 0");
        assert_eq!((outcome.exit_code, outcome.signal), (Some(0), None));
        let output = run.container_log();
        let workdir = run.workdir.canonicalize().unwrap();
        assert_eq!(
            output,
            format!("out\nerr\nvar=hello world\n{}\n", workdir.display())
        );
        let log = run.start_log();
        assert!(
            log.contains(&format!(r#"start pid={pid} argv=["sh","-c","echo out;"#)),
            "{log}"
        );
        assert!(log.contains(" exit code=0\n"), "{log}");
        assert!(log.contains(" end succeeded: exit code 0\n"), "{log}");
        assert!(
            !log.contains("attempt"),
            "no attempt number, no separator: {log}"
        );
        assert!(!group_exists(pid));
    }

    #[tokio::test]
    async fn a_non_zero_exit_fails_with_its_code() {
        let run = Run::new();
        let outcome = start(run.sh("exit 3")).await.wait().await;
        assert_ended(&outcome, Ending::Failed, "exit code 3");
        assert_eq!((outcome.exit_code, outcome.signal), (Some(3), None));
        assert!(run.start_log().contains(" exit code=3\n"));
    }

    #[tokio::test]
    async fn a_crash_fails_and_names_the_signal() {
        let run = Run::new();
        let outcome = start(run.sh("ulimit -c 0; kill -SEGV $$"))
            .await
            .wait()
            .await;
        assert_ended(&outcome, Ending::Failed, "killed by signal SIGSEGV");
        assert_eq!((outcome.exit_code, outcome.signal), (None, Some(11)));
        assert!(run.start_log().contains(" exit signal=SIGSEGV\n"));
    }

    #[tokio::test]
    async fn processes_left_in_the_group_after_a_successful_exit_are_killed_and_logged() {
        let run = Run::new();
        let began = Instant::now();
        let running = start(run.sh("sleep 30 & echo started")).await;
        let pid = running.identity().pid;
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::Succeeded, "exit code 0");
        assert!(began.elapsed() < Duration::from_secs(10));
        assert!(!group_exists(pid), "wait() returned with the group alive");
        let log = run.start_log();
        assert!(
            log.contains(&format!("1 process left in process group {pid} after exit")),
            "{log}"
        );
        assert!(!log.contains("SIGKILL"), "sleep obeys SIGTERM: {log}");
    }

    #[tokio::test]
    async fn attempts_sharing_a_log_dir_append_with_separators() {
        let run = Run::new();
        for attempt in 1..=2 {
            let spec = run.sh(&format!("echo try {attempt}")).attempt(attempt);
            let outcome = start(spec).await.wait().await;
            assert_eq!(outcome.ending, Ending::Succeeded);
        }
        assert_eq!(run.container_log(), "try 1\ntry 2\n");
        let log = run.start_log();
        let first = log.find("--- attempt 1 ---\n").expect(&log);
        let second = log.find("--- attempt 2 ---\n").expect(&log);
        assert!(first < second, "{log}");
        assert_eq!(log.matches(" start pid=").count(), 2, "{log}");
        assert!(log[second..].contains(" start pid="), "{log}");
    }

    #[tokio::test]
    async fn many_processes_started_at_once_all_succeed() {
        let run = Run::new();
        let runtime = ProcessRuntime::new();
        let mut running = Vec::new();
        for i in 0..100 {
            let spec = run.sh(&format!("exit {}", i % 2));
            running.push(runtime.start(spec).await.expect("starts"));
        }
        let mut failed = 0;
        for process in running {
            if process.wait().await.ending == Ending::Failed {
                failed += 1;
            }
        }
        assert_eq!(failed, 50);
        assert_eq!(run.start_log().matches(" end ").count(), 100);
    }
}

mod timeouts {
    use super::*;

    #[tokio::test]
    async fn a_timeout_terminates_the_whole_group_long_before_it_would_end() {
        let run = Run::new();
        let spec = run
            .sh("sleep 30 & sleep 30")
            .timeout(Duration::from_secs(1))
            .kill_grace(Duration::from_secs(20));
        let began = Instant::now();
        let running = start(spec).await;
        let pid = running.identity().pid;
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::TimedOut, "timed out after 1s");
        assert_eq!(outcome.signal, Some(15));
        let took = began.elapsed();
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert!(!group_exists(pid), "wait() returned with the group alive");
        let log = run.start_log();
        assert!(
            log.contains(&format!(
                " timeout after 1s: SIGTERM to process group {pid}\n"
            )),
            "{log}"
        );
        assert!(!log.contains("SIGKILL"), "both sleeps obey SIGTERM: {log}");
        assert!(
            log.contains(" end timed_out: timed out after 1s\n"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn a_group_that_ignores_sigterm_gets_sigkill_after_the_grace() {
        let run = Run::new();
        let spec = run
            .sh("trap '' TERM; sleep 30 & sleep 30")
            .timeout(Duration::from_millis(300))
            .kill_grace(Duration::from_millis(300));
        let began = Instant::now();
        let running = start(spec).await;
        let pid = running.identity().pid;
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::TimedOut, "timed out after 0.3s");
        assert_eq!(outcome.signal, Some(9));
        assert!(began.elapsed() < Duration::from_secs(10));
        assert!(!group_exists(pid), "wait() returned with the group alive");
        let log = run.start_log();
        assert!(
            log.contains(&format!(" SIGKILL to process group {pid}")),
            "{log}"
        );
    }

    #[tokio::test]
    async fn a_grandchild_that_ignores_sigterm_is_killed_after_the_leader_exits() {
        let run = Run::new();
        // The leader dies on SIGTERM; the background subshell's sleep ignores it.
        let spec = run
            .sh("(trap '' TERM; sleep 30) & sleep 30")
            .timeout(Duration::from_millis(300))
            .kill_grace(Duration::from_millis(500));
        let running = start(spec).await;
        let pid = running.identity().pid;
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::TimedOut, "timed out");
        assert_eq!(outcome.signal, Some(15), "the leader obeyed SIGTERM");
        assert!(!group_exists(pid), "wait() returned with the group alive");
        let log = run.start_log();
        let exit = log.find(" exit signal=SIGTERM").expect(&log);
        let sigkill = log
            .find(&format!(" SIGKILL to process group {pid}"))
            .expect(&log);
        assert!(
            exit < sigkill,
            "SIGKILL came after the leader's exit: {log}"
        );
    }

    #[tokio::test]
    async fn a_timeout_is_enforced_even_when_nobody_waits() {
        let run = Run::new();
        let spec = run.sh("exec sleep 30").timeout(Duration::from_millis(200));
        let id = start(spec).await.identity();
        assert!(is_alive(id));
        assert!(eventually(Duration::from_secs(10), || !is_alive(id)).await);
        assert!(
            eventually(Duration::from_secs(10), || run
                .start_log()
                .contains(" end timed_out"))
            .await
        );
    }
}

mod kills {
    use super::*;

    #[tokio::test]
    async fn a_kill_on_request_ends_killed_with_the_group_gone() {
        let run = Run::new();
        let spec = run
            .sh("sleep 30 & sleep 30")
            .timeout(Duration::from_secs(60));
        let running = start(spec).await;
        let pid = running.identity().pid;
        let killer = running.killer();
        killer.kill();
        killer.clone().kill();
        let outcome = running.wait().await;

        assert_ended(&outcome, Ending::Killed, "killed on request");
        assert!(!group_exists(pid), "wait() returned with the group alive");
        let log = run.start_log();
        assert_eq!(
            log.matches(&format!(
                " kill requested: SIGTERM to process group {pid}\n"
            ))
            .count(),
            1,
            "{log}"
        );
        assert!(log.contains(" end killed: killed on request\n"), "{log}");
        killer.kill(); // after the end: nothing to do, nothing breaks
    }

    #[tokio::test]
    async fn a_kill_after_the_timeout_fired_does_not_change_the_ending() {
        let run = Run::new();
        let spec = run
            .sh("trap '' TERM; sleep 30")
            .timeout(Duration::from_millis(100))
            .kill_grace(Duration::from_millis(500));
        let running = start(spec).await;
        let fired = eventually(Duration::from_secs(10), || {
            run.start_log().contains(" timeout after 0.1s")
        })
        .await;
        assert!(fired);
        running.killer().kill();
        let outcome = running.wait().await;
        assert_ended(&outcome, Ending::TimedOut, "timed out after 0.1s");
        assert!(!run.start_log().contains("kill requested"));
    }
}

mod start_failures {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_missing_command_is_an_error_naming_it_and_is_logged() {
        let run = Run::new();
        let spec =
            ProcessSpec::new(["rota-no-such-program"], &run.workdir, &run.log_dir).attempt(1);
        let err = ProcessRuntime::new().start(spec).await.unwrap_err();

        assert!(
            matches!(&err, RuntimeError::NotFound { program } if program == "rota-no-such-program"),
            "{err:?}"
        );
        assert!(!err.is_transient());
        let log = run.start_log();
        assert!(log.starts_with("--- attempt 1 ---\n"), "{log}");
        assert!(
            log.contains(" start failed: command not found: rota-no-such-program\n"),
            "{log}"
        );
    }

    #[tokio::test]
    async fn a_file_without_execute_permission_is_refused_by_name() {
        let run = Run::new();
        std::fs::create_dir_all(&run.workdir).unwrap();
        let script = run.workdir.join("job.sh");
        std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
        let program = script.display().to_string();
        let spec = ProcessSpec::new([program.clone()], &run.workdir, &run.log_dir);
        let err = ProcessRuntime::new().start(spec).await.unwrap_err();

        assert!(
            matches!(&err, RuntimeError::PermissionDenied { program: p } if *p == program),
            "{err:?}"
        );
        assert!(
            run.start_log()
                .contains(&format!("cannot execute {program}"))
        );
    }

    #[tokio::test]
    async fn an_unwritable_log_dir_is_an_error_naming_it() {
        let run = Run::new();
        let file = run.workdir.with_file_name("not-a-dir");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "").unwrap();
        let log_dir = file.join("logs");
        let spec = ProcessSpec::new(["true"], &run.workdir, &log_dir);
        let err = ProcessRuntime::new().start(spec).await.unwrap_err();

        assert!(
            matches!(&err, RuntimeError::LogDir { path, .. } if *path == log_dir),
            "{err:?}"
        );
        assert!(err.to_string().contains(&log_dir.display().to_string()));
    }

    #[tokio::test]
    async fn an_empty_argv_is_refused_and_logged() {
        let run = Run::new();
        let spec = ProcessSpec::new(Vec::<String>::new(), &run.workdir, &run.log_dir);
        let err = ProcessRuntime::new().start(spec).await.unwrap_err();
        assert!(matches!(err, RuntimeError::EmptyArgv), "{err:?}");
        assert!(run.start_log().contains(" start failed: nothing to run"));
    }
}

mod orphans {
    use super::*;

    #[tokio::test]
    async fn a_live_orphan_is_found_and_killed_and_a_dead_one_is_left_alone() {
        let run = Run::new();
        let running = start(run.sh("exec sleep 30")).await;
        let id = running.identity();
        assert!(is_alive(id));
        assert!(kill_orphan(id));

        // SIGKILL came from outside the runtime: a failure that names it.
        let outcome = running.wait().await;
        assert_ended(&outcome, Ending::Failed, "killed by signal SIGKILL");
        assert_eq!(outcome.signal, Some(9));
        assert!(!is_alive(id));
        assert!(!kill_orphan(id));
        assert!(!group_exists(id.pid));
    }
}
