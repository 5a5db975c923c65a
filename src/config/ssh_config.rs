//! The subset of OpenSSH's client config (`~/.ssh/config`) that kvm-clone
//! honours for a host's `ssh_alias`: HostName, Port, User and IdentityFile,
//! inside `Host` blocks, across `Include`d files. Like ssh, the file is read
//! for one target host at a time, and the first value obtained for a keyword
//! wins while IdentityFile accumulates. `Match` blocks are skipped.

use super::ConfigError;
use std::io;
use std::path::{Path, PathBuf};

/// ssh's own limit on nested Include.
const MAX_INCLUDE_DEPTH: usize = 16;

/// What an OpenSSH client config says about one host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshHostOptions {
    /// HostName, with `%h` already replaced by the (lowercased) alias.
    pub hostname: Option<String>,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// IdentityFile values in file order, `~` and `%` tokens not yet expanded
    /// (`%h` and `%r` need the final host and user; see [`expand_path`]).
    pub identity_files: Vec<String>,
    /// Whether a `Host` line other than a bare `*` matched the alias. When
    /// false, ssh would use the alias itself as the host name.
    pub matched: bool,
}

/// Reads `path` for `host` (an alias). Relative `Include`s and `~` refer to `home`.
pub fn lookup(path: &Path, host: &str, home: &Path) -> Result<SshHostOptions, ConfigError> {
    let text = read(path, path, 0)?;
    lookup_str(&text, path, host, home)
}

/// [`lookup`] on text already read; `path` names it in errors.
pub fn lookup_str(
    text: &str,
    path: &Path,
    host: &str,
    home: &Path,
) -> Result<SshHostOptions, ConfigError> {
    let mut reader = Reader {
        host: host.to_ascii_lowercase(),
        home: home.to_path_buf(),
        out: SshHostOptions::default(),
    };
    reader.file(text, path, 0)?;
    Ok(reader.out)
}

fn read(path: &Path, from: &Path, line: usize) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| {
        if line == 0 {
            ConfigError::Read {
                path: path.to_path_buf(),
                source,
            }
        } else {
            ConfigError::SshConfig {
                path: from.to_path_buf(),
                line,
                message: format!("cannot read included file {}: {source}", path.display()),
            }
        }
    })
}

struct Reader {
    /// The alias, lowercased as ssh does before matching and expanding %h.
    host: String,
    home: PathBuf,
    out: SshHostOptions,
}

impl Reader {
    fn file(&mut self, text: &str, path: &Path, depth: usize) -> Result<(), ConfigError> {
        let mut active = true;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let err = |message: String| ConfigError::SshConfig {
                path: path.to_path_buf(),
                line,
                message,
            };
            let Some((keyword, args)) = split_line(raw).map_err(err)? else {
                continue;
            };
            let first = args.first().cloned();
            let need = |what: &str| {
                first
                    .clone()
                    .ok_or_else(|| err(format!("{what} needs a value")))
            };
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(err("Host needs at least one pattern".into()));
                    }
                    active = host_matches(&self.host, &args);
                    if active && args.iter().any(|p| p != "*" && !p.starts_with('!')) {
                        self.out.matched = true;
                    }
                }
                // Match criteria (exec, canonical, …) are not evaluated:
                // its block never applies.
                "match" => active = false,
                "include" if active => {
                    if args.is_empty() {
                        return Err(err("Include needs a file name".into()));
                    }
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(err(format!(
                            "Include nested more than {MAX_INCLUDE_DEPTH} levels deep"
                        )));
                    }
                    for pattern in &args {
                        for file in expand_glob(&self.include_path(pattern))
                            .map_err(|e| err(format!("Include {pattern}: {e}")))?
                        {
                            let text = read(&file, path, line)?;
                            self.file(&text, &file, depth + 1)?;
                        }
                    }
                }
                "hostname" if active => {
                    let v = need("HostName")?;
                    if self.out.hostname.is_none() {
                        let v = expand_hostname(&v, &self.host).map_err(err)?;
                        self.out.hostname = Some(v);
                    }
                }
                "port" if active => {
                    let v = need("Port")?;
                    let port =
                        v.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                            err(format!("Port {v:?} is not a port number (1-65535)"))
                        })?;
                    self.out.port.get_or_insert(port);
                }
                "user" if active => {
                    let v = need("User")?;
                    self.out.user.get_or_insert(v);
                }
                "identityfile" if active => {
                    let v = need("IdentityFile")?;
                    check_path_tokens(&v).map_err(err)?;
                    self.out.identity_files.push(v);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Include paths: `~` is the home directory, relative ones live in ~/.ssh.
    fn include_path(&self, pattern: &str) -> PathBuf {
        if pattern == "~" {
            self.home.clone()
        } else if let Some(rest) = pattern.strip_prefix("~/") {
            self.home.join(rest)
        } else if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            self.home.join(".ssh").join(pattern)
        }
    }
}

/// Splits a config line into its lowercased keyword and arguments; None for
/// blank lines and comments. Accepts `Key value` and `Key=value`, double
/// quotes around arguments, and a trailing `# comment`.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    Ok(Some((keyword, split_args(rest)?)))
}

fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&c) = chars.peek() else { break };
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                '\\' if quoted && matches!(chars.peek(), Some('"' | '\\')) => {
                    arg.extend(chars.next());
                }
                c if c.is_whitespace() && !quoted => break,
                c => arg.push(c),
            }
        }
        if quoted {
            return Err("unterminated quote".into());
        }
        args.push(arg);
    }
    Ok(args)
}

