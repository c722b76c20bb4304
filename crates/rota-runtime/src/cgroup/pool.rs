//! Run cgroups kept for reuse while runs keep coming: making a cgroup (`mkdir`, the
//! controllers' files) and removing it (`rmdir`, then the kernel's offlining) cost more than
//! the start of a small program, once per hierarchy.
//!
//! ```text
//!  acquire(name) ── an idle cgroup? ── yes ─▶ rename to name, reset counters, limits that changed
//!                                   └─ no ──▶ Hierarchy::create(name)
//!  release(run)  ── empty, other runs active, room left ─▶ kept idle (memory charges given back)
//!                └─ otherwise ─▶ removed; the last active run also removes every idle one,
//!                                and with them the parent directories
//! ```
//!
//! Only on cgroup v1: v2 can neither rename a cgroup nor reset its `memory.peak`, so there each
//! run gets a new cgroup. A reused cgroup always carries its run's name, so that an agent
//! restarted after a crash finds a run's cgroup by name as before; idle cgroups it may leave
//! behind are empty.

use std::io;
use std::sync::{Mutex, MutexGuard};

use super::hierarchy::{Hierarchy, Version};
use super::{Resources, RunCgroup};

/// Idle cgroups kept at most.
const MAX_IDLE: usize = 128;

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
    /// Keeps it for the next run when it is empty and other runs are active; otherwise kills
    /// whatever is left in it (SIGKILL) and removes it, and with the last active run every
    /// idle cgroup too. Returns how many processes it killed. Blocks: call it off the async
    /// threads.
    pub(crate) fn release(&self, cgroup: RunCgroup, resources: Resources) -> io::Result<usize> {
        let keep = cgroup.version == Version::V1
            && cgroup.pids().is_empty()
            && cgroup.release_memory().is_ok();
        let drained = {
            let mut state = self.lock();
            state.active -= 1;
            if state.active == 0 {
                std::mem::take(&mut state.idle)
            } else {
                if keep && state.idle.len() < MAX_IDLE {
                    state.idle.push(Idle { cgroup, resources });
                    return Ok(0);
                }
                Vec::new()
            }
        };
        for idle in drained {
            if let Err(err) = idle.cgroup.reclaim() {
                tracing::warn!(cgroup = %idle.cgroup.path().display(), %err, "an idle cgroup is left behind");
            }
        }
        cgroup.reclaim()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
