//! A libvirt pull-mode backup of a running VM: libvirt's own NBD server
//! (inside the VM's qemu) exports a point-in-time, crash-consistent view of
//! the chosen disks on a unix socket in the job's [`RunDir`]; guest writes
//! during the backup first copy the old blocks to a scratch file in a pool
//! directory. The VM keeps running and its definition is not touched.
//!
//! The backup begins with `virDomainBackupBegin` through `virt::sys` (see
//! `ffi`), run on the host's [`HostWorker`] thread: that reuses the app's
//! libvirt connection and gets typed errors, where `virsh backup-begin`
//! over SSH would need the XML in a remote file, its own connection URI
//! and error scraping. A full backup needs no checkpoint, so none is
//! created and none can be left behind.
//!
//! An export asks for more ([`BackupOptions`]): a checkpoint created at the
//! backup's point in time (`<domaincheckpoint>`, so the next export can be
//! incremental), and an incremental backup from an earlier checkpoint
//! (`<incremental>`): libvirt then exports each disk's dirty bitmap with
//! it, as the NBD meta context `qemu:dirty-bitmap:backup-<target>`. A
//! checkpoint that libvirt refuses as a base (deleted, or its bitmap lost)
//! turns the backup into a full one, and the reason is kept
//! ([`PullBackup::fallback`]). See [`checkpoint`] for listing and deleting.
//!
//! The job ends with `virDomainAbortJob` (the documented way to finish a
//! pull backup), after checking that the domain's backup is still ours (its
//! socket). libvirt then stops the NBD server and deletes the scratch files
//! it created; [`PullBackup::end`] makes sure they are gone anyway.

pub mod checkpoint;
mod ffi;
pub mod xml;

use super::error::RemoteError;
use super::image::{file_exists, pool_dir, refresh_pool};
use super::path::{RemotePath, check_label};
use super::rundir::RunDir;
use super::shell;
use super::socket::{self, SocketTransport};
use crate::libvirt::HostWorker;
use crate::libvirt::domain::parse_domain;
use crate::nbd::{ConnectOptions, NbdClient};
use crate::transport::Session;
use crate::transport::quote::quote;
use std::sync::Arc;
use std::time::Duration;
use virt::error::ErrorNumber;
use xml::{BackupInfo, DiskPlan};

/// How long ending a job may take before we give up waiting.
const END_PATIENCE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(200);

/// One exported disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDisk {
    /// `<target dev>`, e.g. "vda".
    pub target: String,
    /// The NBD export name libvirt chose (the target, by default).
    pub export_name: String,
    /// `<pool dir>/kvm-clone.<tag>.<target>.scratch`.
    pub scratch: RemotePath,
    /// The dirty bitmap of an incremental backup, exported as the NBD
    /// meta context `qemu:dirty-bitmap:<bitmap>`.
    pub bitmap: Option<String>,
}

impl BackupDisk {
    /// The NBD meta context of the disk's dirty bitmap, when incremental.
    pub fn dirty_context(&self) -> Option<String> {
        self.bitmap
            .as_ref()
            .map(|b| format!("{}{b}", crate::nbd::proto::DIRTY_BITMAP_PREFIX))
    }
}

/// What a backup asks of libvirt besides the export itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupOptions {
    /// Create a checkpoint of this name with the backup (tracking the
    /// exported disks), for the next incremental.
    pub checkpoint: Option<String>,
    /// Be incremental from this earlier checkpoint: its dirty bitmap comes
    /// with each disk.
    pub incremental: Option<String>,
}

/// A running pull-mode backup. End it with [`PullBackup::end`]; dropped
/// instead, a best-effort end is spawned on the current Tokio runtime. A
/// restarted app ends a leftover one with [`recover`] (journal: host,
/// domain, [`PullBackup::socket`], pool). End it before removing the
/// [`RunDir`] that holds its socket.
pub struct PullBackup {
    session: Arc<Session>,
    worker: Arc<HostWorker>,
    domain: String,
    pool: String,
    socket_dir: RemotePath,
    socket: RemotePath,
    disks: Vec<BackupDisk>,
    /// The checkpoint the backup is incremental from, as libvirt took it.
    incremental: Option<String>,
    /// Why a requested incremental backup became a full one.
    fallback: Option<String>,
    ended: bool,
}

