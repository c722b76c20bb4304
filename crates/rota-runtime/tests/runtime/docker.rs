//! The Docker runtime against a real engine, with test images built here from scratch and
//! Debian's static busybox. Without an engine each test prints `skipped: no Docker engine`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rota_runtime::testing::{BUSYBOX_REPOSITORY, build_busybox_image, engine_or_skip};
use rota_runtime::{
    AdoptSpec, CONTAINER_LOG, ContainerSpec, DockerConfig, DockerError, DockerRuntime, Ending,
    ExitReason, Killer, LogFiles, RUN_LABEL, Resources, START_LOG,
};
use tempfile::TempDir;

/// The test image every test here uses.
fn image() -> String {
    format!("{BUSYBOX_REPOSITORY}:1")
}

/// An engine with the test image, and a run's log directory.
struct Engine {
    docker: DockerRuntime,
    _tmp: TempDir,
    log_dir: PathBuf,
}

impl Engine {
    async fn new(test: &str) -> Option<Engine> {
        let docker = engine_or_skip(test).await?;
        build_busybox_image(&docker, &image())
            .await
            .expect("builds the test image");
        let tmp = tempfile::tempdir().expect("tempdir");
        Some(Engine {
            docker,
            log_dir: tmp.path().join("logs/q/app/20260101000000"),
            _tmp: tmp,
        })
    }

    /// A spec for the test image running `sh -c script`, labelled with a run id unique to
    /// this test.
    fn sh(&self, test: &str, script: &str) -> ContainerSpec {
        ContainerSpec::new(image(), &self.log_dir)
            .command(["sh", "-c", script])
            .label(RUN_LABEL, run_id(test))
            .kill_grace(Duration::from_secs(1))
    }

    fn read(&self, file: &str) -> String {
        let path = self.log_dir.join(file);
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
    }

    /// Whether the engine still has container `id`.
    async fn exists(&self, id: &str) -> bool {
        self.docker
            .client()
            .inspect_container(id, None)
            .await
            .is_ok()
    }
}

fn run_id(test: &str) -> String {
    format!("test-{}-{test}", std::process::id())
}

#[tokio::test]
async fn a_container_run_succeeds_with_its_output_in_container_log() {
    let test = "output";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    let script = "echo out; echo err >&2; echo \"env=$ROTA_PARAMS\"; cat /rota/params.json; \
                  echo; echo \"image=$ROTA_TEST_IMAGE\"; test -d /tmp && echo tmp";
    let mut spec = e
        .sh(test, script)
        .env("ROTA_PARAMS", r#"{"day":"monday"}"#)
        .resources(Resources::new(0.5, 64));
    spec.params = r#"{"day":"monday"}"#.to_string();
    spec.attempt = Some(1);
    let running = e.docker.start(spec).await.expect("starts");
    let id = running.id().to_string();
    let outcome = running.wait().await;

    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::Exited);
    assert_eq!(outcome.exit_code, Some(0));
    let output = e.read(CONTAINER_LOG);
    for line in [
        "out",
        "err",
        r#"env={"day":"monday"}"#,
        r#"{"day":"monday"}"#,
        "image=rota-test/busybox:1",
        "tmp",
    ] {
        assert!(output.lines().any(|l| l == line), "{line:?} in {output}");
    }
    let log = e.read(START_LOG);
    assert!(log.starts_with("--- attempt 1 ---\n"), "{log}");
    for step in [
        " image rota-test/busybox:1 present",
        " create container ",
        " cores=0.5 memory=64MB",
        " start container ",
        " exit code=0\n",
        " remove container ",
        " end succeeded: exit code 0\n",
    ] {
        assert!(log.contains(step), "{step:?} in {log}");
    }
    assert!(
        !e.exists(&id).await,
        "the container is removed, its logs kept"
    );
}

#[tokio::test]
async fn a_container_over_its_memory_limit_ends_oom() {
    let test = "oom";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    let spec = e
        .sh(test, "tail /dev/zero")
        .resources(Resources::new(1.0, 32));
    let outcome = e.docker.start(spec).await.expect("starts").wait().await;
    assert_eq!(outcome.ending, Ending::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::Oom, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(137), "{outcome:?}");
    assert!(e.read(START_LOG).contains(" exit code=137 (OOM killed)"));
}

