//! The durable store: commands are appended to a log in a redb file, group-committed (one
//! sync for every command that arrived while the previous sync ran), then applied to the
//! in-memory state machine. Snapshots of the state bound the log.
//!
//! ```text
//!  submit() ──▶ channel ──▶ writer thread: batch ─▶ redb commit (fsync) ─▶ apply ─▶ reply
//!                                                   └─ every N commands or M run changes:
//!                                                      snapshot, trim log
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{oneshot, watch};

use crate::command::Command;
use crate::refusal::Refusal;
use crate::state::{Applied, State};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The snapshot, beside the redb file: the index of the last command it holds (u64,
/// little-endian), then [`State::to_snapshot`]. A file of its own, because a value of hundreds
/// of megabytes in redb is copied through its pages on every write, grows the file that a
/// restart after a crash must check, and is slow to read back.
const SNAPSHOT_FILE: &str = "snapshot.bin";
const SCHEMA_KEY: &str = "schema";
/// The version of the on-disk format; bumped on any incompatible change.
const SCHEMA_VERSION: &[u8] = b"2";
/// Commands in one group commit at most.
const MAX_BATCH: usize = 4096;
/// redb's page cache. Its default (1 GiB) keeps every page written since the start in
/// memory: the log is read only at recovery, so the OS page cache serves it as well and the
/// server's memory stays with its state.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Tuning of the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Take a snapshot (and trim the log) after this many commands.
    pub snapshot_every: u64,
    /// Take one as well after this many changes to runs (each run a command created or
    /// changed counts once), however few commands made them: one `repair` makes thousands
    /// of runs, and a restart replays every change the snapshot does not hold.
    pub snapshot_changes: u64,
    /// How long to wait for the file's lock. After a crash, a process the crashed server had
    /// just forked for a run holds a copy of the file until it starts its program, so the
    /// lock comes free shortly after; a live server keeps it, and opening then fails.
    pub lock_wait: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            snapshot_every: 20_000,
            snapshot_changes: 100_000,
            lock_wait: Duration::from_secs(10),
        }
    }
}

/// Opens the database file, waiting up to `wait` while another process holds its lock.
fn create_database(path: &Path, wait: Duration) -> Result<Database, StoreError> {
    let deadline = std::time::Instant::now() + wait;
    let mut warned = false;
    loop {
        match Database::builder().set_cache_size(CACHE_BYTES).create(path) {
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
                if std::time::Instant::now() < deadline =>
            {
                if !warned {
                    tracing::warn!(path = %path.display(), "the store is locked by another process; waiting");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            answer => return answer.map_err(|e| open_error(e, path)),
        }
    }
}

/// What the writer has done since the store was opened: for metrics, and for tests that
/// check that commands are group-committed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Commands made durable, whether the state machine then applied or refused them.
    pub commands: u64,
    /// Commits of the log: one redb transaction (and one sync) each, carrying every command
    /// that arrived while the previous one was being written.
    pub batches: u64,
    /// Snapshots taken (each one trims the log).
    pub snapshots: u64,
}

#[derive(Debug, Default)]
struct Counters {
    commands: AtomicU64,
    batches: AtomicU64,
    snapshots: AtomicU64,
}

/// Why the store could not open or write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The storage engine failed.
    #[error("storage engine: {0}")]
    Engine(String),
    /// The file holds data this version cannot read.
    #[error("the data in {0} is corrupt or from an incompatible version: {1}")]
    Corrupt(PathBuf, String),
    /// The snapshot file could not be read or written.
    #[error("snapshot file {path}: {source}")]
    SnapshotFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The writer has stopped (the process is shutting down).
    #[error("the store is closed")]
    Closed,
}

/// Why a submitted command did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The state machine refused it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// It could not be made durable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This server is a follower: the leader (when known) takes writes. Nothing was written.
    #[error("this server is not the leader{}", .leader.as_ref().map(|l| format!("; the leader is {l}")).unwrap_or_else(|| "; an election is under way".into()))]
    NotLeader {
        /// The leader's base URL, when known.
        leader: Option<String>,
    },
    /// The write's outcome is unknown or the cluster member has stopped; retry.
    #[error("{0}")]
    Unavailable(String),
}

fn engine<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Engine(e.to_string())
}

