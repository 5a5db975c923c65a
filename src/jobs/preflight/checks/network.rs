//! Every network, bridge and host interface the VM's NICs use exists on the
//! destination. `type='user'` needs nothing.

use super::{Ctx, list};
use crate::jobs::preflight::probe::{Probe, valid_ifname};
use crate::model::NicInfo;
use crate::model::checklist::{CheckItem, ids};

/// NIC kinds checked elsewhere or needing nothing on the host.
const HANDLED: &[&str] = &["network", "bridge", "direct", "user"];

fn nic_label(i: usize, nic: &NicInfo) -> String {
    match &nic.mac {
        Some(mac) => format!("NIC {} ({mac})", i + 1),
        None => format!("NIC {}", i + 1),
    }
}

pub(super) fn networks(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Networks";
    let host = &ctx.facts.dest_host;
    let known = &ctx.facts.dest.networks;
    let mut missing = Vec::new();
    let mut inactive = Vec::new();
    let mut fine = Vec::new();
    let mut unchecked = Vec::new();
    for (i, nic) in ctx.vm.nics.iter().enumerate() {
        match (nic.kind.as_str(), &nic.source) {
            ("network", Some(net)) => match known.iter().find(|n| &n.name == net) {
                None => missing.push(format!("{} uses network {net:?}", nic_label(i, nic))),
                Some(n) if !n.active => inactive.push(net.clone()),
                Some(_) => fine.push(net.clone()),
            },
            ("network", None) => {
                missing.push(format!(
                    "{} has type network but names none",
                    nic_label(i, nic)
                ));
            }
            (kind, _) if !HANDLED.contains(&kind) => {
                unchecked.push(format!("{} (type {kind})", nic_label(i, nic)));
            }
            _ => {}
        }
    }
    fine.dedup();
    inactive.dedup();
    let names: Vec<String> = known.iter().map(|n| n.name.clone()).collect();
    if !missing.is_empty() {
        return CheckItem::fail(
            ids::NETWORKS,
            TITLE,
            format!("{}, which does not exist on {host}", missing.join("; ")),
            format!(
                "define the network on {host} (`virsh net-define`, `net-start`) or change the \
                 VM's interface; networks on {host}: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    list(&names)
                }
            ),
        );
    }
    if !inactive.is_empty() || !unchecked.is_empty() {
        let mut msg = Vec::new();
        if !inactive.is_empty() {
            msg.push(format!(
                "network {} exists on {host} but is not active: the clone will not start until it is",
                list(&inactive)
            ));
        }
        if !unchecked.is_empty() {
            msg.push(format!(
                "{} cannot be checked by kvm-clone",
                list(&unchecked)
            ));
        }
        return CheckItem::warn(
            ids::NETWORKS,
            TITLE,
            msg.join("; "),
            format!(
                "start inactive networks on {host} (`virsh net-start NAME`, `net-autostart NAME`); \
                 check the other interfaces by hand"
            ),
        );
    }
    let msg = if fine.is_empty() {
        "the VM uses no libvirt network".to_string()
    } else {
        format!("{} active on {host}", list(&fine))
    };
    CheckItem::pass(ids::NETWORKS, TITLE, msg)
}

pub(super) fn bridges(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Bridges and host interfaces";
    let host = &ctx.facts.dest_host;
    let probes = &ctx.facts.dest.probes;
    let mut missing = Vec::new();
    let mut unknown = Vec::new();
    let mut fine = Vec::new();
    for (i, nic) in ctx.vm.nics.iter().enumerate() {
        let (probe, what) = match (nic.kind.as_str(), &nic.source) {
            ("bridge", Some(br)) => (Probe::Bridge(br.clone()), format!("bridge {br}")),
            ("direct", Some(dev)) => (Probe::NetDev(dev.clone()), format!("interface {dev}")),
            ("bridge" | "direct", None) => {
                missing.push(format!("{} names no host device", nic_label(i, nic)));
                continue;
            }
            _ => continue,
        };
        let name = match &probe {
            Probe::Bridge(n) | Probe::NetDev(n) => n.clone(),
            _ => String::new(),
        };
        if !valid_ifname(&name) {
            missing.push(format!(
                "{} uses {what:?}, which is not a valid interface name",
                nic_label(i, nic)
            ));
            continue;
        }
        match probes.yes(&probe) {
            Some(true) => fine.push(what),
            Some(false) => missing.push(format!("{} uses {what}", nic_label(i, nic))),
            None => unknown.push(what),
        }
    }
    if !missing.is_empty() {
        return CheckItem::fail(
            ids::BRIDGES,
            TITLE,
            format!("{}, missing on {host}", missing.join("; ")),
            format!(
                "create the bridge on {host} (same name) or change the VM's interface; \
                 `ip -br link` on {host} lists what exists"
            ),
        );
    }
    if !unknown.is_empty() {
        return CheckItem::warn(
            ids::BRIDGES,
            TITLE,
            format!("could not check {} on {host}", list(&unknown)),
            "check them by hand before starting the clone",
        );
    }
    fine.dedup();
    let msg = if fine.is_empty() {
        "the VM uses no bridge or host interface".to_string()
    } else {
        format!("{} present on {host}", list(&fine))
    };
    CheckItem::pass(ids::BRIDGES, TITLE, msg)
}
