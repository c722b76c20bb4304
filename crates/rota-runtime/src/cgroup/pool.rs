//! Run cgroups kept for reuse while runs keep coming: making a cgroup (`mkdir`, the
//! controllers' files) and removing it (`rmdir`, then the kernel's offlining) cost more than
//! the start of a small program, once per hierarchy.
//!
//! ```text
//!  acquire(name) ── an idle cgroup? ── yes ─▶ rename to name, reset counters, limits that changed
//!                                   └─ no ──▶ Hierarchy::create(name)
//!  release(run)  ── empty, room left ─▶ kept idle (memory charges above 1 MiB given back)
//!                └─ otherwise ─▶ removed
//!  the last active run released ─▶ Quiet; drain(quiet) after LINGER removes every idle
//!                                  cgroup, and with them the parents, unless a run began since
//! ```
//!
//! Runs often come in bursts (a scheduler round places several at once) with short gaps in
//! which none is active; the idle cgroups outlive such a gap by [`LINGER`] instead of being
//! removed and made again with the next burst.
//!
//! Only on cgroup v1: v2 can neither rename a cgroup nor reset its `memory.peak`, so there each
//! run gets a new cgroup. A reused cgroup always carries its run's name, so that an agent
//! restarted after a crash finds a run's cgroup by name as before; idle cgroups it may leave
//! behind are empty. Idle cgroups are also removed when the pool is dropped.

use std::io;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::hierarchy::{Hierarchy, Version};
use super::{Resources, RunCgroup};

/// Idle cgroups kept at most.
const MAX_IDLE: usize = 128;
/// How long idle cgroups are kept once no run is active.
pub(crate) const LINGER: Duration = Duration::from_secs(1);

/// An empty cgroup and the limits written in it.
#[derive(Debug)]
struct Idle {
    cgroup: RunCgroup,
    resources: Resources,
}

#[derive(Debug, Default)]
struct State {
    /// Cgroups handed out and not released yet.
    active: usize,
    idle: Vec<Idle>,
    /// Counts the cgroups handed out, so that a drain knows whether a run began since.
    acquired: u64,
}

/// The moment the last active run was released: [`Pool::drain`] removes the idle cgroups
/// unless a run began since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Quiet {
    acquired: u64,
}

/// What [`Pool::release`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Released {
    /// Processes left in the cgroup and killed.
    pub(crate) killed: usize,
    /// Set when no run is active any more: pass it to [`Pool::drain`] after [`LINGER`].
    pub(crate) quiet: Option<Quiet>,
}

/// The run cgroups of one runtime: handed out by [`Pool::acquire`], given back by
/// [`Pool::release`].
#[derive(Debug, Default)]
pub(crate) struct Pool {
    state: Mutex<State>,
}

impl Pool {
    /// A cgroup named `name` with `resources` as its limits: an idle one renamed where there is
    /// one (v1), else a new one. Blocks on cgroupfs: call it off the async threads.
    pub(crate) fn acquire(
        &self,
        hierarchy: &Hierarchy,
        name: &str,
        resources: &Resources,
    ) -> io::Result<RunCgroup> {
        let idle = {
            let mut state = self.lock();
            state.active += 1;
            state.acquired += 1;
            state.idle.pop()
        };
        if let Some(idle) = idle {
            match reuse(idle, name, resources) {
                Ok(cgroup) => return Ok(cgroup),
                Err((cgroup, err)) => {
                    tracing::debug!(%err, cgroup = %cgroup.path().display(), "an idle cgroup cannot be reused; making a new one");
                    let _ = cgroup.reclaim();
                }
            }
        }
        match hierarchy.create(name, resources) {
            Ok(cgroup) => Ok(cgroup),
            Err(err) => {
                self.lock().active -= 1;
                Err(err)
            }
        }
    }

    /// Takes back a cgroup handed out by [`Pool::acquire`] with `resources` as its limits.
    /// Keeps it for the next run when it is empty (v1); otherwise kills whatever is left in it
    /// (SIGKILL) and removes it. Blocks: call it off the async threads.
    pub(crate) fn release(&self, cgroup: RunCgroup, resources: Resources) -> io::Result<Released> {
        let keep = cgroup.version == Version::V1
            && cgroup.pids().is_empty()
            && cgroup.release_memory().is_ok();
        let (kept, quiet) = {
            let mut state = self.lock();
            state.active -= 1;
            let quiet = (state.active == 0).then_some(Quiet {
                acquired: state.acquired,
            });
            if keep && state.idle.len() < MAX_IDLE {
                state.idle.push(Idle { cgroup, resources });
                (None, quiet)
            } else {
                (Some(cgroup), quiet)
            }
        };
        let killed = match kept {
            None => 0,
            Some(cgroup) => cgroup.reclaim()?,
        };
        Ok(Released { killed, quiet })
    }

    /// Removes every idle cgroup, and with them the parent directories, if no run began
    /// since `quiet`. Blocks: call it off the async threads.
    pub(crate) fn drain(&self, quiet: Quiet) {
        if self.lock().acquired == quiet.acquired {
            self.remove_idle();
        }
    }

    /// Removes every idle cgroup, and with them the parent directories, unless a run is
    /// active. Blocks: call it off the async threads.
    pub(crate) fn remove_idle(&self) {
        let drained = {
            let mut state = self.lock();
            if state.active > 0 {
                return;
            }
            std::mem::take(&mut state.idle)
        };
        remove_all(drained);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pool {
    /// The idle cgroups go with the pool (a runtime dropped, or a tokio runtime shut down with
    /// a drain still waiting): they are empty, so removing them does not wait.
    fn drop(&mut self) {
        remove_all(std::mem::take(&mut self.lock().idle));
    }
}

/// Removes idle cgroups (and, with the last, the parents); a failure is logged.
fn remove_all(idle: Vec<Idle>) {
    for idle in idle {
        if let Err(err) = idle.cgroup.reclaim() {
            tracing::warn!(cgroup = %idle.cgroup.path().display(), %err, "an idle cgroup is left behind");
        }
    }
}

/// An idle cgroup renamed to `name` and made ready for a run with `resources`; on failure, the
/// cgroup as it is then, for the caller to remove.
fn reuse(
    idle: Idle,
    name: &str,
    resources: &Resources,
) -> Result<RunCgroup, (RunCgroup, io::Error)> {
    let mut cgroup = idle.cgroup.rename(name)?;
    match cgroup.reset_for(resources, &idle.resources) {
        Ok(()) => Ok(cgroup),
        Err(err) => Err((cgroup, err)),
    }
}
