//! The state-machine adapter: applies committed entries' commands to the [`State`], answers
//! the proposer with what the state machine said, and builds and installs snapshots.
//!
//! The state lives in memory; its last snapshot ([`State::to_snapshot`] with openraft's metadata)
//! is kept in the member's redb file. On start the snapshot is loaded and openraft re-applies
//! the committed log after it, so a restarted member rebuilds the same state.

use std::io;
use std::sync::{Arc, RwLock};

use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use redb::{Database, ReadableDatabase};
use tokio::sync::watch;

use super::db::{File, SNAPSHOT, SNAPSHOT_DATA_KEY, SNAPSHOT_META_KEY, blocking, io_err};
use super::types::{LogId, Reply, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use crate::state::State;

/// The state and how far the log has been applied to it, changed together.
#[derive(Default)]
pub(crate) struct Machine {
    pub(crate) state: State,
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
}

/// The adapter openraft drives; cheap to clone.
#[derive(Clone)]
pub(crate) struct StateMachine {
    machine: Arc<RwLock<Machine>>,
    db: Arc<File>,
    applied: Arc<watch::Sender<u64>>,
}

impl StateMachine {
    /// Loads the last snapshot of the file, if any.
    pub(crate) fn open(db: Arc<File>) -> io::Result<StateMachine> {
        let machine = match read_snapshot(&db)? {
            Some((meta, data)) => Machine {
                state: decode_state(&data)?,
                last_applied: meta.last_log_id,
                membership: meta.last_membership,
            },
            None => Machine::default(),
        };
        let index = machine.last_applied.as_ref().map_or(0, |id| id.index);
        Ok(StateMachine {
            machine: Arc::new(RwLock::new(machine)),
            db,
            applied: Arc::new(watch::channel(index).0),
        })
    }

    /// The state and its applied point, shared with the cluster handle for reads.
    pub(crate) fn machine(&self) -> Arc<RwLock<Machine>> {
        self.machine.clone()
    }

    /// The index of the last applied entry; changes after every applied batch.
    pub(crate) fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Machine> {
        self.machine.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A snapshot's data is [`State::to_snapshot`]'s; the indexes are rebuilt as it is decoded.
fn decode_state(data: &[u8]) -> io::Result<State> {
    State::from_snapshot(data).map_err(io_err)
}

fn read_snapshot(db: &Database) -> io::Result<Option<(SnapshotMeta, Vec<u8>)>> {
    let txn = db.begin_read().map_err(io_err)?;
    let table = txn.open_table(SNAPSHOT).map_err(io_err)?;
    let meta = table.get(SNAPSHOT_META_KEY).map_err(io_err)?;
    let data = table.get(SNAPSHOT_DATA_KEY).map_err(io_err)?;
    match (meta, data) {
        (Some(meta), Some(data)) => Ok(Some((
            serde_json::from_slice(meta.value()).map_err(io_err)?,
            data.value().to_vec(),
        ))),
        _ => Ok(None),
    }
}

fn write_snapshot(db: &Database, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
    let meta = serde_json::to_vec(meta).map_err(io_err)?;
    let txn = db.begin_write().map_err(io_err)?;
    {
        let mut table = txn.open_table(SNAPSHOT).map_err(io_err)?;
        table
            .insert(SNAPSHOT_META_KEY, meta.as_slice())
            .map_err(io_err)?;
        table.insert(SNAPSHOT_DATA_KEY, data).map_err(io_err)?;
    }
    txn.commit().map_err(io_err)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let (meta, data) = {
            let machine = self.machine.read().unwrap_or_else(|e| e.into_inner());
            let data = machine.state.to_snapshot();
            let meta = SnapshotMeta {
                last_log_id: machine.last_applied,
                last_membership: machine.membership.clone(),
            };
            (meta, data)
        };
        let db = self.db.clone();
        let (meta, data) = blocking(move || {
            write_snapshot(&db, &meta, &data)?;
            Ok((meta, data))
        })
        .await?;
        tracing::info!(
            index = meta.last_log_id.as_ref().map_or(0, |id| id.index),
            bytes = data.len(),
            "raft snapshot built"
        );
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let machine = self.machine.read().unwrap_or_else(|e| e.into_inner());
        Ok((machine.last_applied, machine.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + OptionalSend,
    {
        // Collected first: the state's lock is not held across an await.
        let mut batch = Vec::new();
        while let Some(item) = entries.next().await {
            batch.push(item?);
        }
        let mut replies = Vec::new();
        let last = {
            let mut machine = self.write();
            for (entry, responder) in batch {
                let reply = match entry.payload {
                    EntryPayload::Blank => Reply(None),
                    EntryPayload::Normal(request) => {
                        // A refusal is an answer, not a failure: every replica refuses alike.
                        Reply(Some(machine.state.apply(request.command())))
                    }
                    EntryPayload::Membership(membership) => {
                        machine.membership = StoredMembership::new(Some(entry.log_id), membership);
                        Reply(None)
                    }
                };
                machine.last_applied = Some(entry.log_id);
                if let Some(responder) = responder {
                    replies.push((responder, reply));
                }
            }
            machine.last_applied.as_ref().map_or(0, |id| id.index)
        };
        self.applied.send_replace(last);
        for (responder, reply) in replies {
            responder.send(reply);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: Vec<u8>,
    ) -> Result<(), io::Error> {
        let state = decode_state(&data)?;
        let db = self.db.clone();
        let stored = meta.clone();
        blocking(move || write_snapshot(&db, &stored, &data)).await?;
        let index = meta.last_log_id.as_ref().map_or(0, |id| id.index);
        {
            let mut machine = self.write();
            machine.state = state;
            machine.last_applied = meta.last_log_id;
            machine.membership = meta.last_membership.clone();
        }
        self.applied.send_replace(index);
        tracing::info!(index, "raft snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let db = self.db.clone();
        let found = blocking(move || read_snapshot(&db)).await?;
        Ok(found.map(|(meta, data)| Snapshot {
            meta,
            snapshot: data,
        }))
    }
}
