//! Which process owns a running row, in a form that survives pid reuse: the
//! pid plus that process's start time (`/proc/<pid>/stat` field 22, clock
//! ticks since boot) and the boot id. A different process that later gets
//! the same pid has a different start time; after a reboot the boot id
//! differs.

use std::path::Path;

/// The start token of process `pid`, or None when it does not exist (or
/// /proc cannot tell).
pub fn start_token(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let start = start_ticks(&stat)?;
    let boot = std::fs::read_to_string(Path::new("/proc/sys/kernel/random/boot_id")).ok()?;
    Some(format!("{}:{start}", boot.trim()))
}

/// Field 22 of a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces or parentheses, so fields are
/// counted from the last `)`.
fn start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come field 3 (state) onwards; field 22 is the 20th of them.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This process: its pid and start token.
pub fn me() -> (u32, Option<String>) {
    let pid = std::process::id();
    (pid, start_token(pid))
}

/// Whether the owner recorded as (`pid`, `token`) is still running. A row
/// without a token (no /proc when it was written) counts as alive while
/// its pid exists: better a row shown running too long than a live job
/// marked interrupted.
pub fn alive(pid: u32, token: Option<&str>) -> bool {
    match (start_token(pid), token) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_ticks_counts_from_the_last_parenthesis() {
        let fields: Vec<String> = (3..=25).map(|n| n.to_string()).collect();
        let line = format!("42 (a (b) c) {}", fields.join(" "));
        assert_eq!(start_ticks(&line), Some(22));
        assert_eq!(start_ticks("42 (x) S 1"), None);
        assert_eq!(start_ticks("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_token_is_not() {
        let (pid, token) = me();
        let token = token.expect("/proc is mounted on Linux");
        assert!(alive(pid, Some(&token)));
        assert!(!alive(pid, Some("another-boot:1")));
    }

    #[test]
    fn a_finished_process_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let token = start_token(pid);
        child.wait().unwrap();
        // Reaped: the pid is gone (or, if reused, the start time differs).
        assert!(!alive(pid, token.as_deref()));
    }
}
