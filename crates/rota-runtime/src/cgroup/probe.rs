//! The cgroup of a process that rota did not place (a container's init): found from
//! `/proc/PID/cgroup`, read for usage while it lives.

use std::fs;

use super::files;
use super::hierarchy::Version;
use super::mounts::{parse_membership, parse_mountinfo};
use super::run::RunCgroup;

/// The cgroup of process `pid`, for reading its usage; `None` when this process cannot see it
/// (another mount namespace, no cgroup controller).
pub(crate) fn cgroup_of_pid(pid: i32) -> Option<RunCgroup> {
    let mounts = parse_mountinfo(&fs::read_to_string("/proc/self/mountinfo").ok()?);
    let membership = parse_membership(&fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?);
    if let (Some(v2), Some(path)) = (&mounts.v2, &membership.v2) {
        let controllers = files::read(&v2.dir, "cgroup.controllers").unwrap_or_default();
        if controllers.split_whitespace().any(|c| c == "memory") {
            let dir = v2.dir_of(path)?;
            return Some(RunCgroup::existing(
                Version::V2,
                vec![(dir, vec!["cpu".into(), "memory".into()])],
            ));
        }
    }
    let mut dirs = Vec::new();
    for controller in ["memory", "cpuacct"] {
        if let (Some(mount), Some(path)) =
            (mounts.v1.get(controller), membership.v1.get(controller))
            && let Some(dir) = mount.dir_of(path)
        {
            dirs.push((dir, vec![controller.to_string()]));
        }
    }
    (!dirs.is_empty()).then(|| RunCgroup::existing(Version::V1, dirs))
}
