//! Everything the checks look at, gathered from both hosts by
//! [`super::gather`]. Plain data, so tests build it from fixtures.

use super::probe::ProbeResults;
use crate::model::VmInfo;

#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Host names as configured, for messages.
    pub source_host: String,
    pub dest_host: String,
    pub source: SourceFacts,
    pub dest: DestFacts,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceFacts {
    /// libvirt's encoding: major × 1 000 000 + minor × 1000 + release.
    pub libvirt_version: u32,
    /// None: no domain of that name on the source host.
    pub vm: Option<VmInfo>,
    /// The inventory could not read the domain (bad XML): why.
    pub vm_error: Option<String>,
    /// Domain capabilities XML on the source for the VM's emulator, arch,
    /// machine and type; Err holds libvirt's message. None without a VM.
    pub domcaps: Option<Result<String, String>>,
}

/// Sums over the destination's running domains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunningLoad {
    pub domains: u32,
    /// Maximum memory of each running domain, summed.
    pub memory_bytes: u64,
    pub vcpus: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFacts {
    pub name: String,
    pub active: bool,
    /// `dir`, `fs`, `netfs`, `logical`, …
    pub pool_type: String,
    pub target_path: Option<String>,
    pub capacity_bytes: u64,
    /// As libvirt reports it (may include root-reserved blocks).
    pub available_bytes: u64,
    /// Free space for writers of the target directory, from `statvfs` over SSH.
    pub fs_available_bytes: Option<u64>,
}

impl PoolFacts {
    /// The smaller of libvirt's and the filesystem's view.
    pub fn usable_bytes(&self) -> u64 {
        crate::model::usable_free(self.available_bytes, self.fs_available_bytes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkFact {
    pub name: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DestFacts {
    pub libvirt_version: u32,
    pub cpus: u32,
    pub memory_bytes: u64,
    pub running: RunningLoad,
    /// A domain with the new name exists (running or not).
    pub name_taken: bool,
    /// None: no pool of that name.
    pub pool: Option<PoolFacts>,
    pub networks: Vec<NetworkFact>,
    /// Domain capabilities for the VM's emulator, arch, machine and type;
    /// Err holds libvirt's refusal ("machine … is not supported …"). None
    /// when there was no VM to ask about.
    pub domcaps: Option<Result<String, String>>,
    /// Planned destination paths that libvirt already knows as volumes.
    pub existing_volumes: Vec<String>,
    pub probes: ProbeResults,
}
