//! What `/proc` tells about a process and its process group, and signals to groups.

use std::fs;
use std::io;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// One exact process: its pid and its start time, so that a reused pid is not mistaken for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    /// The process id; it is also the id of the run's process group and session.
    pub pid: i32,
    /// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks since boot.
    pub start_ticks: u64,
}

/// Is this exact process (pid and start time) still running? A zombie is not.
///
/// Meant for reconciliation after an agent restart; reads one file of `/proc`.
pub fn is_alive(id: ProcessIdentity) -> bool {
    match read_stat(id.pid) {
        Ok(stat) => stat.start_ticks == id.start_ticks && !stat.is_dead(),
        Err(_) => false,
    }
}

/// Sends SIGKILL to the whole process group of an orphan found after an agent restart, if the
/// process is still alive ([`is_alive`]). Returns whether a signal was sent.
///
/// A group whose leader has already died is not found this way, nor are processes that left
/// the group: [`crate::ProcessRuntime::reclaim`] finds them all through the run's cgroup.
pub fn kill_orphan(id: ProcessIdentity) -> bool {
    let Ok(stat) = read_stat(id.pid) else {
        return false;
    };
    if stat.start_ticks != id.start_ticks || stat.is_dead() {
        return false;
    }
    let pid = Pid::from_raw(id.pid);
    if stat.pgrp == id.pid {
        killpg(pid, Signal::SIGKILL).is_ok()
    } else {
        // Not a group leader: not started by this runtime, so only the process itself is ours.
        kill(pid, Signal::SIGKILL).is_ok()
    }
}

/// Makes this process the "child subreaper" of its descendants (Linux `PR_SET_CHILD_SUBREAPER`):
/// orphaned members of a run's process group are then re-parented to it instead of to PID 1, and
/// the runtime reaps them when it checks that the group is gone.
///
/// Call it once at agent start when PID 1 does not reap orphans (some container inits do not);
/// under systemd or tini it is not needed. When the agent is itself PID 1 it already gets the
/// orphans. Processes that leave the run's group (daemons calling `setsid`) and then exit stay
/// zombies of this process: nothing reaps them.
pub fn set_child_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// The fields of `/proc/PID/stat` that the runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) pgrp: i32,
    pub(crate) start_ticks: u64,
}

impl Stat {
    /// Zombie (exited, not yet reaped) or dead.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

pub(crate) fn read_stat(pid: i32) -> io::Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected /proc/{pid}/stat"),
        )
    })
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so the fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // Fields 3, 4 and 5; then field 22 is 16 further on.
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    let start_ticks = fields.nth(16)?.parse().ok()?;
    Some(Stat {
        state,
        ppid,
        pgrp,
        start_ticks,
    })
}

/// Sends `signal` to process group `pgid`; a group that is already gone is not an error.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    match killpg(Pid::from_raw(pgid), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => tracing::warn!(pgid, %signal, %err, "cannot signal process group"),
    }
}

/// Whether a signal to the group would reach anything. Zombies count: see [`scan_group`].
pub(crate) fn group_reachable(pgid: i32) -> bool {
    !matches!(kill(Pid::from_raw(-pgid), None), Err(Errno::ESRCH))
}

/// Reaps `pid` if it is a zombie and a child of this process (an orphan of a run re-parented to
/// the agent, see [`set_child_subreaper`]).
pub(crate) fn reap_own_zombie(pid: i32) {
    if let Ok(stat) = read_stat(pid)
        && stat.is_dead()
        && stat.ppid == std::process::id() as i32
    {
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    }
}

/// What is left of a process group after its leader was reaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum GroupState {
    /// No member left.
    Gone,
    /// Only zombies whose parent is another process (PID 1 that does not reap, for instance):
    /// nothing runs any more, and only their parent can make them disappear.
    OnlyZombies,
    /// These members are still running.
    Alive(Vec<i32>),
}

/// Walks `/proc` for the members of group `pgid`, reaping those that are zombies and children of
/// this process (orphans re-parented to us, see [`set_child_subreaper`]). Reads one file per
/// process on the machine: call it off the async threads, and only when [`group_reachable`] says
/// the group still exists.
pub(crate) fn scan_group(pgid: i32) -> GroupState {
    let Ok(dir) = fs::read_dir("/proc") else {
        return GroupState::Alive(Vec::new());
    };
    let me = std::process::id() as i32;
    let mut alive = Vec::new();
    let mut foreign_zombies = false;
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = read_stat(pid) else { continue };
        if stat.pgrp != pgid {
            continue;
        }
        if !stat.is_dead() {
            alive.push(pid);
        } else if stat.ppid == me && pid != pgid {
            // Our own zombie child in a run's group is an orphan re-parented to us: never a child
            // that tokio waits for, since those lead their own groups.
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        } else {
            foreign_zombies = true;
        }
    }
    if !alive.is_empty() {
        alive.sort_unstable();
        GroupState::Alive(alive)
    } else if foreign_zombies {
        GroupState::OnlyZombies
    } else {
        GroupState::Gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4259 (a) b (c) Z 1 4256 2836 0 -1 4227084 96 0 1 0 0 0 0 0 20 0 1 0 23195 0 0 \
                    18446744073709551615 0 0 0 0 0 0 0 6 0 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let stat = parse_stat(line).expect("parses");
        assert_eq!(
            stat,
            Stat {
                state: 'Z',
                ppid: 1,
                pgrp: 4256,
                start_ticks: 23195
            }
        );
        assert!(stat.is_dead());
    }

    #[test]
    fn a_truncated_stat_line_is_refused() {
        assert_eq!(parse_stat("12 (sh) S 1 12 12 0"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let stat = read_stat(me).expect("own stat");
        assert!(!stat.is_dead(), "{stat:?}");
        let id = ProcessIdentity {
            pid: me,
            start_ticks: stat.start_ticks,
        };
        assert!(is_alive(id));
        assert!(!is_alive(ProcessIdentity {
            start_ticks: stat.start_ticks + 1,
            ..id
        }));
        // A wrong start time must also protect this process from kill_orphan.
        assert!(!kill_orphan(ProcessIdentity {
            start_ticks: stat.start_ticks + 1,
            ..id
        }));
    }
}
