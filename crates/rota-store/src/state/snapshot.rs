//! A [`State`]'s snapshot: what the durable store and every Raft member keep to bound their
//! log, and what a restart decodes before it replays the log after it.
//!
//! ```text
//!  "rota-snapshot\0" version(u32)
//!  runs:    count(u64), then each run field by field, strings as indices into the table
//!  strings: count(u32), then each string (length u64, UTF-8)
//!  rest:    JSON of everything but the runs (apps and their versions, edges, queues, nodes)
//!  lengths: of the runs, the strings and the rest (u64 each)
//! ```
//!
//! It is written as it is encoded, in that order, with no copy of the whole in memory: a
//! buffer of hundreds of megabytes, freed after each snapshot, would stay in the server's
//! memory. The lengths at the end let the reader find each part, and decode the JSON and the
//! runs at once on two threads.
//!
//! Runs are nearly all of a large state and nearly all alike, so they are written by hand in
//! a fixed binary layout: decoding a million takes a fraction of what JSON did, and each
//! repeated string (app name, queue, node, reason) is stored once. The rest keeps its serde
//! JSON form: it is small, and its types carry serde attributes that only a self-describing
//! format reads back. The indexes are not stored; [`State::from_snapshot`] rebuilds them in
//! one pass.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};

use rota_model::depend::Depend;
use rota_model::exit::{ExitReason, Limits, Usage};
use rota_model::record::ProcessRef;
use rota_model::run::ALL_STATES;
use rota_model::{AppKey, Attempt, NodeId, Origin, Run, RunId, RunState};

use super::{AppEntry, Settings, State, nodes::NodeEntry};

mod wire;

use wire::{Reader, Strings, Writer};

const MAGIC: &[u8] = b"rota-snapshot\0";
const VERSION: u32 = 1;
/// The encoded runs are handed to the output in pieces of about this size.
const CHUNK: usize = 1 << 16;

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The bytes do not start as a snapshot of this version does.
    #[error("not a rota snapshot of version {VERSION}")]
    NotASnapshot,
    /// The bytes end before the snapshot does.
    #[error("the snapshot is truncated")]
    Truncated,
    /// A field holds a value no snapshot writes.
    #[error("the snapshot is invalid: {0}")]
    Invalid(String),
    /// The JSON part does not decode.
    #[error("the snapshot's JSON part: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything but the runs, borrowed to write.
#[derive(Serialize)]
struct RestRef<'a> {
    /// The entries in key order; each one's key is its spec's.
    #[serde(serialize_with = "entries")]
    apps: &'a BTreeMap<AppKey, AppEntry>,
    next_run: u64,
    edges: &'a std::collections::BTreeSet<Depend>,
    settings: &'a Settings,
    queues: &'a BTreeMap<String, rota_sched::Queue>,
    nodes: &'a BTreeMap<String, NodeEntry>,
}

/// Everything but the runs, read back.
#[derive(Deserialize)]
struct Rest {
    apps: Vec<AppEntry>,
    next_run: u64,
    edges: std::collections::BTreeSet<Depend>,
    settings: Settings,
    queues: BTreeMap<String, rota_sched::Queue>,
    nodes: BTreeMap<String, NodeEntry>,
}

