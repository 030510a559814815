//! Process limits checked before the run.

/// Descriptors blast needs beyond its connections (stdio, io_uring/epoll fds, eventfds).
const SPARE_FDS: u64 = 64;

/// Raises the soft open-files limit to fit `connections`, or says what to raise.
pub fn ensure_open_files(connections: usize) -> Result<(), String> {
    let needed = connections as u64 + SPARE_FDS;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        return Err(format!(
            "{connections} connections need {needed} open files but the hard limit is {}: \
             raise it (ulimit -Hn, or /etc/security/limits.conf) or use fewer connections",
            limit.rlim_max
        ));
    }
    limit.rlim_cur = needed;
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!(
            "cannot raise the open-files limit to {needed}: run 'ulimit -n {needed}' first"
        ));
    }
    Ok(())
}

/// `blast serve`: raises the soft open-files limit to the hard one, since the server cannot
/// know how many connections its clients will open: under a soft limit of 1,024 the 1,025th
/// waits in the listen queue, unanswered, until another closes. Where it cannot, the limit
/// stays as it was.
pub fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
