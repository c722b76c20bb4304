//! The limit code against a fake v2 tree (a temporary directory), and against the real v1
//! hierarchy where this host has one and it is writable.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::hierarchy::{ParentDir, Version};
use super::*;

fn read(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A v2 mount in a temporary directory, with the files the kernel would show at its root.
fn fake_v2() -> (tempfile::TempDir, Hierarchy) {
    let root = tempfile::tempdir().unwrap();
    fs::write(
        root.path().join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
    fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
    let hierarchy = Hierarchy {
        version: Version::V2,
        parents: vec![ParentDir {
            mount: root.path().to_path_buf(),
            dir: root.path().join("system.slice/rota.service/rota"),
            controllers: vec!["cpu".into(), "memory".into(), "pids".into()],
        }],
    };
    (root, hierarchy)
}

#[test]
fn v2_limits_are_written_as_cpu_max_and_memory_max_without_swap() {
    let (root, hierarchy) = fake_v2();
    let run = hierarchy
        .create("run-7-1", &Resources::new(0.5, 64))
        .unwrap();
    let dir = root.path().join("system.slice/rota.service/rota/run-7-1");
    assert_eq!(run.path(), dir);
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(dir.join("memory.max")), (64u64 << 20).to_string());
    assert_eq!(read(dir.join("memory.swap.max")), "0");
    assert_eq!(read(dir.join("memory.oom.group")), "1");
    assert_eq!(
        read(
            root.path()
                .join("system.slice/rota.service/rota/cgroup.subtree_control")
        ),
        "+cpu +memory +pids"
    );
    assert_eq!(hierarchy.children(), vec!["run-7-1".to_string()]);
    assert!(hierarchy.find("run-7-1").is_some());
    assert!(hierarchy.find("run-8-1").is_none());
}

#[test]
fn v2_a_tiny_cpu_share_gets_the_smallest_quota_the_kernel_takes() {
    let (root, hierarchy) = fake_v2();
    hierarchy
        .create(
            "tiny",
            &Resources {
                cores: Some(0.001),
                memory_bytes: None,
            },
        )
        .unwrap();
    let dir = root.path().join("system.slice/rota.service/rota/tiny");
    assert_eq!(read(dir.join("cpu.max")), "1000 100000");
    assert!(!dir.join("memory.max").exists(), "no memory limit asked");
}

#[test]
fn v2_usage_and_oom_kills_are_read_from_cpu_stat_memory_peak_and_memory_events() {
    let (_root, hierarchy) = fake_v2();
    let run = hierarchy.create("r", &Resources::new(1.0, 16)).unwrap();
    let dir = run.path();
    assert_eq!(run.usage(), Usage::default(), "nothing to read yet");
    assert_eq!(run.oom(), OomSign::None);

    fs::write(
        dir.join("cpu.stat"),
        "usage_usec 1500000\nuser_usec 1000000\n",
    )
    .unwrap();
    fs::write(dir.join("memory.current"), "1024\n").unwrap();
    assert!(!run.keeps_peak(), "an older kernel without memory.peak");
    assert_eq!(run.memory_current(), Some(1024));
    fs::write(dir.join("memory.peak"), "8192\n").unwrap();
    fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\n",
    )
    .unwrap();
    fs::write(dir.join("cgroup.procs"), "41\n42\n").unwrap();

    assert_eq!(
        run.usage(),
        Usage {
            peak_memory_bytes: Some(8192),
            cpu_time: Some(Duration::from_millis(1500)),
        }
    );
    assert_eq!(run.oom(), OomSign::Kills(1));
    assert_eq!(run.pids(), vec![41, 42]);
    assert_eq!(run.open_procs().unwrap().len(), 1);
}

#[test]
fn v2_a_cgroup_left_by_an_earlier_agent_is_emptied_and_made_anew() {
    let (root, hierarchy) = fake_v2();
    let stale = root.path().join("system.slice/rota.service/rota/run-1-1");
    fs::create_dir_all(&stale).unwrap();
    // A real cgroupfs would list its processes; an empty fake one can be removed at once.
    let run = hierarchy
        .create("run-1-1", &Resources::new(2.0, 8))
        .unwrap();
    assert_eq!(read(run.path().join("cpu.max")), "200000 100000");
}

#[test]
fn without_cgroups_memory_is_capped_by_rlimit_as_in_the_child() {
    let confinement = Confinement::rlimits(Some(256 << 20));
    assert_eq!(confinement.joins(), 0);
    let in_child = confinement.in_child();
    // SAFETY: the closure only calls setrlimit.
    let output = unsafe {
        Command::new("sh")
            .args(["-c", "ulimit -v"])
            .pre_exec(in_child)
            .output()
            .unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "262144");
}

/// The real v1 memory hierarchy, under this process's own memory cgroup; `None` (and a
/// message) where it is absent or not writable.
fn real_v1(name: &str) -> Option<Hierarchy> {
    let config = CgroupConfig::UnderOwn(format!("rota-unit-{}-{name}", std::process::id()));
    match Hierarchy::detect(&config) {
        Ok(h) if h.version == Version::V1 => Some(h),
        Ok(_) => {
            println!("skipped: this host uses cgroup v2");
            None
        }
        Err(reason) => {
            println!("skipped: cgroup v1 is not writable here: {reason}");
            None
        }
    }
}

