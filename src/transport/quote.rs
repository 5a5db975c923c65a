//! POSIX shell quoting for commands sent over SSH.
//!
//! The remote side runs every exec request through the login shell, so each
//! argument that is not a fixed literal must be quoted. Single quotes are the
//! only POSIX quoting with no special characters inside; a single quote itself
//! is written as `'\''` (close, escaped quote, reopen).

use std::fmt;

/// Quote one argument for a POSIX shell. Plain words made only of
/// characters that no shell treats specially are returned unchanged, so
/// logged commands stay readable.
pub fn quote(arg: &str) -> String {
    if !arg.is_empty() && arg.bytes().all(is_plain) {
        return arg.to_string();
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Characters safe unquoted in every POSIX shell position (not `=`, which is
/// special as the first word, nor `~`, `*`, `?`, `[`, `{`, `#`, …).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b',' | b':' | b'@' | b'+')
}

/// A remote command line built from a program and quoted arguments.
///
/// ```
/// use kvm_clone::transport::quote::Command;
/// let cmd = Command::new("virsh").arg("dumpxml").arg("my vm; rm -rf /").build();
/// assert_eq!(cmd, "virsh dumpxml 'my vm; rm -rf /'");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    line: String,
}

impl Command {
    /// Start a command; the program name is quoted like any argument.
    pub fn new(program: &str) -> Self {
        Command {
            line: quote(program),
        }
    }

    /// Append one argument, quoted.
    pub fn arg(mut self, arg: impl AsRef<str>) -> Self {
        self.line.push(' ');
        self.line.push_str(&quote(arg.as_ref()));
        self
    }

    /// Append several arguments, each quoted.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Append shell syntax verbatim (a redirection or `&&`). Only for
    /// literals written in our source, never for values from input.
    pub fn raw(mut self, literal: &'static str) -> Self {
        self.line.push(' ');
        self.line.push_str(literal);
        self
    }

    /// The finished command line.
    pub fn build(self) -> String {
        self.line
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command as Proc;

    /// Runs `printf '%s\n' ARG` through /bin/sh and returns what the shell
    /// passed to printf: the real test of a quoting function.
    fn shell_roundtrip(arg: &str) -> String {
        let line = Command::new("printf").arg("%s\n").arg(arg).build();
        let out = Proc::new("/bin/sh").arg("-c").arg(&line).output().unwrap();
        assert!(out.status.success(), "sh failed on {line}");
        let mut s = String::from_utf8(out.stdout).unwrap();
        assert_eq!(s.pop(), Some('\n'));
        s
    }

    #[test]
    fn plain_words_stay_unquoted() {
        assert_eq!(quote("web01"), "web01");
        assert_eq!(
            quote("/var/lib/libvirt/images/a.qcow2"),
            "/var/lib/libvirt/images/a.qcow2"
        );
    }

    #[test]
    fn empty_and_special_are_quoted() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("a=b"), "'a=b'");
    }

    #[test]
    fn hostile_strings_survive_the_shell() {
        let hostile = [
            "",
            " ",
            "'",
            "''",
            "\"",
            "a'b\"c",
            "$(touch /tmp/kvm-clone-quote-pwned)",
            "`id`",
            "; rm -rf /",
            "a\nb",
            "tab\there",
            "*",
            "?",
            "[a-z]",
            "~",
            "$HOME",
            "${IFS}",
            "\\",
            "\\'",
            "-n",
            "--",
            "!event",
            "#comment",
            "a&&b||c|d>e<f",
            "ünïcödé ✓",
        ];
        for h in hostile {
            assert_eq!(shell_roundtrip(h), h, "round trip of {h:?}");
        }
        assert!(!std::path::Path::new("/tmp/kvm-clone-quote-pwned").exists());
    }

    #[test]
    fn builder_joins_and_keeps_raw_literals() {
        let c = Command::new("cat")
            .args(["a b", "c"])
            .raw(">")
            .arg("/dev/null")
            .build();
        assert_eq!(c, "cat 'a b' c > /dev/null");
    }

    proptest::proptest! {
        #[test]
        fn any_string_round_trips(s in "[^\u{0}]{0,40}") {
            proptest::prop_assert_eq!(shell_roundtrip(&s), s);
        }
    }
}
