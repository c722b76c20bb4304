//! Durability of the store: what was acknowledged survives a restart, a snapshot and a
//! `kill -9`; the log is group-committed and bounded by snapshots; a file this version cannot
//! read is refused.
//!
//! These tests read the files directly where they check the on-disk format: the tables
//! `meta` (`&str -> bytes`: `schema`) and `log` (`u64 -> JSON command`) in `rota.redb`, and
//! `snapshot.bin`, under the data directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rota_model::{AppKey, AppSpec, Ending, NodeId, ProcessRef, RunId, RunState};
use rota_store::{
    AttemptReport, Command, Refusal, State, Store, StoreError, StoreOptions, SubmitError,
};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

// ---- helpers ----

fn t(minutes: i64) -> Timestamp {
    "2024-01-01T00:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minutes)
}

fn spec(name: &str) -> AppSpec {
    AppSpec::from_value(serde_json::json!({
        "name": name,
        "queue": "default",
        "cores": 1.0,
        "mems": 64,
        "command": ["true"],
        "cron": "0 * * * * ?",
        "retries": 1,
    }))
    .expect("a valid app")
}

fn key(name: &str) -> AppKey {
    AppKey::new(name, "default").unwrap()
}

fn open(dir: &Path, snapshot_every: u64) -> Store {
    Store::open(
        dir,
        StoreOptions {
            snapshot_every,
            ..StoreOptions::default()
        },
    )
    .expect("the store opens")
}

/// The state as a snapshot would store it: equal strings mean equal states.
fn state_of(store: &Store) -> String {
    store.read(|state: &State| serde_json::to_string(state).expect("a state serializes"))
}

fn db_path(dir: &Path) -> PathBuf {
    dir.join("rota.redb")
}

/// The indexes of the commands in the log table. The store must be closed.
fn log_indexes(dir: &Path) -> Vec<u64> {
    let db = Database::open(db_path(dir)).expect("the file opens");
    let txn = db.begin_read().unwrap();
    let log = txn.open_table(LOG).unwrap();
    log.iter()
        .unwrap()
        .map(|entry| entry.unwrap().0.value())
        .collect()
}

fn write_meta(dir: &Path, key: &str, value: &[u8]) {
    let db = Database::create(db_path(dir)).expect("the file opens");
    let txn = db.begin_write().unwrap();
    txn.open_table(META).unwrap().insert(key, value).unwrap();
    txn.open_table(LOG).unwrap();
    txn.commit().unwrap();
}

/// A scenario touching every kind of command, with one refusal.
async fn some_history(store: &Store) {
    store
        .submit(Command::AddApp {
            spec: spec("etl"),
            at: t(0),
        })
        .await
        .unwrap();
    store
        .submit(Command::Schedule {
            app: key("etl"),
            scheduled: true,
            at: t(0),
        })
        .await
        .unwrap();
    for minute in 1..=3 {
        store
            .submit(Command::Trigger {
                app: key("etl"),
                time: t(minute),
                params: None,
                call: false,
                at: t(minute),
            })
            .await
            .unwrap();
    }
    let refused = store
        .submit(Command::Trigger {
            app: key("etl"),
            time: t(1),
            params: None,
            call: false,
            at: t(4),
        })
        .await;
    assert!(matches!(
        refused,
        Err(SubmitError::Refused(Refusal::RunExists { .. }))
    ));
    store
        .submit(Command::Place {
            runs: vec![RunId(1), RunId(2)],
            node: NodeId("n1".into()),
            at: t(5),
        })
        .await
        .unwrap();
    store
        .submit(Command::Report(AttemptReport::Started {
            run: RunId(1),
            attempt: 1,
            process: ProcessRef {
                pid: 10,
                start_ticks: 20,
            },
            container: None,
            limits: None,
            at: t(5),
        }))
        .await
        .unwrap();
    store
        .submit(Command::Report(AttemptReport::Finished {
            run: RunId(2),
            attempt: 1,
            ending: Ending::Failed,
            exit_code: Some(3),
            reason: "exit 3".into(),
            exit_reason: None,
            usage: Default::default(),
            at: t(6),
        }))
        .await
        .unwrap();
    store
        .submit(Command::Kill {
            runs: vec![RunId(3)],
            at: t(7),
        })
        .await
        .unwrap();
}

