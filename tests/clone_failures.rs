//! Clones interrupted on purpose: cancelled, cut off by beta's sshd going
//! away, and killed outright. Its own test binary, one test at a time,
//! because it stops beta's sshd.

mod clone_util;

use clone_util::{Cleanup, Env, identical, images, lab, run_dirs, snapshot, wait_exit};
use std::time::Duration;

/// Slow enough to interrupt, fast enough for a test.
const SLOW: &str = "bandwidth_limit = \"4MiB/s\"\nverify = false\n";

fn no_job_on_web01() -> bool {
    lab()
        .virsh("alpha", &["domjobinfo", "web01"])
        .contains("None")
}

#[test]
fn ctrl_c_cancels_and_leaves_beta_as_it_was() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", SLOW);
    let name = format!("t-cancel-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let dirs = run_dirs();
    let mut child = env.clone_until_copying(&clone_util::to_beta("web01", &name, "slow"));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let st = wait_exit(&mut child, Duration::from_secs(120));
    assert_eq!(st.code(), Some(4), "exit code of a cancelled clone");
    assert_eq!(snapshot("beta"), before, "beta changed");
    assert_eq!(run_dirs(), dirs, "run directories left behind");
    assert!(no_job_on_web01(), "the backup job on web01 was not ended");
}

/// Restarts beta's sshd even if the test fails.
struct Sshd;
impl Drop for Sshd {
    fn drop(&mut self) {
        lab().run(&["start-sshd", "beta"]);
    }
}

#[test]
fn beta_sshd_dying_mid_copy_is_retried_and_the_copy_resumes() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", "bandwidth_limit = \"4MiB/s\"\nverify = true\n");
    let name = format!("t-resume-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let mut child = env.clone_until_copying(&clone_util::to_beta("archive01", &name, "slow"));
    let sshd = Sshd;
    lab().run(&["stop-sshd", "beta"]);
    std::thread::sleep(Duration::from_secs(3));
    drop(sshd);
    let st = wait_exit(&mut child, Duration::from_secs(300));
    assert!(
        st.success(),
        "the clone did not survive the sshd restart: {st:?}"
    );
    let copy = images("beta").join(format!("{name}-vda.raw"));
    assert!(identical(&images("alpha").join("archive01.raw"), &copy));
}

#[test]
fn a_killed_app_is_cleaned_up_by_the_next_start() {
    let _serial = clone_util::serial();
    let env = Env::new();
    env.profile("slow", SLOW);
    let name = format!("t-killed-{}", std::process::id());
    let _g = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let before = snapshot("beta");
    let dirs = run_dirs();
    let mut child = env.clone_until_copying(&clone_util::to_beta("web01", &name, "slow"));
    child.kill().expect("kill");
    let _ = child.wait();
    // The killed run left its image, exports and backup job behind…
    assert_ne!(snapshot("beta"), before, "nothing was left to clean up");
    assert!(!no_job_on_web01(), "the backup job should still run");
    // …which the next start, with the same data directory, removes.
    let out = env.run(&["hosts"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot("beta"), before, "beta not cleaned up");
    assert_eq!(run_dirs(), dirs, "run directories left behind");
    assert!(no_job_on_web01(), "the backup job on web01 was not ended");
    let journal = env.data.path().join("journal");
    let left: Vec<_> = std::fs::read_dir(&journal)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "journal still lists the job");
}
