//! How long rota's Docker runtime takes to run a container from start to exit, against
//! `docker run` of the same image with the same limits, mounts and network (`true`, from
//! `rota-test/busybox:1`, built here from scratch). Prints the medians and their ratio; the
//! goal is a ratio of at most 1.0: rota adds nothing to what the engine itself costs.
//!
//! `cargo bench -p rota-runtime --bench docker_start` (release). Without a Docker engine it
//! prints that it was skipped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rota_runtime::testing::{BUSYBOX_REPOSITORY, build_busybox_image, engine_or_skip};
use rota_runtime::{ContainerSpec, DockerRuntime, Ending, RUN_LABEL, Resources};

const ROUNDS: usize = 20;
const WARMUP: usize = 3;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(bench());
}

async fn bench() {
    let Some(engine) = engine_or_skip("docker_start bench").await else {
        return;
    };
    let image = format!("{BUSYBOX_REPOSITORY}:1");
    build_busybox_image(&engine, &image)
        .await
        .expect("builds the test image");
    let tmp = tempfile::tempdir().expect("tempdir");
    let log_dir = tmp.path().join("logs");
    std::fs::create_dir_all(&log_dir).unwrap();
    let params = log_dir.join("params.json");
    std::fs::write(&params, "{}").unwrap();
    let tmp_dir = engine.config().tmp_dir.clone();
    std::fs::create_dir_all(&tmp_dir).unwrap();

    let docker_run = |extra: &[&str]| {
        let mut command = Command::new("docker");
        command.arg("run").arg("--rm").args(extra);
        command.arg(&image).arg("true");
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command
    };
    let same_config = [
        "--network".to_string(),
        "host".to_string(),
        "--cpus".to_string(),
        "1".to_string(),
        "--memory".to_string(),
        "64m".to_string(),
        "--memory-swap".to_string(),
        "64m".to_string(),
        "-v".to_string(),
        format!("{}:/tmp", tmp_dir.display()),
        "-v".to_string(),
        format!("{}:/rota/params.json:ro", params.display()),
        "--label".to_string(),
        format!("{RUN_LABEL}=bench"),
    ];
    let same_config: Vec<&str> = same_config.iter().map(String::as_str).collect();

    let (mut rota, mut cli, mut cli_plain) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..WARMUP + ROUNDS {
        let a = rota_once(&engine, &image, &log_dir).await;
        let b = timed_command(docker_run(&same_config));
        let c = timed_command(docker_run(&[]));
        if round >= WARMUP {
            rota.push(a);
            cli.push(b);
            cli_plain.push(c);
        }
    }
    let (rota, cli, cli_plain) = (median(rota), median(cli), median(cli_plain));
    let ratio = rota.as_secs_f64() / cli.as_secs_f64();
    println!(
        "container start-to-exit of `true`, median of {ROUNDS} runs (API {}):",
        engine.api_version()
    );
    println!(
        "  rota DockerRuntime::start + wait (pull check, create, attach, start, wait, inspect, remove): {:>7.1} ms",
        ms(rota)
    );
    println!(
        "  docker run --rm, same limits, mounts and network:                                        {:>7.1} ms",
        ms(cli)
    );
    println!(
        "  docker run --rm IMAGE true (defaults, for reference):                                     {:>7.1} ms",
        ms(cli_plain)
    );
    println!(
        "  ratio rota / docker run: {ratio:.2} (goal: at most 1.00) {}",
        if ratio <= 1.0 { "MET" } else { "NOT MET" }
    );
}

async fn rota_once(engine: &DockerRuntime, image: &str, log_dir: &std::path::Path) -> Duration {
    let spec = ContainerSpec::new(image, log_dir)
        .command(["true"])
        .label(RUN_LABEL, "bench")
        .resources(Resources::new(1.0, 64));
    let began = Instant::now();
    let outcome = engine.start(spec).await.expect("starts").wait().await;
    let took = began.elapsed();
    assert_eq!(outcome.ending, Ending::Succeeded, "{outcome:?}");
    took
}

fn timed_command(mut command: Command) -> Duration {
    let began = Instant::now();
    let status = command.status().expect("docker CLI");
    let took = began.elapsed();
    assert!(status.success(), "docker run failed: {status}");
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
