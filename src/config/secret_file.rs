//! Secrets the config names by file (the API token, the SMTP password):
//! the file must be the user's own (or root's) and unreadable by others,
//! as ssh demands of a private key. The value never goes in the config.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zeroize::Zeroizing;

/// The file's first line, trimmed, after the ownership and mode checks;
/// the error says what is wrong and what to run.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "owned by uid {}, not by this user ({me}) or root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "mode {:04o} lets others read it; run `chmod 600 {}`",
            meta.mode() & 0o7777,
            path.display()
        ));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| e.to_string())?);
    let first = text.lines().next().unwrap_or_default().trim();
    Ok(Zeroizing::new(first.to_string()))
}
