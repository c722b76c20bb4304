//! The app spec: Cosmos' app JSON plus rota's extensions (DESIGN §4), parsed and validated.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cron::CronExpr;
use crate::depend::{Depend, Rule};
use crate::ids::{AppKey, validate_name};

/// The `cron` value of an app that runs only when called (Cosmos' event-driven apps).
pub const EVENT_DRIVEN: &str = "event-driven";

/// Cosmos' per-app parallelism key in `params`.
pub const COSMOS_PARALLELISM: &str = "cosmos.app.parallelism";

/// Cosmos' per-app keys in `params` for disk and network, with the extended resource each
/// counts against (a node's `server.disk.space` and `server.net.flow`).
pub const COSMOS_EXTENDED: [(&str, &str); 2] = [
    ("cosmos.app.disk.space", "disk.space"),
    ("cosmos.app.net.flow", "net.flow"),
];

/// The most catch-up runs `catchup: all` creates for one app after downtime.
pub const MAX_CATCHUP_RUNS: usize = 1000;

/// What to do when a fire time comes while an earlier run of the app is still active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Concurrency {
    /// Run them side by side.
    #[default]
    Allow,
    /// Skip the new run.
    Forbid,
    /// Kill the running one and run the new one.
    Replace,
}

/// Which fire times missed while the scheduler was down are run after it comes back. Those
/// not run are recorded as `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Catchup {
    /// Run none of them (Cosmos and Quartz' "do nothing" misfire policy).
    #[default]
    None,
    /// Run the most recent one.
    Last,
    /// Run all of them, up to [`MAX_CATCHUP_RUNS`].
    All,
}

/// What a container app's image expects of the container it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contract {
    /// rota's own (DESIGN §4): the image's command (or the app's `command`), the run's
    /// environment and `/rota/params.json`; rota writes `start.log` and `container.log`.
    Rota,
    /// Cosmos' (an image built for Cosmos): `python <script>` with Cosmos' 13 positional
    /// arguments, the log directory mounted at the same path; the app writes `start.log` and
    /// `container.log` there, and rota keeps its own logs beside them.
    Cosmos,
}

/// How an app is triggered.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// By its Quartz cron expression.
    Cron(CronExpr),
    /// Only when called or triggered by hand (`"cron": "event-driven"`).
    EventDriven,
    /// No `cron` given: only by hand.
    Manual,
}

/// An app's spec: one version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpec {
    /// The app's name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Who owns it (free text, as in Cosmos).
    #[serde(default)]
    pub user: String,
    /// Smaller runs first (0 before 1).
    #[serde(default)]
    pub priority: i32,
    /// CPU cores a run uses.
    pub cores: f64,
    /// Memory a run uses, in MB.
    pub mems: i64,
    /// Docker image repository; a process app when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Docker image tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Passed to the run as `ROTA_PARAMS`: a JSON object (or Cosmos' array form).
    #[serde(default = "empty_object")]
    pub params: Value,
    /// A Quartz cron expression or `event-driven`; absent means "only by hand".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Seconds before a run is stopped and ends `timed_out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// The argv of a process app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// The container contract of a Docker app; when absent, Cosmos' on a node that sets
    /// `docker.container.python` (for an app without `command`), rota's elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract: Option<Contract>,
    /// Extra environment variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// IANA zone the cron is evaluated in; the server's zone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// How many times a failed, timed-out or lost run is tried again.
    #[serde(default)]
    pub retries: u32,
    /// Seconds before the first retry; doubled for each further one, at most an hour.
    #[serde(default = "default_backoff")]
    pub retry_backoff: u64,
    /// What to do with a new run while an earlier one is active.
    #[serde(default)]
    pub concurrency: Concurrency,
    /// What to do with fire times missed while the scheduler was down.
    #[serde(default)]
    pub catchup: Catchup,
    /// The most runs of the app running at once, cluster-wide (also read from Cosmos'
    /// `cosmos.app.parallelism` key in `params`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// Cosmos time-window dependencies; when given, they replace the app's edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends: Option<Vec<DependOn>>,
    /// Chronos parents (`name:queue`): the app runs for a schedule time once each parent's
    /// run for that time has succeeded; when given, they replace the app's parent edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<String>>,
    /// Hard constraints over node attributes, Chronos and Marathon style.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<crate::placement::Constraint>,
    /// The placement profile (filters, weighted scorers, preferences, extended resources);
    /// the default profile when absent. Boxed: nearly every app has none, and every version
    /// of every app is kept in memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Box<crate::placement::PlacementProfile>>,
}

