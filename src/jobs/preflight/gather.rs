//! Fact gathering: libvirt calls on each host's worker thread (never on the
//! runtime) and one SSH round trip to the destination for what libvirt does
//! not know. Read-only on both hosts: lookups, listings, capability queries,
//! a pool refresh, `test`/`stat` over SSH.

use super::derive::{self, Derived};
use super::error::ValidationError;
use super::facts::{DestFacts, Facts, NetworkFact, PoolFacts, RunningLoad, SourceFacts};
use super::probe;
use super::request::ValidationRequest;
use crate::libvirt::HostWorker;
use crate::libvirt::domain::parse_domain;
use crate::libvirt::inventory::{self, InventoryError};
use crate::libvirt::pool_xml::{PoolXml, parse_pool};
use crate::model::VmInfo;
use crate::transport::Session;
use virt::connect::Connect;
use virt::error::{Error, ErrorNumber};
use virt::sys;

/// Reads everything the checks need. Fails only when a host cannot be
/// asked at all (connection lost, SSH refused); a missing VM, pool or
/// network is a fact, not an error.
pub async fn gather(
    source: &HostWorker,
    dest: &HostWorker,
    dest_ssh: &Session,
    req: &ValidationRequest,
) -> Result<Facts, ValidationError> {
    let src_err = |e| ValidationError::Source {
        host: source.host().to_string(),
        source: e,
    };
    let vm_name = req.vm.clone();
    let source_facts = source
        .call(move |c| read_source(c, &vm_name))
        .await
        .map_err(src_err)?;
    gather_dest(source_facts, source.host(), dest, dest_ssh, req).await
}

/// The destination's facts for a source known already: a VM read from a
/// host, or one described by a snapshot (restore). Read-only.
pub async fn gather_dest(
    source_facts: SourceFacts,
    source_host: &str,
    dest: &HostWorker,
    dest_ssh: &Session,
    req: &ValidationRequest,
) -> Result<Facts, ValidationError> {
    let dst_err = |e| ValidationError::Dest {
        host: dest.host().to_string(),
        source: e,
    };
    let caps_query = source_facts
        .vm
        .as_ref()
        .and_then(|vm| CapsQuery::of(&vm.xml));
    let (new_name, pool_name) = (req.new_name.clone(), req.dest_pool.clone());
    let mut dest_facts = dest
        .call(move |c| read_dest(c, &new_name, &pool_name, caps_query.as_ref()))
        .await
        .map_err(dst_err)?;

    // Probes first: the pool's real free space comes from them too.
    if let Some(vm) = &source_facts.vm {
        let derived: Derived = derive::derive(req, vm, dest_facts.pool.as_ref());
        let probes = derive::probes(&derived, vm, dest_facts.pool.as_ref());
        let paths = match &derived.plan {
            Some(Ok(plan)) => plan.paths(),
            _ => Vec::new(),
        };
        let (volumes, answers) = tokio::join!(
            dest.call(move |c| known_volumes(c, &paths)),
            probe::run(dest_ssh, &probes)
        );
        dest_facts.existing_volumes = volumes.map_err(dst_err)?;
        dest_facts.probes = answers.map_err(|e| ValidationError::Probe {
            host: dest.host().to_string(),
            source: e,
        })?;
    } else if let Some(dir) = dest_facts.pool.as_ref().and_then(derive::pool_dir) {
        let probes = [probe::Probe::FreeSpace(dir.to_string())];
        dest_facts.probes =
            probe::run(dest_ssh, &probes)
                .await
                .map_err(|e| ValidationError::Probe {
                    host: dest.host().to_string(),
                    source: e,
                })?;
    }
    if let Some(pool) = dest_facts.pool.as_mut() {
        if let Some(dir) = derive::pool_dir(pool).map(str::to_string) {
            pool.fs_available_bytes = dest_facts.probes.bytes(&probe::Probe::FreeSpace(dir));
        }
    }

    Ok(Facts {
        source_host: source_host.to_string(),
        dest_host: dest.host().to_string(),
        source: source_facts,
        dest: dest_facts,
    })
}

struct CapsQuery {
    emulator: Option<String>,
    arch: Option<String>,
    machine: Option<String>,
    virt_type: String,
}

impl CapsQuery {
    /// The capabilities to ask for a domain's XML; None when it is unreadable.
    fn of(xml: &str) -> Option<Self> {
        let d = parse_domain(xml).ok()?;
        Some(CapsQuery {
            emulator: d.emulator,
            arch: d.arch,
            machine: d.machine,
            virt_type: d.virt_type,
        })
    }
}

fn domcaps(conn: &Connect, q: &CapsQuery) -> Result<String, String> {
    conn.domain_capabilities(
        q.emulator.as_deref(),
        q.arch.as_deref(),
        q.machine.as_deref(),
        Some(&q.virt_type),
        0,
    )
    .map_err(|e| e.message().to_string())
}

