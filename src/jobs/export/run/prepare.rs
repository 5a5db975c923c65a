//! Before reading anything: the profile, the repository, the domain, the
//! parent snapshot, and a backup an earlier run may have left.

use super::*;

impl Job<'_> {
    pub(super) async fn validate(&self) -> Result<Prepared, ExportError> {
        let (spec, req) = (self.spec, &self.spec.request);
        if spec.profile.kind != ProfileKind::Export {
            return Err(ExportError::Invalid(format!(
                "profile {} is a {} profile; an export needs an export profile",
                spec.profile.name,
                spec.profile.kind.label()
            )));
        }
        let repo = match &spec.opened {
            Some(r) => r.clone(),
            None => {
                let (path, unlock) = (req.repo.clone(), req.unlock.clone());
                let repo = tokio::task::spawn_blocking(move || Repo::open(&path, &unlock))
                    .await
                    .map_err(step("opening the repository"))?
                    .map_err(|e| {
                        ExportError::Invalid(format!("repository {}: {e}", req.repo.display()))
                    })?;
                Arc::new(repo)
            }
        };
        if spec.profile.encryption != Encryption::None && !repo.encrypted() {
            return Err(ExportError::Invalid(format!(
                "profile {} asks for encryption ({}) but repository {} is not encrypted",
                spec.profile.name,
                spec.profile.encryption.label(),
                req.repo.display()
            )));
        }
        let probe = repo.path().join(format!(".write-test.{}", self.tag));
        tokio::task::spawn_blocking(move || {
            std::fs::write(&probe, b"")?;
            std::fs::remove_file(&probe)
        })
        .await
        .map_err(step("checking the repository"))?
        .map_err(|e| {
            ExportError::Invalid(format!(
                "repository {} is not writable: {e}",
                req.repo.display()
            ))
        })?;

        let name = req.vm.clone();
        let found = self
            .host
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
            .map_err(step("reading the VM"))?;
        let Some((live, inactive_xml, live_xml)) = found else {
            return Err(ExportError::Invalid(format!(
                "no VM named {} on {}",
                req.vm, req.from
            )));
        };
        let parsed = parse_domain(&live_xml).map_err(step("reading the VM's XML"))?;
        let mut warnings = Vec::new();
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
        if disks.is_empty() {
            return Err(ExportError::Invalid(format!(
                "{} has no writable disk with a local image to export",
                req.vm
            )));
        }
        let vm_uuid = roxmltree::Document::parse(&inactive_xml)
            .ok()
            .and_then(|doc| {
                doc.root_element()
                    .children()
                    .find(|n| n.has_tag_name("uuid"))
                    .and_then(|n| n.text())
                    .map(|t| t.trim().to_string())
            })
            .unwrap_or_default();
        let (repo2, vm, from) = (repo.clone(), req.vm.clone(), req.from.clone());
        let parent = blocking("reading the last snapshot", move || {
            repo2.latest_snapshot(&vm, &from)
        })
        .await?;
        if spec.profile.live.shuts_down() && live {
            warnings.push(format!(
                "profile {} asks to shut the VM down; exports read running VMs live",
                spec.profile.name
            ));
        }
        Ok(Prepared {
            repo,
            inactive_xml,
            vm_uuid,
            live,
            disks,
            nvram: parsed.nvram.clone(),
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
                return Err(ExportError::Invalid(format!(
                    "{} already has a backup job running (not kvm-clone's)",
                    self.spec.request.vm
                )));
            }
            if start.elapsed() > LEFTOVER_WAIT {
                return Err(ExportError::Invalid(format!(
                    "an earlier kvm-clone backup job of {} is still running",
                    self.spec.request.vm
                )));
            }
            self.check_cancel()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