impl std::fmt::Debug for PullBackup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullBackup")
            .field("host", &self.session.target())
            .field("domain", &self.domain)
            .field("socket", &self.socket)
            .field("disks", &self.disks)
            .finish()
    }
}

impl PullBackup {
    /// Starts a full pull-mode backup of the running `domain`, exporting the
    /// disks whose targets are in `disks` (the others get `backup='no'`).
    /// Scratch files go to the directory of pool `scratch_pool`; `tag` (the
    /// job id, 1–32 of `[A-Za-z0-9_-]`) names them. Needs libvirt ≥ 7.6 and
    /// qcow2 disks (see `crate::libvirt::live_clone`).
    pub async fn begin(
        rundir: &RunDir,
        worker: Arc<HostWorker>,
        domain: &str,
        disks: &[&str],
        scratch_pool: &str,
        tag: &str,
    ) -> Result<PullBackup, RemoteError> {
        let opts = BackupOptions::default();
        Self::begin_with(rundir, worker, domain, disks, scratch_pool, tag, &opts).await
    }

    /// As [`PullBackup::begin`], with a checkpoint and/or incremental from
    /// an earlier one. When libvirt refuses the incremental base, the
    /// backup is begun again as a full one (still creating the checkpoint)
    /// and [`PullBackup::fallback`] says why.
    pub async fn begin_with(
        rundir: &RunDir,
        worker: Arc<HostWorker>,
        domain: &str,
        disks: &[&str],
        scratch_pool: &str,
        tag: &str,
        opts: &BackupOptions,
    ) -> Result<PullBackup, RemoteError> {
        check_label("job tag", tag)?;
        let fail = |reason: String| RemoteError::Backup {
            domain: domain.to_string(),
            reason,
        };
        if disks.is_empty() {
            return Err(fail("no disk to export".into()));
        }
        for d in disks {
            check_label("disk target", d)?;
        }
        let session = rundir.session().clone();
        let name = domain.to_string();
        let (active, live_xml) = worker
            .call(move |c| {
                let d = c.lookup_domain_by_name(&name)?;
                Ok((d.is_active()?, d.xml_desc(0)?))
            })
            .await?;
        if !active {
            return Err(fail("is not running; copy it offline instead".into()));
        }
        let parsed = parse_domain(&live_xml).map_err(|e| fail(e.to_string()))?;
        let dir = pool_dir(&worker, scratch_pool).await?;
        let mut plans = Vec::new();
        let mut exported = Vec::new();
        for disk in &parsed.disks {
            let wanted = disks.contains(&disk.target.as_str());
            if !wanted {
                plans.push(DiskPlan {
                    target: disk.target.clone(),
                    scratch: None,
                });
                continue;
            }
            if disk.source.path().is_none() {
                return Err(fail(format!("disk {} has no local source", disk.target)));
            }
            let scratch = dir.join(&format!("kvm-clone.{tag}.{}.scratch", disk.target))?;
            if file_exists(&session, &scratch).await? {
                return Err(RemoteError::Exists {
                    host: session.target().to_string(),
                    path: scratch.to_string(),
                });
            }
            plans.push(DiskPlan {
                target: disk.target.clone(),
                scratch: Some(scratch.to_string()),
            });
            exported.push((disk.target.clone(), scratch));
        }
        if let Some(missing) = disks
            .iter()
            .find(|d| !exported.iter().any(|(t, _)| t == *d))
        {
            return Err(fail(format!("has no disk {missing}")));
        }

        // qemu creates the socket, as the domain's DAC user: give it a
        // directory of its own, and let its group into the run directory.
        let socket = PullBackup::socket_for(rundir)?;
        let socket_dir = socket
            .parent()
            .ok_or_else(|| fail("socket has no directory".into()))?;
        let mut script = format!("mkdir -m 0700 -- {}", quote(socket_dir.as_str()));
        if let Some(owner) = xml::dac_owner(&parsed) {
            let group = owner.split_once(':').map(|(_, g)| g).unwrap_or("");
            script.push_str(&format!(
                " && chown -- {owner} {sd} && chgrp -- {group} {rd} && chmod 0710 {rd}",
                owner = quote(&owner),
                sd = quote(socket_dir.as_str()),
                group = quote(group),
                rd = quote(rundir.path().as_str()),
            ));
        }
        shell::run(&session, &script).await?;

        let cp_xml = opts
            .checkpoint
            .as_deref()
            .map(|n| xml::checkpoint_xml(n, &plans));
        let mut incremental = opts.incremental.clone();
        let mut fallback = None;
        loop {
            let backup_xml = xml::backup_xml_from(socket.as_str(), &plans, incremental.as_deref());
            let (name, cp) = (domain.to_string(), cp_xml.clone());
            let begun = worker
                .call(move |c| {
                    ffi::backup_begin(&c.lookup_domain_by_name(&name)?, &backup_xml, cp.as_deref())
                })
                .await;
            match begun {
                Ok(()) => break,
                // A broken or lost base: a full backup still works.
                Err(crate::libvirt::LibvirtError::Call { source, .. }) if incremental.is_some() => {
                    let base = incremental.take().unwrap_or_default();
                    let why = format!(
                        "checkpoint {base} cannot be used ({}); reading everything",
                        source.message()
                    );
                    tracing::warn!(domain, "{why}");
                    fallback = Some(why);
                }
                Err(e) => return Err(e.into()),
            }
        }
        tracing::info!(host = session.target(), domain, %socket, incremental = ?incremental, checkpoint = ?opts.checkpoint, "pull backup started");
        let mut backup = PullBackup {
            session,
            worker,
            domain: domain.to_string(),
            pool: scratch_pool.to_string(),
            socket_dir,
            socket,
            disks: Vec::new(),
            incremental,
            fallback,
            ended: false,
        };
        match backup.read_exports(exported).await {
            Ok(disks) => {
                backup.disks = disks;
                Ok(backup)
            }
            Err(e) => {
                if let Err(end) = backup.end().await {
                    tracing::warn!(domain, error = %end, "backup not ended after a failed start");
                }
                Err(e)
            }
        }
    }

