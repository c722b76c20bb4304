//! Bad input of every kind gets a 4xx JSON error naming the problem, and the server keeps
//! serving.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Dev;

/// Sends one HTTP/1.1 request and returns the status and the JSON body.
fn request(dev: &Dev, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let address = dev.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    // The server may answer before it has read a large body; keep the answer either way.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .expect("the server answered");
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = &text[text.find("\r\n\r\n").expect("end of head") + 4..];
    let json = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body:?}"));
    (status, json)
}

fn app(overrides: Value) -> Vec<u8> {
    let mut app = json!({
        "name": "ok", "queue": "q", "cores": 1, "mems": 10, "command": ["true"],
        "cron": "0 0 * * * ?"
    });
    for (k, v) in overrides.as_object().unwrap() {
        app[k] = v.clone();
    }
    serde_json::to_vec(&app).unwrap()
}

#[test]
fn every_kind_of_bad_input_gets_a_4xx_naming_the_problem_and_the_server_keeps_serving() {
    let dev = Dev::start(&["--max-body", "1048576"]);
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "POST",
            "/v1/apps",
            b"{\"name\": ".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/v1/apps",
            b"hello, world".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "POST",
            "/v1/apps",
            app(json!({"colour": "red"})),
            400,
            "`colour`",
        ),
        (
            "POST",
            "/v1/apps",
            app(json!({"cron": "61 * * * * ?"})),
            400,
            "`cron`",
        ),
        (
            "POST",
            "/v1/apps",
            app(json!({"cron": "0 0 12 1 * MON"})),
            400,
            "`cron`",
        ),
        (
            "POST",
            "/v1/apps",
            app(json!({"cores": -1})),
            400,
            "`cores`",
        ),
        (
            "POST",
            "/v1/apps",
            app(json!({"mems": "lots"})),
            400,
            "`mems`",
        ),
        ("POST", "/v1/apps", vec![b'x'; 10 << 20], 413, "larger than"),
        (
            "GET",
            "/v1/apps/missing:app",
            vec![],
            404,
            "missing:app does not exist",
        ),
        (
            "POST",
            "/v1/apps/missing:app/start",
            vec![],
            404,
            "does not exist",
        ),
        ("GET", "/v1/apps/no-colon", vec![], 400, "NAME:QUEUE"),
        (
            "POST",
            "/v1/apps/ok:q/repair",
            b"{\"time\": \"yesterday\"}".to_vec(),
            404,
            "does not exist",
        ),
        ("GET", "/v1/runs/abc", vec![], 400, "not a run id"),
        (
            "GET",
            "/v1/runs?state=done",
            vec![],
            400,
            "unknown run state",
        ),
        ("GET", "/v1/nowhere", vec![], 404, "no such route"),
    ];
    for (method, path, body, status, needle) in cases {
        let (got, json) = request(&dev, method, path, &body);
        assert_eq!(got, status, "{method} {path}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(json["error"].is_string(), "{method} {path}: {json}");
        assert!(
            message.contains(needle),
            "{method} {path}: {message:?} lacks {needle:?}"
        );
    }
    // The server still serves, and a good app is accepted.
    let (status, json) = request(&dev, "POST", "/v1/apps", &app(json!({})));
    assert_eq!(status, 201, "{json}");
    let (status, json) = request(
        &dev,
        "POST",
        "/v1/apps/ok:q/repair",
        b"{\"time\": \"yesterday\"}",
    );
    assert_eq!(status, 400, "{json}");
    assert!(json["message"].as_str().unwrap().contains("`yesterday`"));
    let (status, _) = request(&dev, "GET", "/healthz", b"");
    assert_eq!(status, 200);
}
