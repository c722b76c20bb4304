//! Reading and writing the small text files of a cgroup directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `value` to `dir/file` in one `write`, as the kernel wants. The file is created if
/// missing, which a real cgroupfs refuses (so a missing controller is still an error there) and
/// which lets tests use a plain directory tree.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> io::Result<()> {
    let path = dir.join(file);
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    f.write_all(value.as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The contents of `dir/file`, or `None` when it cannot be read (a controller or a kernel
/// feature this host lacks).
pub(crate) fn read(dir: &Path, file: &str) -> Option<String> {
    fs::read_to_string(dir.join(file)).ok()
}

/// `dir/file` holding one unsigned number (`max` reads as `None`).
pub(crate) fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// The value of `key` in a flat-keyed file such as `memory.events` (`oom_kill 3`) or `cpu.stat`
/// (`usage_usec 1234`).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(' ')?;
        if k == key {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The pids listed in `dir/cgroup.procs`.
pub(crate) fn procs(dir: &Path) -> Vec<i32> {
    read(dir, "cgroup.procs")
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_keyed_files_are_read_by_key() {
        let text = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed(text, "oom_kill"), Some(1));
        assert_eq!(keyed(text, "oom"), Some(2));
        assert_eq!(keyed(text, "absent"), None);
    }

    #[test]
    fn numbers_and_pids_are_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "memory.peak", "4096\n").unwrap();
        write(dir.path(), "memory.max", "max\n").unwrap();
        write(dir.path(), "cgroup.procs", "12\n15\n").unwrap();
        assert_eq!(read_u64(dir.path(), "memory.peak"), Some(4096));
        assert_eq!(read_u64(dir.path(), "memory.max"), None);
        assert_eq!(read_u64(dir.path(), "missing"), None);
        assert_eq!(procs(dir.path()), vec![12, 15]);
    }
}
