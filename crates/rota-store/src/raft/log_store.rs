//! The Raft log over redb: entries, the vote, the commit point and the purge point.
//!
//! Every change is made by the member's log writer ([`LogWriter`]), in order, on a thread of
//! its own: an append returns at once and is reported flushed once its transaction, committed
//! with the default durability (an fsync), is on disk. openraft batches the entries of many
//! proposals into one `append`, and the writer the appends queued during a sync into one
//! transaction: the group commit of the replicated store. The commit point is written with
//! the next append, in the same transaction: no write of its own.
//!
//! The latest entries are also kept decoded in memory ([`Recent`]): the leader reads each
//! entry again to replicate it to every follower, and reading it back from redb and decoding
//! its JSON took about a tenth of a busy leader's CPU.

use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::db::{self, COMMITTED_KEY, File, LOG, META, PURGED_KEY, VOTE_KEY, io_err};
use super::log_writer::LogWriter;
use super::types::{Entry, LogId, TypeConfig, Vote};

/// How many of the latest entries are kept decoded in memory.
const RECENT_ENTRIES: usize = 8192;

/// The log storage; cheap to clone (the reader is a clone and shares the recent entries).
#[derive(Clone)]
pub(crate) struct LogStore {
    writer: LogWriter,
    recent: Arc<Mutex<Recent>>,
    /// The latest commit point openraft saved, written with the next append.
    committed: Arc<Mutex<Option<LogId>>>,
}

impl LogStore {
    /// The log of `db`, with its writer thread started.
    pub(crate) fn new(db: Arc<File>) -> io::Result<LogStore> {
        let committed = Arc::default();
        Ok(LogStore {
            writer: LogWriter::start(db, Arc::clone(&committed))?,
            recent: Arc::default(),
            committed,
        })
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The latest entries appended, with consecutive indexes, at most [`RECENT_ENTRIES`]; kept in
/// step with the log by every append, truncation and purge.
#[derive(Default)]
struct Recent {
    entries: VecDeque<Entry>,
}

impl Recent {
    fn first_index(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    fn last_index(&self) -> Option<u64> {
        self.entries.back().map(|e| e.log_id.index)
    }

    /// Adds entries appended after the last one; anything else starts the window afresh.
    fn append(&mut self, entries: &[Entry]) {
        for entry in entries {
            if self
                .last_index()
                .is_some_and(|last| last + 1 != entry.log_id.index)
            {
                self.entries.clear();
            }
            self.entries.push_back(entry.clone());
            if self.entries.len() > RECENT_ENTRIES {
                self.entries.pop_front();
            }
        }
    }

    /// Drops the entries after `index` (all of them for `None`).
    fn truncate_after(&mut self, index: Option<u64>) {
        while self
            .last_index()
            .is_some_and(|last| index.is_none_or(|i| last > i))
        {
            self.entries.pop_back();
        }
    }

    /// Drops the entries up to `index`.
    fn purge(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.entries.pop_front();
        }
    }

    /// The entries of `[start, end)` when every one of them is here.
    fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let first = self.first_index()?;
        let last = self.last_index()?;
        if start < first || end > last + 1 || start > end {
            return None;
        }
        let from = (start - first) as usize;
        let to = (end - first) as usize;
        Some(self.entries.range(from..to).cloned().collect())
    }
}

/// `[start, end)` of a range of indexes, `end` `None` when unbounded.
fn half_open(range: &(Bound<u64>, Bound<u64>)) -> (u64, Option<u64>) {
    let start = match range.0 {
        Bound::Included(i) => i,
        Bound::Excluded(i) => i + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.1 {
        Bound::Included(i) => Some(i + 1),
        Bound::Excluded(i) => Some(i),
        Bound::Unbounded => None,
    };
    (start, end)
}

fn read_range(db: &Database, range: impl RangeBounds<u64>) -> io::Result<Vec<Entry>> {
    let txn = db.begin_read().map_err(io_err)?;
    let log = txn.open_table(LOG).map_err(io_err)?;
    let mut entries = Vec::new();
    for item in log.range(range).map_err(io_err)? {
        let (_, bytes) = item.map_err(io_err)?;
        entries.push(serde_json::from_slice(bytes.value()).map_err(io_err)?);
    }
    Ok(entries)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        let (start, end) = half_open(&range);
        {
            let recent = self.recent();
            let end = end.or(recent.last_index().map(|last| last + 1));
            if let Some(entries) = end.and_then(|end| recent.get(start, end)) {
                return Ok(entries);
            }
        }
        // After the writes queued before it, like every read of the file.
        self.writer.run(move |db| read_range(db, range)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.writer.run(|db| db::get_json(db, META, VOTE_KEY)).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        self.writer
            .run(|db| {
                let last_purged_log_id: Option<LogId> = db::get_json(db, META, PURGED_KEY)?;
                let txn = db.begin_read().map_err(io_err)?;
                let log = txn.open_table(LOG).map_err(io_err)?;
                let last = match log.last().map_err(io_err)? {
                    Some((_, bytes)) => {
                        let entry: Entry = serde_json::from_slice(bytes.value()).map_err(io_err)?;
                        Some(entry.log_id)
                    }
                    None => None,
                };
                Ok(LogState {
                    last_log_id: last.or(last_purged_log_id),
                    last_purged_log_id,
                })
            })
            .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let vote = *vote;
        self.writer
            .run(move |db| db::put_json(db, META, VOTE_KEY, &vote))
            .await
    }

    /// Kept for the next append, which writes it: the Raft core waits for this before it
    /// applies, and a transaction of its own would wait for the append being synced. After a
    /// crash the point read back may be a little behind; the member then applies the rest
    /// once it learns the cluster's commit point.
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        *self.committed.lock().unwrap_or_else(|e| e.into_inner()) = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        self.writer
            .run(|db| Ok(db::get_json::<Option<LogId>>(db, META, COMMITTED_KEY)?.flatten()))
            .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut encoded = Vec::with_capacity(entries.len());
        for entry in &entries {
            encoded.push((
                entry.log_id.index,
                serde_json::to_vec(entry).map_err(io_err)?,
            ));
        }
        // Before the write: a reader asks only for entries it was told were appended.
        self.recent().append(&entries);
        self.writer.append(encoded, callback);
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let keep_up_to = last_log_id.map(|id| id.index);
        self.recent().truncate_after(keep_up_to);
        self.writer
            .run(move |db| {
                let txn = db.begin_write().map_err(io_err)?;
                {
                    let mut log = txn.open_table(LOG).map_err(io_err)?;
                    match keep_up_to {
                        Some(index) => log.retain_in(index + 1.., |_, _| false),
                        None => log.retain(|_, _| false),
                    }
                    .map_err(io_err)?;
                }
                txn.commit().map_err(io_err)
            })
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.recent().purge(log_id.index);
        self.writer
            .run(move |db| {
                let bytes = serde_json::to_vec(&log_id).map_err(io_err)?;
                let txn = db.begin_write().map_err(io_err)?;
                {
                    let mut meta = txn.open_table(META).map_err(io_err)?;
                    meta.insert(PURGED_KEY, bytes.as_slice()).map_err(io_err)?;
                    let mut log = txn.open_table(LOG).map_err(io_err)?;
                    log.retain_in(..=log_id.index, |_, _| false)
                        .map_err(io_err)?;
                }
                txn.commit().map_err(io_err)
            })
            .await
    }
}
