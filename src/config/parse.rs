//! `parse`: TOML text to a checked [`Config`], every rejection placed at a
//! file:line:column. The text is read twice: once into toml's spanned tree
//! (syntax errors, and positions for our own checks), once through serde.

use super::validate::check_host;
use super::{Config, ConfigError, error::line_col};
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

type Node<'i> = Spanned<DeValue<'i>>;

/// Parses and checks a config file's text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let doc =
        DeTable::parse(text).map_err(|e| invalid(text, path, e.span(), e.message().into()))?;
    let doc = doc.get_ref();
    let config: Config = toml::from_str(text).map_err(|e| {
        let message = explain_serde_error(doc, e.span().as_ref(), e.message());
        invalid(text, path, e.span(), message)
    })?;
    check(&config, doc, text, path)?;
    Ok(config)
}

fn invalid(text: &str, path: &Path, span: Option<Range<usize>>, message: String) -> ConfigError {
    let (line, column) = match span {
        Some(s) => {
            let (l, c) = line_col(text, s.start);
            (l, Some(c))
        }
        None => (1, None),
    };
    ConfigError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Where in the document a span falls.
enum Place {
    Top,
    Host(usize),
    Table(String),
}

/// Adds the entry and field an error is about to toml's message, and lists
/// the expected fields without backticks.
fn explain_serde_error(doc: &DeTable<'_>, span: Option<&Range<usize>>, msg: &str) -> String {
    let (place, field) = match span {
        Some(s) => locate(doc, s),
        None => (Place::Top, None),
    };
    let where_ = describe(doc, &place);
    if msg.starts_with("unknown field") {
        let at = match place {
            Place::Top => where_.clone(),
            _ => format!("in {where_}"),
        };
        if let Some((head, expected)) = msg.split_once(", expected ") {
            return format!("{head} {at}; expected {}", expected.replace('`', ""));
        }
        return format!("{msg} {at}");
    }
    let msg = if field.as_deref() == Some("port") {
        msg.replace("expected u16", "expected a port number 1-65535")
    } else {
        msg.to_string()
    };
    match (place, field) {
        (Place::Top, Some(f)) => format!("{f}: {msg}"),
        (_, Some(f)) => format!("{f} in {where_}: {msg}"),
        (_, None) => format!("{where_}: {msg}"),
    }
}

fn describe(doc: &DeTable<'_>, place: &Place) -> String {
    match place {
        Place::Top => "at the top level".into(),
        Place::Table(t) => format!("[{t}]"),
        Place::Host(i) => host_label(doc, *i),
    }
}

/// `[[hosts]] entry "alpha"`, or `[[hosts]] entry #2` when it has no usable name.
fn host_label(doc: &DeTable<'_>, index: usize) -> String {
    let name = host_entry(doc, index)
        .and_then(|e| e.get_ref().as_table())
        .and_then(|t| t.get("name"))
        .and_then(|n| n.get_ref().as_str());
    match name {
        Some(n) if !n.is_empty() => format!("[[hosts]] entry {n:?}"),
        _ => format!("[[hosts]] entry #{}", index + 1),
    }
}

fn host_entry<'a, 'i>(doc: &'a DeTable<'i>, index: usize) -> Option<&'a Node<'i>> {
    doc.get("hosts")?.get_ref().as_array()?.get(index)
}

fn locate(doc: &DeTable<'_>, span: &Range<usize>) -> (Place, Option<String>) {
    for (key, value) in doc.iter() {
        let name = key.get_ref().to_string();
        match value.get_ref() {
            DeValue::Array(items) if name == "hosts" => {
                for (i, item) in items.iter().enumerate() {
                    if contains(&extent(item), span) {
                        return (Place::Host(i), field_in(item, span));
                    }
                }
            }
            DeValue::Table(_) if contains(&extent(value), span) => {
                return (Place::Table(name), field_in(value, span));
            }
            _ => {}
        }
        if contains(&key.span(), span) || contains(&extent(value), span) {
            return (Place::Top, Some(name));
        }
    }
    (Place::Top, None)
}

/// The key of `table` whose key or value holds `span`.
fn field_in(table: &Node<'_>, span: &Range<usize>) -> Option<String> {
    let t = table.get_ref().as_table()?;
    t.iter()
        .find(|(k, v)| contains(&k.span(), span) || contains(&extent(v), span))
        .map(|(k, _)| k.get_ref().to_string())
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.start < outer.end.max(outer.start + 1)
}

/// A node's span widened to its keys and values: a `[[hosts]]` table's own
/// span covers only its header.
fn extent(node: &Node<'_>) -> Range<usize> {
    let mut r = node.span();
    let mut widen = |s: Range<usize>| {
        r.start = r.start.min(s.start);
        r.end = r.end.max(s.end);
    };
    match node.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                widen(k.span());
                widen(extent(v));
            }
        }
        DeValue::Array(a) => {
            for v in a.iter() {
                widen(extent(v));
            }
        }
        _ => {}
    }
    r
}

