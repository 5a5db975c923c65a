//! `kvm-clone hosts`: one line per configured host.

use super::{size, table};
use crate::model::{HostView, PoolInfo};
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
                    i.pools.iter().map(pool_free).collect::<Vec<_>>().join(", "),
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

/// "default 59.2 GiB free", with libvirt's figure when it claims more.
fn pool_free(p: &PoolInfo) -> String {
    let mut s = format!("{} {} free", p.name, size(p.usable_bytes));
    if let Some(claimed) = p.libvirt_overstates() {
        s.push_str(&format!(" (libvirt says {})", size(claimed)));
    }
    s
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnState, HostInfo};

    const GIB: u64 = 1 << 30;

    /// Issue 14: `hosts` showed libvirt's free space, not what a copy can use.
    #[test]
    fn pools_show_the_usable_free_space_and_libvirt_s_when_it_differs() {
        let mut pool = PoolInfo {
            name: "default".into(),
            active: true,
            capacity_bytes: 252 * GIB,
            allocation_bytes: 31 * GIB,
            available_bytes: 221 * GIB,
            path: Some("/var/lib/libvirt/images".into()),
            fs_available_bytes: None,
            usable_bytes: 0,
        };
        pool.set_fs_available(Some(59 * GIB));
        let host = HostView {
            name: "beta".into(),
            endpoint: "root@beta:22".into(),
            state: ConnState::Up,
            info: Some(HostInfo {
                hostname: "beta".into(),
                libvirt_version: "9.0.0".into(),
                qemu_version: "7.2.0".into(),
                cpus: 2,
                memory_total_bytes: 8 * GIB,
                memory_free_bytes: 4 * GIB,
                pools: vec![pool],
            }),
        };
        let text = render_table(std::slice::from_ref(&host));
        assert!(
            text.contains("default 59 GiB free (libvirt says 221 GiB)"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render_json(&[host]).unwrap()).unwrap();
        let p = &json["hosts"][0]["info"]["pools"][0];
        assert_eq!(p["usable_bytes"], 59 * GIB);
        assert_eq!(p["fs_available_bytes"], 59 * GIB);
        assert_eq!(p["available_bytes"], 221 * GIB, "kept as it was");
        assert_eq!(p["path"], "/var/lib/libvirt/images");
    }
}