impl State {
    /// Encodes the state (without its indexes) as a snapshot.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.write_snapshot(&mut bytes)
            .expect("writing to a Vec cannot fail");
        bytes
    }

    /// Writes the snapshot of [`State::to_snapshot`] to `out` as it is encoded.
    pub fn write_snapshot(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut out = Counting { out, count: 0 };
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        let start = out.count;
        let mut strings = Strings::default();
        let mut w = Writer::default();
        w.u64(self.runs.len() as u64);
        for run in self.runs.values() {
            write_run(&mut w, &mut strings, run);
            if w.bytes.len() >= CHUNK {
                out.write_all(&w.bytes)?;
                w.bytes.clear();
            }
        }
        let runs = out.count + w.bytes.len() as u64 - start;
        w.u32(strings.table.len() as u32);
        for s in &strings.table {
            w.bytes(s.as_bytes());
        }
        out.write_all(&w.bytes)?;
        let table = out.count - start - runs;
        let rest = RestRef {
            apps: &self.apps,
            next_run: self.next_run,
            edges: &self.edges,
            settings: &self.settings,
            queues: &self.queues,
            nodes: &self.nodes,
        };
        serde_json::to_writer(&mut out, &rest)?;
        let rest = out.count - start - runs - table;
        for length in [runs, table, rest] {
            out.write_all(&length.to_le_bytes())?;
        }
        Ok(())
    }

    /// Decodes a snapshot made by [`State::to_snapshot`] and rebuilds the indexes.
    pub fn from_snapshot(bytes: &[u8]) -> Result<State, SnapshotError> {
        let mut r = Reader::new(bytes);
        if r.take(MAGIC.len()).ok() != Some(MAGIC) || r.u32().ok() != Some(VERSION) {
            return Err(SnapshotError::NotASnapshot);
        }
        let body_len = bytes.len().checked_sub(MAGIC.len() + 4 + 24);
        let body = r.take(body_len.ok_or(SnapshotError::Truncated)?)?;
        let lengths = Reader::new(r.take(24)?).lengths()?;
        let mut parts = Reader::new(body);
        let (runs, table, rest) = (
            parts.take(lengths[0])?,
            parts.take(lengths[1])?,
            parts.take(lengths[2])?,
        );
        if !parts.is_empty() {
            return Err(SnapshotError::Invalid("the lengths do not add up".into()));
        }
        let mut r = Reader::new(runs);
        r.string_table(table)?;
        // Two threads: the JSON of many apps takes about as long as the binary of ten times
        // as many runs, and so does building the map of the runs beside their index by app.
        let (rest, runs) = std::thread::scope(|scope| {
            let rest = scope.spawn(|| serde_json::from_slice::<Rest>(rest));
            let runs = read_runs(&mut r);
            (join(rest), runs)
        });
        let (rest, (runs, by_app_time)) = (rest?, runs?);
        let (runs, by_app_time) = std::thread::scope(|scope| {
            let by_app_time = scope.spawn(|| {
                by_app_time
                    .into_iter()
                    .map(|(key, runs)| (key, runs.into_iter().collect()))
                    .collect()
            });
            // Sorted by id, so the map is built in one pass with full nodes.
            let runs: BTreeMap<RunId, Run> = runs.into_iter().collect();
            (runs, join(by_app_time))
        });
        let mut apps = Vec::with_capacity(rest.apps.len());
        for entry in rest.apps {
            let key = entry
                .versions
                .last()
                .ok_or_else(|| SnapshotError::Invalid("an app without a version".into()))?
                .spec
                .key();
            if apps.last().is_some_and(|(last, _)| *last >= key) {
                return Err(SnapshotError::Invalid(format!("app {key} out of order")));
            }
            apps.push((key, entry));
        }
        let mut state = State {
            // Sorted, so the map is built in one pass with full nodes.
            apps: apps.into_iter().collect(),
            runs,
            next_run: rest.next_run,
            edges: rest.edges,
            settings: rest.settings,
            queues: rest.queues,
            nodes: rest.nodes,
            index: Default::default(),
            scheduling_epoch: 0,
            node_epochs: Default::default(),
            apps_removed: 0,
        };
        state.reindex_with(by_app_time);
        Ok(state)
    }
}

/// The runs of a snapshot in id order, and the entries of the index by app and schedule time
/// sorted as the index is: each app once, with its runs by schedule time.
type DecodedRuns = (
    Vec<(RunId, Run)>,
    Vec<(AppKey, Vec<(jiff::Timestamp, RunId)>)>,
);

fn read_runs(r: &mut Reader<'_>) -> Result<DecodedRuns, SnapshotError> {
    let count = r.u64()?;
    let capacity = usize::try_from(count).unwrap_or(0).min(1 << 24);
    let mut runs = Vec::with_capacity(capacity);
    let mut keys = Vec::with_capacity(capacity);
    for _ in 0..count {
        let (run, name, queue) = read_run(r)?;
        if runs.last().is_some_and(|(last, _)| *last >= run.id) {
            return Err(SnapshotError::Invalid(format!(
                "run {} out of order",
                run.id
            )));
        }
        keys.push((name, queue, run.schedule_time, run.id));
        runs.push((run.id, run));
    }
    if !r.is_empty() {
        return Err(SnapshotError::Invalid("bytes after the last run".into()));
    }
    // Strings compared once, in the table: the entries sort by the ranks of their strings.
    let rank = r.string_ranks();
    keys.sort_unstable_by_key(|&(name, queue, time, id)| {
        (rank[name as usize], rank[queue as usize], time, id)
    });
    let mut by_app_time: Vec<(AppKey, Vec<(jiff::Timestamp, RunId)>)> = Vec::new();
    let mut last = None;
    for (name, queue, time, id) in keys {
        match by_app_time.last_mut() {
            Some((_, runs)) if last == Some((name, queue)) => runs.push((time, id)),
            _ => {
                let key = AppKey {
                    name: r.table_string(name).to_owned(),
                    queue: r.table_string(queue).to_owned(),
                };
                by_app_time.push((key, vec![(time, id)]));
                last = Some((name, queue));
            }
        }
    }
    Ok((runs, by_app_time))
}

