//! Child processes that must not outlive Kiln.

/// Makes the kernel kill the child when Kiln dies, even by SIGKILL, so that a virtual
/// machine never outlives the build that started it. (The signal is tied to the thread
/// that spawns the child; Kiln spawns from runtime threads that live as long as Kiln.)
#[allow(unsafe_code)]
pub fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the child between fork and exec; it only calls
    // prctl(2), which is async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
