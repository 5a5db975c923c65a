//! Errors of the config layer. Every one names the file it is about, and
//! problems inside a file carry its line (and column when known).

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::load::ConfigOrigin;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not a valid kvm-clone config: syntax, unknown field, bad value.
    #[error("{}: {message}", Position { path: path.display(), line: *line, column: *column })]
    Invalid {
        path: PathBuf,
        line: usize,
        column: Option<usize>,
        message: String,
    },
    /// A config file named by `--config` or the environment does not exist.
    #[error("config file {} (named by {origin}) does not exist", path.display())]
    NotFound { path: PathBuf, origin: ConfigOrigin },
    /// No home directory, so no default config location.
    #[error(
        "cannot find the default config location (no home directory); use --config or {}",
        crate::paths::CONFIG_ENV
    )]
    NoDefaultPath,
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// A host entry that fails validation before it is written to a file.
    #[error("invalid host entry {name:?}: {reason}")]
    InvalidHost { name: String, reason: String },
    /// `append_host` with a name the file already has.
    #[error("{}:{line}: a host named {name:?} already exists", path.display())]
    DuplicateHost {
        path: PathBuf,
        line: usize,
        name: String,
    },
    /// A problem in an OpenSSH client config file.
    #[error("{}:{line}: {message}", path.display())]
    SshConfig {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A host cannot be turned into something to connect to.
    #[error("host {host:?}: {message}")]
    Resolve { host: String, message: String },
}

/// `path:line:column`, or `path:line` when the column is unknown.
struct Position<'a> {
    path: std::path::Display<'a>,
    line: usize,
    column: Option<usize>,
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(f, "{}:{}:{}", self.path, self.line, c),
            None => write!(f, "{}:{}", self.path, self.line),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncdé\nf";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        assert_eq!(line_col(t, 7), (2, 4));
        assert_eq!(line_col(t, 8), (3, 1));
        assert_eq!(line_col(t, 100), (3, 2));
    }

    #[test]
    fn invalid_renders_path_line_column() {
        let e = ConfigError::Invalid {
            path: "/x/c.toml".into(),
            line: 12,
            column: Some(1),
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "/x/c.toml:12:1: bad");
        let e = ConfigError::Invalid {
            path: "/x/c.toml".into(),
            line: 3,
            column: None,
            message: "bad".into(),
        };
        assert_eq!(e.to_string(), "/x/c.toml:3: bad");
    }
}