/// Span of `field`'s value in host entry `index`, else of the entry itself.
fn host_span(doc: &DeTable<'_>, index: usize, field: Option<&str>) -> Option<Range<usize>> {
    let entry = host_entry(doc, index)?;
    let value = field.and_then(|f| entry.get_ref().as_table()?.get(f));
    Some(value.unwrap_or(entry).span())
}

/// The checks serde cannot express: values, duplicates, required either-or.
fn check(config: &Config, doc: &DeTable<'_>, text: &str, path: &Path) -> Result<(), ConfigError> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, host) in config.hosts.iter().enumerate() {
        if let Err(p) = check_host(host) {
            let label = host_label(doc, i);
            let message = match p.field {
                Some(f) => format!("{f} in {label}: {}", p.reason),
                None => format!("{label} {}", p.reason),
            };
            return Err(invalid(text, path, host_span(doc, i, p.field), message));
        }
        let span = host_span(doc, i, Some("name"));
        let line = span.as_ref().map_or(0, |s| line_col(text, s.start).0);
        let key = host.name.to_ascii_lowercase();
        if let Some((_, first_line)) = seen.iter().find(|(n, _)| *n == key) {
            let message = format!(
                "duplicate host name {:?} (first defined at line {first_line})",
                host.name
            );
            return Err(invalid(text, path, span, message));
        }
        seen.push((key, line));
    }
    if config.known_hosts.iter().any(|p| p.as_os_str().is_empty()) {
        let span = doc.get("known_hosts").map(|v| v.span());
        return Err(invalid(text, path, span, "known_hosts: empty path".into()));
    }
    if let Some(jobs) = &config.jobs {
        for (field, value) in [("per_host", jobs.per_host), ("max", jobs.max)] {
            if value == 0 {
                let span = doc
                    .get("jobs")
                    .and_then(|t| t.get_ref().as_table()?.get(field))
                    .map(|v| v.span());
                let message = format!("{field} in [jobs]: must be at least 1");
                return Err(invalid(text, path, span, message));
            }
        }
    }
    check_schedules(config, doc, text, path)?;
    if let Some(email) = config.notify.as_ref().and_then(|n| n.email.as_ref())
        && let Err((field, why)) = super::notify::check(email)
    {
        let span = doc
            .get("notify")
            .and_then(|n| n.get_ref().as_table()?.get("email"))
            .and_then(|e| e.get_ref().as_table()?.get(field))
            .map(|v| v.span());
        let message = format!("{field} in [notify.email]: {why}");
        return Err(invalid(text, path, span, message));
    }
    if let Some(api) = &config.api {
        let span = |field: &str| {
            doc.get("api")
                .and_then(|t| t.get_ref().as_table()?.get(field))
                .map(|v| v.span())
        };
        if !api.listen.ip().is_loopback() && !api.allow_remote {
            let message = format!(
                "listen in [api]: {} is not a loopback address, and the API is plain HTTP; \
                 use 127.0.0.1, or set allow_remote = true behind a TLS proxy",
                api.listen
            );
            return Err(invalid(text, path, span("listen"), message));
        }
        if api.token_file.as_os_str().is_empty() {
            let message = "token_file in [api]: empty path".to_string();
            return Err(invalid(text, path, span("token_file"), message));
        }
    }
    if let Some((action, _)) = config.keys.iter().find(|(a, _)| a.trim().is_empty()) {
        let span = doc.get("keys").map(extent);
        let message = format!("[keys]: empty action name {action:?}");
        return Err(invalid(text, path, span, message));
    }
    Ok(())
}

/// `[[schedules]]` entries: each one's own checks, then unique names.
fn check_schedules(
    config: &Config,
    doc: &DeTable<'_>,
    text: &str,
    path: &Path,
) -> Result<(), ConfigError> {
    let hosts: Vec<&str> = config.hosts.iter().map(|h| h.name.as_str()).collect();
    let entry = |i: usize| doc.get("schedules")?.get_ref().as_array()?.get(i);
    let span = |i: usize, field: &str| {
        let e = entry(i)?;
        let value = e.get_ref().as_table().and_then(|t| t.get(field));
        Some(value.map_or_else(|| extent(e), |v| v.span()))
    };
    for (i, s) in config.schedules.iter().enumerate() {
        let label = format!("[[schedules]] entry {:?}", s.name);
        if let Err(p) = super::schedule::check(s, &hosts) {
            let message = format!("{} in {label}: {}", p.field, p.reason);
            return Err(invalid(text, path, span(i, p.field), message));
        }
        if config.schedules[..i].iter().any(|o| o.name == s.name) {
            let message = format!("duplicate schedule name {:?}", s.name);
            return Err(invalid(text, path, span(i, "name"), message));
        }
    }
    Ok(())
}
