//! Before reading anything: the profile, the repository, the domain, the
//! parent snapshot, and a backup an earlier run may have left.

use super::*;

impl Job<'_> {
    /// The export's pre-flight: every check runs (a missing VM does not
    /// hide a wrong passphrase), and any failure stops the job with the
    /// whole checklist ([`ExportError::Invalid`]). Writes nothing but a
    /// probe file in the repository, removed at once.
    pub(super) async fn validate(&self) -> Result<Prepared, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        let mut checklist = Checklist::default();
        let profile = &spec.profile;
        checklist.push(if profile.kind != ProfileKind::Export {
            CheckItem::fail(
                ids::OPTIONS_VALID,
                TITLE_PROFILE,
                format!(
                    "profile {} is a {} profile; an export needs an export profile",
                    profile.name,
                    profile.kind.label()
                ),
                "pick an export profile: `kvm-clone profiles` lists them (default quick-backup)",
            )
        } else {
            CheckItem::pass(
                ids::OPTIONS_VALID,
                TITLE_PROFILE,
                format!("export profile {}", profile.name),
            )
        });
        let repo = self.check_repository(&mut checklist).await?;
        let found = self.read_vm().await?;
        let mut warnings = Vec::new();
        let mut vm = None;
        match found {
            None => checklist.push(CheckItem::fail(
                ids::SOURCE_VM_EXISTS,
                "Source VM",
                format!("there is no VM named {:?} on {}", req.vm, req.from),
                format!("list the VMs with `kvm-clone vms --host {}`", req.from),
            )),
            Some((live, inactive_xml, live_xml)) => {
                checklist.push(CheckItem::pass(
                    ids::SOURCE_VM_EXISTS,
                    "Source VM",
                    format!(
                        "{} on {} is {}",
                        req.vm,
                        req.from,
                        if live { "running" } else { "shut off" }
                    ),
                ));
                let parsed = parse_domain(&live_xml).map_err(step("reading the VM's XML"))?;
                let disks = exportable_disks(&parsed, &mut warnings);
                checklist.push(disks_item(&req.vm, &disks, &warnings));
                if profile.live.shuts_down() && live {
                    let w = format!(
                        "profile {} asks to shut the VM down; exports read running VMs live",
                        profile.name
                    );
                    checklist.push(CheckItem::warn(
                        ids::SOURCE_STATE,
                        "Source state",
                        w.clone(),
                        "the VM keeps running; the export reads it through a backup job",
                    ));
                    warnings.push(w);
                }
                vm = Some((live, inactive_xml, parsed, disks));
            }
        }
        checklist.order();
        (self.ctx.report)(Update::Checklist(checklist.clone()));
        let (Some(repo), Some((live, inactive_xml, parsed, disks)), true) =
            (repo, vm, checklist.ok())
        else {
            return Err(ExportError::Invalid(checklist));
        };
        // A domain's UUID is the same in its live and inactive XML.
        let vm_uuid = parsed.uuid.clone().unwrap_or_default();
        let (repo2, vm, from) = (repo.clone(), req.vm.clone(), req.from.clone());
        let parent = blocking("reading the last snapshot", move || {
            repo2.latest_snapshot(&vm, &from)
        })
        .await?;
        Ok(Prepared {
            repo,
            inactive_xml,
            vm_uuid,
            live,
            disks,
            // A typed store may be a block device or on the network: only
            // a file is read, the one the XML names or libvirt derives.
            nvram: parsed.var_store(),
            parent,
            warnings,
        })
    }

    /// `size mtime` of each image file, for an offline resume.
    pub(super) async fn stamps(&self, disks: &[DiskJob]) -> Result<Vec<FileStamp>, ExportError> {
        let host = self
            .host
            .fresh()
            .await
            .map_err(step("reading the images"))?;
        let mut out = Vec::new();
        for d in disks {
            let cmd = crate::transport::quote::Command::new("stat")
                .arg("-L")
                .arg("-c")
                .arg("%s %y")
                .arg("--")
                .arg(&d.path)
                .build();
            let o = host
                .session
                .exec(&cmd)
                .await
                .and_then(|o| o.check(&cmd))
                .map_err(step("reading the images"))?;
            out.push(FileStamp {
                path: d.path.clone(),
                stamp: o.stdout_str().trim().to_string(),
            });
        }
        Ok(out)
    }

    /// Waits while a backup job of an earlier, killed run of ours is still
    /// being ended by the journal's cleanup; another tool's job is an error.
    pub(super) async fn wait_for_leftover_backup(&self) -> Result<(), ExportError> {
        let start = Instant::now();
        loop {
            let host = self.host.fresh().await.map_err(step("checking the VM"))?;
            let socket = backup::active_socket(&host.worker, &self.spec.request.vm)
                .await
                .map_err(step("checking the VM"))?;
            let Some(socket) = socket else {
                return Ok(());
            };
            let ours = RemotePath::new(&socket)
                .ok()
                .and_then(|p| p.parent()?.parent())
                .is_some_and(|d| rundir::is_run_dir(&d));
            if !ours {
                return Err(ExportError::Step {
                    step: "checking the VM",
                    message: format!(
                        "{} already has a backup job running (not kvm-clone's)",
                        self.spec.request.vm
                    ),
                });
            }
            if start.elapsed() > LEFTOVER_WAIT {
                return Err(ExportError::Step {
                    step: "checking the VM",
                    message: format!(
                        "an earlier kvm-clone backup job of {} is still running",
                        self.spec.request.vm
                    ),
                });
            }
            self.ctx.check_cancel()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Opens the repository (unless the backend holds it open), checks the
    /// profile's encryption and that it is writable. None when it fails:
    /// the checklist says why.
    async fn check_repository(
        &self,
        checklist: &mut Checklist,
    ) -> Result<Option<Arc<Repo>>, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        let shown = req.repo.display().to_string();
        let fail = |message: String, hint: &str| {
            CheckItem::fail(ids::REPOSITORY, TITLE_REPO, message, hint)
        };
        let repo = match &spec.opened {
            Some(r) => r.clone(),
            None => {
                let (path, unlock) = (req.repo.clone(), req.unlock.clone());
                let opened = tokio::task::spawn_blocking(move || Repo::open(&path, &unlock))
                    .await
                    .map_err(step("opening the repository"))?;
                match opened {
                    Ok(r) => Arc::new(r),
                    Err(e) => {
                        checklist.push(fail(
                            format!("repository {shown}: {e}"),
                            "create it with `kvm-clone repo init PATH`, or give its passphrase \
                             (KVM_CLONE_PASSPHRASE, --passphrase-file) or --identity",
                        ));
                        return Ok(None);
                    }
                }
            }
        };
        if spec.profile.encryption != Encryption::None && !repo.encrypted() {
            checklist.push(fail(
                format!(
                    "profile {} asks for encryption ({}) but repository {shown} is not encrypted",
                    spec.profile.name,
                    spec.profile.encryption.label(),
                ),
                "export to an encrypted repository, or use a profile without encryption",
            ));
            return Ok(None);
        }
        let probe = repo.path().join(format!(".write-test.{}", self.ctx.tag));
        let written = tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(step("checking the repository"))?;
        if let Err(e) = written {
            checklist.push(fail(
                format!("repository {shown} is not writable: {e}"),
                "check the directory's owner and permissions, and that its file system is mounted read-write",
            ));
            return Ok(None);
        }
        checklist.push(CheckItem::pass(
            ids::REPOSITORY,
            TITLE_REPO,
            format!(
                "{shown} opens{} and is writable",
                if repo.encrypted() { " (encrypted)" } else { "" }
            ),
        ));
        Ok(Some(repo))
    }

    /// Whether the VM is running, with its inactive and live XML; None when
    /// there is no such VM. A libvirt failure is a step error.
    async fn read_vm(&self) -> Result<Option<(bool, String, String)>, ExportError> {
        let name = self.spec.request.vm.clone();
        self.host
            .worker
            .call(move |c| {
                let d = match c.lookup_domain_by_name(&name) {
                    Ok(d) => d,
                    Err(e) if e.code().is(virt::error::ErrorNumber::NoDomain) => return Ok(None),
                    Err(e) => return Err(e),
                };
                let flags = virt::sys::VIR_DOMAIN_XML_INACTIVE | virt::sys::VIR_DOMAIN_XML_SECURE;
                Ok(Some((d.is_active()?, d.xml_desc(flags)?, d.xml_desc(0)?)))
            })
            .await
            .map_err(step("reading the VM"))
    }
}

