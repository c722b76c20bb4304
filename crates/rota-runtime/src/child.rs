//! Waiting for a child started by [`crate::launch::spawn`]: through a pidfd (Linux 5.3 and
//! later), else by looking again at each SIGCHLD.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// How the end of the child is noticed.
#[derive(Debug)]
enum Watch {
    /// Readable once the child has exited.
    Pidfd(AsyncFd<OwnedFd>),
    /// Any child's end; the status is then looked up.
    Sigchld(Signal),
}

/// A child of this process, reaped by [`Child::wait`].
#[derive(Debug)]
pub(crate) struct Child {
    pid: i32,
    watch: Watch,
    status: Option<ExitStatus>,
}

impl Child {
    /// Watches the child `pid`, which must not have been reaped. Must be called within a tokio
    /// runtime.
    pub(crate) fn new(pid: i32) -> io::Result<Child> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let watch = if fd >= 0 {
            // SAFETY: the fd was just opened and is owned by nothing else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            // SAFETY: an OwnedFd stays open, and is the same fd, until it is dropped.
            let registered =
                unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) };
            Watch::Pidfd(registered.map_err(io::Error::from)?)
        } else {
            Watch::Sigchld(signal(SignalKind::child())?)
        };
        Ok(Child {
            pid,
            watch,
            status: None,
        })
    }

    /// Resolves with the exit status once the child has exited, and reaps it. Cancel-safe, and
    /// may be called again after it resolved.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            match &mut self.watch {
                Watch::Pidfd(fd) => fd.readable().await?.clear_ready(),
                Watch::Sigchld(sigchld) => {
                    sigchld.recv().await;
                }
            }
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let mut raw = 0;
        // SAFETY: waits (without blocking) for our own child.
        match unsafe { libc::waitpid(self.pid, &mut raw, libc::WNOHANG) } {
            0 => Ok(None),
            -1 => Err(io::Error::last_os_error()),
            _ => {
                let status = ExitStatus::from_raw(raw);
                self.status = Some(status);
                Ok(Some(status))
            }
        }
    }
}