// ---- restarts and snapshots ----

#[tokio::test]
async fn a_reopened_store_has_the_state_it_had_before_it_was_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1_000);
    some_history(&store).await;
    let before = state_of(&store);
    let index = *store.watch().borrow();
    assert_eq!(index, 10, "every command has an index, refused ones too");
    drop(store);

    let store = open(dir.path(), 1_000);
    assert_eq!(state_of(&store), before);
    assert_eq!(*store.watch().borrow(), index);
    store.read(|s| {
        assert_eq!(s.run(RunId(1)).unwrap().state, RunState::Running);
        assert_eq!(s.run(RunId(2)).unwrap().state, RunState::Queued, "retried");
        assert_eq!(s.run(RunId(3)).unwrap().state, RunState::Killed);
    });
}

/// Regression: the writer thread still held the file for a moment after the last handle was
/// dropped, so an immediate reopen could fail with "database already open".
#[tokio::test]
async fn a_store_can_be_reopened_as_soon_as_its_last_handle_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..20 {
        let store = Store::open(dir.path(), StoreOptions::default())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let clone = store.clone();
        clone
            .submit(Command::Trigger {
                app: key("missing"),
                time: t(round),
                params: None,
                call: false,
                at: t(round),
            })
            .await
            .unwrap_err();
        drop(store);
        drop(clone);
    }
    assert_eq!(log_indexes(dir.path()).len(), 20);
}

/// Regression: a state with an app could not be serialized (JSON object keys must be strings,
/// and an app's key is a struct), so no snapshot was ever taken and the log grew forever.
#[tokio::test]
async fn snapshots_bound_the_log_and_a_store_reopened_from_one_has_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 5);
    some_history(&store).await;
    for minute in 10..23 {
        store
            .submit(Command::Trigger {
                app: key("etl"),
                time: t(minute),
                params: None,
                call: false,
                at: t(minute),
            })
            .await
            .unwrap();
    }
    let last = *store.watch().borrow();
    assert_eq!(last, 23);
    let stats = store.stats();
    assert_eq!(stats.commands, 23);
    assert!(
        stats.snapshots >= 4,
        "23 commands one by one with a snapshot every 5: {stats:?}"
    );
    let before = state_of(&store);
    drop(store);

    let log = log_indexes(dir.path());
    assert!(
        log.len() < 5 && log.iter().all(|&i| i > last - 5),
        "the log holds only what followed the last snapshot: {log:?}"
    );

    let store = open(dir.path(), 5);
    assert_eq!(state_of(&store), before);
    assert_eq!(*store.watch().borrow(), last);
}

/// One `repair` makes a run per fire time in one command: a snapshot follows it once it has
/// made `snapshot_changes` runs, so a restart does not replay them however few commands made
/// them, and the store reopens to the same state from that snapshot alone.
#[tokio::test]
async fn a_command_that_makes_many_runs_brings_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        snapshot_every: 1_000,
        snapshot_changes: 50,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options.clone()).unwrap();
    store
        .submit(Command::AddApp {
            spec: spec("etl"),
            at: t(0),
        })
        .await
        .unwrap();
    store
        .submit(Command::Rerun {
            rerun: rota_store::Rerun {
                app: key("etl"),
                mode: rota_store::RerunMode::Repair,
                begin: t(0),
                end: t(99),
                fire_times: (0..100).map(t).collect(),
                cascade: false,
            },
            at: t(100),
        })
        .await
        .unwrap();
    let before = state_of(&store);
    // Dropping the store waits for the writer, which snapshots after it has replied.
    drop(store);
    assert_eq!(
        log_indexes(dir.path()),
        Vec::<u64>::new(),
        "the log was trimmed"
    );

    let store = Store::open(dir.path(), options).unwrap();
    assert_eq!(store.read(|s| s.run_count()), 100);
    assert_eq!(state_of(&store), before);
}

