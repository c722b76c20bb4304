//! openraft's own storage suite run against the log store and the state machine: every
//! append, truncation, purge, snapshot and recovery rule openraft relies on, with the recent
//! entries kept in memory on the path of every read.

use openraft::StorageError;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::type_config::TypeConfigExt;
use tempfile::TempDir;

use super::db;
use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::TypeConfig;

/// A fresh store in a temporary directory, kept while a test runs.
struct Fresh;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Fresh {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let failed = |e: &dyn std::fmt::Display| StorageError::read(TypeConfig::err_from_string(e));
        let dir = tempfile::tempdir().map_err(|e| failed(&e))?;
        let file = db::open(dir.path()).map_err(|e| failed(&e))?;
        let machine = StateMachine::open(file.clone()).map_err(|e| failed(&e))?;
        let log = LogStore::new(file).map_err(|e| failed(&e))?;
        Ok((dir, log, machine))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_store_and_state_machine_pass_openraft_s_storage_suite() {
    Suite::test_all(Fresh).await.expect("storage suite");
}