fn entries<S: serde::Serializer>(
    apps: &&BTreeMap<AppKey, AppEntry>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(apps.values())
}

/// Counts the bytes written through it.
struct Counting<'w, W> {
    out: &'w mut W,
    count: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

fn write_run<'a>(w: &mut Writer, strings: &mut Strings<'a>, run: &'a Run) {
    // Destructured so that a new field of `Run` does not compile until it is written here.
    let Run {
        id,
        name,
        queue,
        version,
        schedule_time,
        origin,
        state,
        attempts,
        retries_used,
        exit_code,
        exit_reason,
        usage,
        limits,
        container,
        reason,
        node,
        created_at,
        queued_at,
        started_at,
        ended_at,
        not_before,
        call_params,
        preempted_by,
        kill_requested,
        process,
        history,
    } = run;
    w.u64(id.0);
    w.u32(strings.id(name));
    w.u32(strings.id(queue));
    w.u32(*version);
    w.time(*schedule_time);
    w.u8(origin_tag(*origin));
    w.u8(state_tag(*state));
    w.u32(*attempts);
    w.u32(*retries_used);
    w.opt_i32(*exit_code);
    w.opt(*exit_reason, |w, e| w.u8(exit_reason_tag(e)));
    write_usage(w, usage);
    w.opt(limits.as_ref(), |w, limits| match limits {
        Limits::Enforced { by } => {
            w.u8(0);
            w.u32(strings.id(by));
        }
        Limits::NotEnforced { reason } => {
            w.u8(1);
            w.u32(strings.id(reason));
        }
    });
    w.u32(strings.opt_id(container.as_deref()));
    w.u32(strings.opt_id(reason.as_deref()));
    w.u32(strings.opt_id(node.as_ref().map(|n| n.0.as_str())));
    w.time(*created_at);
    w.opt_time(*queued_at);
    w.opt_time(*started_at);
    w.opt_time(*ended_at);
    w.opt_time(*not_before);
    w.opt(call_params.as_ref(), |w, params| {
        w.bytes(&serde_json::to_vec(params).expect("a JSON value serializes"));
    });
    w.opt_u64(preempted_by.map(|r| r.0));
    w.u8(u8::from(*kill_requested));
    w.opt(*process, |w, p| {
        w.i32(p.pid);
        w.u64(p.start_ticks);
    });
    w.u32(history.len() as u32);
    for attempt in history {
        let Attempt {
            attempt,
            state,
            exit_code,
            reason,
            node,
            exit_reason,
            usage,
            started_at,
            ended_at,
        } = attempt;
        w.u32(*attempt);
        w.u8(state_tag(*state));
        w.opt_i32(*exit_code);
        w.u32(strings.opt_id(reason.as_deref()));
        w.u32(strings.opt_id(node.as_ref().map(|n| n.0.as_str())));
        w.opt(*exit_reason, |w, e| w.u8(exit_reason_tag(e)));
        write_usage(w, usage);
        w.opt_time(*started_at);
        w.opt_time(*ended_at);
    }
}

