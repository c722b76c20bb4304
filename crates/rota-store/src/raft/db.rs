//! The redb file of a Raft member: its log, its vote and commit point, and its last snapshot.
//!
//! `raft.redb` is separate from the single-process store's `rota.redb`, in the same family:
//! tables of JSON values (but the snapshot's data), and a schema version checked at open.
//!
//! | table | key | value |
//! |---|---|---|
//! | `raft_log` | index (u64) | JSON entry |
//! | `raft_meta` | `schema`, `vote`, `committed`, `last_purged` | JSON |
//! | `raft_snapshot` | `meta`, `data` | JSON snapshot metadata; [`State::to_snapshot`](crate::State::to_snapshot) |

use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::error::ClusterOpenError;

pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
pub(crate) const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_snapshot");

pub(crate) const VOTE_KEY: &str = "vote";
pub(crate) const COMMITTED_KEY: &str = "committed";
pub(crate) const PURGED_KEY: &str = "last_purged";
pub(crate) const SNAPSHOT_META_KEY: &str = "meta";
pub(crate) const SNAPSHOT_DATA_KEY: &str = "data";
const SCHEMA_KEY: &str = "schema";
/// The version of the on-disk format; bumped on any incompatible change.
const SCHEMA_VERSION: &[u8] = b"2";

/// The name of the file in the data directory.
pub(crate) const FILE_NAME: &str = "raft.redb";

/// The open file, shared by the tasks of a member's Raft core.
///
/// Its lock on `raft.redb` is released when the last task drops it, which may be after
/// the reference count reads zero; [`File::released`] tells the moment it is.
pub(crate) struct File {
    /// Declared first, so that it is closed before `released` is dropped.
    database: Database,
    released: watch::Sender<()>,
}

impl File {
    /// A watch whose sender closes once the file is closed and its lock released.
    pub(crate) fn released(&self) -> watch::Receiver<()> {
        self.released.subscribe()
    }
}

impl Deref for File {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.database
    }
}

/// Opens (or creates) the file and checks its schema version.
pub(crate) fn open(dir: &Path) -> Result<Arc<File>, ClusterOpenError> {
    std::fs::create_dir_all(dir).map_err(|source| ClusterOpenError::DataDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(FILE_NAME);
    let corrupt =
        |e: &dyn std::fmt::Display| ClusterOpenError::Corrupt(path.clone(), e.to_string());
    let db = Database::create(&path).map_err(|e| match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_))
        | redb::DatabaseError::UpgradeRequired(_) => corrupt(&e),
        e => ClusterOpenError::Engine(e.to_string()),
    })?;
    let engine = |e: &dyn std::fmt::Display| ClusterOpenError::Engine(e.to_string());
    let txn = db.begin_write().map_err(|e| engine(&e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| engine(&e))?;
        let schema = meta
            .get(SCHEMA_KEY)
            .map_err(|e| engine(&e))?
            .map(|v| v.value().to_vec());
        match schema {
            None => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
                    .map_err(|e| engine(&e))?;
            }
            Some(v) if v == SCHEMA_VERSION => {}
            Some(v) => {
                return Err(corrupt(&format!(
                    "raft schema version {} (this rota reads {})",
                    String::from_utf8_lossy(&v),
                    String::from_utf8_lossy(SCHEMA_VERSION)
                )));
            }
        }
        txn.open_table(LOG).map_err(|e| engine(&e))?;
        txn.open_table(SNAPSHOT).map_err(|e| engine(&e))?;
    }
    txn.commit().map_err(|e| engine(&e))?;
    Ok(Arc::new(File {
        database: db,
        released: watch::Sender::new(()),
    }))
}

/// An engine or encoding failure, as openraft's storage traits want it.
pub(crate) fn io_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::other(e.to_string())
}

/// Runs blocking redb work off the async threads.
pub(crate) async fn blocking<R: Send + 'static>(
    f: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    tokio::task::spawn_blocking(f).await.map_err(io_err)?
}

/// Reads one JSON value of a `&str`-keyed table.
pub(crate) fn get_json<T: DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> io::Result<Option<T>> {
    let txn = db.begin_read().map_err(io_err)?;
    let table = txn.open_table(table).map_err(io_err)?;
    match table.get(key).map_err(io_err)? {
        Some(bytes) => Ok(Some(serde_json::from_slice(bytes.value()).map_err(io_err)?)),
        None => Ok(None),
    }
}

/// Writes one JSON value of a `&str`-keyed table durably.
pub(crate) fn put_json<T: Serialize>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
    value: &T,
) -> io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(io_err)?;
    let txn = db.begin_write().map_err(io_err)?;
    {
        let mut table = txn.open_table(table).map_err(io_err)?;
        table.insert(key, bytes.as_slice()).map_err(io_err)?;
    }
    txn.commit().map_err(io_err)
}

/// The path of the file, for messages.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}