/// A file redb cannot read at all is corrupt (or not a store); anything else is the engine's.
fn open_error(error: redb::DatabaseError, path: &Path) -> StoreError {
    use redb::{DatabaseError, StorageError};
    match error {
        DatabaseError::Storage(StorageError::Corrupted(_)) | DatabaseError::UpgradeRequired(_) => {
            StoreError::Corrupt(path.to_path_buf(), error.to_string())
        }
        DatabaseError::Storage(StorageError::Io(ref io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(path.to_path_buf(), error.to_string())
        }
        error => engine(error),
    }
}

struct Proposal {
    command: Command,
    reply: oneshot::Sender<Result<Applied, SubmitError>>,
}

/// A handle to the store; cheap to clone. When the last handle is dropped, the writer
/// finishes what it was given and closes the file before the drop returns, so the store can
/// be opened again at once.
#[derive(Clone)]
pub struct Store {
    state: Arc<RwLock<State>>,
    shared: Arc<Shared>,
}

struct Shared {
    /// `None` only while the last handle is being dropped.
    proposals: Option<mpsc::Sender<Proposal>>,
    writer: Option<std::thread::JoinHandle<()>>,
    applied: watch::Receiver<u64>,
    counters: Arc<Counters>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once it has written every proposal
        // already sent; waiting for it releases the file lock.
        drop(self.proposals.take());
        if let Some(writer) = self.writer.take()
            && writer.join().is_err()
        {
            tracing::error!("the store's writer thread panicked");
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `dir` and recovers its state: the last snapshot,
    /// then every command logged after it.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("rota.redb");
        let db = create_database(&path, options.lock_wait)?;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        let Recovered {
            state,
            last_index,
            snapshot_index,
            changes,
        } = recover(&db, &path, &snapshot_path)?;
        let state = Arc::new(RwLock::new(state));
        let (proposals, inbox) = mpsc::channel();
        let (applied_tx, applied) = watch::channel(last_index);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            counters: counters.clone(),
            db,
            path,
            snapshot_path,
            state: state.clone(),
            applied: applied_tx,
            last_index,
            snapshot_index,
            changes,
            options,
        };
        let writer = std::thread::Builder::new()
            .name("rota-store-writer".into())
            .spawn(move || writer.run(inbox))
            .map_err(engine)?;
        Ok(Store {
            state,
            shared: Arc::new(Shared {
                proposals: Some(proposals),
                writer: Some(writer),
                applied,
                counters,
            }),
        })
    }

    /// Appends a command durably and applies it; resolves once it is on disk.
    pub async fn submit(&self, command: Command) -> Result<Applied, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.shared
            .proposals
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Proposal { command, reply })
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        f(&state)
    }

    /// The index of the last applied command; changes after every write.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.shared.applied.clone()
    }

    /// What the writer has done since the store was opened.
    pub fn stats(&self) -> StoreStats {
        let counters = &self.shared.counters;
        StoreStats {
            commands: counters.commands.load(Ordering::Relaxed),
            batches: counters.batches.load(Ordering::Relaxed),
            snapshots: counters.snapshots.load(Ordering::Relaxed),
        }
    }
}

/// What [`recover`] found on disk.
struct Recovered {
    state: State,
    /// The index of the last command in the log.
    last_index: u64,
    /// The index the snapshot covers: the log after it was replayed, and counts towards the
    /// next snapshot.
    snapshot_index: u64,
    /// The changes to runs replayed from the log, which count towards the next snapshot.
    changes: u64,
}

fn recover(db: &Database, path: &Path, snapshot_path: &Path) -> Result<Recovered, StoreError> {
    let corrupt =
        |e: &dyn std::fmt::Display| StoreError::Corrupt(path.to_path_buf(), e.to_string());
    let txn = db.begin_write().map_err(engine)?;
    {
        let mut meta = txn.open_table(META).map_err(engine)?;
        let schema = meta
            .get(SCHEMA_KEY)
            .map_err(engine)?
            .map(|v| v.value().to_vec());
        match schema {
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION).map_err(engine)?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(corrupt(&format!(
                    "schema version {} (this rota reads {})",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(SCHEMA_VERSION)
                )));
            }
        }
        txn.open_table(LOG).map_err(engine)?;
    }
    txn.commit().map_err(engine)?;

    let began = std::time::Instant::now();
    let snapshot = match std::fs::read(snapshot_path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(StoreError::SnapshotFile {
                path: snapshot_path.to_path_buf(),
                source,
            });
        }
    };
    let snapshot_bytes = snapshot.as_ref().map_or(0, Vec::len);
    let (mut state, mut last_index) = match snapshot {
        Some(bytes) => {
            let bad = |e: &dyn std::fmt::Display| {
                StoreError::Corrupt(snapshot_path.to_path_buf(), e.to_string())
            };
            let (index, state) = bytes
                .split_first_chunk::<8>()
                .ok_or_else(|| bad(&"shorter than its index"))?;
            let state = State::from_snapshot(state).map_err(|e| bad(&e))?;
            (state, u64::from_le_bytes(*index))
        }
        None => (State::default(), 0),
    };
    let snapshot_index = last_index;
    let decoded = began.elapsed();
    let txn = db.begin_read().map_err(engine)?;
    let log = txn.open_table(LOG).map_err(engine)?;
    let mut changes = 0;
    for entry in log.range(last_index + 1..).map_err(engine)? {
        let (index, bytes) = entry.map_err(engine)?;
        let command: Command = serde_json::from_slice(bytes.value()).map_err(|e| corrupt(&e))?;
        // A refused command was refused the first time too; replay keeps the same outcome.
        if let Ok(applied) = state.apply(&command) {
            changes += applied.runs.len() as u64;
        }
        last_index = index.value();
    }
    tracing::info!(
        snapshot_bytes,
        snapshot_ms = decoded.as_millis() as u64,
        replayed = last_index - snapshot_index,
        replay_ms = (began.elapsed() - decoded).as_millis() as u64,
        "store recovered"
    );
    Ok(Recovered {
        state,
        last_index,
        snapshot_index,
        changes,
    })
}

