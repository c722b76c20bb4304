//! Isolation end to end: memory limits end a run `oom`, usage is recorded, and the app says
//! whether its limits are enforced.

use serde_json::json;

use crate::harness::{Dev, utc_in};

#[test]
fn a_process_app_over_its_memory_limit_ends_oom_and_usage_is_recorded() {
    let dev = Dev::start(&[]);
    dev.add(json!({
        "name": "small", "queue": "q", "cores": 0.5, "mems": 32,
        "command": ["sh", "-c", "echo fine"]
    }));
    let app = dev.rota_json(&["app", "small:q"]);
    if app["limits"]["state"] != "enforced" {
        println!(
            "skipped: limits are not enforced on this node: {}",
            app["limits"]
        );
        return;
    }
    let t = utc_in(-60);
    dev.rota_ok(&["trigger", "small:q", "--time", &t]);
    let ok = dev.wait_state("small:q", &t, "succeeded");
    assert!(
        ok["usage"]["peak_memory_bytes"].as_u64().unwrap_or(0) > 0,
        "{ok}"
    );
    assert_eq!(ok["limits"]["state"], "enforced", "{ok}");
    let shown = dev.rota_ok(&["app", "small:q"]);
    assert!(shown.contains("limits: enforced by"), "{shown}");
    assert!(
        shown.contains("usage of the last 1 measured runs"),
        "{shown}"
    );

    dev.add(json!({
        "name": "hog", "queue": "q", "cores": 0.5, "mems": 32,
        "command": ["dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"]
    }));
    dev.rota_ok(&["trigger", "hog:q", "--time", &t]);
    let oom = dev.wait_state("hog:q", &t, "failed");
    assert_eq!(oom["exit_reason"], "oom", "{oom}");
    let table = dev.rota_ok(&["records", "hog:q"]);
    assert!(table.contains("oom"), "{table}");
}