fn cgroup_of(pid: u32, controller: &str) -> String {
    read(format!("/proc/{pid}/cgroup"))
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|c| c == controller))
        })
        .map(|l| l.splitn(3, ':').nth(2).unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[test]
fn v1_for_real_a_child_joins_its_cgroup_before_exec_and_the_cgroup_is_removed_after() {
    let Some(hierarchy) = real_v1("join") else {
        return;
    };
    let run = hierarchy
        .create("run-1-1", &Resources::new(0.5, 32))
        .unwrap();
    let memory_dir: PathBuf = hierarchy
        .parents
        .iter()
        .find(|p| p.has("memory"))
        .map(|p| p.dir.join("run-1-1"))
        .unwrap();
    assert_eq!(
        read(memory_dir.join("memory.limit_in_bytes")).trim(),
        (32u64 << 20).to_string()
    );
    if let Some(cpu) = hierarchy.parents.iter().find(|p| p.has("cpu")) {
        assert_eq!(
            read(cpu.dir.join("run-1-1/cpu.cfs_quota_us")).trim(),
            "50000"
        );
        assert_eq!(
            read(cpu.dir.join("run-1-1/cpu.cfs_period_us")).trim(),
            "100000"
        );
    }

    let confinement = Confinement::cgroup(run.open_procs().unwrap());
    let in_child = confinement.in_child();
    // SAFETY: the closure only calls write(2).
    let mut child = unsafe {
        Command::new("sleep")
            .arg("30")
            .pre_exec(in_child)
            .spawn()
            .unwrap()
    };
    drop(confinement);
    let path = cgroup_of(child.id(), "memory");
    assert!(path.ends_with("/run-1-1"), "child is in {path}");
    assert_eq!(run.pids(), vec![child.id() as i32]);

    let killed = std::thread::spawn({
        let run = run.clone();
        move || run.reclaim()
    });
    child.wait().unwrap();
    assert_eq!(killed.join().unwrap().unwrap(), 1);
    assert!(!memory_dir.exists(), "the run's cgroup is gone");
    for parent in &hierarchy.parents {
        assert!(!parent.dir.exists(), "{} is left", parent.dir.display());
    }
}

#[test]
fn v1_for_real_a_cgroup_is_reused_under_the_next_runs_name_with_fresh_counters_and_limits() {
    let Some(hierarchy) = real_v1("pool") else {
        return;
    };
    let pool = Pool::default();
    let small = Resources::new(0.5, 32);
    let first = pool.acquire(&hierarchy, "run-1-1", &small).unwrap();
    let other = pool.acquire(&hierarchy, "run-2-1", &small).unwrap();
    let memory = |name: &str| {
        hierarchy
            .parents
            .iter()
            .find(|p| p.has("memory"))
            .map(|p| p.dir.join(name))
            .unwrap()
    };
    // Another run is active: the first run's cgroup is kept, not removed.
    let released = pool.release(first, small).unwrap();
    assert_eq!((released.killed, released.quiet), (0, None));
    assert!(memory("run-1-1").is_dir(), "kept for the next run");

    let unlimited_cpu = Resources {
        cores: None,
        memory_bytes: Some(64 << 20),
    };
    let reused = pool.acquire(&hierarchy, "run-3-1", &unlimited_cpu).unwrap();
    assert!(!memory("run-1-1").exists(), "renamed, not copied");
    assert_eq!(reused.path(), memory("run-3-1"));
    assert_eq!(
        read(memory("run-3-1").join("memory.limit_in_bytes")).trim(),
        (64u64 << 20).to_string()
    );
    if let Some(cpu) = hierarchy.parents.iter().find(|p| p.has("cpu")) {
        assert_eq!(read(cpu.dir.join("run-3-1/cpu.cfs_quota_us")).trim(), "-1");
    }
    assert_eq!(reused.oom(), OomSign::Kills(0));
    assert_eq!(reused.usage().cpu_time, Some(Duration::ZERO));
    assert_eq!(
        reused.usage().peak_memory_bytes,
        Some(0),
        "what runs before left is not counted"
    );

    // The last active run leaves the idle cgroups for a while: a run that begins before the
    // drain voids it and reuses one.
    assert_eq!(pool.release(reused, unlimited_cpu).unwrap().quiet, None);
    let quiet = pool
        .release(other, small)
        .unwrap()
        .quiet
        .expect("no run is active");
    assert!(memory("run-2-1").is_dir(), "kept after the last run");
    let next = pool.acquire(&hierarchy, "run-4-1", &small).unwrap();
    pool.drain(quiet);
    assert!(
        memory("run-4-1").is_dir(),
        "a drain planned before a run began is void"
    );
    assert_eq!(hierarchy.children().len(), 2, "{:?}", hierarchy.children());

    // Once quiet again, the drain takes every idle cgroup and the parents with them.
    let quiet = pool
        .release(next, small)
        .unwrap()
        .quiet
        .expect("no run is active");
    pool.drain(quiet);
    assert!(
        hierarchy.children().is_empty(),
        "{:?}",
        hierarchy.children()
    );
    for parent in &hierarchy.parents {
        assert!(!parent.dir.exists(), "{} is left", parent.dir.display());
    }
}
