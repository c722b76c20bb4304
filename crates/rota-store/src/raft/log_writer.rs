//! The member's one writer of its log file: a thread that makes every change openraft asks
//! of the log (appends, truncations, purges, the vote) in the order it was asked.
//!
//! openraft hands `append` a callback so that the Raft core goes on while the entries are
//! synced: the core replicates, counts acknowledgements and takes new proposals meanwhile.
//! The appends queued while a sync runs are written together, in one transaction and one
//! sync, when it ends.

use std::io;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

use openraft::storage::IOFlushed;
use redb::Database;

use super::db::{COMMITTED_KEY, File, LOG, META, io_err};
use super::types::{LogId, TypeConfig};

/// Entries to append, encoded, by index; and who to tell once they are on disk.
struct Append {
    entries: Vec<(u64, Vec<u8>)>,
    flushed: IOFlushed<TypeConfig>,
}

/// Work for the writer thread.
enum Job {
    Append(Append),
    /// Anything else, run on the file in its turn.
    Run(Box<dyn FnOnce(&Database) + Send>),
}

/// A handle to the writer thread; cheap to clone. The thread ends (and lets the file go)
/// once every handle is dropped and what was queued is written.
#[derive(Clone)]
pub(crate) struct LogWriter {
    jobs: Sender<Job>,
}

fn stopped() -> io::Error {
    io::Error::other("the raft log writer has stopped")
}

impl LogWriter {
    /// Starts the writer of `db`. `committed` is the latest commit point openraft saved: each
    /// append's transaction writes it too.
    pub(crate) fn start(
        db: Arc<File>,
        committed: Arc<Mutex<Option<LogId>>>,
    ) -> io::Result<LogWriter> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || write_in_order(&db, &committed, queue))?;
        Ok(LogWriter { jobs })
    }

    /// Queues encoded entries; `flushed` is called once they are on disk (or failed).
    pub(crate) fn append(&self, entries: Vec<(u64, Vec<u8>)>, flushed: IOFlushed<TypeConfig>) {
        if let Err(mpsc::SendError(Job::Append(append))) =
            self.jobs.send(Job::Append(Append { entries, flushed }))
        {
            append.flushed.io_completed(Err(stopped()));
        }
    }

    /// Runs `work` on the file after everything queued before it, and returns its result.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> io::Result<R> + Send + 'static,
    ) -> io::Result<R> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job = Job::Run(Box::new(move |db| {
            let _ = answer.send(work(db));
        }));
        self.jobs.send(job).map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

fn write_in_order(db: &Database, committed: &Mutex<Option<LogId>>, queue: Receiver<Job>) {
    let mut next = queue.recv().ok();
    while let Some(job) = next.take() {
        match job {
            Job::Run(work) => work(db),
            Job::Append(first) => {
                let mut appends = vec![first];
                loop {
                    match queue.try_recv() {
                        Ok(Job::Append(append)) => appends.push(append),
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                    }
                }
                let point = *committed.lock().unwrap_or_else(|e| e.into_inner());
                let result = write_appends(db, &appends, point);
                for append in appends {
                    let reported = match &result {
                        Ok(()) => Ok(()),
                        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
                    };
                    append.flushed.io_completed(reported);
                }
            }
        }
        if next.is_none() {
            next = queue.recv().ok();
        }
    }
}

/// Writes the entries of `appends` and the commit point in one transaction, synced.
fn write_appends(db: &Database, appends: &[Append], committed: Option<LogId>) -> io::Result<()> {
    let committed = serde_json::to_vec(&committed).map_err(io_err)?;
    let txn = db.begin_write().map_err(io_err)?;
    {
        let mut log = txn.open_table(LOG).map_err(io_err)?;
        for (index, bytes) in appends.iter().flat_map(|a| &a.entries) {
            log.insert(*index, bytes.as_slice()).map_err(io_err)?;
        }
        let mut meta = txn.open_table(META).map_err(io_err)?;
        meta.insert(COMMITTED_KEY, committed.as_slice())
            .map_err(io_err)?;
    }
    txn.commit().map_err(io_err)
}
