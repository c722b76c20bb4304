//! Cosmos' container contract against a real engine, with an image built here like Cosmos'
//! example (a `python` that runs `/start.py`, both shell scripts: see
//! `rota_runtime::testing::COSMOS_START_PY`). Without an engine each test prints
//! `skipped: no Docker engine`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rota_runtime::testing::{build_cosmos_image, cosmos_image, engine_or_skip};
use rota_runtime::{
    CONTAINER_LOG, COSMOS_SCRIPT, ContainerSpec, CosmosArgs, DockerConfig, DockerRuntime, Ending,
    ROTA_CONTAINER_LOG, ROTA_START_LOG, RUN_LABEL, Resources, START_LOG,
};

/// The app's params: a space and non-ASCII text, as Cosmos users write them.
const PARAMS: &str = r#"{"city":"北京","msg":"hello world"}"#;
/// [`PARAMS`] as Java's `URLEncoder.encode(params, "UTF-8")` writes it.
const PARAMS_ENCODED: &str =
    "%7B%22city%22%3A%22%E5%8C%97%E4%BA%AC%22%2C%22msg%22%3A%22hello+world%22%7D";
/// 2026-01-01T00:00:00Z in epoch milliseconds.
const SCHEDULE_MILLIS: &str = "1767225600000";

