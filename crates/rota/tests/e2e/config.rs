//! `--config FILE`: a `rota.toml` (or Cosmos' properties file) sets the node of `rota dev`;
//! a flag or an environment variable overrides the file; a bad file stops rota at once.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Dev, rota_bin};

const ROTA_TOML: &str = r#"
[node]
cores = 2
mems = 3000
labels = ["pinot", "hive"]
disk_space = 500
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write the config");
    path
}

/// The one node of a `rota dev`, as `rota nodes --output json` shows it.
fn the_node(dev: &Dev) -> Value {
    let nodes = dev.rota_json(&["nodes"]);
    let nodes = nodes.as_array().expect("an array of nodes");
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    nodes[0].clone()
}

#[test]
fn rota_dev_takes_its_node_from_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "rota.toml", ROTA_TOML);
    let dev = Dev::start(&["--config", file.to_str().unwrap()]);
    let node = the_node(&dev);
    assert_eq!(node["capacity"]["cores"], 2.0, "{node}");
    assert_eq!(node["capacity"]["mems"], 3000, "{node}");
    assert_eq!(node["capacity"]["extended"]["disk.space"], 500, "{node}");
    assert_eq!(
        node["labels"],
        serde_json::json!(["pinot", "hive"]),
        "{node}"
    );
}

#[test]
fn a_flag_and_an_environment_variable_override_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "rota.toml", ROTA_TOML);
    let dev = Dev::start_with_env(
        &["--config", file.to_str().unwrap(), "--cores", "3"],
        &[("ROTA_MEMS", "777")],
    );
    let node = the_node(&dev);
    assert_eq!(node["capacity"]["cores"], 3.0, "the flag wins: {node}");
    assert_eq!(node["capacity"]["mems"], 777, "the variable wins: {node}");
    assert_eq!(
        node["labels"],
        serde_json::json!(["pinot", "hive"]),
        "{node}"
    );
}

#[test]
fn rota_dev_reads_a_cosmos_properties_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "cosmos.properties",
        "org.quartz.jobStore.isClustered=true\nserver.cores=5\nserver.mems=1234\n\
         server.labels=etl\n",
    );
    let dev = Dev::start(&["--config", file.to_str().unwrap()]);
    let node = the_node(&dev);
    assert_eq!(node["capacity"]["cores"], 5.0, "{node}");
    assert_eq!(node["capacity"]["mems"], 1234, "{node}");
    assert_eq!(node["labels"], serde_json::json!(["etl"]), "{node}");
}

#[test]
fn an_unknown_key_stops_rota_dev_with_a_message_naming_it_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "typo.toml",
        "[node]\ncores = 2\ncolour = \"red\"\n",
    );
    let out = Command::new(rota_bin())
        .args(["dev", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&file)
        .output()
        .expect("run rota dev");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("typo.toml") && stderr.contains("unknown field `colour`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "it stopped before doing anything"
    );
}