    /// Export names as libvirt reports them, checked against what we asked.
    async fn read_exports(
        &self,
        wanted: Vec<(String, RemotePath)>,
    ) -> Result<Vec<BackupDisk>, RemoteError> {
        let name = self.domain.clone();
        let xml = self
            .worker
            .call(move |c| ffi::backup_xml(&c.lookup_domain_by_name(&name)?))
            .await?;
        let fail = |reason: String| RemoteError::Backup {
            domain: self.domain.clone(),
            reason,
        };
        let info = xml::parse_backup_xml(&xml).map_err(|e| fail(format!("backup XML: {e}")))?;
        if !info.pull || info.socket.as_deref() != Some(self.socket.as_str()) {
            return Err(fail("libvirt reports another backup job".into()));
        }
        wanted
            .into_iter()
            .map(|(target, scratch)| {
                let found = info
                    .disks
                    .iter()
                    .find(|d| d.target == target)
                    .ok_or_else(|| fail(format!("libvirt does not export {target}")))?;
                // libvirt names the bitmap itself; older releases do not
                // report it, and use backup-<target>.
                let bitmap = self.incremental.as_ref().map(|_| {
                    found
                        .bitmap
                        .clone()
                        .unwrap_or_else(|| format!("backup-{target}"))
                });
                Ok(BackupDisk {
                    export_name: found.export_name.clone(),
                    target,
                    scratch,
                    bitmap,
                })
            })
            .collect()
    }