fn read(dir: &Path, file: &str) -> String {
    let path = dir.join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Python's `urllib.parse.unquote_plus`, as a Cosmos app decodes its params.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("hex"));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn a_cosmos_image_gets_cosmos_arguments_and_mounts_and_its_logs_are_kept_beside_rotas() {
    let test = "cosmos contract";
    let Some(engine) = engine_or_skip(test).await else {
        return;
    };
    let image = cosmos_image();
    build_cosmos_image(&engine, &image)
        .await
        .expect("builds the Cosmos test image");
    let dir = tempfile::tempdir().unwrap();
    // Cosmos' docker.container.tmp, with a file the container must see in its /tmp.
    let container_tmp = dir.path().join("container-tmp");
    std::fs::create_dir_all(&container_tmp).unwrap();
    std::fs::write(container_tmp.join("from-the-host"), "").unwrap();
    let docker = DockerRuntime::connect(DockerConfig {
        tmp_dir: container_tmp,
        ..engine.config().clone()
    })
    .await
    .expect("engine");
    let log_dir: PathBuf = dir.path().join("logs/pinot/video_metrics/20260101080000");
    let (repository, tag) = image.split_once(':').unwrap();
    let args = CosmosArgs {
        name: "video_metrics".into(),
        queue: "pinot".into(),
        user: "yurun".into(),
        priority: 3,
        cores: 0.5,
        mems: 64,
        repository: repository.into(),
        tag: tag.into(),
        // The first attempt fails (the test script exits with params' `exit`).
        params: r#"{"exit":3}"#.into(),
        cron: "0 */5 * * * ?".into(),
        timeout: 120,
        schedule_time: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let spec = |attempt: u32, args: &CosmosArgs| {
        let mut spec = ContainerSpec::new(&image, &log_dir)
            .label(RUN_LABEL, format!("test-{}-cosmos", std::process::id()))
            .resources(Resources::new(0.5, 64))
            .kill_grace(Duration::from_secs(1))
            .timeout(Duration::from_secs(60))
            .cosmos(COSMOS_SCRIPT, args);
        spec.attempt = Some(attempt);
        spec
    };

    let first = docker.start(spec(1, &args)).await.expect("starts");
    let outcome = first.wait().await;
    assert_eq!(outcome.ending, Ending::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(3), "{outcome:?}");

    let args = CosmosArgs {
        params: PARAMS.into(),
        ..args
    };
    let second = docker.start(spec(2, &args)).await.expect("starts");
    let outcome = second.wait().await;
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");

    // `python start.py` and Cosmos' 13 arguments, in Cosmos' order and encoding.
    let argv = read(&log_dir, "args.txt");
    let argv: Vec<&str> = argv.lines().collect();
    let log_dir_text = log_dir.display().to_string();
    let expected = [
        "start.py",
        "video_metrics",
        "pinot",
        "yurun",
        "3",
        "0.5",
        "64",
        repository,
        tag,
        PARAMS_ENCODED,
        "0+*%2F5+*+*+*+%3F",
        "120",
        SCHEDULE_MILLIS,
        &log_dir_text,
    ];
    assert_eq!(argv.len(), 14, "the script and 13 arguments: {argv:?}");
    for (i, (got, want)) in argv.iter().zip(expected).enumerate() {
        assert_eq!(*got, want, "argument {i}");
    }
    let params: serde_json::Value = serde_json::from_str(&unquote_plus(argv[9])).unwrap();
    assert_eq!(params["msg"], "hello world");
    assert_eq!(params["city"], "北京");
    assert_eq!(unquote_plus(argv[10]), "0 */5 * * * ?");

    // The log directory is mounted at the same path (the script wrote args.txt at argument 13,
    // and the host finds it there); docker.container.tmp is /tmp.
    assert!(
        read(&log_dir, "tmp.txt")
            .lines()
            .any(|l| l == "from-the-host"),
        "/tmp is docker.container.tmp"
    );

    // The app's own start.log and container.log hold what it wrote, from both attempts:
    // nothing is wiped between attempts (Cosmos wiped the directory), and rota writes
    // neither.
    let app_start = read(&log_dir, START_LOG);
    assert_eq!(
        app_start
            .matches("start.py argument 1: video_metrics")
            .count(),
        2,
        "{app_start}"
    );
    assert!(app_start.contains(&format!("start.py argument 13: {log_dir_text}")));
    assert!(!app_start.contains("create container"), "{app_start}");
    let app_container = read(&log_dir, CONTAINER_LOG);
    assert_eq!(
        app_container
            .matches("start.py container.log: working")
            .count(),
        2,
        "{app_container}"
    );
    assert!(!app_container.contains("stdout"), "{app_container}");

    // rota keeps the container's stdout and stderr, and its own steps, beside them.
    let output = read(&log_dir, ROTA_CONTAINER_LOG);
    assert_eq!(
        output.matches("start.py stdout: hello").count(),
        2,
        "{output}"
    );
    assert_eq!(
        output.matches("start.py stderr: hello").count(),
        2,
        "{output}"
    );
    let steps = read(&log_dir, ROTA_START_LOG);
    for step in [
        "--- attempt 1 ---\n",
        " end failed: exit code 3\n",
        "--- attempt 2 ---\n",
        &format!(" mount={log_dir_text}:{log_dir_text}"),
        " end succeeded: exit code 0\n",
    ] {
        assert!(steps.contains(step), "{step:?} in {steps}");
    }
}

#[tokio::test]
async fn a_missing_script_fails_the_run_with_pythons_message_kept() {
    let test = "cosmos missing script";
    let Some(docker) = engine_or_skip(test).await else {
        return;
    };
    let image = cosmos_image();
    build_cosmos_image(&docker, &image)
        .await
        .expect("builds the Cosmos test image");
    let dir = tempfile::tempdir().unwrap();
    let log_dir = dir.path().join("logs/q/a/20260101000000");
    let args = CosmosArgs {
        name: "a".into(),
        queue: "q".into(),
        user: String::new(),
        priority: 0,
        cores: 1.0,
        mems: 64,
        repository: "r".into(),
        tag: "t".into(),
        params: "{}".into(),
        cron: "event-driven".into(),
        timeout: 0,
        schedule_time: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    let spec = ContainerSpec::new(&image, &log_dir)
        .label(
            RUN_LABEL,
            format!("test-{}-cosmos-missing", std::process::id()),
        )
        .cosmos("main.py", &args);
    let outcome = docker.start(spec).await.expect("starts").wait().await;
    assert_eq!(outcome.ending, Ending::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(2), "{outcome:?}");
    let output = read(&log_dir, ROTA_CONTAINER_LOG);
    assert!(output.contains("can't open file 'main.py'"), "{output}");
    assert!(
        !log_dir.join(START_LOG).exists(),
        "rota does not write start.log"
    );
}
