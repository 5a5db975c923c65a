//! Devices other than disks: NICs, graphics, channels, character devices.

use super::error::RewriteError;
use super::plan::MacPolicy;
use super::report::{Change, RewriteReport};
use crate::libvirt::domain::DomainDef;
use crate::xml::Element;
use rand::RngCore;
use std::collections::BTreeSet;

/// QEMU/KVM's locally administered OUI, the one libvirt and virt-clone use.
const MAC_PREFIX: [u8; 3] = [0x52, 0x54, 0x00];
/// Collisions in 2^24 addresses are rare; a stuck RNG must not loop forever.
const MAC_TRIES: usize = 64;

pub(super) fn interfaces(
    devices: &mut Element,
    domain: &DomainDef,
    policy: MacPolicy,
    rng: &mut dyn RngCore,
    report: &mut RewriteReport,
) -> Result<(), RewriteError> {
    let mut taken: BTreeSet<String> = domain.macs().into_iter().collect();
    // `domain` was read from this tree: its NICs are these elements, in order.
    for (iface, nic) in devices.children_named_mut("interface").zip(&domain.nics) {
        if policy == MacPolicy::Fresh {
            if let Some(mac) = iface.child_mut("mac") {
                let fresh = fresh_mac(&taken, rng)?;
                taken.insert(fresh.clone());
                let from = mac.attr("address").unwrap_or_default();
                mac.set_attr("address", &fresh);
                report.changes.push(Change::MacAddress { from, to: fresh });
            }
        }
        drop_interface_target(iface, report);
        if nic.kind == "direct" {
            report.warnings.push(format!(
                "interface on host device {} (macvtap) must exist on the destination",
                nic.source.as_deref().unwrap_or("?")
            ));
        }
    }
    if !domain.nics.is_empty() && policy == MacPolicy::Preserve {
        report.warnings.push(
            "MAC addresses preserved: the clone and the source must never share a network".into(),
        );
    }
    Ok(())
}

fn fresh_mac(taken: &BTreeSet<String>, rng: &mut dyn RngCore) -> Result<String, RewriteError> {
    for _ in 0..MAC_TRIES {
        let mut tail = [0u8; 3];
        rng.fill_bytes(&mut tail);
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            MAC_PREFIX[0], MAC_PREFIX[1], MAC_PREFIX[2], tail[0], tail[1], tail[2]
        );
        if !taken.contains(&mac) {
            return Ok(mac);
        }
    }
    Err(RewriteError::MacExhausted(MAC_TRIES))
}

/// The tap device name belongs to the source host; libvirt picks a new one.
/// An unmanaged tap (`managed='no'`) is the operator's device: kept, warned.
fn drop_interface_target(iface: &mut Element, report: &mut RewriteReport) {
    let Some(target) = iface.child_mut("target") else {
        return;
    };
    if target.attr("managed").as_deref() == Some("no") {
        report.warnings.push(format!(
            "unmanaged tap device {} kept: it must exist on the destination",
            target.attr("dev").unwrap_or_default()
        ));
        return;
    }
    let Some(dev) = target.remove_attr("dev") else {
        return;
    };
    if target.attrs().is_empty() && target.elements().next().is_none() {
        iface.remove_elements_where(|e| e.name() == "target");
    }
    report.changes.push(Change::InterfaceTargetDropped { dev });
}

/// Fixed ports would clash with whatever uses them on the destination:
/// autoport, as virt-clone does. A fixed websocket port becomes automatic
/// (`-1`) rather than disappearing, which would disable it.
pub(super) fn graphics(devices: &mut Element, report: &mut RewriteReport) {
    for g in devices.children_named_mut("graphics") {
        let kind = g.attr("type").unwrap_or_default();
        if !matches!(kind.as_str(), "vnc" | "spice" | "rdp") {
            continue;
        }
        let fixed = |v: Option<String>| v.is_some_and(|p| p != "-1");
        let needs = g.attr("autoport").as_deref() == Some("no")
            || fixed(g.attr("port"))
            || fixed(g.attr("tlsPort"))
            || fixed(g.attr("websocket"));
        if needs {
            let mut reset = Vec::new();
            if g.attr("autoport").as_deref() != Some("yes") {
                g.set_attr("autoport", "yes");
                reset.push("autoport".to_string());
            }
            for attr in ["port", "tlsPort"] {
                if g.remove_attr(attr).is_some() {
                    reset.push(attr.to_string());
                }
            }
            if fixed(g.attr("websocket")) {
                g.set_attr("websocket", "-1");
                reset.push("websocket".to_string());
            }
            report.changes.push(Change::GraphicsAutoport {
                kind: kind.clone(),
                reset,
            });
        }
        for address in listen_addresses(g) {
            if !matches!(
                address.as_str(),
                "0.0.0.0" | "::" | "127.0.0.1" | "::1" | "localhost"
            ) {
                report.warnings.push(format!(
                    "{kind} graphics listens on {address}, an address of the source host"
                ));
            }
        }
    }
}