    /// The socket path [`PullBackup::begin`] will use in `rundir`, for a
    /// journal entry written before the job starts.
    pub fn socket_for(rundir: &RunDir) -> Result<RemotePath, RemoteError> {
        let socket = rundir.file("backup")?.join("backup.sock")?;
        socket.check_socket_len()?;
        Ok(socket)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The NBD server's unix socket on the host.
    pub fn socket(&self) -> &RemotePath {
        &self.socket
    }

    pub fn disks(&self) -> &[BackupDisk] {
        &self.disks
    }

    pub fn disk(&self, target: &str) -> Option<&BackupDisk> {
        self.disks.iter().find(|d| d.target == target)
    }

    /// The checkpoint this backup is incremental from; `None` for a full one.
    pub fn incremental(&self) -> Option<&str> {
        self.incremental.as_deref()
    }

    /// Why an incremental backup that was asked for became a full one.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// A new NBD connection to one exported disk (default options).
    pub async fn connect(
        &self,
        target: &str,
        transport: SocketTransport,
    ) -> Result<NbdClient, RemoteError> {
        self.connect_with(target, transport, ConnectOptions::default())
            .await
    }

    /// As [`PullBackup::connect`]; the export name in `opts` is replaced.
    pub async fn connect_with(
        &self,
        target: &str,
        transport: SocketTransport,
        mut opts: ConnectOptions,
    ) -> Result<NbdClient, RemoteError> {
        let disk = self.disk(target).ok_or_else(|| RemoteError::Backup {
            domain: self.domain.clone(),
            reason: format!("disk {target} is not exported"),
        })?;
        opts.export_name = disk.export_name.clone();
        socket::connect_nbd(&self.session, &self.socket, transport, opts).await
    }

    /// Ends the job (if it is still ours), waits until libvirt reports no
    /// job, removes any scratch file left and the socket directory, and
    /// refreshes the scratch pool. Close the NBD clients first.
    pub async fn end(mut self) -> Result<(), RemoteError> {
        self.ended = true;
        let scratch: Vec<RemotePath> = self.disks.iter().map(|d| d.scratch.clone()).collect();
        end(
            &self.session,
            &self.worker,
            &self.domain,
            &self.socket,
            &self.pool,
            &scratch,
        )
        .await?;
        shell::run(
            &self.session,
            &format!("rm -rf -- {}", quote(self.socket_dir.as_str())),
        )
        .await?;
        Ok(())
    }
}

impl Drop for PullBackup {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (session, worker) = (self.session.clone(), self.worker.clone());
        let (domain, socket, pool) = (self.domain.clone(), self.socket.clone(), self.pool.clone());
        let scratch: Vec<RemotePath> = self.disks.iter().map(|d| d.scratch.clone()).collect();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = end(&session, &worker, &domain, &socket, &pool, &scratch).await {
                    tracing::warn!(domain, error = %e, "backup job not ended");
                }
            });
        }
    }
}

/// What [`abort_if_ours`] found.
enum Found {
    NoJob,
    NotOurs(String),
    Aborted(BackupInfo),
}

