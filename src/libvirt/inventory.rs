//! Host and VM facts read from an open connection. Runs on a worker thread
//! (every call here blocks on the network).

use super::domain::{Disk, DiskSource, DomainXmlError, parse_domain};
use super::ffi;
use super::live_clone::{self, ActiveJob, version_string};
use super::pool_xml::parse_pool;
use crate::model::{DiskInfo, HostInfo, PoolInfo, VmInfo, VmState};
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::error::{Error, ErrorNumber};
use virt::sys;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error(transparent)]
    Libvirt(#[from] Error),
    #[error("a domain reader thread panicked")]
    Panicked,
    #[error("domain {domain}: {source}")]
    Xml {
        domain: String,
        #[source]
        source: DomainXmlError,
    },
}

/// Host facts and every domain, defined or transient, sorted by name;
/// domains `cache` holds and `fresh` does not name are not read again.
pub fn read(
    conn: &Connect,
    cache: &mut super::vm_cache::VmCache,
    fresh: &super::vm_cache::Fresh,
) -> Result<(HostInfo, Vec<VmInfo>), InventoryError> {
    let host = host_info(conn)?;
    let vms = cache.read(conn, fresh)?;
    Ok((host, vms))
}

pub fn host_info(conn: &Connect) -> Result<HostInfo, Error> {
    let node = conn.node_info()?;
    let mut pools = Vec::new();
    for pool in conn.list_all_storage_pools(0)? {
        match pool_info(&pool) {
            Ok(p) => pools.push(p),
            // Undefined between the listing and the lookup.
            Err(e) if e.code().is(ErrorNumber::NoStoragePool) => {}
            Err(e) => return Err(e),
        }
    }
    pools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(HostInfo {
        hostname: conn.hostname()?,
        libvirt_version: version_string(conn.lib_version()?),
        qemu_version: version_string(conn.hyp_version()?),
        cpus: node.cpus,
        memory_total_bytes: node.memory.saturating_mul(1024),
        memory_free_bytes: conn.free_memory()?,
        pools,
    })
}

/// libvirt's view of a pool; the filesystem's free space is measured over
/// SSH afterwards (see [`PoolInfo::set_fs_available`]).
fn pool_info(pool: &virt::storage_pool::StoragePool) -> Result<PoolInfo, Error> {
    let info = pool.info()?;
    let name = pool.name()?;
    // Unreadable XML only leaves the directory unknown: libvirt's figure stays.
    let path = match parse_pool(&pool.xml_desc(0)?) {
        Ok(xml) => xml.dir().map(str::to_string),
        Err(e) => {
            tracing::warn!(pool = %name, error = %e, "malformed pool XML");
            None
        }
    };
    let mut p = PoolInfo {
        name,
        active: pool.is_active()?,
        capacity_bytes: info.capacity,
        allocation_bytes: info.allocation,
        available_bytes: info.available,
        path,
        fs_available_bytes: None,
        usable_bytes: 0,
    };
    p.set_fs_available(None);
    Ok(p)
}

/// Every domain, read afresh, sorted by name.
pub fn list_vms(conn: &Connect) -> Result<Vec<VmInfo>, InventoryError> {
    super::vm_cache::VmCache::default().read(conn, &super::vm_cache::Fresh::All)
}

/// One domain; `libvirt_version` is the host's (from `Connect::lib_version`).
pub fn vm_info(
    conn: &Connect,
    dom: &Domain,
    libvirt_version: u32,
) -> Result<VmInfo, InventoryError> {
    let name = dom.name()?;
    // Domain::state() ignores errors in virt 0.5; info() does not.
    let info = dom.info()?;
    let state = vm_state(info.state);
    let xml = dom.xml_desc(0)?;
    let parsed = parse_domain(&xml).map_err(|source| InventoryError::Xml {
        domain: name.clone(),
        source,
    })?;
    let disks = parsed
        .disks
        .iter()
        .map(|d| disk_info(conn, dom, d))
        .collect::<Vec<_>>();
    // The state says it without a round trip, but for the odd ones.
    let active = match state {
        VmState::ShutOff => false,
        VmState::Running | VmState::Paused | VmState::Suspended => true,
        VmState::Crashed | VmState::Other => dom.is_active()?,
    };
    let job = if active {
        active_job(dom)
    } else {
        ActiveJob::None
    };
    let live_clone = live_clone::verdict(state, libvirt_version, &disks, &job);
    Ok(VmInfo {
        uuid: dom.uuid_string()?,
        name,
        state,
        vcpus: info.nr_virt_cpu,
        memory_bytes: info.memory.saturating_mul(1024),
        disks,
        nics: parsed.nics,
        live_clone,
        xml,
    })
}

