//! Which Docker apps run under Cosmos' container contract on this node, and the values of
//! Cosmos' arguments for a run of one (the runtime encodes them: [`CosmosArgs::argv`]).

use jiff::Timestamp;

use rota_model::AppSpec;
use rota_model::spec::Contract;
use rota_runtime::{COSMOS_SCRIPT, CosmosArgs};

/// The script `python` runs when the app runs under Cosmos' contract on a node whose
/// `docker.container.python` is `node_script`; `None` for rota's contract. Cosmos' contract
/// applies when the app asks for it (`"contract": "cosmos"`, with the node's script or else
/// Cosmos' default `start.py`), or when the app names no contract and no `command` and the
/// node sets `docker.container.python`.
pub(crate) fn script<'a>(spec: &AppSpec, node_script: Option<&'a str>) -> Option<&'a str> {
    match spec.contract {
        Some(Contract::Cosmos) => Some(node_script.unwrap_or(COSMOS_SCRIPT)),
        Some(Contract::Rota) => None,
        None if spec.command.is_none() => node_script,
        None => None,
    }
}

/// The values of Cosmos' arguments for the run of `spec` at `schedule_time`: its params are
/// the run's (the app's, with a call's laid over them), the cron is empty for an app with
/// none, the tag `latest` when the app names none, and the timeout 0 when it has none.
pub(crate) fn args(spec: &AppSpec, schedule_time: Timestamp) -> CosmosArgs {
    CosmosArgs {
        name: spec.name.clone(),
        queue: spec.queue.clone(),
        user: spec.user.clone(),
        priority: i64::from(spec.priority),
        cores: spec.cores,
        mems: spec.mems,
        repository: spec.repository.clone().unwrap_or_default(),
        tag: spec.tag.clone().unwrap_or_else(|| "latest".to_string()),
        params: spec.params.to_string(),
        cron: spec.cron.clone().unwrap_or_default(),
        timeout: spec.timeout.map_or(0, |t| t.max(0).unsigned_abs()),
        schedule_time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(extra: serde_json::Value) -> AppSpec {
        let mut app = json!({
            "name": "video", "queue": "pinot", "user": "yurun", "priority": 2, "cores": 1,
            "mems": 6144, "repository": "registry.example/pinot", "tag": "0.0.1",
            "params": {"msg": "a b"}, "cron": "0 45 16 * * ?", "timeout": 7200
        });
        for (key, value) in extra.as_object().unwrap() {
            app[key] = value.clone();
        }
        AppSpec::from_value(app).unwrap()
    }

    #[test]
    fn the_node_setting_or_the_app_chooses_the_contract() {
        let plain = app(json!({}));
        assert_eq!(script(&plain, None), None, "rota's contract by default");
        assert_eq!(script(&plain, Some("run.py")), Some("run.py"));
        let asks = app(json!({"contract": "cosmos"}));
        assert_eq!(script(&asks, None), Some("start.py"), "Cosmos' default");
        assert_eq!(script(&asks, Some("run.py")), Some("run.py"));
        let refuses = app(json!({"contract": "rota"}));
        assert_eq!(script(&refuses, Some("run.py")), None);
        let with_command = app(json!({"command": ["sh", "-c", "true"]}));
        assert_eq!(script(&with_command, Some("run.py")), None);
    }

    #[test]
    fn cosmos_arguments_come_from_the_app_and_the_run() {
        let at: Timestamp = "2019-04-02T08:45:00.250Z".parse().unwrap();
        let a = args(&app(json!({})), at);
        let argv = a.argv(
            "start.py",
            std::path::Path::new("/logs/pinot/video/20190402164500"),
        );
        assert_eq!(
            argv[2..],
            [
                "video",
                "pinot",
                "yurun",
                "2",
                "1",
                "6144",
                "registry.example/pinot",
                "0.0.1",
                "%7B%22msg%22%3A%22a+b%22%7D",
                "0+45+16+*+*+%3F",
                "7200",
                "1554194700250",
                "/logs/pinot/video/20190402164500",
            ]
        );
        let event = args(&app(json!({"cron": "event-driven"})), at);
        assert_eq!(event.cron, "event-driven");
        let mut bare = app(json!({}));
        (bare.cron, bare.timeout, bare.tag) = (None, None, None);
        let bare = args(&bare, at);
        assert_eq!((bare.cron.as_str(), bare.timeout), ("", 0));
        assert_eq!(bare.tag, "latest");
    }
}
