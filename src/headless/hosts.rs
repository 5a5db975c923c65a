//! `kvm-clone hosts`: one line per configured host.

use super::{size, table};
use crate::model::HostView;
use serde::Serialize;

pub fn render_table(hosts: &[HostView]) -> String {
    let rows: Vec<Vec<String>> = hosts
        .iter()
        .map(|h| {
            let (libvirt, qemu, cpus, mem, pools) = match &h.info {
                Some(i) => (
                    i.libvirt_version.clone(),
                    i.qemu_version.clone(),
                    i.cpus.to_string(),
                    format!(
                        "{}/{}",
                        size(i.memory_free_bytes),
                        size(i.memory_total_bytes)
                    ),
                    i.pools
                        .iter()
                        .map(|p| format!("{} {} free", p.name, size(p.available_bytes)))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                None => Default::default(),
            };
            let state = match h.state.reason() {
                Some(r) => format!("{}: {}", h.state.label(), first_line(r)),
                None => h.state.label().to_string(),
            };
            vec![
                h.name.clone(),
                h.endpoint.clone(),
                state,
                libvirt,
                qemu,
                cpus,
                mem,
                pools,
            ]
        })
        .collect();
    table::render(
        &[
            "NAME",
            "ENDPOINT",
            "STATE",
            "LIBVIRT",
            "QEMU",
            "CPUS",
            "MEM FREE/TOTAL",
            "POOLS",
        ],
        &rows,
    )
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim()
}

#[derive(Serialize)]
struct HostsJson<'a> {
    hosts: &'a [HostView],
}

/// JSON as documented in docs/json.md: `{"hosts": [...]}`.
pub fn render_json(hosts: &[HostView]) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(&HostsJson { hosts })
}