fn read_source(conn: &Connect, vm: &str) -> Result<SourceFacts, Error> {
    let libvirt_version = conn.lib_version()?;
    let mut facts = SourceFacts {
        libvirt_version,
        vm: None,
        vm_error: None,
        domcaps: None,
    };
    let dom = match conn.lookup_domain_by_name(vm) {
        Ok(d) => d,
        Err(e) if e.code().is(ErrorNumber::NoDomain) => return Ok(facts),
        Err(e) => return Err(e),
    };
    let info: VmInfo = match inventory::vm_info(conn, &dom, libvirt_version) {
        Ok(i) => i,
        Err(InventoryError::Libvirt(e)) if e.code().is(ErrorNumber::NoDomain) => return Ok(facts),
        Err(InventoryError::Libvirt(e)) => return Err(e),
        Err(e @ (InventoryError::Xml { .. } | InventoryError::Panicked)) => {
            facts.vm_error = Some(e.to_string());
            return Ok(facts);
        }
    };
    if let Some(q) = CapsQuery::of(&info.xml) {
        facts.domcaps = Some(domcaps(conn, &q));
    }
    facts.vm = Some(info);
    Ok(facts)
}

fn read_dest(
    conn: &Connect,
    new_name: &str,
    pool: &str,
    caps: Option<&CapsQuery>,
) -> Result<DestFacts, Error> {
    let node = conn.node_info()?;
    let name_taken = match conn.lookup_domain_by_name(new_name) {
        Ok(_) => true,
        Err(e) if e.code().is(ErrorNumber::NoDomain) => false,
        Err(e) => return Err(e),
    };
    Ok(DestFacts {
        libvirt_version: conn.lib_version()?,
        cpus: node.cpus,
        memory_bytes: node.memory.saturating_mul(1024),
        running: running_load(conn)?,
        name_taken,
        pool: pool_facts(conn, pool)?,
        networks: networks(conn)?,
        domcaps: caps.map(|q| domcaps(conn, q)),
        existing_volumes: Vec::new(),
        probes: Default::default(),
    })
}

fn running_load(conn: &Connect) -> Result<RunningLoad, Error> {
    let mut load = RunningLoad::default();
    for dom in conn.list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)? {
        match dom.info() {
            Ok(info) => {
                load.domains += 1;
                load.memory_bytes = load
                    .memory_bytes
                    .saturating_add(info.max_mem.saturating_mul(1024));
                load.vcpus += u64::from(info.nr_virt_cpu);
            }
            // Stopped between the listing and the query.
            Err(e) if e.code().is(ErrorNumber::NoDomain) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(load)
}

fn pool_facts(conn: &Connect, name: &str) -> Result<Option<PoolFacts>, Error> {
    let pool = match conn.lookup_storage_pool_by_name(name) {
        Ok(p) => p,
        Err(e) if e.code().is(ErrorNumber::NoStoragePool) => return Ok(None),
        Err(e) => return Err(e),
    };
    let active = pool.is_active()?;
    if active {
        // Files made outside libvirt only show up as volumes after a
        // refresh; it rescans, it changes nothing on disk.
        if let Err(e) = pool.refresh(0) {
            tracing::debug!(pool = name, error = %e, "pool refresh failed");
        }
    }
    let info = pool.info()?;
    // An unreadable pool XML leaves type and path unknown: the pool check fails.
    let xml = parse_pool(&pool.xml_desc(0)?).unwrap_or_else(|e| {
        tracing::warn!(pool = name, error = %e, "malformed pool XML");
        PoolXml {
            pool_type: "unknown".into(),
            target_path: None,
        }
    });
    Ok(Some(PoolFacts {
        name: name.to_string(),
        active,
        pool_type: xml.pool_type,
        target_path: xml.target_path,
        capacity_bytes: info.capacity,
        available_bytes: info.available,
        fs_available_bytes: None,
    }))
}

fn networks(conn: &Connect) -> Result<Vec<NetworkFact>, Error> {
    let mut out = Vec::new();
    for net in conn.list_all_networks(0)? {
        let fact = net.name().and_then(|name| {
            Ok(NetworkFact {
                name,
                active: net.is_active()?,
            })
        });
        match fact {
            Ok(f) => out.push(f),
            Err(e) if e.code().is(ErrorNumber::NoNetwork) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The planned paths libvirt already has a volume for.
fn known_volumes(conn: &Connect, paths: &[String]) -> Result<Vec<String>, Error> {
    let mut found = Vec::new();
    for p in paths {
        match conn.lookup_storage_vol_by_path(p) {
            Ok(_) => found.push(p.clone()),
            Err(e) if e.code().is(ErrorNumber::NoStorageVolume) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}