/// Ends the backup job of `domain` if its NBD socket is `socket` (so one
/// started by another tool is never touched), then waits for libvirt to
/// report no job. Returns the scratch files libvirt listed, if it was ours.
async fn abort_if_ours(
    worker: &HostWorker,
    domain: &str,
    socket: &RemotePath,
) -> Result<Option<Vec<String>>, RemoteError> {
    let (name, ours) = (domain.to_string(), socket.to_string());
    let found = worker
        .call(move |c| {
            let dom = match c.lookup_domain_by_name(&name) {
                Ok(d) => d,
                Err(e) if e.code().is(ErrorNumber::NoDomain) => return Ok(Found::NoJob),
                Err(e) => return Err(e),
            };
            if !dom.is_active()? {
                return Ok(Found::NoJob);
            }
            let xml = match ffi::backup_xml(&dom) {
                Ok(x) => x,
                Err(e) if e.code().is(ErrorNumber::NoDomainBackup) => return Ok(Found::NoJob),
                Err(e) => return Err(e),
            };
            match xml::parse_backup_xml(&xml) {
                Ok(info) if info.socket.as_deref() == Some(ours.as_str()) => {
                    ffi::abort_job(&dom)?;
                    Ok(Found::Aborted(info))
                }
                Ok(info) => Ok(Found::NotOurs(info.socket.unwrap_or_default())),
                Err(e) => Ok(Found::NotOurs(e)),
            }
        })
        .await?;
    let info = match found {
        Found::NoJob => return Ok(None),
        Found::NotOurs(what) => {
            tracing::warn!(domain, other = %what, "backup job is not ours; left alone");
            return Ok(None);
        }
        Found::Aborted(info) => info,
    };
    let deadline = tokio::time::Instant::now() + END_PATIENCE;
    loop {
        let name = domain.to_string();
        let job = worker
            .call(move |c| Ok(c.lookup_domain_by_name(&name)?.job_info()?.r#type))
            .await?;
        if job == virt::sys::VIR_DOMAIN_JOB_NONE as i32 {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RemoteError::Backup {
                domain: domain.to_string(),
                reason: format!("job still present {END_PATIENCE:?} after abort"),
            });
        }
        tokio::time::sleep(POLL).await;
    }
    tracing::info!(domain, %socket, "pull backup ended");
    Ok(Some(
        info.disks.into_iter().filter_map(|d| d.scratch).collect(),
    ))
}

async fn end(
    session: &Session,
    worker: &HostWorker,
    domain: &str,
    socket: &RemotePath,
    pool: &str,
    scratch: &[RemotePath],
) -> Result<(), RemoteError> {
    abort_if_ours(worker, domain, socket).await?;
    remove_scratch(session, worker, pool, scratch).await
}

async fn remove_scratch(
    session: &Session,
    worker: &HostWorker,
    pool: &str,
    scratch: &[RemotePath],
) -> Result<(), RemoteError> {
    if !scratch.is_empty() {
        let files: Vec<String> = scratch.iter().map(|p| quote(p.as_str())).collect();
        shell::run(session, &format!("rm -f -- {}", files.join(" "))).await?;
    }
    refresh_pool(worker, pool).await
}

/// Cleanup after a crash, from a journal: ends `domain`'s backup job if its
/// socket is `socket`, and removes scratch files named
/// `kvm-clone.<tag>.*.scratch` that libvirt listed or that lie in `pool`'s
/// directory. Returns whether a job was ended.
pub async fn recover(
    session: &Session,
    worker: &HostWorker,
    domain: &str,
    socket: &RemotePath,
    pool: &str,
    tag: &str,
) -> Result<bool, RemoteError> {
    check_label("job tag", tag)?;
    let listed = abort_if_ours(worker, domain, socket).await?;
    let ended = listed.is_some();
    let prefix = format!("kvm-clone.{tag}.");
    let mut scratch: Vec<RemotePath> = listed
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| RemotePath::new(p).ok())
        .filter(|p| p.file_name().starts_with(&prefix) && p.file_name().ends_with(".scratch"))
        .collect();
    let dir = pool_dir(worker, pool).await?;
    let script = format!(
        "for f in {d}/{pat}; do [ -f \"$f\" ] && printf '%s\\n' \"$f\"; done; exit 0",
        d = quote(dir.as_str()),
        pat = quote(&prefix) + "*.scratch",
    );
    let out = shell::run(session, &script).await?;
    scratch.extend(
        out.stdout_str()
            .lines()
            .filter_map(|l| RemotePath::new(l).ok()),
    );
    remove_scratch(session, worker, pool, &scratch).await?;
    Ok(ended)
}

/// The NBD socket of `domain`'s running pull backup, `Some("")` for a
/// backup without a unix socket, `None` when no backup job runs.
pub async fn active_socket(
    worker: &HostWorker,
    domain: &str,
) -> Result<Option<String>, RemoteError> {
    let name = domain.to_string();
    let xml = worker
        .call(move |c| {
            let dom = c.lookup_domain_by_name(&name)?;
            if !dom.is_active()? {
                return Ok(None);
            }
            match ffi::backup_xml(&dom) {
                Ok(x) => Ok(Some(x)),
                Err(e) if e.code().is(ErrorNumber::NoDomainBackup) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
    Ok(xml.map(|x| {
        xml::parse_backup_xml(&x)
            .ok()
            .and_then(|i| i.socket)
            .unwrap_or_default()
    }))
}
