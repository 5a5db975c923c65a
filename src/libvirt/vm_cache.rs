//! Reading a host's VMs without reading them all each time: a host with
//! a thousand shut-off VMs must cost almost nothing when nothing changes.
//!
//! A shut-off domain is read again only when it is new, renamed, named by
//! a lifecycle event, or found running; a running one is always read (its
//! disks grow and jobs come and go without an event). Domains that need
//! reading are read by a few threads at once: libvirt's remote client
//! carries concurrent calls over one connection, so the round trips
//! through the SSH tunnel overlap instead of adding up.

use std::collections::{HashMap, HashSet};

use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::ErrorNumber;
use virt::sys;

use super::inventory::{InventoryError, vm_info};
use crate::model::{VmInfo, VmState};

/// Threads reading domains at once.
const READERS: usize = 4;

/// What the last read saw, by UUID.
#[derive(Default)]
pub struct VmCache {
    by_uuid: HashMap<String, VmInfo>,
}

/// Which domains must be read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fresh {
    /// Every one (the first read, a refresh the operator asked for, a host
    /// without lifecycle events).
    All,
    /// Those lifecycle events named, plus any that started or stopped.
    Named(HashSet<String>),
}

impl Fresh {
    pub fn none() -> Fresh {
        Fresh::Named(HashSet::new())
    }

    /// Adds a domain an event named (nothing to add to `All`).
    pub fn add(&mut self, name: String) {
        if let Fresh::Named(names) = self {
            names.insert(name);
        }
    }
}

fn is_active(state: VmState) -> bool {
    !matches!(state, VmState::ShutOff | VmState::Crashed)
}

impl VmCache {
    /// Every domain, sorted by name; reads only what `fresh` and the rules
    /// above require.
    pub fn read(&mut self, conn: &Connect, fresh: &Fresh) -> Result<Vec<VmInfo>, InventoryError> {
        let libvirt_version = conn.lib_version()?;
        let active: HashSet<String> = conn
            .list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)?
            .iter()
            .filter_map(|d| d.uuid_string().ok())
            .collect();
        let mut kept = Vec::new();
        let mut to_read = Vec::new();
        for dom in conn.list_all_domains(0)? {
            // Name and UUID come with the listing: no round trip.
            let (uuid, name) = (dom.uuid_string()?, dom.name()?);
            let cached = self.by_uuid.get(&uuid).filter(|v| {
                v.name == name
                    && !is_active(v.state)
                    && !active.contains(&uuid)
                    && match fresh {
                        Fresh::All => false,
                        Fresh::Named(names) => !names.contains(&name),
                    }
            });
            match cached {
                Some(v) => kept.push((uuid, v.clone())),
                None => to_read.push((uuid, dom)),
            }
        }
        let read = read_all(conn, to_read, libvirt_version)?;
        self.by_uuid = kept.into_iter().chain(read).collect();
        let mut vms: Vec<VmInfo> = self.by_uuid.values().cloned().collect();
        vms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(vms)
    }
}

/// Reads `doms` on up to [`READERS`] threads; a domain undefined meanwhile
/// is left out.
fn read_all(
    conn: &Connect,
    doms: Vec<(String, Domain)>,
    libvirt_version: u32,
) -> Result<Vec<(String, VmInfo)>, InventoryError> {
    let per = doms.len().div_ceil(READERS).max(8);
    let chunks: Vec<&[(String, Domain)]> = doms.chunks(per).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let mut out = Vec::with_capacity(chunk.len());
                    for (uuid, dom) in chunk {
                        match vm_info(conn, dom, libvirt_version) {
                            Ok(vm) => out.push((uuid.clone(), vm)),
                            Err(InventoryError::Libvirt(e))
                                if e.code().is(ErrorNumber::NoDomain) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            match h.join() {
                Ok(r) => all.extend(r?),
                Err(_) => return Err(InventoryError::Panicked),
            }
        }
        Ok(all)
    })
}
