//! `append_host`: add a `[[hosts]]` entry to the config file, keeping the
//! operator's comments and layout, and replacing the file atomically.

use super::validate::validate_host;
use super::{ConfigError, HostConfig, default_libvirt_uri, default_pool, parse};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

/// Mode of a config file kvm-clone creates: it names hosts and keys.
const NEW_FILE_MODE: u32 = 0o600;
const NEW_DIR_MODE: u32 = 0o700;

/// Appends `host` to the config file at `path`, creating the file (0600) and
/// its directory if missing. Refuses an invalid entry, a name already in the
/// file (compared case-insensitively) and a file that does not parse.
pub fn append_host(path: &Path, host: &HostConfig) -> Result<(), ConfigError> {
    validate_host(host)?;
    // Write through a symlink rather than replacing it.
    let path = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(source) => return Err(read_err(path, source)),
    };
    let (text, mode) = match fs::read_to_string(&path) {
        Ok(text) => {
            let mode = fs::metadata(&path)
                .map_err(|e| read_err(&path, e))?
                .permissions()
                .mode();
            (text, mode & 0o7777)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (String::new(), NEW_FILE_MODE),
        Err(e) => return Err(read_err(&path, e)),
    };

    let existing = parse(&text, &path)?;
    if let Some(i) = existing
        .hosts
        .iter()
        .position(|h| h.name.eq_ignore_ascii_case(&host.name))
    {
        return Err(ConfigError::DuplicateHost {
            path: path.clone(),
            line: name_line(&text, i).unwrap_or(1),
            name: host.name.clone(),
        });
    }

    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        // parse() accepted the text, so toml_edit should too.
        invalid(&path, e.to_string())
    })?;
    let entry = host_table(host)?;
    match doc.get_mut("hosts") {
        None => {
            let mut hosts = ArrayOfTables::new();
            hosts.push(entry);
            doc.insert("hosts", Item::ArrayOfTables(hosts));
        }
        Some(Item::ArrayOfTables(hosts)) => hosts.push(entry),
        Some(Item::Value(toml_edit::Value::Array(hosts))) => {
            let mut inline: InlineTable = entry.into_inline_table();
            inline.fmt();
            let mut item = toml_edit::Value::InlineTable(inline);
            // Lay the new entry out like the last one (its own line, same indent).
            let prefix = hosts
                .iter()
                .last()
                .and_then(|v| v.decor().prefix())
                .and_then(|p| p.as_str())
                .map_or_else(|| " ".to_string(), str::to_owned);
            item.decor_mut().set_prefix(prefix);
            hosts.push_formatted(item);
        }
        Some(_) => return Err(invalid(&path, "hosts is not an array of tables".into())),
    }
    let new_text = doc.to_string();
    // The result must load back exactly as the old hosts plus the new one.
    let reparsed = parse(&new_text, &path)?;
    if reparsed.hosts.last() != Some(host) || reparsed.hosts.len() != existing.hosts.len() + 1 {
        return Err(invalid(
            &path,
            "the edited file does not read back as written".into(),
        ));
    }
    write_atomically(&path, new_text.as_bytes(), mode)
}

fn read_err(path: &Path, source: io::Error) -> ConfigError {
    ConfigError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(path: &Path, source: io::Error) -> ConfigError {
    ConfigError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, message: String) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line: 1,
        column: None,
        message,
    }
}

/// Line of host `index`'s `name` value in `text` (already parsed once).
fn name_line(text: &str, index: usize) -> Option<usize> {
    let doc = toml::de::DeTable::parse(text).ok()?;
    let span = doc
        .get_ref()
        .get("hosts")?
        .get_ref()
        .as_array()?
        .get(index)?
        .get_ref()
        .as_table()?
        .get("name")?
        .span();
    Some(super::error::line_col(text, span.start).0)
}

/// The entry as a table; defaults for libvirt_uri and pool are written out so
/// the file shows what will be used.
fn host_table(h: &HostConfig) -> Result<Table, ConfigError> {
    let mut t = Table::new();
    t["name"] = value(h.name.as_str());
    if let Some(a) = &h.ssh_alias {
        t["ssh_alias"] = value(a.as_str());
    }
    if let Some(a) = &h.address {
        t["address"] = value(a.as_str());
    }
    if let Some(p) = h.port {
        t["port"] = value(i64::from(p));
    }
    if let Some(u) = &h.user {
        t["user"] = value(u.as_str());
    }
    if !h.identity_files.is_empty() {
        let mut files = Array::new();
        for p in &h.identity_files {
            let s = p.to_str().ok_or_else(|| ConfigError::InvalidHost {
                name: h.name.clone(),
                reason: format!("identity_files: {} is not UTF-8", p.display()),
            })?;
            files.push(s);
        }
        t["identity_files"] = value(files);
    }
    t["libvirt_uri"] = value(if h.libvirt_uri.is_empty() {
        default_libvirt_uri()
    } else {
        h.libvirt_uri.clone()
    });
    t["pool"] = value(if h.pool.is_empty() {
        default_pool()
    } else {
        h.pool.clone()
    });
    Ok(t)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over
/// `path`, so a reader sees the old file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ConfigError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(NEW_DIR_MODE)
        .create(&dir)
        .map_err(|e| write_err(&dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(
        ".{file_name}.{}.{:08x}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(NEW_FILE_MODE)
            .open(&tmp)?;
        // Set the mode explicitly: the umask applied to `mode` above.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        File::open(&dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(write_err(path, e));
    }
    Ok(())
}
