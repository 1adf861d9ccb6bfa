//! What the module asks the operating system directly (not through a safe crate).

/// The effective user id of the process: whose the bind cache must be (§3.2.1).
/// `None` where there is no such thing (not Unix).
#[cfg(unix)]
pub fn effective_uid() -> Option<u32> {
    // SAFETY: geteuid has no preconditions, touches no memory of ours and cannot fail.
    Some(unsafe { libc::geteuid() })
}

#[cfg(not(unix))]
pub fn effective_uid() -> Option<u32> {
    None
}