/// One entry of `depends`: the upstream app and the window, in Cosmos' words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DependOn {
    /// Upstream app name.
    pub name: String,
    /// Upstream app queue.
    pub queue: String,
    /// Start of the window, seconds before the schedule time.
    pub from_seconds: i64,
    /// End of the window, seconds before the schedule time.
    pub to_seconds: i64,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn default_backoff() -> u64 {
    10
}

/// Why an app spec was refused. Always names the field when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The body is not JSON at all.
    #[error("the app is not valid JSON: {0}")]
    Syntax(String),
    /// A field has the wrong type, is unknown, or is missing.
    #[error("field `{field}`: {message}")]
    Field {
        /// The JSON path of the field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

impl SpecError {
    fn field(field: &str, message: impl Into<String>) -> Self {
        SpecError::Field {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl AppSpec {
    /// Parses and validates an app JSON document.
    pub fn from_json(bytes: &[u8]) -> Result<AppSpec, SpecError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| SpecError::Syntax(e.to_string()))?;
        Self::from_value(value)
    }

    /// Validates a parsed JSON value as an app spec.
    pub fn from_value(value: Value) -> Result<AppSpec, SpecError> {
        if !value.is_object() {
            return Err(SpecError::Syntax("an app must be a JSON object".into()));
        }
        let spec: AppSpec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            match unknown_field(&message) {
                Some(name) => SpecError::field(&name, "unknown field"),
                None if path == "." => match missing_field(&message) {
                    Some(name) => SpecError::field(&name, "missing field"),
                    None => SpecError::Syntax(message),
                },
                None => SpecError::field(&path, strip_position(&message)),
            }
        })?;
        spec.validate()?;
        Ok(spec)
    }

    /// This spec with the fields of `patch` laid over it: what `update` stores. Fields the
    /// patch leaves out keep their value; `name` and `queue` must not change.
    pub fn updated_with(&self, patch: Value) -> Result<AppSpec, SpecError> {
        let Value::Object(patch) = patch else {
            return Err(SpecError::Syntax("an app must be a JSON object".into()));
        };
        let mut merged = serde_json::to_value(self).expect("a spec always serializes");
        let target = merged.as_object_mut().expect("a spec is an object");
        for (key, value) in patch {
            if (key == "name" || key == "queue") && value != target[&key] {
                return Err(SpecError::field(&key, "cannot be changed by an update"));
            }
            target.insert(key, value);
        }
        Self::from_value(merged)
    }

    /// The app's `name:queue`.
    pub fn key(&self) -> AppKey {
        AppKey {
            name: self.name.clone(),
            queue: self.queue.clone(),
        }
    }

    /// How the app is triggered. The cron was validated when the spec was parsed.
    pub fn trigger(&self) -> Trigger {
        match self.cron.as_deref() {
            None => Trigger::Manual,
            Some(EVENT_DRIVEN) => Trigger::EventDriven,
            Some(expr) => Trigger::Cron(expr.parse().expect("validated when parsed")),
        }
    }

    /// The params a run sees: the app's, with `call_params` laid over them key by key (a
    /// shallow merge, as Cosmos' `call` does). The array form of Cosmos' update example counts
    /// as no params.
    pub fn params_with(&self, call_params: Option<&Value>) -> Value {
        let Some(Value::Object(overlay)) = call_params else {
            return self.params.clone();
        };
        let mut merged = match &self.params {
            Value::Object(base) => base.clone(),
            _ => Default::default(),
        };
        for (key, value) in overlay {
            merged.insert(key.clone(), value.clone());
        }
        Value::Object(merged)
    }

    /// The most runs of the app that may run at once, cluster-wide: the `parallelism` field,
    /// else Cosmos' `cosmos.app.parallelism` key in `params` (a number or a numeric string).
    pub fn parallelism_limit(&self) -> Option<u32> {
        self.parallelism.or_else(|| {
            let value = self.params.get(COSMOS_PARALLELISM)?;
            value
                .as_u64()
                .or_else(|| value.as_str()?.trim().parse().ok())
                .and_then(|n| u32::try_from(n).ok())
        })
    }

    /// Cosmos' per-app disk and network demands (`cosmos.app.disk.space`,
    /// `cosmos.app.net.flow` in `params`), as the extended resources `disk.space` and
    /// `net.flow` that count against a node's `server.disk.space` and `server.net.flow`.
    pub fn cosmos_extended(&self) -> BTreeMap<String, u64> {
        COSMOS_EXTENDED
            .iter()
            .filter_map(|(key, resource)| {
                let value = self.params.get(*key)?;
                let amount = value
                    .as_u64()
                    .or_else(|| value.as_str()?.trim().parse().ok())?;
                (amount > 0).then(|| (resource.to_string(), amount))
            })
            .collect()
    }

    /// The Docker image `repository:tag`, for a container app.
    pub fn image(&self) -> Option<String> {
        self.repository
            .as_ref()
            .map(|repository| format!("{repository}:{}", self.tag.as_deref().unwrap_or("latest")))
    }

    /// The cron's time zone, or `default` (the server's) when the app names none.
    pub fn time_zone(&self, default: &jiff::tz::TimeZone) -> jiff::tz::TimeZone {
        self.timezone
            .as_deref()
            .and_then(|name| jiff::tz::TimeZone::get(name).ok())
            .unwrap_or_else(|| default.clone())
    }

    /// The edges the spec declares in `depends` and `parents`, or an error naming the entry.
    pub fn declared_depends(&self) -> Result<Vec<Depend>, SpecError> {
        let app = self.key();
        let mut edges = Vec::new();
        for (i, d) in self.depends.iter().flatten().enumerate() {
            let upstream = AppKey::new(&d.name, &d.queue)
                .map_err(|e| SpecError::field(&format!("depends[{i}]"), e.to_string()))?;
            edges.push(Depend {
                app: app.clone(),
                upstream,
                rule: Rule::Window {
                    from_seconds: d.from_seconds,
                    to_seconds: d.to_seconds,
                },
            });
        }
        for (i, parent) in self.parents.iter().flatten().enumerate() {
            let upstream: AppKey = parent.parse().map_err(|e: crate::IdError| {
                SpecError::field(&format!("parents[{i}]"), e.to_string())
            })?;
            edges.push(Depend {
                app: app.clone(),
                upstream,
                rule: Rule::Parent,
            });
        }
        Ok(edges)
    }

    fn validate(&self) -> Result<(), SpecError> {
        validate_name("name", &self.name).map_err(|e| SpecError::field("name", e.to_string()))?;
        validate_name("queue", &self.queue)
            .map_err(|e| SpecError::field("queue", e.to_string()))?;
        if !(self.cores.is_finite() && self.cores > 0.0) {
            return Err(SpecError::field("cores", "must be greater than 0"));
        }
        if self.mems <= 0 {
            return Err(SpecError::field("mems", "must be greater than 0 (MB)"));
        }
        if matches!(self.timeout, Some(t) if t <= 0) {
            return Err(SpecError::field(
                "timeout",
                "must be greater than 0 (seconds)",
            ));
        }
        if !(self.params.is_object() || self.params.is_array()) {
            return Err(SpecError::field("params", "must be a JSON object"));
        }
        if let Some(expr) = self.cron.as_deref().filter(|c| *c != EVENT_DRIVEN) {
            expr.parse::<CronExpr>()
                .map_err(|e| SpecError::field("cron", e.to_string()))?;
        }
        if let Some(zone) = &self.timezone {
            jiff::tz::TimeZone::get(zone)
                .map_err(|_| SpecError::field("timezone", format!("unknown time zone `{zone}`")))?;
        }
        match (&self.command, &self.repository) {
            (Some(argv), _) if argv.is_empty() || argv[0].is_empty() => {
                return Err(SpecError::field("command", "must name a program"));
            }
            (None, None) => {
                return Err(SpecError::field(
                    "command",
                    "an app needs `command` (a process app) or `repository` (a Docker app)",
                ));
            }
            _ => {}
        }
        match (self.contract, &self.repository, &self.command) {
            (Some(_), None, _) => {
                return Err(SpecError::field(
                    "contract",
                    "applies to Docker apps only: give `repository` and `tag`",
                ));
            }
            (Some(Contract::Cosmos), _, Some(_)) => {
                return Err(SpecError::field(
                    "contract",
                    "`cosmos` runs `python <script>` with Cosmos' arguments: \
                     it cannot be combined with `command`",
                ));
            }
            _ => {}
        }
        if let Some(tag) = &self.tag
            && (tag.is_empty() || tag.contains(char::is_whitespace))
        {
            return Err(SpecError::field("tag", "must be a Docker image tag"));
        }
        for (i, depend) in self.declared_depends()?.iter().enumerate() {
            depend
                .validate()
                .map_err(|e| SpecError::field(&format!("depends[{i}]"), e.to_string()))?;
        }
        for key in self.env.keys() {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(SpecError::field(
                    &format!("env.{key}"),
                    "is not a valid variable name",
                ));
            }
        }
        let placement = self.placement.as_deref();
        crate::placement::validate(&self.constraints, placement.unwrap_or(&Default::default()))
            .map_err(|e| SpecError::field(&e.field, e.message))?;
        Ok(())
    }
}