/// A run, with the table ids of its app's name and queue.
fn read_run(r: &mut Reader<'_>) -> Result<(Run, u32, u32), SnapshotError> {
    let id = RunId(r.u64()?);
    let name_id = r.string_id()?;
    let name = r.table_string(name_id).to_owned();
    let queue_id = r.string_id()?;
    let queue = r.table_string(queue_id).to_owned();
    let version = r.u32()?;
    let schedule_time = r.time()?;
    let origin = origin_of(r.u8()?)?;
    let state = state_of(r.u8()?)?;
    let attempts = r.u32()?;
    let retries_used = r.u32()?;
    let exit_code = r.opt_i32()?;
    let exit_reason = r.opt(|r| exit_reason_of(r.u8()?))?;
    let usage = read_usage(r)?;
    let limits = r.opt(|r| match r.u8()? {
        0 => Ok(Limits::Enforced { by: r.string()? }),
        1 => Ok(Limits::NotEnforced {
            reason: r.string()?,
        }),
        tag => Err(SnapshotError::Invalid(format!("limits {tag}"))),
    })?;
    let container = r.opt_string()?;
    let reason = r.opt_string()?;
    let node = r.opt_string()?.map(NodeId);
    let created_at = r.time()?;
    let queued_at = r.opt_time()?;
    let started_at = r.opt_time()?;
    let ended_at = r.opt_time()?;
    let not_before = r.opt_time()?;
    let call_params = r.opt(|r| Ok(serde_json::from_slice(r.bytes()?)?))?;
    let preempted_by = r.opt_u64()?.map(RunId);
    let kill_requested = match r.u8()? {
        0 => false,
        1 => true,
        b => return Err(SnapshotError::Invalid(format!("kill_requested {b}"))),
    };
    let process = r.opt(|r| {
        Ok(ProcessRef {
            pid: r.i32()?,
            start_ticks: r.u64()?,
        })
    })?;
    let attempts_kept = r.u32()?;
    let mut history = Vec::with_capacity(attempts_kept.min(1024) as usize);
    for _ in 0..attempts_kept {
        history.push(Attempt {
            attempt: r.u32()?,
            state: state_of(r.u8()?)?,
            exit_code: r.opt_i32()?,
            reason: r.opt_string()?,
            node: r.opt_string()?.map(NodeId),
            exit_reason: r.opt(|r| exit_reason_of(r.u8()?))?,
            usage: read_usage(r)?,
            started_at: r.opt_time()?,
            ended_at: r.opt_time()?,
        });
    }
    let run = Run {
        id,
        name,
        queue,
        version,
        schedule_time,
        origin,
        state,
        attempts,
        retries_used,
        exit_code,
        exit_reason,
        usage,
        limits,
        container,
        reason,
        node,
        created_at,
        queued_at,
        started_at,
        ended_at,
        not_before,
        call_params,
        preempted_by,
        kill_requested,
        process,
        history,
    };
    Ok((run, name_id, queue_id))
}

fn write_usage(w: &mut Writer, usage: &Usage) {
    let Usage {
        peak_memory_bytes,
        cpu_time_ms,
    } = usage;
    w.opt_u64(*peak_memory_bytes);
    w.opt_u64(*cpu_time_ms);
}

fn read_usage(r: &mut Reader<'_>) -> Result<Usage, SnapshotError> {
    Ok(Usage {
        peak_memory_bytes: r.opt_u64()?,
        cpu_time_ms: r.opt_u64()?,
    })
}

fn state_tag(state: RunState) -> u8 {
    ALL_STATES
        .iter()
        .position(|s| *s == state)
        .expect("every state is in ALL_STATES") as u8
}

fn state_of(tag: u8) -> Result<RunState, SnapshotError> {
    ALL_STATES
        .get(tag as usize)
        .copied()
        .ok_or_else(|| SnapshotError::Invalid(format!("run state {tag}")))
}

const ORIGINS: [Origin; 7] = [
    Origin::Cron,
    Origin::Catchup,
    Origin::Manual,
    Origin::Repair,
    Origin::Replay,
    Origin::Parent,
    Origin::Imported,
];

fn origin_tag(origin: Origin) -> u8 {
    // A match, so that a new origin does not compile until it has a tag.
    match origin {
        Origin::Cron => 0,
        Origin::Catchup => 1,
        Origin::Manual => 2,
        Origin::Repair => 3,
        Origin::Replay => 4,
        Origin::Parent => 5,
        Origin::Imported => 6,
    }
}

fn origin_of(tag: u8) -> Result<Origin, SnapshotError> {
    ORIGINS
        .get(tag as usize)
        .copied()
        .ok_or_else(|| SnapshotError::Invalid(format!("origin {tag}")))
}

const EXIT_REASONS: [ExitReason; 10] = [
    ExitReason::Exited,
    ExitReason::Signaled,
    ExitReason::Oom,
    ExitReason::TimedOut,
    ExitReason::Killed,
    ExitReason::StartFailed,
    ExitReason::ImageNotFound,
    ExitReason::ImagePullFailed,
    ExitReason::EngineUnavailable,
    ExitReason::Lost,
];

fn exit_reason_tag(reason: ExitReason) -> u8 {
    match reason {
        ExitReason::Exited => 0,
        ExitReason::Signaled => 1,
        ExitReason::Oom => 2,
        ExitReason::TimedOut => 3,
        ExitReason::Killed => 4,
        ExitReason::StartFailed => 5,
        ExitReason::ImageNotFound => 6,
        ExitReason::ImagePullFailed => 7,
        ExitReason::EngineUnavailable => 8,
        ExitReason::Lost => 9,
    }
}

fn exit_reason_of(tag: u8) -> Result<ExitReason, SnapshotError> {
    EXIT_REASONS
        .get(tag as usize)
        .copied()
        .ok_or_else(|| SnapshotError::Invalid(format!("exit reason {tag}")))
}

#[cfg(test)]
mod tests;
