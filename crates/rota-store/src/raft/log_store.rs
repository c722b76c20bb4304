//! The Raft log over redb: entries, the vote, the commit point and the purge point.
//!
//! Every write is one redb transaction committed with the default durability (an fsync), so
//! a write is reported flushed only once it is on disk; openraft batches the entries of many
//! proposals into one `append`, which is the group commit of the replicated store.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::OptionalSend;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::db::{self, COMMITTED_KEY, LOG, META, PURGED_KEY, VOTE_KEY, blocking, io_err};
use super::types::{Entry, LogId, TypeConfig, Vote};

/// The log storage; cheap to clone (the reader is a clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> LogStore {
        LogStore { db }
    }
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
        let db = self.db.clone();
        let range = (range.start_bound().cloned(), range.end_bound().cloned());
        blocking(move || read_range(&db, range)).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        let db = self.db.clone();
        blocking(move || db::get_json(&db, META, VOTE_KEY)).await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let db = self.db.clone();
        blocking(move || {
            let last_purged_log_id: Option<LogId> = db::get_json(&db, META, PURGED_KEY)?;
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
        let db = self.db.clone();
        let vote = *vote;
        blocking(move || db::put_json(&db, META, VOTE_KEY, &vote)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let db = self.db.clone();
        blocking(move || db::put_json(&db, META, COMMITTED_KEY, &committed)).await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let db = self.db.clone();
        blocking(move || Ok(db::get_json::<Option<LogId>>(&db, META, COMMITTED_KEY)?.flatten()))
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
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((
                entry.log_id.index,
                serde_json::to_vec(&entry).map_err(io_err)?,
            ));
        }
        let db = self.db.clone();
        let result = blocking(move || {
            let txn = db.begin_write().map_err(io_err)?;
            {
                let mut log = txn.open_table(LOG).map_err(io_err)?;
                for (index, bytes) in &encoded {
                    log.insert(*index, bytes.as_slice()).map_err(io_err)?;
                }
            }
            txn.commit().map_err(io_err)
        })
        .await;
        let reported = match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        };
        callback.io_completed(reported);
        result
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let db = self.db.clone();
        let keep_up_to = last_log_id.map(|id| id.index);
        blocking(move || {
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
        let db = self.db.clone();
        blocking(move || {
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
