//! An agent configured with Cosmos' `docker.container.python` runs a Cosmos app JSON under
//! Cosmos' container contract, and after a restart adopts its container with rota's logs still
//! beside the app's own.

use rota_runtime::testing::{build_cosmos_image, cosmos_image};
use rota_runtime::{CONTAINER_LOG, ROTA_CONTAINER_LOG, ROTA_START_LOG, START_LOG};

use super::*;

/// The Cosmos test image, or `None` (with the skip printed) without an engine.
async fn image(test: &str) -> Option<String> {
    let engine = engine_or_skip(test).await?;
    let image = cosmos_image();
    build_cosmos_image(&engine, &image)
        .await
        .expect("the Cosmos test image");
    Some(image)
}

/// An agent of `node` with `docker.container.python` set to `start.py`.
fn cosmos_agent(node: &Node) -> (Agent, mpsc::UnboundedReceiver<Report>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let config = AgentConfig {
        cosmos_python: Some("start.py".into()),
        ..node.config()
    };
    (Agent::with_runtimes(config, node.runtimes(), tx), rx)
}

#[test]
fn a_restarted_agent_adopts_a_cosmos_container_and_keeps_its_logs_beside_the_apps() {
    let setup = tokio::runtime::Runtime::new().unwrap();
    let Some(image) = setup.block_on(image("cosmos adopt")) else {
        return;
    };
    drop(setup);
    let (repository, tag) = image.split_once(':').unwrap();
    let node = Node::new();
    // Cosmos' app JSON: no `command`; `wait` holds the script until /tmp/go exists.
    let a = assignment(
        20,
        json!({"name": "video", "queue": "pinot", "user": "yurun", "cores": 1, "mems": 32,
               "repository": repository, "tag": tag, "timeout": 120,
               "params": {"wait": true}, "cron": "event-driven"}),
    );
    let first = tokio::runtime::Runtime::new().unwrap();
    first.block_on(async {
        let (agent, mut reports) = cosmos_agent(&node);
        agent.assign(a.clone());
        assert!(matches!(next(&mut reports).await, Report::Started { .. }));
    });
    drop(first);

    let log_dir = node.log_dir(&a);
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let (agent, mut reports) = cosmos_agent(&node);
        agent.reconcile(a.run, a.attempt, None);
        let rota_start = log_dir.join(ROTA_START_LOG);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&rota_start)
            .unwrap_or_default()
            .contains(" adopt container ")
        {
            assert!(std::time::Instant::now() < deadline, "never adopted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::write(node.docker_tmp.path().join("go"), "").unwrap();
        let Report::Finished {
            ending, exit_code, ..
        } = next(&mut reports).await
        else {
            panic!("finished");
        };
        assert_eq!((ending, exit_code), (Ending::Succeeded, Some(0)));
    });

    let args = read(&log_dir.join("args.txt"));
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args.len(), 14, "{args:?}");
    assert_eq!(&args[..5], ["start.py", "video", "pinot", "yurun", "0"]);
    assert_eq!(args[9], "%7B%22wait%22%3Atrue%7D");
    assert_eq!(args[10], "event-driven");
    assert_eq!(args[12], "1767225600000");
    assert_eq!(Path::new(args[13]), log_dir);
    let steps = read(&log_dir.join(ROTA_START_LOG));
    assert!(steps.contains("--- attempt 1 ---"), "{steps}");
    assert!(steps.contains(" end succeeded: exit code 0"), "{steps}");
    let output = read(&log_dir.join(ROTA_CONTAINER_LOG));
    assert!(output.contains("start.py stdout: hello"), "{output}");
    let app_start = read(&log_dir.join(START_LOG));
    assert!(!app_start.contains("adopt container"), "{app_start}");
    let app_container = read(&log_dir.join(CONTAINER_LOG));
    assert!(!app_container.contains("stdout"), "{app_container}");
}
