//! The agent with its real runtimes: what it reports for process and Docker apps, and how a
//! restarted agent reconciles what an earlier one left running. Docker tests print
//! `skipped: no Docker engine` where there is none; cgroup tests say when limits are not
//! enforced here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::mpsc;

use rota_agent::{Agent, AgentConfig, Assignment, Report, Runtimes};
use rota_model::{AppSpec, Ending, ExitReason, Limits, NodeId, RunId};
use rota_runtime::testing::{BUSYBOX_REPOSITORY, build_busybox_image, engine_or_skip};
use rota_runtime::{CgroupConfig, DockerConfig, ProcessRuntime};

mod cosmos;

/// An agent's directories and configuration; agents made from one `Node` share its log root,
/// so they are the same agent before and after a restart.
struct Node {
    tmp: TempDir,
    docker_tmp: TempDir,
}

impl Node {
    fn new() -> Node {
        Node {
            tmp: tempfile::tempdir().unwrap(),
            docker_tmp: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> AgentConfig {
        AgentConfig {
            node: NodeId("test-node".into()),
            log_root: self.tmp.path().join("logs"),
            time_zone: TimeZone::UTC,
            kill_grace: Duration::from_secs(1),
            cosmos_python: None,
            container_tmp: None,
            pull_timeout: None,
        }
    }

    fn runtimes(&self) -> Runtimes {
        let mut runtimes = Runtimes::detect(&self.config().log_root);
        runtimes.docker = Some(DockerConfig {
            tmp_dir: self.docker_tmp.path().to_path_buf(),
            ..DockerConfig::default()
        });
        runtimes
    }

    fn agent(&self) -> (Agent, mpsc::UnboundedReceiver<Report>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Agent::with_runtimes(self.config(), self.runtimes(), tx), rx)
    }

    fn log_dir(&self, a: &Assignment) -> PathBuf {
        rota_agent::run_log_dir(
            &self.config().log_root,
            &a.spec.queue,
            &a.spec.name,
            a.schedule_time,
            &TimeZone::UTC,
        )
    }
}

fn assignment(run: u64, app: serde_json::Value) -> Assignment {
    Assignment {
        run: RunId(run),
        attempt: 1,
        spec: AppSpec::from_value(app).expect("a valid app"),
        schedule_time: "2026-01-01T00:00:00Z".parse::<Timestamp>().unwrap(),
    }
}

/// The next report, within 60 s.
async fn next(reports: &mut mpsc::UnboundedReceiver<Report>) -> Report {
    tokio::time::timeout(Duration::from_secs(60), reports.recv())
        .await
        .expect("a report within 60 s")
        .expect("the agent is alive")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn limits_enforced(test: &str) -> bool {
    let runtime = ProcessRuntime::with_cgroups(&CgroupConfig::default());
    match runtime.limits() {
        rota_runtime::Limits::Enforced { .. } => true,
        rota_runtime::Limits::NotEnforced { reason } => {
            println!("skipped: limits are not enforced here ({test}): {reason}");
            false
        }
    }
}

mod process_apps {
    use super::*;

    #[tokio::test]
    async fn a_process_app_over_its_memory_is_reported_failed_with_exit_reason_oom() {
        if !limits_enforced("oom") {
            return;
        }
        let node = Node::new();
        let (agent, mut reports) = node.agent();
        assert!(matches!(agent.limits(), Limits::Enforced { .. }));
        agent.assign(assignment(
            1,
            json!({"name": "hog", "queue": "q", "cores": 1, "mems": 24,
                   "command": ["tail", "/dev/zero"]}),
        ));
        let Report::Started {
            limits, container, ..
        } = next(&mut reports).await
        else {
            panic!("started first");
        };
        assert!(matches!(limits, Limits::Enforced { .. }), "{limits:?}");
        assert_eq!(container, None);
        let Report::Finished {
            ending,
            exit_reason,
            usage,
            reason,
            ..
        } = next(&mut reports).await
        else {
            panic!("then finished");
        };
        assert_eq!(
            (ending, exit_reason),
            (Ending::Failed, ExitReason::Oom),
            "{reason}"
        );
        let peak = usage.peak_memory_bytes.expect("peak memory");
        assert!(peak > 12 << 20 && peak <= 25 << 20, "{peak}");
    }

    #[tokio::test]
    async fn a_successful_process_app_reports_its_cpu_time_and_peak_memory() {
        if !limits_enforced("usage") {
            return;
        }
        let node = Node::new();
        let (agent, mut reports) = node.agent();
        agent.assign(assignment(
            2,
            json!({"name": "ok", "queue": "q", "cores": 0.5, "mems": 64,
                   "command": ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"]}),
        ));
        assert!(matches!(next(&mut reports).await, Report::Started { .. }));
        let Report::Finished {
            ending,
            exit_reason,
            usage,
            ..
        } = next(&mut reports).await
        else {
            panic!("finished");
        };
        assert_eq!(
            (ending, exit_reason),
            (Ending::Succeeded, ExitReason::Exited)
        );
        assert!(usage.cpu_time_ms.is_some(), "{usage:?}");
        assert!(usage.peak_memory_bytes.is_some_and(|p| p > 0), "{usage:?}");
    }

    #[test]
    fn a_restarted_agent_stops_a_process_run_through_its_cgroup_and_reports_it_lost() {
        if !limits_enforced("restart") {
            return;
        }
        let node = Node::new();
        let a = assignment(
            3,
            json!({"name": "long", "queue": "q", "cores": 1, "mems": 64,
                   "command": ["sh", "-c", "sleep 60 & sleep 60"]}),
        );
        // The first agent, in a tokio runtime of its own that dies with it.
        let first = tokio::runtime::Runtime::new().unwrap();
        let process = first.block_on(async {
            let (agent, mut reports) = node.agent();
            agent.assign(a.clone());
            match next(&mut reports).await {
                Report::Started { process, .. } => process,
                other => panic!("{other:?}"),
            }
        });
        drop(first);
        let identity = rota_runtime::ProcessIdentity {
            pid: process.pid,
            start_ticks: process.start_ticks,
        };
        assert!(rota_runtime::is_alive(identity), "outlives its agent");

        let second = tokio::runtime::Runtime::new().unwrap();
        second.block_on(async {
            let (agent, mut reports) = node.agent();
            agent.reconcile(a.run, a.attempt, Some(process));
            let Report::Finished {
                ending,
                exit_reason,
                reason,
                ..
            } = next(&mut reports).await
            else {
                panic!("finished");
            };
            assert_eq!((ending, exit_reason), (Ending::Lost, ExitReason::Lost));
            assert!(reason.contains("was stopped"), "{reason}");
        });
        assert!(!rota_runtime::is_alive(identity));
        let runtime = node.runtimes().process;
        assert!(runtime.cgroups().is_empty(), "{:?}", runtime.cgroups());
        for parent in runtime.cgroup_parents() {
            assert!(!parent.exists(), "{} is left", parent.display());
        }
    }
}

mod docker_apps {
    use super::*;

    async fn image(test: &str) -> Option<String> {
        let engine = engine_or_skip(test).await?;
        let image = format!("{BUSYBOX_REPOSITORY}:1");
        build_busybox_image(&engine, &image)
            .await
            .expect("test image");
        Some(image)
    }

    #[tokio::test]
    async fn a_docker_app_runs_as_a_container_with_its_params_and_output_kept() {
        let Some(_) = image("docker app").await else {
            return;
        };
        let node = Node::new();
        let (agent, mut reports) = node.agent();
        let a = assignment(
            10,
            json!({"name": "boxed", "queue": "q", "cores": 0.5, "mems": 32,
                   "repository": BUSYBOX_REPOSITORY, "tag": "1",
                   "params": {"day": "monday"},
                   "command": ["sh", "-c", "echo \"$ROTA_APP $ROTA_RUN_ID\"; cat /rota/params.json"]}),
        );
        agent.assign(a.clone());
        let Report::Started {
            container, limits, ..
        } = next(&mut reports).await
        else {
            panic!("started");
        };
        assert!(container.is_some());
        assert_eq!(
            limits,
            Limits::Enforced {
                by: "docker".into()
            }
        );
        let Report::Finished {
            ending, exit_code, ..
        } = next(&mut reports).await
        else {
            panic!("finished");
        };
        assert_eq!((ending, exit_code), (Ending::Succeeded, Some(0)));
        let output = read(&node.log_dir(&a).join("container.log"));
        assert_eq!(output, "boxed 10\n{\"day\":\"monday\"}");
    }

    #[tokio::test]
    async fn a_docker_app_without_an_engine_fails_with_engine_unavailable() {
        let node = Node::new();
        let (tx, mut reports) = mpsc::unbounded_channel();
        let mut runtimes = node.runtimes();
        runtimes.docker = Some(DockerConfig {
            socket: "/nonexistent/docker.sock".into(),
            ..DockerConfig::default()
        });
        let agent = Agent::with_runtimes(node.config(), runtimes, tx);
        agent.assign(assignment(
            11,
            json!({"name": "boxed", "queue": "q", "cores": 1, "mems": 32,
                   "repository": BUSYBOX_REPOSITORY, "tag": "1"}),
        ));
        let Report::Finished {
            ending,
            exit_reason,
            reason,
            ..
        } = next(&mut reports).await
        else {
            panic!("finished");
        };
        assert_eq!(
            (ending, exit_reason),
            (Ending::Failed, ExitReason::EngineUnavailable)
        );
        assert!(
            reason.contains("is a Docker app (rota-test/busybox:1)"),
            "{reason}"
        );
        assert!(
            reason.contains("no Docker engine at /nonexistent/docker.sock"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn an_image_that_cannot_be_pulled_fails_with_image_pull_failed() {
        let Some(_) = image("pull failure").await else {
            return;
        };
        let node = Node::new();
        let (agent, mut reports) = node.agent();
        // Port 1 of the loopback: nothing listens there.
        agent.assign(assignment(
            12,
            json!({"name": "boxed", "queue": "q", "cores": 1, "mems": 32,
                   "repository": "127.0.0.1:1/rota-test/nothing", "tag": "1"}),
        ));
        let Report::Finished {
            ending,
            exit_reason,
            reason,
            ..
        } = next(&mut reports).await
        else {
            panic!("finished");
        };
        assert_eq!(
            (ending, exit_reason),
            (Ending::Failed, ExitReason::ImagePullFailed),
            "{reason}"
        );
    }

    #[test]
    fn a_restarted_agent_adopts_its_container_and_records_its_real_exit_code() {
        let setup = tokio::runtime::Runtime::new().unwrap();
        if setup.block_on(image("adopt")).is_none() {
            return;
        }
        drop(setup);
        let node = Node::new();
        let a = assignment(
            13,
            json!({"name": "boxed", "queue": "q", "cores": 1, "mems": 32, "timeout": 120,
                   "repository": BUSYBOX_REPOSITORY, "tag": "1",
                   "command": ["sh", "-c",
                       "echo before; until [ -e /tmp/go ]; do sleep 0.05; done; echo after; exit 7"]}),
        );
        let first = tokio::runtime::Runtime::new().unwrap();
        first.block_on(async {
            let (agent, mut reports) = node.agent();
            agent.assign(a.clone());
            assert!(matches!(next(&mut reports).await, Report::Started { .. }));
        });
        drop(first);

        let second = tokio::runtime::Runtime::new().unwrap();
        second.block_on(async {
            let (agent, mut reports) = node.agent();
            agent.reconcile(a.run, a.attempt, None);
            // Let the adoption start following the container before it is released.
            let start_log = node.log_dir(&a).join("start.log");
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !std::fs::read_to_string(&start_log)
                .unwrap_or_default()
                .contains(" adopt container ")
            {
                assert!(std::time::Instant::now() < deadline, "never adopted");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            std::fs::write(node.docker_tmp.path().join("go"), "").unwrap();
            let Report::Finished {
                ending,
                exit_reason,
                exit_code,
                ..
            } = next(&mut reports).await
            else {
                panic!("finished");
            };
            assert_eq!(
                (ending, exit_reason, exit_code),
                (Ending::Failed, ExitReason::Exited, Some(7))
            );
        });
        let output = read(&node.log_dir(&a).join("container.log"));
        assert!(
            output.contains("before") && output.contains("after"),
            "{output}"
        );
    }
}
