//! Aligned tables and readable times for people.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use rota_model::Run;
use rota_model::api::{AppView, QueueView, VersionView};

/// A table: a header and rows of cells, printed with aligned columns.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(header: Vec<&'static str>) -> Table {
        Table {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders it, with a closing line that counts the rows as Cosmos does.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
                }
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = line(self.header.clone());
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        let n = self.rows.len();
        out.push_str(&format!(
            "{n} row{} in set\n",
            if n == 1 { "" } else { "s" }
        ));
        out
    }
}

/// `YYYY-MM-DD HH:MM:SS` in `tz`, or `-`.
pub fn time(ts: Option<Timestamp>, tz: &TimeZone) -> String {
    ts.map_or_else(|| "-".into(), |t| rota_model::timefmt::format_time(t, tz))
}

/// A duration as `1h2m`, `3m4s` or `1.2s`.
pub fn duration(d: SignedDuration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        format!("{}m{}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else {
        format!(
            "{}h{}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

/// The cluster's members and their progress.
pub fn cluster(status: &serde_json::Value) -> String {
    let mut out = format!(
        "member {}: {}, term {}, leader {}, commit index {}, last applied {}\n",
        status["id"],
        status["role"].as_str().unwrap_or("?"),
        status["term"],
        status["leader"],
        status["commit_index"],
        status["last_applied"]
    );
    let mut table = Table::new(vec!["MEMBER", "ADDRESS", "VOTER", "MATCHED", "LAG"]);
    for member in status["members"].as_array().into_iter().flatten() {
        let id = &member["id"];
        let lag = status["followers"]
            .as_array()
            .and_then(|f| f.iter().find(|f| &f["id"] == id))
            .map_or("-".to_string(), |f| f["lag"].to_string());
        table.row(vec![
            id.to_string(),
            member["addr"].as_str().unwrap_or_default().to_string(),
            member["voter"].to_string(),
            status["followers"]
                .as_array()
                .and_then(|f| f.iter().find(|f| &f["id"] == id))
                .map_or("-".to_string(), |f| f["matched"].to_string()),
            lag,
        ]);
    }
    out.push_str(&table.render());
    out
}

/// Nodes with their capacity, usage and state.
pub fn nodes(nodes: &[rota_model::agent_api::NodeView]) -> String {
    let mut table = Table::new(vec![
        "NODE",
        "STATE",
        "CORES",
        "MEMS(MB)",
        "RUNNING",
        "ATTRIBUTES",
        "LABELS",
        "LAST SEEN",
    ]);
    for n in nodes {
        table.row(vec![
            n.node.to_string(),
            n.state.clone(),
            format!("{}/{}", n.used.cores, n.capacity.cores),
            format!("{}/{}", n.used.mems, n.capacity.mems),
            n.running.to_string(),
            n.attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            if n.labels.is_empty() {
                "*".into()
            } else {
                n.labels.join(",")
            },
            n.last_seen_seconds
                .map_or("-".into(), |s| format!("{}s ago", s.round())),
        ]);
    }
    table.render()
}

/// The exit code, and the detailed reason where it says more (`137 oom`).
fn exit(run: &Run) -> String {
    use rota_model::ExitReason;
    let code = run.exit_code.map(|c| c.to_string());
    let reason = run
        .exit_reason
        .filter(|r| !matches!(r, ExitReason::Exited))
        .map(|r| r.as_str().to_string());
    match (code, reason) {
        (Some(code), Some(reason)) => format!("{code} {reason}"),
        (Some(code), None) => code,
        (None, Some(reason)) => reason,
        (None, None) => "-".into(),
    }
}

/// Bytes as `512 B`, `3.2 MiB` or `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The lines under an app's row: whether its limits hold, and what its runs used.
pub fn app_details(app: &AppView) -> String {
    use rota_model::Limits;
    let mut out = String::new();
    match &app.limits {
        Some(Limits::Enforced { by }) => out.push_str(&format!("limits: enforced by {by}\n")),
        Some(Limits::NotEnforced { reason }) => {
            out.push_str(&format!("limits: NOT ENFORCED: {reason}\n"))
        }
        None => {}
    }
    let u = &app.usage;
    if u.measured_runs > 0 {
        let mem = |b: Option<u64>| b.map_or("-".into(), bytes);
        let cpu = |ms: Option<u64>| {
            ms.map_or("-".into(), |ms| {
                duration(SignedDuration::from_millis(ms as i64))
            })
        };
        out.push_str(&format!(
            "usage of the last {} measured runs: peak memory {} (latest {}), CPU time mean {} (latest {})\n",
            u.measured_runs,
            mem(u.peak_memory_bytes_max),
            mem(u.peak_memory_bytes_last),
            cpu(u.cpu_time_ms_mean),
            cpu(u.cpu_time_ms_last),
        ));
    }
    out
}

/// An app's versions with what changed in each.
pub fn versions(versions: &[VersionView], tz: &TimeZone) -> String {
    let mut out = String::new();
    for v in versions {
        out.push_str(&format!(
            "version {}{}  made {}\n",
            v.version,
            if v.current { " (current)" } else { "" },
            time(Some(v.created_at), tz)
        ));
        for change in &v.changes {
            out.push_str(&format!("  {change}\n"));
        }
    }
    out
}

/// When a run last changed.
fn updated(run: &Run) -> Option<Timestamp> {
    run.ended_at
        .or(run.started_at)
        .or(run.queued_at)
        .or(Some(run.created_at))
}

/// Run records: Cosmos' columns (name, queue, host, scheduleTime, updateTime, state), then
/// rota's.
pub fn runs(runs: &[Run], tz: &TimeZone) -> String {
    let mut table = Table::new(vec![
        "ID",
        "NAME",
        "QUEUE",
        "HOST",
        "SCHEDULE TIME",
        "UPDATE TIME",
        "STATE",
        "ATTEMPTS",
        "EXIT",
        "TOOK",
        "PEAK MEM",
        "CPU",
        "REASON",
    ]);
    for run in runs {
        let took = match (run.started_at, run.ended_at) {
            (Some(s), Some(e)) if e >= s => duration(e.duration_since(s)),
            _ => "-".into(),
        };
        table.row(vec![
            run.id.to_string(),
            run.name.clone(),
            run.queue.clone(),
            run.node.as_ref().map_or("-".into(), |n| n.to_string()),
            time(Some(run.schedule_time), tz),
            time(updated(run), tz),
            run.state.to_string(),
            run.attempts.to_string(),
            exit(run),
            took,
            run.usage.peak_memory_bytes.map_or("-".into(), bytes),
            run.usage.cpu_time_ms.map_or("-".into(), |ms| {
                duration(SignedDuration::from_millis(ms as i64))
            }),
            run.reason.clone().unwrap_or_default(),
        ]);
    }
    table.render()
}

/// The waiting queue: Cosmos' columns (mid, name, queue, priority, scheduleTime, updateTime,
/// timestamp).
pub fn queued(runs: &[Run], priorities: &dyn Fn(&Run) -> String, tz: &TimeZone) -> String {
    let mut table = Table::new(vec![
        "MID",
        "NAME",
        "QUEUE",
        "PRIORITY",
        "SCHEDULE TIME",
        "UPDATE TIME",
        "TIMESTAMP",
        "STATE",
    ]);
    for run in runs {
        table.row(vec![
            run.id.to_string(),
            run.name.clone(),
            run.queue.clone(),
            priorities(run),
            time(Some(run.schedule_time), tz),
            time(updated(run), tz),
            time(run.not_before.or(run.queued_at), tz),
            run.state.to_string(),
        ]);
    }
    table.render()
}

/// Apps: Cosmos' columns.
pub fn apps(apps: &[AppView], tz: &TimeZone) -> String {
    let mut table = Table::new(vec![
        "NAME",
        "QUEUE",
        "USER",
        "PRIORITY",
        "CORES",
        "MEMS(MB)",
        "IMAGE/COMMAND",
        "PARAMS",
        "CRON",
        "TIMEOUT(S)",
        "STATE",
        "VERSION",
        "NEXT FIRE",
    ]);
    for app in apps {
        let spec = &app.spec;
        let what = spec
            .image()
            .or_else(|| spec.command.as_ref().map(|c| c.join(" ")))
            .unwrap_or_default();
        table.row(vec![
            spec.name.clone(),
            spec.queue.clone(),
            spec.user.clone(),
            spec.priority.to_string(),
            spec.cores.to_string(),
            spec.mems.to_string(),
            what,
            spec.params.to_string(),
            spec.cron.clone().unwrap_or_else(|| "-".into()),
            spec.timeout.map_or("-".into(), |t| t.to_string()),
            if app.scheduled { "started" } else { "stopped" }.into(),
            app.version.to_string(),
            time(app.next_fire_time, tz),
        ]);
    }
    table.render()
}

/// Queues with their usage.
pub fn queues(queues: &[QueueView]) -> String {
    let mut table = Table::new(vec![
        "QUEUE", "APPS", "QUEUED", "RUNNING", "CORES", "MEMS(MB)", "WEIGHT", "QUOTA", "MINIMUM",
        "PREEMPT", "SHARE",
    ]);
    let limits = |l: &rota_model::api::QueueLimits| match (l.cores, l.mems) {
        (None, None) => "-".to_string(),
        (cores, mems) => format!(
            "{} cores, {} MB",
            cores.map_or("-".into(), |c| c.to_string()),
            mems.map_or("-".into(), |m| m.to_string())
        ),
    };
    for q in queues {
        table.row(vec![
            q.name.clone(),
            q.apps.to_string(),
            q.queued.to_string(),
            q.running.to_string(),
            q.cores_used.to_string(),
            q.mems_used.to_string(),
            q.weight.to_string(),
            limits(&q.quota),
            limits(&q.guaranteed),
            if q.preemption { "yes" } else { "no" }.into(),
            format!(
                "{:.1}%{}",
                q.share * 100.0,
                if q.below_guarantee {
                    " (below minimum)"
                } else {
                    ""
                }
            ),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_rows_counted() {
        let mut table = Table::new(vec!["A", "LONG HEADER", "C"]);
        table.row(vec!["xxxx".into(), "1".into(), "z".into()]);
        let text = table.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "A     LONG HEADER  C");
        assert_eq!(lines[1], "xxxx  1            z");
        assert_eq!(lines[2], "1 row in set");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(SignedDuration::from_millis(1200)), "1.2s");
        assert_eq!(duration(SignedDuration::from_secs(125)), "2m5s");
        assert_eq!(duration(SignedDuration::from_secs(3720)), "1h2m");
    }
}