fn listen_addresses(g: &Element) -> BTreeSet<String> {
    g.attr("listen")
        .into_iter()
        .chain(g.children_named("listen").filter_map(|l| l.attr("address")))
        .filter(|a| !a.is_empty())
        .collect()
}

/// A unix channel whose socket path names its target (the guest agent's
/// `…/domain-7-web01/org.qemu.guest_agent.0`) gets a new libvirt-made path,
/// as virt-clone does.
pub(super) fn channels(devices: &mut Element, report: &mut RewriteReport) {
    for ch in devices.children_named_mut("channel") {
        if ch.attr("type").as_deref() != Some("unix") {
            continue;
        }
        let Some(name) = ch.child("target").and_then(|t| t.attr("name")) else {
            continue;
        };
        let Some(source) = ch.child_mut("source") else {
            continue;
        };
        match source.attr("path") {
            Some(path) if !name.is_empty() && path.contains(&name) => {
                source.remove_attr("path");
                report
                    .changes
                    .push(Change::ChannelSocketCleared { name, path });
            }
            _ => {}
        }
    }
}

/// `type='file'` serial, console and parallel devices and every `<log
/// file=…>` get files named after the clone.
pub(super) fn char_files(
    devices: &mut Element,
    old_name: &str,
    new_name: &str,
    report: &mut RewriteReport,
) {
    for dev in devices.elements_mut() {
        let kind = dev.name().to_string();
        if !matches!(kind.as_str(), "serial" | "console" | "parallel" | "channel") {
            continue;
        }
        if kind != "channel" && dev.attr("type").as_deref() == Some("file") {
            if let Some(source) = dev.child_mut("source") {
                rename_attr(source, "path", &kind, old_name, new_name, report);
            }
        }
        if let Some(log) = dev.child_mut("log") {
            rename_attr(
                log,
                "file",
                &format!("{kind} log"),
                old_name,
                new_name,
                report,
            );
        }
    }
}

fn rename_attr(
    el: &mut Element,
    attr: &str,
    device: &str,
    old_name: &str,
    new_name: &str,
    report: &mut RewriteReport,
) {
    let Some(from) = el.attr(attr).filter(|p| !p.is_empty()) else {
        return;
    };
    let to = clone_file_path(&from, old_name, new_name);
    el.set_attr(attr, &to);
    report.changes.push(Change::CharFileRenamed {
        device: device.to_string(),
        from,
        to,
    });
}

/// Names a file for the clone: the old VM name in the file name becomes the
/// new one; a file name without it gets `-<new name>` before its extension.
/// The directory is kept. The name counts only where it stands on its own
/// (not inside a longer word): `test-latest.log` of VM `test` becomes
/// `NEW-latest.log`, never `NEW-laNEW.log`.
pub fn clone_file_path(path: &str, old_name: &str, new_name: &str) -> String {
    let (dir, file) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    if let Some(renamed) = replace_name(file, old_name, new_name) {
        return format!("{dir}{renamed}");
    }
    // Like virt-clone, a "suffix" longer than 7 characters is not an extension.
    let (stem, ext) = match file.rfind('.') {
        Some(i) if i > 0 && file.len() - i - 1 <= 7 => file.split_at(i),
        _ => (file, ""),
    };
    format!("{dir}{stem}-{new_name}{ext}")
}

/// `file` with every standalone occurrence of `old` (not touching a letter
/// or digit on either side) replaced by `new`; None when there is none.
fn replace_name(file: &str, old: &str, new: &str) -> Option<String> {
    if old.is_empty() {
        return None;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let (mut out, mut rest, mut found) = (String::new(), file, false);
    while let Some(i) = rest.find(old) {
        let before = rest[..i].chars().next_back().or(out.chars().next_back());
        let after = rest[i + old.len()..].chars().next();
        out.push_str(&rest[..i]);
        if word(before) || word(after) {
            out.push_str(old);
        } else {
            out.push_str(new);
            found = true;
        }
        rest = &rest[i + old.len()..];
    }
    out.push_str(rest);
    found.then_some(out)
}

/// Passed-through host devices must exist on the destination too.
pub(super) fn host_device_warnings(n: usize, report: &mut RewriteReport) {
    if n > 0 {
        report.warnings.push(format!(
            "{n} host device(s) passed through: they must exist on the destination"
        ));
    }
}
