//! Where the cgroup hierarchies are mounted (`/proc/self/mountinfo`) and where this process sits
//! in each of them (`/proc/self/cgroup`). Pure parsing: the texts are parameters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The cgroup that the mount point shows (field 4 of mountinfo): `/` unless the mount is a
    /// bind mount of a sub-tree or sits in a cgroup namespace.
    pub(crate) root: String,
    /// The mount point.
    pub(crate) dir: PathBuf,
}

impl Mount {
    /// The directory of cgroup `path` (as `/proc/self/cgroup` names it) under this mount, if
    /// the mount shows it.
    pub(crate) fn dir_of(&self, path: &str) -> Option<PathBuf> {
        let rest = if self.root == "/" {
            path
        } else {
            let rest = path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        Some(join_cgroup(&self.dir, rest))
    }
}

/// `dir` joined with a cgroup path such as `/a/b` (a leading `/` does not replace `dir`).
pub(crate) fn join_cgroup(dir: &Path, path: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        out.push(part);
    }
    out
}

/// The cgroup mounts of a host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mounts {
    /// v1 hierarchies by controller (`cpu`, `cpuacct`, `memory`, `pids`...); co-mounted
    /// controllers (`cpu,cpuacct`) share one mount. Named hierarchies (`name=systemd`) are left
    /// out: they have no controller.
    pub(crate) v1: BTreeMap<String, Mount>,
    /// The v2 (unified) hierarchy, if mounted: on a pure v2 host at `/sys/fs/cgroup`, on a
    /// hybrid one often at `/sys/fs/cgroup/unified` and without the cpu and memory controllers.
    pub(crate) v2: Option<Mount>,
}

/// Parses `/proc/self/mountinfo`:
/// `36 25 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct`.
/// The first mount of each hierarchy wins.
pub(crate) fn parse_mountinfo(text: &str) -> Mounts {
    let mut mounts = Mounts::default();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        let mount = Mount {
            root: unescape(left[3]),
            dir: PathBuf::from(unescape(left[4])),
        };
        match right[0] {
            "cgroup2" if mounts.v2.is_none() => mounts.v2 = Some(mount),
            "cgroup" => {
                for option in right[2].split(',') {
                    if is_controller(option) {
                        mounts
                            .v1
                            .entry(option.to_string())
                            .or_insert_with(|| mount.clone());
                    }
                }
            }
            _ => {}
        }
    }
    mounts
}

/// Super options of a v1 cgroup mount that are not controllers.
fn is_controller(option: &str) -> bool {
    !matches!(
        option,
        "rw" | "ro" | "noprefix" | "xattr" | "clone_children" | "cpuset_v2_mode" | "favordynmods"
    ) && !option.contains('=')
}

/// mountinfo escapes space, tab, newline and backslash as `\040`, `\011`, `\012`, `\134`.
fn unescape(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 4 <= bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where a process sits in each hierarchy, from `/proc/PID/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Membership {
    /// The cgroup path in each v1 hierarchy, by controller.
    pub(crate) v1: BTreeMap<String, String>,
    /// The cgroup path in the v2 hierarchy (the `0::/path` line).
    pub(crate) v2: Option<String>,
}

/// Parses `/proc/PID/cgroup`: `4:memory:/a/b` for v1, `0::/a/b` for v2.
pub(crate) fn parse_membership(text: &str) -> Membership {
    let mut out = Membership::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            out.v2 = Some(path.to_string());
            continue;
        }
        for controller in controllers.split(',').filter(|c| is_controller(c)) {
            out.v1.insert(controller.to_string(), path.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Debian 10 host with systemd in hybrid mode; the machine this was written on is of
    /// the same shape.
    const HYBRID: &str = "\
24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 24 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 31 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 31 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
39 31 0:36 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,cpuset
";

    const V2: &str = "\
22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p1 rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// Inside a container with v1 bind mounts of its own sub-trees.
    const V1_CONTAINER: &str = "\
700 699 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,memory
701 699 0:41 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,cpu,cpuacct
702 699 0:42 / /sys/fs/cgroup/my\\040cgroups rw - cgroup cgroup rw,pids
";

    #[test]
    fn a_hybrid_host_has_v1_controllers_and_a_v2_tree_beside_them() {
        let mounts = parse_mountinfo(HYBRID);
        let dir = |c: &str| mounts.v1.get(c).map(|m| m.dir.clone());
        assert_eq!(dir("cpu"), Some("/sys/fs/cgroup/cpu,cpuacct".into()));
        assert_eq!(dir("cpuacct"), Some("/sys/fs/cgroup/cpu,cpuacct".into()));
        assert_eq!(dir("memory"), Some("/sys/fs/cgroup/memory".into()));
        assert_eq!(dir("pids"), Some("/sys/fs/cgroup/pids".into()));
        assert!(!mounts.v1.contains_key("name=systemd"));
        assert!(!mounts.v1.contains_key("xattr"));
        assert_eq!(
            mounts.v2.map(|m| m.dir),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn a_pure_v2_host_has_one_unified_tree_and_no_v1_controller() {
        let mounts = parse_mountinfo(V2);
        assert!(mounts.v1.is_empty());
        let v2 = mounts.v2.expect("v2");
        assert_eq!(v2.dir, PathBuf::from("/sys/fs/cgroup"));
        assert_eq!(v2.root, "/");
    }

    #[test]
    fn a_pure_v1_host_has_no_unified_tree() {
        let mounts = parse_mountinfo(V1_CONTAINER);
        assert_eq!(mounts.v2, None);
        assert_eq!(mounts.v1["memory"].root, "/docker/abc");
        assert_eq!(
            mounts.v1["pids"].dir,
            PathBuf::from("/sys/fs/cgroup/my cgroups"),
            "octal escapes are undone"
        );
    }

    #[test]
    fn a_cgroup_path_is_placed_under_the_mount_that_shows_it() {
        let host = Mount {
            root: "/".into(),
            dir: "/sys/fs/cgroup/memory".into(),
        };
        assert_eq!(
            host.dir_of("/process_api/1098"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/1098"))
        );
        assert_eq!(
            host.dir_of("/"),
            Some(PathBuf::from("/sys/fs/cgroup/memory"))
        );
        let bind = Mount {
            root: "/docker/abc".into(),
            dir: "/sys/fs/cgroup/memory".into(),
        };
        assert_eq!(
            bind.dir_of("/docker/abc/run"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/run"))
        );
        assert_eq!(bind.dir_of("/docker/abcd"), None, "not a prefix by path");
        assert_eq!(bind.dir_of("/other"), None);
    }

    #[test]
    fn membership_lists_v1_paths_by_controller_and_the_v2_path() {
        let text = "\
12:pids:/user.slice
4:cpu,cpuacct:/
3:memory:/process_api/10988c
1:name=systemd:/user.slice/session-1.scope
0::/user.slice/session-1.scope
";
        let m = parse_membership(text);
        assert_eq!(m.v1["memory"], "/process_api/10988c");
        assert_eq!(m.v1["cpu"], "/");
        assert_eq!(m.v1["cpuacct"], "/");
        assert_eq!(m.v1["pids"], "/user.slice");
        assert!(!m.v1.contains_key("name=systemd"));
        assert_eq!(m.v2.as_deref(), Some("/user.slice/session-1.scope"));

        let v2_only = parse_membership("0::/system.slice/rota.service\n");
        assert!(v2_only.v1.is_empty());
        assert_eq!(v2_only.v2.as_deref(), Some("/system.slice/rota.service"));
    }
}
