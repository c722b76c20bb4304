//! What the child does between `fork` and `exec`: join its cgroup, or set rlimits where there
//! is none, so that no instruction of the program runs unlimited.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Prepared in the parent, applied in the child. Holds the open `cgroup.procs` files: they must
/// outlive the spawn. They are opened close-on-exec, so the program never sees them.
#[derive(Debug, Default)]
pub(crate) struct Confinement {
    /// Open until the confinement is dropped, after the spawn.
    _open: Vec<File>,
    fds: Vec<RawFd>,
    address_space: Option<u64>,
}

impl Confinement {
    /// Joins the cgroup whose `cgroup.procs` files these are.
    pub(crate) fn cgroup(files: Vec<File>) -> Confinement {
        let fds = files.iter().map(AsRawFd::as_raw_fd).collect();
        Confinement {
            _open: files,
            fds,
            address_space: None,
        }
    }

    /// Where there is no cgroup: caps the address space (`RLIMIT_AS`) at `bytes`. A cap on
    /// virtual memory, not on what is resident: programs that reserve much more than they use
    /// (the JVM, Go) may fail to start under it. CPU has no rlimit that expresses a share:
    /// `RLIMIT_CPU` would kill the run after so many CPU seconds, so none is set.
    pub(crate) fn rlimits(memory_bytes: Option<u64>) -> Confinement {
        Confinement {
            _open: Vec::new(),
            fds: Vec::new(),
            address_space: memory_bytes,
        }
    }

    /// The cgroup directories' `cgroup.procs` count, for tests.
    #[cfg(test)]
    pub(crate) fn joins(&self) -> usize {
        self.fds.len()
    }

    /// The data the child needs, copied so that the closure owns it. The closure only reads
    /// it: no allocation, no lock, only `write` and `setrlimit` (both async-signal-safe).
    pub(crate) fn in_child(&self) -> impl Fn() -> io::Result<()> + Send + Sync + 'static {
        let fds = self.fds.clone();
        let address_space = self.address_space;
        move || {
            for fd in &fds {
                // "0" is the writing process itself, in v1 and v2 alike.
                // SAFETY: the fd is open (its File lives in the parent until spawn returns,
                // and the child has a copy), and the buffer is a static one-byte string.
                let written = unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) };
                if written != 1 {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(bytes) = address_space {
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                // SAFETY: setrlimit reads the struct on our stack.
                if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        }
    }
}