/// Regression: on reopening, the commands replayed from the log were counted as if a
/// snapshot covered them, so the log could grow to twice `snapshot_every` across restarts.
#[tokio::test]
async fn the_log_stays_bounded_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    open(dir.path(), 1)
        .submit(Command::AddApp {
            spec: spec("etl"),
            at: t(0),
        })
        .await
        .unwrap();
    let mut minute = 0;
    for _restart in 0..4 {
        let store = open(dir.path(), 5);
        for _ in 0..4 {
            minute += 1;
            store
                .submit(Command::Trigger {
                    app: key("etl"),
                    time: t(minute),
                    params: None,
                    call: false,
                    at: t(minute),
                })
                .await
                .unwrap();
        }
        drop(store);
        let log = log_indexes(dir.path());
        assert!(log.len() <= 5, "{} entries in the log: {log:?}", log.len());
    }
    let store = open(dir.path(), 5);
    assert_eq!(store.read(|s| s.run_count()), 16);
}

/// Regression: serde_json parsed some floats one ulp off, so an app's `cores` read back from
/// the log or a snapshot differed from the value the live state held.
#[tokio::test]
async fn an_apps_sizes_survive_the_log_and_snapshots_bit_for_bit() {
    let sizes = [
        0.1 + 0.2,
        1.0 / 3.0,
        2f64.sqrt(),
        0.7 * 3.0,
        123_456.789e-3,
        1e-300 / 7.0,
        f64::MIN_POSITIVE * 3.0,
        9_007_199_254_740_993.0,
    ];
    for snapshot_every in [1_000, 1] {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path(), snapshot_every);
        for (i, cores) in sizes.iter().enumerate() {
            let mut app = spec(&format!("app{i}"));
            app.cores = *cores;
            store
                .submit(Command::AddApp {
                    spec: app,
                    at: t(0),
                })
                .await
                .unwrap();
        }
        let before = state_of(&store);
        drop(store);
        let store = open(dir.path(), snapshot_every);
        for (i, cores) in sizes.iter().enumerate() {
            let read = store.read(|s| {
                s.app(&key(&format!("app{i}")))
                    .unwrap()
                    .current()
                    .spec
                    .cores
            });
            assert_eq!(
                read.to_bits(),
                cores.to_bits(),
                "cores {cores:e} came back as {read:e} (snapshot every {snapshot_every})"
            );
        }
        assert_eq!(state_of(&store), before);
    }
}

/// A batch of reports is one entry of the log: replayed on a restart, it records the same
/// reports and skips the same stale one.
#[tokio::test]
async fn a_batch_of_reports_replays_to_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 1_000);
    some_history(&store).await;
    let finished = |run: u64, minute: i64| AttemptReport::Finished {
        run: RunId(run),
        attempt: 1,
        ending: Ending::Succeeded,
        exit_code: Some(0),
        reason: "exit 0".into(),
        exit_reason: None,
        usage: Default::default(),
        at: t(minute),
    };
    let reports = vec![finished(1, 8), finished(3, 8)];
    let applied = store.submit(Command::Reports { reports }).await.unwrap();
    assert_eq!(applied.runs, vec![RunId(1)]);
    assert_eq!(applied.stale.len(), 1, "run 3 was killed: {applied:?}");
    let before = state_of(&store);
    drop(store);

    let store = open(dir.path(), 1_000);
    assert_eq!(state_of(&store), before);
    store.read(|s| assert_eq!(s.run(RunId(1)).unwrap().state, RunState::Succeeded));
}

