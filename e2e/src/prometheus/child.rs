//! A child process that cannot outlive the sandbox.
//!
//! The child is started from a dedicated thread that then waits for it, with
//! `PR_SET_PDEATHSIG` set to `SIGKILL`: the kernel kills the child when that
//! thread ends, which happens only when the child exits or the whole process
//! dies (a panic, a `SIGKILL`, a test binary that ends without dropping its
//! statics). Tying the signal to a runtime worker thread instead would kill
//! the child whenever the runtime retires that thread. The child also gets
//! its own process group, so a Ctrl-C in the terminal reaches the sandbox
//! only, which then stops the child in order.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};
use std::sync::mpsc;
use std::time::Duration;

/// Time a child gets to exit after `SIGTERM` before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(10);

pub struct Child {
    pid: libc::pid_t,
    exited: mpsc::Receiver<io::Result<ExitStatus>>,
    status: Option<io::Result<ExitStatus>>,
}

impl Child {
    /// Starts `command` from its own waiting thread.
    pub fn spawn(mut command: Command, name: &str) -> io::Result<Child> {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and calls only
        // async-signal-safe functions (prctl, getppid, setpgid).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if u32::try_from(libc::getppid()).ok() != Some(parent) {
                    return Err(io::Error::other("parent exited"));
                }
                if libc::setpgid(0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (started_tx, started_rx) = mpsc::channel();
        let (exited_tx, exited) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("{name}-child"))
            .spawn(move || match command.spawn() {
                Ok(mut child) => {
                    let _ = started_tx.send(Ok(child.id()));
                    let _ = exited_tx.send(child.wait());
                }
                Err(error) => {
                    let _ = started_tx.send(Err(error));
                }
            })?;
        let pid = started_rx
            .recv()
            .map_err(|_| io::Error::other("spawning thread died"))??;
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        Ok(Child {
            pid,
            exited,
            status: None,
        })
    }

    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// The exit status, once the child has exited.
    pub fn try_status(&mut self) -> Option<&io::Result<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.exited.try_recv().ok();
        }
        self.status.as_ref()
    }

    /// Stops the child: `SIGTERM`, then `SIGKILL` after a grace period.
    /// Blocks until it has exited and been reaped.
    pub fn stop(&mut self) {
        for (signal, wait) in [(libc::SIGTERM, TERM_GRACE), (libc::SIGKILL, TERM_GRACE)] {
            if self.try_status().is_some() {
                return;
            }
            // SAFETY: kill has no memory effects; the pid is our unreaped
            // child, since its waiting thread has not reported an exit.
            unsafe { libc::kill(self.pid, signal) };
            if let Ok(status) = self.exited.recv_timeout(wait) {
                self.status = Some(status);
                return;
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether a process with this pid exists (used to find directories left
/// by sandboxes that died).
pub fn alive(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_terminates_and_reaps_the_child() {
        let mut command = Command::new("sleep");
        command.arg("600");
        let mut child = Child::spawn(command, "sleep").expect("spawn sleep");
        let pid = child.pid();
        assert!(alive(pid));
        assert!(child.try_status().is_none());
        child.stop();
        assert!(child.try_status().is_some());
        assert!(!alive(pid));
    }

    #[test]
    fn spawn_reports_a_missing_binary() {
        assert!(Child::spawn(Command::new("/nonexistent/binary"), "missing").is_err());
    }
}