const TITLE_PROFILE: &str = "Profile";
const TITLE_REPO: &str = "Repository";

/// The disks an export reads: file-backed, writable, `device="disk"`.
/// Read-only and shareable ones are left out, with a warning.
fn exportable_disks(parsed: &DomainDef, warnings: &mut Vec<String>) -> Vec<DiskJob> {
    let mut disks = Vec::new();
    for d in &parsed.disks {
        let Some(path) = d.source.path() else {
            continue;
        };
        if d.device != "disk" {
            continue;
        }
        if d.readonly || d.shareable {
            warnings.push(format!(
                "disk {} ({}) is {}: not exported",
                d.target,
                path,
                if d.readonly { "read-only" } else { "shareable" }
            ));
            continue;
        }
        disks.push(DiskJob {
            target: d.target.clone(),
            path: path.to_string(),
            format: d.format.clone().unwrap_or_else(|| "raw".into()),
        });
    }
    disks
}

fn disks_item(vm: &str, disks: &[DiskJob], skipped: &[String]) -> CheckItem {
    const TITLE: &str = "Source disks";
    if disks.is_empty() {
        return CheckItem::fail(
            ids::SOURCE_DISKS,
            TITLE,
            format!("{vm} has no writable disk with a local image to export"),
            "an export reads file-backed, writable disks; read-only and shareable ones are left out",
        );
    }
    let names: Vec<&str> = disks.iter().map(|d| d.target.as_str()).collect();
    let message = format!("exports {}", names.join(", "));
    if skipped.is_empty() {
        CheckItem::pass(ids::SOURCE_DISKS, TITLE, message)
    } else {
        CheckItem::warn(
            ids::SOURCE_DISKS,
            TITLE,
            format!("{message}; {}", skipped.join("; ")),
            "read-only and shareable disks are not part of the snapshot",
        )
    }
}
