//! Removing the cgroups a `rota dev` under test left behind. Its agent makes `rota-<agent id>`
//! under its own cgroup in each hierarchy and one `run-<run>-<attempt>` in it per attempt; a
//! killed server leaves those of its unfinished runs, and nothing removes the parent. A
//! benchmark gives every server a new data directory (so a new agent id), so without this the
//! machine would collect them.

use std::path::{Path, PathBuf};

/// Removes the empty cgroups of the agent of the `rota dev` whose data directory is `data`
/// (its log root is `DATA/logs`, as `rota dev` resolves it); returns how many.
pub fn remove_leftovers(data: &Path) -> usize {
    let Ok(data) = std::fs::canonicalize(data) else {
        return 0;
    };
    let name = format!("rota-{}", rota_agent::agent_id(&data.join("logs")));
    let mut removed = 0;
    for parent in candidates(&name) {
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let procs = std::fs::read_to_string(path.join("cgroup.procs")).unwrap_or_default();
            if path.is_dir() && procs.trim().is_empty() && std::fs::remove_dir(&path).is_ok() {
                removed += 1;
            }
        }
        if std::fs::remove_dir(&parent).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// `<mount point>/<this process's cgroup>/<name>` for every cgroup mount and every cgroup
/// path of this process (the server under test is this process's child, in the same ones).
fn candidates(name: &str) -> Vec<PathBuf> {
    let mounts: Vec<PathBuf> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" - cgroup ") || l.contains(" - cgroup2 "))
        .filter_map(|l| l.split_whitespace().nth(4).map(PathBuf::from))
        .collect();
    let own: Vec<String> = std::fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2).map(String::from))
        .collect();
    let mut found = Vec::new();
    for mount in &mounts {
        for path in &own {
            let dir = mount.join(path.trim_start_matches('/')).join(name);
            if dir.is_dir() && !found.contains(&dir) {
                found.push(dir);
            }
        }
    }
    found
}
