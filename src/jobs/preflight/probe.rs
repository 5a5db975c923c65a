//! Facts libvirt cannot give, read over SSH in one round trip: whether paths
//! exist, whether a bridge or host interface exists, whether a program is
//! installed, and the free space a filesystem really offers to a writer.
//!
//! The script is built here (pure, every value quoted) and its output parsed
//! strictly here, so both halves are tested locally against `/bin/sh`.

use crate::model::PoolInfo;
use crate::transport::SshError;
use crate::transport::quote::quote;
use crate::transport::session::Session;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One question for the host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Probe {
    /// Something (file, directory, even a dangling symlink) is at this path.
    Exists(String),
    /// `/sys/class/net/<name>/bridge` exists: a Linux bridge of that name.
    Bridge(String),
    /// `/sys/class/net/<name>` exists: a host network interface.
    NetDev(String),
    /// `command -v <name>` finds the program.
    Program(String),
    /// Bytes an unprivileged writer may still use on the filesystem holding
    /// this path (`statvfs` f_bavail × f_frsize; libvirt counts root-reserved
    /// blocks as available, this does not).
    FreeSpace(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Yes,
    No,
    Bytes(u64),
    /// The host could not say (a free-space query on a missing path).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected probe output: {0}")]
pub struct ProbeOutputError(pub String);

/// Answers by probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeResults(pub BTreeMap<Probe, Answer>);

impl ProbeResults {
    pub fn get(&self, probe: &Probe) -> Option<Answer> {
        self.0.get(probe).copied()
    }

    /// Some(true/false) when the probe was asked and answered yes/no.
    pub fn yes(&self, probe: &Probe) -> Option<bool> {
        match self.get(probe)? {
            Answer::Yes => Some(true),
            Answer::No => Some(false),
            _ => None,
        }
    }

    pub fn bytes(&self, probe: &Probe) -> Option<u64> {
        match self.get(probe)? {
            Answer::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// Interface names as bridges are named in practice: 1–15 ASCII letters,
/// digits, '.', '_' or '-', not starting with '.' (Linux allows more, but
/// nothing else is ever put into a path here).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_program(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A POSIX sh script printing one `<index> <answer>` line per probe.
/// Invalid names answer `0` without touching the host.
pub fn script(probes: &[Probe]) -> String {
    let mut s = String::new();
    for (i, p) in probes.iter().enumerate() {
        let test = match p {
            Probe::Exists(path) => {
                let q = quote(path);
                format!("test -e {q} || test -L {q}")
            }
            Probe::Bridge(n) if valid_ifname(n) => {
                format!("test -d {}", quote(&format!("/sys/class/net/{n}/bridge")))
            }
            Probe::NetDev(n) if valid_ifname(n) => {
                format!("test -e {}", quote(&format!("/sys/class/net/{n}")))
            }
            Probe::Program(n) if valid_program(n) => {
                format!("command -v {} >/dev/null 2>&1", quote(n))
            }
            Probe::FreeSpace(path) => {
                let _ = writeln!(
                    s,
                    "echo \"{i} $(stat -f -c '%a %S' -- {} 2>/dev/null)\"",
                    quote(path)
                );
                continue;
            }
            Probe::Bridge(_) | Probe::NetDev(_) | Probe::Program(_) => "false".to_string(),
        };
        let _ = writeln!(s, "if {test}; then echo '{i} 1'; else echo '{i} 0'; fi");
    }
    s
}

/// Parses the script's output: exactly one well-formed line per probe.
pub fn parse(probes: &[Probe], stdout: &str) -> Result<ProbeResults, ProbeOutputError> {
    let bad = |why: String| ProbeOutputError(why);
    let mut answers: Vec<Option<Answer>> = vec![None; probes.len()];
    for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let index: usize = words
            .next()
            .and_then(|w| w.parse().ok())
            .filter(|i| *i < probes.len())
            .ok_or_else(|| bad(format!("line {line:?} names no probe")))?;
        let rest: Vec<&str> = words.collect();
        let answer = match (&probes[index], rest.as_slice()) {
            (Probe::FreeSpace(_), []) => Answer::Unknown,
            (Probe::FreeSpace(_), [avail, bsize]) => {
                let (a, b) = (avail.parse::<u64>(), bsize.parse::<u64>());
                match (a, b) {
                    (Ok(a), Ok(b)) => Answer::Bytes(a.saturating_mul(b)),
                    _ => return Err(bad(format!("line {line:?}: not a block count"))),
                }
            }
            (Probe::FreeSpace(_), _) => {
                return Err(bad(format!("line {line:?}: not a block count")));
            }
            (_, ["1"]) => Answer::Yes,
            (_, ["0"]) => Answer::No,
            _ => return Err(bad(format!("line {line:?}: expected 0 or 1"))),
        };
        if answers[index].replace(answer).is_some() {
            return Err(bad(format!("probe {index} answered twice")));
        }
    }
    let mut map = BTreeMap::new();
    for (probe, answer) in probes.iter().zip(answers) {
        let answer =
            answer.ok_or_else(|| bad(format!("no answer for {probe:?} (output cut short?)")))?;
        map.insert(probe.clone(), answer);
    }
    Ok(ProbeResults(map))
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Ssh(#[from] SshError),
    #[error(transparent)]
    Output(#[from] ProbeOutputError),
}

/// Runs the probes on the host through `sh -c` (the login shell may not be
/// POSIX). Duplicates are asked once.
pub async fn run(session: &Session, probes: &[Probe]) -> Result<ProbeResults, ProbeError> {
    let mut unique = probes.to_vec();
    unique.sort();
    unique.dedup();
    if unique.is_empty() {
        return Ok(ProbeResults::default());
    }
    let command = format!("sh -c {}", quote(&script(&unique)));
    let out = session.exec(&command).await?.check("validation probes")?;
    Ok(parse(&unique, &out.stdout_str())?)
}

/// The free-space probes for a host's active directory pools.
pub fn pool_probes(pools: &[PoolInfo]) -> Vec<Probe> {
    pools
        .iter()
        .filter(|p| p.active)
        .filter_map(|p| p.path.clone())
        .map(Probe::FreeSpace)
        .collect()
}

/// Sets each pool's filesystem free space, hence its usable figure, from
/// the answers to [`pool_probes`]; a pool not measured keeps libvirt's.
pub fn apply_free_space(pools: &mut [PoolInfo], answers: &ProbeResults) {
    for p in pools.iter_mut().filter(|p| p.active) {
        let fs = p
            .path
            .clone()
            .and_then(|dir| answers.bytes(&Probe::FreeSpace(dir)));
        p.set_fs_available(fs);
    }
}

/// Measures the usable free space of a host's pools the way the pre-flight
/// space check does (one SSH round trip).
pub async fn measure_pools(session: &Session, pools: &mut [PoolInfo]) -> Result<(), ProbeError> {
    let probes = pool_probes(pools);
    if !probes.is_empty() {
        let answers = run(session, &probes).await?;
        apply_free_space(pools, &answers);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn run_local(probes: &[Probe]) -> ProbeResults {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(script(probes))
            .output()
            .unwrap();
        assert!(out.status.success());
        parse(probes, &String::from_utf8(out.stdout).unwrap()).unwrap()
    }

    #[test]
    fn runs_against_a_real_shell() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("it's a $(file)");
        std::fs::write(&file, b"x").unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
        let probes = [
            Probe::Exists(path(&file)),
            Probe::Exists(path(&dir.path().join("absent; rm -rf /"))),
            Probe::Exists(path(&dangling)),
            Probe::NetDev("lo".into()),
            Probe::NetDev("nosuchif0".into()),
            Probe::Bridge("lo".into()),
            Probe::Program("sh".into()),
            Probe::Program("no-such-program-kvm-clone".into()),
            Probe::FreeSpace(path(dir.path())),
            Probe::FreeSpace(path(&dir.path().join("missing"))),
        ];
        let r = run_local(&probes);
        assert_eq!(r.yes(&probes[0]), Some(true));
        assert_eq!(r.yes(&probes[1]), Some(false));
        assert_eq!(
            r.yes(&probes[2]),
            Some(true),
            "a dangling symlink occupies the path"
        );
        assert_eq!(
            r.yes(&probes[3]),
            Some(std::path::Path::new("/sys/class/net/lo").exists())
        );
        assert_eq!(r.yes(&probes[4]), Some(false));
        assert_eq!(r.yes(&probes[5]), Some(false), "lo is no bridge");
        assert_eq!(r.yes(&probes[6]), Some(true));
        assert_eq!(r.yes(&probes[7]), Some(false));
        assert!(r.bytes(&probes[8]).is_some_and(|b| b > 0));
        assert_eq!(r.get(&probes[9]), Some(Answer::Unknown));
    }

    /// Issue 14: the hosts pane showed libvirt's free space while the
    /// checklist used the filesystem's; both now come from this probe.
    #[test]
    fn pools_get_the_usable_free_space_of_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let pool = |name: &str, path: Option<String>, active: bool| PoolInfo {
            name: name.into(),
            active,
            capacity_bytes: u64::MAX,
            allocation_bytes: 0,
            available_bytes: u64::MAX,
            path,
            fs_available_bytes: None,
            usable_bytes: u64::MAX,
        };
        let here = dir.path().to_str().unwrap().to_string();
        let mut pools = vec![
            pool("default", Some(here.clone()), true),
            pool("rbd", None, true),
            pool("gone", Some(format!("{here}/missing")), true),
            pool("off", Some(here.clone()), false),
        ];
        let probes = pool_probes(&pools);
        assert_eq!(
            probes,
            [
                Probe::FreeSpace(here.clone()),
                Probe::FreeSpace(format!("{here}/missing"))
            ]
        );
        apply_free_space(&mut pools, &run_local(&probes));
        let fs = pools[0].fs_available_bytes.unwrap();
        assert!(fs > 0 && fs < u64::MAX);
        assert_eq!(pools[0].usable_bytes, fs);
        assert_eq!(pools[0].libvirt_overstates(), Some(u64::MAX));
        // Not measurable: libvirt's figure stays, and is not flagged.
        for p in &pools[1..] {
            assert_eq!(p.usable_bytes, u64::MAX, "{}", p.name);
            assert_eq!(p.libvirt_overstates(), None);
        }
    }

    #[test]
    fn hostile_interface_names_never_reach_the_shell() {
        for name in [
            "../../etc",
            "a/b",
            "..",
            "",
            "x y",
            "sixteen-chars-xx",
            "a:b",
            "$(id)",
        ] {
            let probes = [Probe::Bridge(name.into()), Probe::NetDev(name.into())];
            let s = script(&probes);
            assert!(!s.contains("/sys/class/net"), "{name:?}: {s}");
            let r = run_local(&probes);
            assert_eq!(r.yes(&probes[0]), Some(false));
        }
        assert!(valid_ifname("br0") && valid_ifname("virbr0") && valid_ifname("eno1.100"));
    }

    #[test]
    fn output_is_parsed_strictly() {
        let probes = [Probe::Exists("/a".into()), Probe::FreeSpace("/".into())];
        assert!(parse(&probes, "0 1\n1 10 4096\n").is_ok());
        assert_eq!(
            parse(&probes, "0 1\n1 10 4096\n")
                .unwrap()
                .bytes(&probes[1]),
            Some(40960)
        );
        for bad in [
            "0 1\n",             // missing answer
            "0 1\n0 0\n1 1 1\n", // twice
            "0 2\n1 1 1\n",      // not a yes/no
            "0 1\n1 x 4096\n",   // not a number
            "0 1\n1 1 2 3\n",
            "7 1\n", // unknown probe
            "zero 1\n",
        ] {
            assert!(parse(&probes, bad).is_err(), "{bad:?}");
        }
    }
}