// ---- group commit ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_submits_are_all_applied_acknowledged_and_group_committed() {
    const TASKS: i64 = 50;
    const EACH: i64 = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path(), 500);
    store
        .submit(Command::AddApp {
            spec: spec("etl"),
            at: t(0),
        })
        .await
        .unwrap();

    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut runs = Vec::new();
                for i in 0..EACH {
                    let minute = 1 + task * EACH + i;
                    let applied = store
                        .submit(Command::Trigger {
                            app: key("etl"),
                            time: t(minute),
                            params: None,
                            call: false,
                            at: t(0),
                        })
                        .await
                        .expect("every submit is accepted");
                    assert_eq!(applied.runs.len(), 1, "{applied:?}");
                    runs.push((minute, applied.runs[0]));
                }
                runs
            })
        })
        .collect();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }

    let total = (TASKS * EACH) as u64;
    assert_eq!(acknowledged.len() as u64, total);
    store.read(|s| {
        assert_eq!(s.run_count() as u64, total);
        for (minute, run) in &acknowledged {
            assert_eq!(s.run_at(&key("etl"), t(*minute)).map(|r| r.id), Some(*run));
        }
    });
    assert_eq!(*store.watch().borrow(), total + 1);
    let stats = store.stats();
    assert_eq!(stats.commands, total + 1);
    assert!(
        stats.batches * 4 < stats.commands,
        "{} commands took {} commits: not group-committed",
        stats.commands,
        stats.batches
    );

    let before = state_of(&store);
    drop(store);
    assert_eq!(state_of(&open(dir.path(), 500)), before);
}

// ---- files this version cannot read ----

#[test]
fn a_store_written_by_another_schema_version_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    write_meta(dir.path(), "schema", b"1");
    match Store::open(dir.path(), StoreOptions::default()) {
        Err(StoreError::Corrupt(path, message)) => {
            assert_eq!(path, db_path(dir.path()));
            assert!(message.contains("schema version 1"), "{message}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a store of schema version 1 was opened"),
    }
}

#[test]
fn a_snapshot_that_cannot_be_read_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 5));
    let file = dir.path().join("snapshot.bin");
    for garbage in [&b"\x03\0\0"[..], b"\x03\0\0\0\0\0\0\0{\"state\": [1, 2]}"] {
        std::fs::write(&file, garbage).unwrap();
        match Store::open(dir.path(), StoreOptions::default()) {
            Err(StoreError::Corrupt(path, _)) => assert_eq!(path, file),
            Err(other) => panic!("expected Corrupt, got {other:?}"),
            Ok(_) => panic!("a snapshot of garbage was read"),
        }
    }
}

#[test]
fn a_log_entry_that_cannot_be_read_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), 5));
    {
        let db = Database::create(db_path(dir.path())).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(LOG)
            .unwrap()
            .insert(1, b"{\"launch_missiles\": {}}".as_slice())
            .unwrap();
        txn.commit().unwrap();
    }
    assert!(matches!(
        Store::open(dir.path(), StoreOptions::default()),
        Err(StoreError::Corrupt(..))
    ));
}

#[test]
fn a_file_that_is_not_a_store_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(db_path(dir.path()), vec![0x5a; 64 * 1024]).unwrap();
    match Store::open(dir.path(), StoreOptions::default()) {
        Err(StoreError::Corrupt(path, _)) => assert_eq!(path, db_path(dir.path())),
        Err(other) => panic!("expected Corrupt, got {other:?}"),
        Ok(_) => panic!("a file of garbage was opened as a store"),
    }
}

#[test]
fn a_data_directory_that_cannot_be_created_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let wanted = file.join("data");
    match Store::open(&wanted, StoreOptions::default()) {
        Err(StoreError::DataDir { path, .. }) => assert_eq!(path, wanted),
        Err(other) => panic!("expected DataDir, got {other:?}"),
        Ok(_) => panic!("a store was opened under a file"),
    }
}

