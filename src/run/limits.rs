//! Process limits checked before the run.

/// Descriptors blast needs beyond its connections (stdio, io_uring/epoll fds, eventfds).
const SPARE_FDS: u64 = 64;

/// Raises the soft open-files limit to fit `connections`, or says what to raise.
pub fn ensure_open_files(connections: usize) -> Result<(), String> {
    let needed = connections as u64 + SPARE_FDS;
    let Some(limit) = open_files() else {
        return Ok(());
    };
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
    if !set_open_files(needed, limit.rlim_max) {
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
    if let Some(limit) = open_files()
        && limit.rlim_cur < limit.rlim_max
    {
        set_open_files(limit.rlim_max, limit.rlim_max);
    }
}

/// The open-files limits, soft and hard (`None`: they cannot be read).
fn open_files() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Sets the soft open-files limit to `soft`, the hard one staying `hard`; whether it took.
fn set_open_files(soft: u64, hard: u64) -> bool {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit only reads the struct passed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
}