pub fn vm_state(state: virt::domain::DomainStateEnum) -> VmState {
    match state {
        Enum::Known(DomainState::Running | DomainState::Blocked) => VmState::Running,
        Enum::Known(DomainState::Paused) => VmState::Paused,
        Enum::Known(DomainState::Shutoff) => VmState::ShutOff,
        Enum::Known(DomainState::Crashed) => VmState::Crashed,
        Enum::Known(DomainState::PMSuspended) => VmState::Suspended,
        // Shutdown means "shutting down"; NoState is transient.
        _ => VmState::Other,
    }
}

/// Sizes come from the domain (qemu's view, works whether the VM runs or
/// not); if libvirt cannot say, from the storage volume; else zero.
fn disk_info(conn: &Connect, dom: &Domain, disk: &Disk) -> DiskInfo {
    let source = match &disk.source {
        DiskSource::Volume { pool, volume } => conn
            .lookup_storage_pool_by_name(pool)
            .and_then(|p| p.lookup_storage_vol_by_name(volume))
            .and_then(|v| v.path())
            .ok(),
        other => other.path().map(str::to_string),
    };
    let (allocation_bytes, capacity_bytes) = match (&disk.source, &source) {
        // No source, or a device (nvme, vhost-user) rather than an image.
        (DiskSource::Empty | DiskSource::Other(_), _) => (0, 0),
        _ => sizes(conn, dom, &disk.target, source.as_deref()),
    };
    DiskInfo {
        target: disk.target.clone(),
        device: disk.device.clone(),
        source,
        format: disk.format.clone(),
        readonly: disk.readonly,
        shareable: disk.shareable,
        allocation_bytes,
        capacity_bytes,
    }
}

fn sizes(conn: &Connect, dom: &Domain, target: &str, path: Option<&str>) -> (u64, u64) {
    match ffi::block_info(dom, target) {
        Ok(b) => return (b.allocation, b.capacity),
        Err(e) => tracing::debug!(%target, error = %e, "block info unavailable"),
    }
    path.and_then(|p| conn.lookup_storage_vol_by_path(p).ok())
        .and_then(|v| v.info().ok())
        .map_or((0, 0), |i| (i.allocation, i.capacity))
}

fn active_job(dom: &Domain) -> ActiveJob {
    match ffi::job_operation(dom) {
        Ok(None) => ActiveJob::None,
        Ok(Some(op)) if op == sys::VIR_DOMAIN_JOB_OPERATION_BACKUP as i32 => ActiveJob::Backup,
        Ok(Some(op)) => ActiveJob::Other(job_name(op).to_string()),
        Err(e) => {
            // Stats can fail on a domain that just stopped; the next refresh
            // sees the new state.
            tracing::debug!(error = %e, "job stats unavailable");
            ActiveJob::None
        }
    }
}

fn job_name(op: i32) -> &'static str {
    match u32::try_from(op).unwrap_or(u32::MAX) {
        sys::VIR_DOMAIN_JOB_OPERATION_START => "start",
        sys::VIR_DOMAIN_JOB_OPERATION_SAVE => "save",
        sys::VIR_DOMAIN_JOB_OPERATION_RESTORE => "restore",
        sys::VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN => "migration in",
        sys::VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT => "migration out",
        sys::VIR_DOMAIN_JOB_OPERATION_SNAPSHOT => "snapshot",
        sys::VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT => "snapshot revert",
        sys::VIR_DOMAIN_JOB_OPERATION_DUMP => "dump",
        sys::VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_DELETE => "snapshot delete",
        _ => "background",
    }
}