// ---- a crash in the middle of writing ----

/// Set in the child process: the directory it writes its store and acknowledgements to.
const CRASH_CHILD: &str = "ROTA_STORE_CRASH_CHILD";
const CRASH_TEST: &str = "a_store_killed_mid_write_keeps_every_command_it_acknowledged";
/// Acknowledgements to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 300;

/// The child: submits triggers from several tasks, forever, and appends the minute of each
/// acknowledged one to `acked`, synced to disk before the next.
fn crash_child(dir: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = open(&dir.join("store"), 50);
        store
            .submit(Command::AddApp {
                spec: spec("etl"),
                at: t(0),
            })
            .await
            .unwrap();
        let acked = std::sync::Arc::new(std::sync::Mutex::new(
            std::fs::File::create(dir.join("acked")).unwrap(),
        ));
        let tasks: Vec<_> = (0..8i64)
            .map(|task| {
                let (store, acked) = (store.clone(), acked.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        let minute = 1 + task + 8 * i;
                        store
                            .submit(Command::Trigger {
                                app: key("etl"),
                                time: t(minute),
                                params: None,
                                call: false,
                                at: t(0),
                            })
                            .await
                            .unwrap();
                        let mut file = acked.lock().unwrap();
                        file.write_all(format!("{minute}\n").as_bytes()).unwrap();
                        file.sync_data().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    unreachable!("the child writes until it is killed")
}

/// The minutes the child acknowledged: complete lines only (the last may be cut short).
fn acknowledged(dir: &Path) -> Vec<i64> {
    let text = std::fs::read_to_string(dir.join("acked")).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete.lines().map(|l| l.parse().unwrap()).collect()
}

#[test]
fn a_store_killed_mid_write_keeps_every_command_it_acknowledged() {
    if let Some(dir) = std::env::var_os(CRASH_CHILD) {
        crash_child(Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([CRASH_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged(dir.path()).len() < ACKS_BEFORE_KILL {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            panic!("the writer exited before it was killed ({status}):\n{stderr}");
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!(
                "only {} acknowledgements in 120 s",
                acknowledged(dir.path()).len()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed: {status}");

    let acked = acknowledged(dir.path());
    let store = open(&dir.path().join("store"), 50);
    store.read(|s| {
        assert!(s.run_count() >= acked.len());
        let lost: Vec<_> = acked
            .iter()
            .filter(|minute| s.run_at(&key("etl"), t(**minute)).is_none())
            .collect();
        assert!(
            lost.is_empty(),
            "acknowledged but lost after kill -9: {lost:?}"
        );
    });
    let index = *store.watch().borrow();
    assert!(index > acked.len() as u64);

    // The recovered store takes writes, and recovers the same state again.
    let applied = block_on(store.submit(Command::Trigger {
        app: key("etl"),
        time: t(-1),
        params: None,
        call: false,
        at: t(0),
    }));
    assert_eq!(applied.unwrap().runs.len(), 1);
    let before = state_of(&store);
    drop(store);
    assert_eq!(state_of(&open(&dir.path().join("store"), 50)), before);
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// After a crash, a process the server had just forked holds a copy of the store's file until
/// it starts its program: opening waits for the lock to come free, and fails with the engine's
/// message when it does not.
#[test]
fn opening_waits_for_a_lock_that_comes_free_and_fails_on_one_that_does_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path()).unwrap();
    let file = dir.path().join("rota.redb");
    let held = Database::create(&file).unwrap();
    let short = StoreOptions {
        lock_wait: Duration::from_millis(100),
        ..StoreOptions::default()
    };
    let refused = Store::open(dir.path(), short)
        .err()
        .expect("the lock is held");
    assert!(refused.to_string().contains("already open"), "{refused}");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    Store::open(dir.path(), StoreOptions::default()).expect("opens once the lock is free");
    release.join().unwrap();
}
