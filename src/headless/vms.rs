//! `kvm-clone vms`: the VMs of one or every host.

use super::{size, table};
use crate::model::VmInfo;
use serde::Serialize;

pub fn render_table(vms: &[(String, Vec<VmInfo>)]) -> String {
    let mut rows = Vec::new();
    for (host, list) in vms {
        for vm in list {
            let alloc: u64 = vm.disks.iter().map(|d| d.allocation_bytes).sum();
            let cap: u64 = vm.disks.iter().map(|d| d.capacity_bytes).sum();
            rows.push(vec![
                host.clone(),
                vm.name.clone(),
                vm.state.label().to_string(),
                vm.vcpus.to_string(),
                size(vm.memory_bytes),
                format!("{} ({}/{})", vm.disks.len(), size(alloc), size(cap)),
                vm.nics.len().to_string(),
                if vm.live_clone.possible { "yes" } else { "no" }.to_string(),
            ]);
        }
    }
    table::render(
        &[
            "HOST",
            "NAME",
            "STATE",
            "VCPUS",
            "MEMORY",
            "DISKS (ALLOC/CAP)",
            "NICS",
            "LIVE CLONE",
        ],
        &rows,
    )
}

#[derive(Serialize)]
struct HostVms<'a> {
    host: &'a str,
    vms: Vec<VmInfo>,
}

/// JSON as documented in docs/json.md: `{"hosts": [{"host": "...", "vms": [...]}]}`.
pub fn render_json(vms: &[(String, Vec<VmInfo>)]) -> Result<String, serde_json::Error> {
    #[derive(Serialize)]
    struct All<'a> {
        hosts: Vec<HostVms<'a>>,
    }
    let hosts = vms
        .iter()
        .map(|(h, v)| HostVms {
            host: h,
            // The domain XML is for the detail view, not for scripts.
            vms: v
                .iter()
                .map(|vm| VmInfo {
                    xml: String::new(),
                    ..vm.clone()
                })
                .collect(),
        })
        .collect();
    serde_json::to_string_pretty(&All { hosts })
}