/// serde reports unknown fields at the parent's path; pull the field's name out of the message.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `add` example of Cosmos' README, unchanged.
    pub(crate) const COSMOS_ADD: &str = r#"{
    "name": "video_client_upload_metrics",
    "queue": "pinot",
    "user": "yurun",
    "priority": 0,
    "cores": 1,
    "mems": 6144,
    "repository": "registry.api.weibo.com/dippub/pinot_import_application",
    "tag": "0.0.1",
    "params": {},
    "cron": "0 45 16 * * ?",
    "timeout": 7200
}"#;

    /// The `update` example of Cosmos' README, unchanged (array params, no cron).
    pub(crate) const COSMOS_UPDATE: &str = r#"{
    "name": "video_client_upload_metrics",
    "queue": "pinot",
    "user": "yurun",
    "priority": 0,
    "cores": 1,
    "mems": 6144,
    "repository": "registry.api.weibo.com/dippub/pinot_import_application",
    "tag": "0.0.1",
    "params": [],
    "timeout": 7200
}"#;

    fn with(field: &str, value: Value) -> Vec<u8> {
        let mut v: Value = serde_json::from_str(COSMOS_ADD).unwrap();
        v[field] = value;
        serde_json::to_vec(&v).unwrap()
    }

    fn field_of(err: SpecError) -> String {
        match err {
            SpecError::Field { field, .. } => field,
            other => panic!("expected a field error, got {other}"),
        }
    }

    #[test]
    fn the_cosmos_add_example_parses_unchanged() {
        let spec = AppSpec::from_json(COSMOS_ADD.as_bytes()).unwrap();
        assert_eq!(spec.key().to_string(), "video_client_upload_metrics:pinot");
        assert_eq!(spec.mems, 6144);
        assert_eq!(spec.timeout, Some(7200));
        assert_eq!(
            spec.image().unwrap(),
            "registry.api.weibo.com/dippub/pinot_import_application:0.0.1"
        );
        assert!(matches!(spec.trigger(), Trigger::Cron(_)));
    }

    #[test]
    fn the_cosmos_update_example_parses_and_keeps_the_cron_it_leaves_out() {
        let current = AppSpec::from_json(COSMOS_ADD.as_bytes()).unwrap();
        let patch: Value = serde_json::from_str(COSMOS_UPDATE).unwrap();
        let updated = current.updated_with(patch).unwrap();
        assert_eq!(updated.cron.as_deref(), Some("0 45 16 * * ?"));
        assert_eq!(updated.params, Value::Array(vec![]));
        AppSpec::from_json(COSMOS_UPDATE.as_bytes()).unwrap();
    }

    #[test]
    fn an_update_cannot_rename_the_app() {
        let current = AppSpec::from_json(COSMOS_ADD.as_bytes()).unwrap();
        let err = current
            .updated_with(serde_json::json!({"queue": "other"}))
            .unwrap_err();
        assert_eq!(field_of(err), "queue");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            ("cores", serde_json::json!(-1)),
            ("cores", serde_json::json!(0)),
            ("mems", serde_json::json!(0)),
            ("timeout", serde_json::json!(0)),
            ("cron", serde_json::json!("every day")),
            ("cron", serde_json::json!("0 0 12 1 * MON")),
            ("name", serde_json::json!("../etc")),
            ("priority", serde_json::json!("high")),
            ("params", serde_json::json!("x")),
            ("timezone", serde_json::json!("Mars/Olympus")),
            ("retries", serde_json::json!(-2)),
        ];
        for (field, value) in cases {
            let err = AppSpec::from_json(&with(field, value.clone())).unwrap_err();
            assert_eq!(field_of(err.clone()), field, "{field}={value}: {err}");
        }
    }

    #[test]
    fn an_unknown_field_is_named() {
        let err = AppSpec::from_json(&with("colour", serde_json::json!("red"))).unwrap_err();
        assert_eq!(err.to_string(), "field `colour`: unknown field");
    }

    #[test]
    fn the_container_contract_is_optional_checked_and_named_when_wrong() {
        let spec = AppSpec::from_json(&with("contract", serde_json::json!("cosmos"))).unwrap();
        assert_eq!(spec.contract, Some(Contract::Cosmos));
        let text = serde_json::to_string(&spec).unwrap();
        assert!(text.contains(r#""contract":"cosmos""#), "{text}");
        let spec = AppSpec::from_json(COSMOS_ADD.as_bytes()).unwrap();
        assert_eq!(spec.contract, None);
        assert!(!serde_json::to_string(&spec).unwrap().contains("contract"));
        assert_eq!(
            field_of(
                AppSpec::from_json(&with("contract", serde_json::json!("chronos"))).unwrap_err()
            ),
            "contract"
        );
        let process =
            br#"{"name":"a","queue":"q","cores":1,"mems":10,"command":["true"],"contract":"rota"}"#;
        assert_eq!(
            field_of(AppSpec::from_json(process).unwrap_err()),
            "contract"
        );
        let mut both: Value = serde_json::from_str(COSMOS_ADD).unwrap();
        both["contract"] = serde_json::json!("cosmos");
        both["command"] = serde_json::json!(["sh"]);
        let err = AppSpec::from_value(both.clone()).unwrap_err();
        assert_eq!(field_of(err), "contract");
        both["contract"] = serde_json::json!("rota");
        AppSpec::from_value(both).unwrap();
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let err = AppSpec::from_json(br#"{"name":"a","queue":"q","cores":1,"command":["true"]}"#)
            .unwrap_err();
        assert_eq!(err.to_string(), "field `mems`: missing field");
    }

    #[test]
    fn malformed_json_is_a_syntax_error() {
        assert!(matches!(
            AppSpec::from_json(b"{\"name\":"),
            Err(SpecError::Syntax(_))
        ));
        assert!(matches!(
            AppSpec::from_json(b"[1,2]"),
            Err(SpecError::Syntax(_))
        ));
    }

    #[test]
    fn a_process_app_needs_a_command() {
        let err =
            AppSpec::from_json(br#"{"name":"a","queue":"q","cores":1,"mems":10}"#).unwrap_err();
        assert_eq!(field_of(err), "command");
        let spec = AppSpec::from_json(
            br#"{"name":"a","queue":"q","cores":0.5,"mems":10,"command":["echo","hi"],"cron":"event-driven"}"#,
        )
        .unwrap();
        assert!(matches!(spec.trigger(), Trigger::EventDriven));
        assert_eq!(spec.concurrency, Concurrency::Allow);
        assert_eq!(spec.catchup, Catchup::None);
    }
}