#[tokio::test]
async fn a_timeout_stops_the_container() {
    let test = "timeout";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    let spec = e.sh(test, "sleep 30").timeout(Duration::from_secs(1));
    let began = Instant::now();
    let running = e.docker.start(spec).await.expect("starts");
    let id = running.id().to_string();
    let outcome = running.wait().await;
    assert_eq!(outcome.ending, Ending::TimedOut, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::TimedOut);
    assert_eq!(outcome.reason, "timed out after 1s");
    assert!(
        began.elapsed() < Duration::from_secs(15),
        "{:?}",
        began.elapsed()
    );
    let log = e.read(START_LOG);
    assert!(
        log.contains(" timeout after 1s: docker stop (grace 1s)"),
        "{log}"
    );
    assert!(log.contains(" end timed_out: timed out after 1s"), "{log}");
    assert!(!e.exists(&id).await);
}

#[tokio::test]
async fn a_kill_stops_the_container_even_one_asked_for_before_it_started() {
    let test = "kill";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    let running = e
        .docker
        .start(e.sh(test, "trap 'exit 0' TERM; sleep 30 & wait"))
        .await
        .expect("starts");
    running.killer().kill();
    let outcome = running.wait().await;
    assert_eq!(outcome.ending, Ending::Killed, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::Killed);
    assert!(e.read(START_LOG).contains(" kill requested: docker stop"));

    let killer = Killer::new();
    killer.kill();
    let outcome = e
        .docker
        .start_with_killer(e.sh(test, "sleep 30"), killer)
        .await
        .expect("starts")
        .wait()
        .await;
    assert_eq!(outcome.ending, Ending::Killed, "{outcome:?}");
}

#[tokio::test]
async fn an_engine_that_is_down_is_a_typed_error() {
    let config = DockerConfig {
        socket: "/nonexistent/docker.sock".into(),
        ..DockerConfig::default()
    };
    let err = DockerRuntime::connect(config).await.unwrap_err();
    assert!(
        matches!(err, DockerError::EngineUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_command_the_image_lacks_is_refused_at_start_and_logged() {
    let test = "refused";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    let spec = ContainerSpec::new(image(), &e.log_dir).command(["no-such-program"]);
    let err = e.docker.start(spec).await.unwrap_err();
    assert!(
        matches!(&err, DockerError::Refused { step: "start", .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert!(
        e.read(START_LOG)
            .contains(" start failed: cannot start the container: ")
    );
}

#[tokio::test]
async fn a_restarted_agent_adopts_its_running_container_and_records_its_real_exit_code() {
    let test = "adopt";
    let Some(e) = Engine::new(test).await else {
        return;
    };
    // The container runs until the test drops a file into its /tmp (a directory of this
    // test): the first agent is gone by then.
    let tmp = tempfile::tempdir().unwrap();
    let config = DockerConfig {
        tmp_dir: tmp.path().to_path_buf(),
        ..e.docker.config().clone()
    };
    let mut spec = e
        .sh(
            test,
            "echo before; until [ -e /tmp/go ]; do sleep 0.05; done; echo after; exit 7",
        )
        .timeout(Duration::from_secs(60));
    spec.name = Some(format!("rota-{}", run_id(test)));

    // The first agent: its own tokio runtime, gone (tasks and all) once the container runs.
    let first = std::thread::spawn({
        let config = config.clone();
        move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let docker = DockerRuntime::connect(config).await.expect("engine");
                let running = docker.start(spec).await.expect("starts");
                running.id().to_string()
            })
        }
    });
    let id = first.join().expect("first agent");

    // The second agent finds it by its label, and adopts it.
    let docker = DockerRuntime::connect(config).await.expect("engine");
    let found = docker.find_runs().await.expect("lists");
    let mine = found
        .iter()
        .find(|c| c.run() == Some(run_id(test).as_str()))
        .expect("found by label");
    assert_eq!(mine.id, id);
    assert!(mine.running, "{mine:?}");
    let running = docker
        .adopt(
            &mine.id,
            AdoptSpec {
                log_dir: e.log_dir.clone(),
                logs: LogFiles::ROTA,
                timeout: Some(Duration::from_secs(60)),
                kill_grace: Duration::from_secs(1),
            },
        )
        .await
        .expect("adopts");
    std::fs::write(tmp.path().join("go"), "").unwrap();
    let outcome = running.wait().await;

    assert_eq!(outcome.ending, Ending::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_reason, ExitReason::Exited);
    assert_eq!(outcome.exit_code, Some(7), "the real exit code");
    let log = e.read(START_LOG);
    assert!(log.contains(" adopt container "), "{log}");
    assert!(log.contains(" end failed: exit code 7"), "{log}");
    let output = e.read(CONTAINER_LOG);
    assert!(output.contains("before"), "{output}");
    assert!(output.contains("after"), "{output}");
    assert!(!e.exists(&id).await, "removed after it exited");
}
