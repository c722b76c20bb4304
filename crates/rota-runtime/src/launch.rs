//! Starting a program without copying the agent: `clone(CLONE_VM | CLONE_VFORK)`, as
//! `posix_spawn` does, with the two steps `posix_spawn` cannot take (a new session, joining the
//! run's cgroup) done by the child before `exec`.
//!
//! Why not std's `Command` with a `pre_exec` hook: with one, std always falls back to a full
//! `fork`, which copies the page tables of the whole multi-threaded agent, after which both
//! sides take copy-on-write faults until the child has executed: most of the agent's CPU per
//! run. Here the child borrows the parent's memory and the calling thread is suspended until
//! the child has executed its program (or failed to), so a start costs the same however large
//! the agent grows.
//!
//! ```text
//!  parent: resolve argv, envp, PATH candidates, workdir ─▶ block all signals ─▶ clone
//!  child (parent's memory, own stack): default signal handlers, setsid, confine (join the
//!         cgroup or set RLIMIT_AS), stdin/stdout/stderr, chdir, empty signal mask, execve
//!         each PATH candidate ─▶ on failure: errno into the shared slot, _exit(127)
//!  parent (resumed once the child executed or exited): restore signals, read the slot
//! ```

use std::collections::BTreeMap;
use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's stack: it runs a few dozen calls of this module, then `execve`.
const CHILD_STACK: usize = 64 * 1024;
/// Where programs are looked up when neither the spec nor the agent sets `PATH` (glibc's
/// default for `execvp`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";
/// Signals are numbered 1 to 64 on Linux.
const LAST_SIGNAL: libc::c_int = 64;

/// A program to start, with everything the child needs resolved beforehand: the child may not
/// allocate.
#[derive(Debug)]
pub(crate) struct Program {
    /// The paths to try in turn: `argv[0]` itself when it has a `/`, else each `PATH` entry
    /// joined with it (`execvp`'s rule).
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    workdir: CString,
}

impl Program {
    /// `argv` with the agent's environment overridden by `env`, started in `workdir`. Fails
    /// (`InvalidInput`) when a string holds a NUL byte or `argv` is empty.
    pub(crate) fn new(
        argv: &[String],
        env: &[(String, String)],
        workdir: &Path,
    ) -> io::Result<Program> {
        let name = argv
            .first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty argv"))?;
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        for (key, value) in env {
            vars.insert(key.into(), value.into());
        }
        let path = vars
            .get(&OsString::from("PATH"))
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_else(|| DEFAULT_PATH.to_vec());
        let candidates = candidates(name.as_bytes(), &path)
            .into_iter()
            .map(c_string)
            .collect::<io::Result<_>>()?;
        let envp = vars
            .into_iter()
            .map(|(key, value)| {
                let mut entry = key.into_vec();
                entry.push(b'=');
                entry.extend_from_slice(value.as_bytes());
                c_string(entry)
            })
            .collect::<io::Result<_>>()?;
        Ok(Program {
            candidates,
            argv: argv
                .iter()
                .map(|a| c_string(a.as_bytes().to_vec()))
                .collect::<io::Result<_>>()?,
            envp,
            workdir: c_string(workdir.as_os_str().as_bytes().to_vec())?,
        })
    }
}

/// `execvp`'s search: `name` itself when it has a `/`, else `dir/name` for each entry of
/// `path` (an empty entry is the working directory).
fn candidates(name: &[u8], path: &[u8]) -> Vec<Vec<u8>> {
    if name.contains(&b'/') {
        return vec![name.to_vec()];
    }
    path.split(|b| *b == b':')
        .map(|dir| {
            if dir.is_empty() {
                name.to_vec()
            } else {
                let mut full = dir.to_vec();
                if !dir.ends_with(b"/") {
                    full.push(b'/');
                }
                full.extend_from_slice(name);
                full
            }
        })
        .collect()
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// What the child reads (through the shared memory) and the one thing it writes: the errno of
/// the step that failed.
struct Shared<'a> {
    candidates: Vec<*const libc::c_char>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    workdir: *const libc::c_char,
    stdio: [RawFd; 3],
    confine: &'a (dyn Fn() -> io::Result<()> + Sync),
    errno: AtomicI32,
}