/// ssh's rule for a `Host` line: some pattern matches and no negated one does.
fn host_matches(host: &str, patterns: &[String]) -> bool {
    let mut matched = false;
    for p in patterns {
        let (negated, pat) = match p.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, p.as_str()),
        };
        if wildcard_match(&pat.to_ascii_lowercase(), host) {
            if negated {
                return false;
            }
            matched = true;
        }
    }
    matched
}

/// `*` (any run, possibly empty) and `?` (one character) matching.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last '*' and the text index it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn expand_hostname(v: &str, alias: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(alias),
            Some('%') => out.push('%'),
            other => {
                return Err(format!(
                    "HostName token %{} is not supported (only %h and %%)",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    Ok(out)
}

/// Values for the `%` tokens of an IdentityFile path.
#[derive(Debug, Clone)]
pub struct PathTokens<'a> {
    /// `~` and `%d`.
    pub home: Option<&'a Path>,
    /// `%u`: the local user.
    pub local_user: &'a str,
    /// `%h`: the remote host name (after HostName).
    pub host: &'a str,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
}

const PATH_TOKENS: [char; 5] = ['d', 'u', 'h', 'r', '%'];

fn check_path_tokens(v: &str) -> Result<(), String> {
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some(t) if PATH_TOKENS.contains(&t) => {}
                other => {
                    return Err(format!(
                        "IdentityFile token %{} is not supported (only %d, %u, %h, %r and %%)",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Expands a leading `~` and the `%d %u %h %r %%` tokens of an identity file path.
pub fn expand_path(v: &str, tokens: &PathTokens<'_>) -> Result<PathBuf, String> {
    check_path_tokens(v)?;
    let home = || {
        tokens
            .home
            .map(|h| h.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{v}: no home directory to expand it"))
    };
    let mut out = String::new();
    let mut rest = v;
    if v == "~" || v.starts_with("~/") {
        out.push_str(&home()?);
        rest = &v[1..];
    } else if v.starts_with('~') {
        return Err(format!("{v}: ~user paths are not supported"));
    }
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&home()?),
            Some('u') => out.push_str(tokens.local_user),
            Some('h') => out.push_str(tokens.host),
            Some('r') => out.push_str(tokens.remote_user),
            _ => out.push('%'),
        }
    }
    Ok(PathBuf::from(out))
}

/// The files a path with `*`/`?` in its components names, sorted as glob(3)
/// sorts them; a path without wildcards names itself if it exists. Hidden
/// entries match only a pattern that starts with '.'.
fn expand_glob(pattern: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let comp = comp.as_os_str();
        let text = comp.to_string_lossy();
        if !text.contains(['*', '?']) {
            for p in &mut found {
                p.push(comp);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') || text.starts_with('.'))
                .filter(|n| wildcard_match(&text, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    Ok(found.into_iter().filter(|p| p.is_file()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("kvm?", "kvm1"));
        assert!(!wildcard_match("kvm?", "kvm10"));
        assert!(wildcard_match("*.lab", "a.b.lab"));
        assert!(!wildcard_match("*.lab", "a.lab.org"));
        assert!(wildcard_match("k*m*1", "kvm-main-1"));
        assert!(!wildcard_match("k*m*1", "kvm-main-2"));
        assert!(wildcard_match("10.0.0.*", "10.0.0.5"));
    }

    #[test]
    fn line_splitting() {
        let s = |l: &str| split_line(l).unwrap();
        assert_eq!(s("  # c"), None);
        assert_eq!(s(""), None);
        assert_eq!(
            s("HostName=10.0.0.1"),
            Some(("hostname".into(), vec!["10.0.0.1".into()]))
        );
        assert_eq!(s("Port = 2222"), Some(("port".into(), vec!["2222".into()])));
        assert_eq!(
            s("Host a b* !c # trailing"),
            Some(("host".into(), vec!["a".into(), "b*".into(), "!c".into()]))
        );
        assert_eq!(
            s(r#"IdentityFile "~/my keys/id \"x\"""#),
            Some(("identityfile".into(), vec![r#"~/my keys/id "x""#.into()]))
        );
        assert!(split_line("User \"root").is_err());
    }

    #[test]
    fn negation_beats_match() {
        let pats = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(host_matches("kvm1", &pats(&["kvm*"])));
        assert!(!host_matches("kvm1", &pats(&["kvm*", "!kvm1"])));
        assert!(!host_matches("kvm1", &pats(&["!kvm1", "kvm*"])));
        assert!(!host_matches("kvm1", &pats(&["!other"])));
        assert!(host_matches("kvm2", &pats(&["!kvm1", "kvm*"])));
    }

    #[test]
    fn path_tokens() {
        let home = PathBuf::from("/home/op");
        let t = PathTokens {
            home: Some(&home),
            local_user: "op",
            host: "10.0.0.1",
            remote_user: "root",
        };
        assert_eq!(
            expand_path("~/.ssh/%r@%h", &t).unwrap(),
            PathBuf::from("/home/op/.ssh/root@10.0.0.1")
        );
        assert_eq!(
            expand_path("%d/k_%u_100%%", &t).unwrap(),
            PathBuf::from("/home/op/k_op_100%")
        );
        assert!(expand_path("~bob/k", &t).is_err());
        assert!(expand_path("/k/%C", &t).unwrap_err().contains("%C"));
        let no_home = PathTokens { home: None, ..t };
        assert!(expand_path("~/k", &no_home).is_err());
    }

    #[test]
    fn hostname_tokens() {
        assert_eq!(
            expand_hostname("%h.lab.example", "kvm1").unwrap(),
            "kvm1.lab.example"
        );
        assert_eq!(expand_hostname("a%%b", "x").unwrap(), "a%b");
        assert!(expand_hostname("%p", "x").is_err());
    }
}