struct Writer {
    counters: Arc<Counters>,
    db: Database,
    path: PathBuf,
    snapshot_path: PathBuf,
    state: Arc<RwLock<State>>,
    applied: watch::Sender<u64>,
    last_index: u64,
    snapshot_index: u64,
    /// Changes to runs since the last snapshot.
    changes: u64,
    options: StoreOptions,
}

impl Writer {
    fn run(mut self, inbox: mpsc::Receiver<Proposal>) {
        while let Ok(first) = inbox.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match inbox.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.commit(batch);
            let due = self.last_index - self.snapshot_index >= self.options.snapshot_every
                || self.changes >= self.options.snapshot_changes;
            if due && let Err(e) = self.snapshot() {
                tracing::error!(error = %e, path = %self.path.display(), "snapshot failed; the log keeps growing");
            }
        }
    }

    fn commit(&mut self, batch: Vec<Proposal>) {
        let first = self.last_index + 1;
        if let Err(e) = self.append(first, &batch) {
            tracing::error!(error = %e, "log append failed");
            for p in batch {
                let _ = p.reply.send(Err(StoreError::Engine(e.to_string()).into()));
            }
            return;
        }
        let results: Vec<_> = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            batch
                .iter()
                .map(|p| state.apply(&p.command).map_err(SubmitError::from))
                .collect()
        };
        self.last_index += batch.len() as u64;
        self.changes += results
            .iter()
            .flatten()
            .map(|applied| applied.runs.len() as u64)
            .sum::<u64>();
        self.counters
            .commands
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.applied.send_replace(self.last_index);
        for (p, result) in batch.into_iter().zip(results) {
            let _ = p.reply.send(result);
        }
    }

    fn append(&self, first: u64, batch: &[Proposal]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(engine)?;
        {
            let mut log = txn.open_table(LOG).map_err(engine)?;
            for (offset, p) in batch.iter().enumerate() {
                let bytes = serde_json::to_vec(&p.command).map_err(engine)?;
                log.insert(first + offset as u64, bytes.as_slice())
                    .map_err(engine)?;
            }
        }
        txn.commit().map_err(engine)
    }

    /// Writes the snapshot file durably (a new file renamed over the old one), then trims
    /// the log it covers: a crash between the two leaves commands the snapshot already
    /// holds, which recovery skips.
    fn snapshot(&mut self) -> Result<(), StoreError> {
        let bytes = {
            let state = self.state.read().unwrap_or_else(|e| e.into_inner());
            let index = self.last_index;
            write_file_durably(&self.snapshot_path, |out| {
                out.write_all(&index.to_le_bytes())?;
                state.write_snapshot(out)
            })
        }
        .map_err(|source| StoreError::SnapshotFile {
            path: self.snapshot_path.clone(),
            source,
        })?;
        let txn = self.db.begin_write().map_err(engine)?;
        {
            let mut log = txn.open_table(LOG).map_err(engine)?;
            log.retain_in(..=self.last_index, |_, _| false)
                .map_err(engine)?;
        }
        txn.commit().map_err(engine)?;
        self.snapshot_index = self.last_index;
        self.changes = 0;
        self.counters.snapshots.fetch_add(1, Ordering::Relaxed);
        tracing::info!(index = self.last_index, bytes, "snapshot taken");
        Ok(())
    }
}

/// Replaces `path` with what `write` writes, so that a crash leaves either the old file or the
/// new one; returns the new file's size.
fn write_file_durably(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<u64> {
    let partial = path.with_extension("partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial)?);
    write(&mut out)?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    let size = file.metadata()?.len();
    drop(file);
    std::fs::rename(&partial, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(size)
}