/// Starts `program` as the leader of a new session and process group, with `stdio` as its
/// stdin, stdout and stderr, after `confine` ran in the child (it must be async-signal-safe
/// and allocate nothing: [`crate::cgroup::Confinement::in_child`]). Returns its pid once it has
/// executed the program; an error of any step before (`ENOENT` for a program not found) is
/// returned and the child reaped.
pub(crate) fn spawn(
    program: &Program,
    stdio: [RawFd; 3],
    confine: &(dyn Fn() -> io::Result<()> + Sync),
) -> io::Result<i32> {
    let pointers = |strings: &[CString]| -> Vec<*const libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let shared = Shared {
        candidates: program.candidates.iter().map(|s| s.as_ptr()).collect(),
        argv: pointers(&program.argv),
        envp: pointers(&program.envp),
        workdir: program.workdir.as_ptr(),
        stdio,
        confine,
        errno: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; CHILD_STACK];
    // The stack grows down from its end, which must be 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK) & !15;

    // SAFETY: all-zero is a valid sigset_t, then filled by sigfillset.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut before: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain libc calls on sets on our stack. Signals stay blocked across the clone so
    // that no handler of the agent runs on the child's borrowed memory before it has reset
    // them.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
    }
    // SAFETY: the child runs `child_main` on `stack`, which outlives it (CLONE_VFORK suspends
    // this thread until the child has executed or exited), and reads `shared`, which lives
    // until then too. It only makes async-signal-safe calls and allocates nothing.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&raw const shared).cast_mut().cast(),
        )
    };
    let clone_error = io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
    }
    drop(stack);
    if pid == -1 {
        return Err(clone_error);
    }
    match shared.errno.load(Ordering::Acquire) {
        0 => Ok(pid),
        errno => {
            let mut status = 0;
            // SAFETY: reaps our own child, which has exited already.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

/// The child: runs on its own stack in the parent's memory until `execve`.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` that `spawn` keeps alive while this runs.
    let shared = unsafe { &*(arg as *const Shared<'_>) };
    // SAFETY: only async-signal-safe calls on data prepared by the parent.
    let errno = match unsafe { prepare(shared) } {
        Ok(()) => unsafe { exec(shared) },
        Err(errno) => errno,
    };
    shared.errno.store(errno, Ordering::Release);
    // SAFETY: leaves without running anything of the parent's (no atexit handlers, no
    // flushing of its buffers).
    unsafe { libc::_exit(127) }
}

/// Everything but `execve`; returns the errno of the first step that failed.
///
/// SAFETY: call only in the child of `spawn`.
unsafe fn prepare(shared: &Shared<'_>) -> Result<(), libc::c_int> {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    };
    // SAFETY (whole block): async-signal-safe calls on our own stack and the shared data.
    unsafe {
        // The agent's handlers must not run in the program: back to the default, as exec
        // would do anyway, but before the mask is lifted. SIGPIPE, which Rust ignores, is
        // given back to the program as well, as std does.
        for signal in 1..=LAST_SIGNAL {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let ignored = old.sa_sigaction == libc::SIG_IGN && signal != libc::SIGPIPE;
            if old.sa_sigaction != libc::SIG_DFL && !ignored {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        if libc::setsid() == -1 {
            return Err(errno());
        }
        // Joins the cgroup before exec: no instruction of the program runs unlimited.
        if let Err(e) = (shared.confine)() {
            return Err(e.raw_os_error().unwrap_or(libc::EINVAL));
        }
        for (target, fd) in shared.stdio.iter().enumerate() {
            let target = target as RawFd;
            let done = if *fd == target {
                // Already in place: only make it survive exec.
                libc::fcntl(*fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(*fd, target)
            };
            if done == -1 {
                return Err(errno());
            }
        }
        if libc::chdir(shared.workdir) == -1 {
            return Err(errno());
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
    Ok(())
}

/// Tries each candidate path as `execvp` does; returns only on failure, with the errno to
/// report (`EACCES` if any candidate was found but not executable).
///
/// SAFETY: call only in the child of `spawn`.
unsafe fn exec(shared: &Shared<'_>) -> libc::c_int {
    let mut denied = false;
    let mut last = libc::ENOENT;
    for path in &shared.candidates {
        // SAFETY: NUL-terminated strings and NULL-terminated arrays made by the parent.
        unsafe { libc::execve(*path, shared.argv.as_ptr(), shared.envp.as_ptr()) };
        last = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::ENOENT);
        match last {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => return last,
        }
    }
    if denied { libc::EACCES } else { last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_is_looked_up_in_each_path_entry_and_a_path_is_taken_as_is() {
        assert_eq!(
            candidates(b"true", b"/usr/local/bin:/bin/:"),
            vec![
                b"/usr/local/bin/true".to_vec(),
                b"/bin/true".to_vec(),
                b"true".to_vec()
            ]
        );
        assert_eq!(candidates(b"./run.sh", b"/bin"), vec![b"./run.sh".to_vec()]);
    }

    #[test]
    fn the_specs_variables_override_the_agents() {
        let program = Program::new(
            &["env".to_string()],
            &[("PATH".to_string(), "/opt/x".to_string())],
            Path::new("/tmp"),
        )
        .unwrap();
        assert_eq!(
            program.candidates,
            vec![CString::new("/opt/x/env").unwrap()]
        );
        let paths: Vec<&CString> = program
            .envp
            .iter()
            .filter(|e| e.as_bytes().starts_with(b"PATH="))
            .collect();
        assert_eq!(paths, vec![&CString::new("PATH=/opt/x").unwrap()]);
        let nul = Program::new(&["a\0b".to_string()], &[], Path::new("/tmp")).unwrap_err();
        assert_eq!(nul.kind(), io::ErrorKind::InvalidInput);
    }
}
