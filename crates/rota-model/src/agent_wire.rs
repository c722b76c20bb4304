//! How an [`AgentReport`] and its [`Limits`] are read from JSON: one flat object with its
//! tag (`kind`, `state`) among the fields, decoded in one pass. serde's derived decoding of
//! an internally tagged enum first buffers the whole object to find the tag; with many
//! agents reporting, that made decoding reports a tenth of a leader's CPU. They are written
//! by the derived (tagged) encoders, so the wire format is unchanged.

use jiff::Timestamp;
use serde::Deserialize;

use crate::agent_api::AgentReport;
use crate::exit::{ExitReason, Limits, Usage};
use crate::ids::RunId;
use crate::record::{Ending, ProcessRef};

/// An [`AgentReport`]'s `kind`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReportKind {
    Started,
    Finished,
}

/// Every field of either kind of report; which ones are required depends on `kind`.
#[derive(Deserialize)]
pub(crate) struct WireReport {
    kind: ReportKind,
    run: RunId,
    attempt: u32,
    at: Timestamp,
    process: Option<ProcessRef>,
    container: Option<String>,
    limits: Option<Limits>,
    ending: Option<Ending>,
    exit_reason: Option<ExitReason>,
    exit_code: Option<i32>,
    reason: Option<String>,
    usage: Option<Usage>,
}

fn required<T>(value: Option<T>, kind: &str, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("a `{kind}` report needs the field `{field}`"))
}

impl TryFrom<WireReport> for AgentReport {
    type Error = String;

    fn try_from(w: WireReport) -> Result<AgentReport, String> {
        Ok(match w.kind {
            ReportKind::Started => AgentReport::Started {
                run: w.run,
                attempt: w.attempt,
                process: required(w.process, "started", "process")?,
                container: w.container,
                limits: required(w.limits, "started", "limits")?,
                at: w.at,
            },
            ReportKind::Finished => AgentReport::Finished {
                run: w.run,
                attempt: w.attempt,
                ending: required(w.ending, "finished", "ending")?,
                exit_reason: required(w.exit_reason, "finished", "exit_reason")?,
                exit_code: w.exit_code,
                reason: required(w.reason, "finished", "reason")?,
                usage: required(w.usage, "finished", "usage")?,
                at: w.at,
            },
        })
    }
}

/// [`Limits`]' `state`.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LimitsState {
    Enforced,
    NotEnforced,
}

/// Either kind of [`Limits`], flat.
#[derive(Deserialize)]
pub(crate) struct WireLimits {
    state: LimitsState,
    by: Option<String>,
    reason: Option<String>,
}

impl TryFrom<WireLimits> for Limits {
    type Error = String;

    fn try_from(w: WireLimits) -> Result<Limits, String> {
        let need = |value: Option<String>, state: &str, field: &str| {
            value.ok_or_else(|| format!("limits `{state}` need the field `{field}`"))
        };
        Ok(match w.state {
            LimitsState::Enforced => Limits::Enforced {
                by: need(w.by, "enforced", "by")?,
            },
            LimitsState::NotEnforced => Limits::NotEnforced {
                reason: need(w.reason, "not_enforced", "reason")?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> AgentReport {
        AgentReport::Started {
            run: RunId(7),
            attempt: 2,
            process: ProcessRef {
                pid: 41,
                start_ticks: 99,
            },
            container: None,
            limits: Limits::NotEnforced {
                reason: "not root".into(),
            },
            at: "2026-01-01T00:00:01Z".parse().unwrap(),
        }
    }

    fn finished() -> AgentReport {
        AgentReport::Finished {
            run: RunId(7),
            attempt: 2,
            ending: Ending::Failed,
            exit_reason: ExitReason::Exited,
            exit_code: Some(3),
            reason: "exit code 3".into(),
            usage: Usage {
                peak_memory_bytes: Some(1 << 20),
                cpu_time_ms: None,
            },
            at: "2026-01-01T00:00:02Z".parse().unwrap(),
        }
    }

    #[test]
    fn reports_read_back_as_written() {
        for report in [started(), finished()] {
            let json = serde_json::to_string(&report).unwrap();
            let back: AgentReport = serde_json::from_str(&json).unwrap();
            assert_eq!(back, report, "{json}");
        }
        let enforced = Limits::Enforced {
            by: "cgroup v1".into(),
        };
        let json = serde_json::to_string(&enforced).unwrap();
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), enforced);
    }

    #[test]
    fn a_report_missing_a_field_of_its_kind_names_it() {
        let mut json = serde_json::to_value(finished()).unwrap();
        json.as_object_mut().unwrap().remove("usage");
        let e = serde_json::from_value::<AgentReport>(json).unwrap_err();
        assert!(e.to_string().contains("`usage`"), "{e}");
        let e = serde_json::from_str::<AgentReport>(
            r#"{"kind":"paused","run":1,"attempt":1,"at":"2026-01-01T00:00:00Z"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("paused"), "{e}");
        let e = serde_json::from_str::<Limits>(r#"{"state":"enforced"}"#).unwrap_err();
        assert!(e.to_string().contains("`by`"), "{e}");
    }
}
