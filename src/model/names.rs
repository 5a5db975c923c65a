//! The rule for the names kvm-clone gives VMs (and the files named after
//! them): a pure check that front ends run as the operator types and the
//! pre-flight runs again on the host side.

/// Longest accepted new name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Why a name is refused, or None when it is acceptable.
///
/// The charset is deliberately narrower than libvirt's: the name becomes part
/// of file names (`<name>-vda.qcow2`, `<name>_VARS.fd`) and of shell
/// arguments, so only ASCII letters, digits, `.`, `_` and `-` are allowed,
/// starting with a letter or digit (no option-like `-x`, no hidden `.x`).
pub fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.chars().any(char::is_control) {
        return Some("it contains control characters".into());
    }
    if name.contains('/') || name.contains('\\') {
        return Some("it contains a path separator".into());
    }
    if name.contains("..") {
        return Some("it contains \"..\"".into());
    }
    let len = name.chars().count();
    if len > MAX_NAME_LEN {
        return Some(format!(
            "it is {len} characters long, more than {MAX_NAME_LEN}"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "{:?} is not allowed (use letters, digits, '.', '_' and '-')",
            c
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or a digit".into());
    }
    None
}
