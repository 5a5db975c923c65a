//! Compatibility with the destination's hypervisor, from its domain
//! capabilities for this VM's emulator, arch, machine and type, plus
//! firmware files and TPM support.

use super::{Ctx, list};
use crate::jobs::preflight::derive::SWTPM;
use crate::jobs::preflight::domcaps::DomainCaps;
use crate::jobs::preflight::probe::Probe;
use crate::jobs::rewrite::TpmPolicy;
use crate::libvirt::domain::DomainDef;
use crate::model::checklist::{CheckItem, ids};

fn guest<'a>(ctx: &'a Ctx) -> Result<&'a DomainDef, CheckItem> {
    ctx.derived.domain.as_ref().map_err(|e| {
        CheckItem::fail(
            ids::HYPERVISOR,
            "Hypervisor",
            format!("the XML of {} cannot be read: {e}", ctx.vm.name),
            "check the domain with virsh dumpxml on the source",
        )
    })
}

/// The destination's capabilities, or why there are none.
fn caps<'a>(ctx: &'a Ctx) -> Result<&'a DomainCaps, &'a str> {
    match &ctx.dest_caps {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(e),
        None => Err("no capabilities were read"),
    }
}

fn setup(g: &DomainDef) -> String {
    format!(
        "{} on {}, machine {}, emulator {}",
        g.virt_type,
        g.arch.as_deref().unwrap_or("default arch"),
        g.machine.as_deref().unwrap_or("default"),
        g.emulator.as_deref().unwrap_or("default")
    )
}

pub(super) fn hypervisor(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Hypervisor";
    let host = &ctx.facts.dest_host;
    let g = match guest(ctx) {
        Ok(g) => g,
        Err(item) => return item,
    };
    match caps(ctx) {
        Ok(c) => CheckItem::pass(
            ids::HYPERVISOR,
            TITLE,
            format!(
                "{host} supports {} (machine resolves to {})",
                setup(g),
                c.machine.as_deref().unwrap_or("its default")
            ),
        ),
        Err(why) => {
            let lower = why.to_lowercase();
            let hint = if lower.contains("machine") {
                "the destination's qemu lacks this machine type (often an older qemu): \
                 `virsh capabilities` on the destination lists its machines; change the \
                 source VM's machine type to one both hosts have"
            } else if lower.contains("emulator") || lower.contains("qemu binary") {
                "install qemu for this architecture on the destination, or point the VM's \
                 <emulator> at the path it has there"
            } else if lower.contains("virt type") || lower.contains("kvm") {
                "enable KVM on the destination (kvm module loaded, /dev/kvm present) or \
                 clone to a host that has it"
            } else {
                "compare `virsh domcapabilities` on both hosts"
            };
            CheckItem::fail(
                ids::HYPERVISOR,
                TITLE,
                format!("{host} cannot run {}: {why}", setup(g)),
                hint,
            )
        }
    }
}

pub(super) fn cpu(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "CPU";
    let host = &ctx.facts.dest_host;
    let src_host = &ctx.facts.source_host;
    let Ok(g) = &ctx.derived.domain else {
        return CheckItem::pass(ids::CPU, TITLE, "no CPU definition to check");
    };
    let Some(cpu) = &g.cpu else {
        return CheckItem::pass(ids::CPU, TITLE, "the VM uses the hypervisor's default CPU");
    };
    let Ok(c) = caps(ctx) else {
        return CheckItem::fail(
            ids::CPU,
            TITLE,
            format!(
                "CPU mode {} cannot be checked: {host} cannot run this VM at all",
                cpu.mode
            ),
            "see the hypervisor check",
        );
    };
    if !c.supports_cpu_mode(&cpu.mode) {
        return CheckItem::fail(
            ids::CPU,
            TITLE,
            format!("CPU mode {} is not supported on {host}", cpu.mode),
            "change the VM's CPU mode to one the destination supports (`virsh domcapabilities`)",
        );
    }
    match cpu.mode.as_str() {
        "custom" => {
            let Some(model) = &cpu.model else {
                return CheckItem::pass(ids::CPU, TITLE, "custom CPU without a model");
            };
            let allow_fallback = cpu.fallback.as_deref() == Some("allow");
            match c.custom_model(model) {
                None if allow_fallback => CheckItem::warn(
                    ids::CPU,
                    TITLE,
                    format!(
                        "CPU model {model} is unknown on {host}; libvirt will fall back to a close model"
                    ),
                    "check the guest still boots; pick a model both hosts know to be sure",
                ),
                None => CheckItem::fail(
                    ids::CPU,
                    TITLE,
                    format!("CPU model {model} is unknown to the hypervisor on {host}"),
                    "change the VM's CPU model to one the destination lists \
                     (`virsh domcapabilities`), or to host-model",
                ),
                Some(m) if m.usable == Some(false) => {
                    let src_usable = ctx
                        .source_caps
                        .as_ref()
                        .and_then(|s| s.custom_model(model))
                        .and_then(|s| s.usable);
                    if src_usable == Some(false) {
                        CheckItem::pass(
                            ids::CPU,
                            TITLE,
                            format!(
                                "CPU model {model}: not fully usable on {host}, nor on {src_host} \
                                 where the VM runs as defined (its feature list adapts it)"
                            ),
                        )
                    } else {
                        CheckItem::warn(
                            ids::CPU,
                            TITLE,
                            format!(
                                "CPU model {model} is usable on {src_host} but not on {host}'s CPU"
                            ),
                            "the clone may refuse to start there: choose an older model or host-model",
                        )
                    }
                }
                Some(_) => CheckItem::pass(
                    ids::CPU,
                    TITLE,
                    format!("CPU model {model} is usable on {host}"),
                ),
            }
        }
        mode => {
            let src = ctx.source_caps.as_ref();
            let describe = |c: Option<&DomainCaps>| {
                let c = c?;
                Some(format!(
                    "{} {}",
                    c.host_vendor.as_deref().unwrap_or("unknown vendor"),
                    c.host_model.as_deref().unwrap_or("unknown model")
                ))
            };
            match (describe(src), describe(Some(c))) {
                (Some(a), Some(b)) if a == b => {
                    CheckItem::pass(ids::CPU, TITLE, format!("{mode}: both hosts look like {a}"))
                }
                (a, Some(b)) => CheckItem::warn(
                    ids::CPU,
                    TITLE,
                    format!(
                        "{mode}: the guest will see {host}'s CPU ({b}) instead of {src_host}'s ({})",
                        a.unwrap_or_else(|| "unknown".into())
                    ),
                    "usually harmless for a fresh boot; software tied to CPU features or licences may notice",
                ),
                (_, None) => {
                    CheckItem::pass(ids::CPU, TITLE, format!("{mode} is supported on {host}"))
                }
            }
        }
    }
}

pub(super) fn firmware(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "Firmware";
    let host = &ctx.facts.dest_host;
    let Ok(g) = &ctx.derived.domain else {
        return CheckItem::pass(ids::FIRMWARE, TITLE, "no firmware definition to check");
    };
    let probes = &ctx.facts.dest.probes;
    let c = caps(ctx).ok();
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    let mut found = Vec::new();

    if let Some(fw) = &g.firmware {
        match c.and_then(|c| c.firmware.as_ref()) {
            Some(values) if !values.contains(fw) => fails.push(format!(
                "firmware auto-selection '{fw}' is not available on {host} (offers: {})",
                if values.is_empty() {
                    "none".into()
                } else {
                    list(values)
                }
            )),
            Some(_) => found.push(format!("{fw} firmware")),
            None => warns.push(format!("{host} does not report firmware auto-selection")),
        }
        let secure = g.firmware_features.iter().any(|f| f == "secure-boot");
        let secure_ok = c
            .and_then(|c| c.loader_secure.as_ref())
            .is_some_and(|v| v.iter().any(|s| s == "yes"));
        if secure && !secure_ok {
            fails.push(format!("Secure Boot firmware is not available on {host}"));
        }
    }
    if let Some(loader) = &g.loader {
        if let Some(path) = &loader.path {
            let known = c.is_some_and(|c| c.loaders.contains(path));
            match probes.yes(&Probe::Exists(path.clone())) {
                Some(true) => found.push(path.clone()),
                Some(false) => fails.push(format!("firmware {path} does not exist on {host}")),
                None if known => found.push(path.clone()),
                None => warns.push(format!("could not check firmware {path} on {host}")),
            }
        }
        if loader.secure {
            let secure_ok = c
                .and_then(|c| c.loader_secure.as_ref())
                .is_none_or(|v| v.iter().any(|s| s == "yes"));
            if !secure_ok {
                fails.push(format!(
                    "{host} offers no Secure Boot capable loader for this machine"
                ));
            }
        }
    }
    if let Some(t) = g.nvram.as_ref().and_then(|n| n.template.as_ref()) {
        match probes.yes(&Probe::Exists(t.clone())) {
            Some(true) => found.push(t.clone()),
            _ => warns.push(format!(
                "NVRAM template {t} is missing on {host}: the copied variable store works, \
                 but resetting it there will fail"
            )),
        }
    }
    if !fails.is_empty() {
        return CheckItem::fail(
            ids::FIRMWARE,
            TITLE,
            fails.join("; "),
            format!(
                "install the UEFI firmware package on {host} (ovmf on Debian, edk2-ovmf on RHEL)"
            ),
        );
    }
    if !warns.is_empty() {
        return CheckItem::warn(
            ids::FIRMWARE,
            TITLE,
            warns.join("; "),
            format!("install the UEFI firmware package on {host} to be safe"),
        );
    }
    let msg = if found.is_empty() {
        "BIOS: no firmware files needed".to_string()
    } else {
        format!("present on {host}: {}", list(&found))
    };
    CheckItem::pass(ids::FIRMWARE, TITLE, msg)
}

pub(super) fn tpm(ctx: &Ctx) -> CheckItem {
    const TITLE: &str = "TPM";
    let host = &ctx.facts.dest_host;
    let Ok(g) = &ctx.derived.domain else {
        return CheckItem::pass(ids::TPM, TITLE, "no TPM definition to check");
    };
    if g.tpms.is_empty() {
        return CheckItem::pass(ids::TPM, TITLE, "the VM has no TPM");
    }
    let caps_tpm = caps(ctx).ok().and_then(|c| c.tpm.as_ref());
    let probes = &ctx.facts.dest.probes;
    let mut fails = Vec::new();
    let mut notes = Vec::new();
    for t in &g.tpms {
        if let Some(models) = caps_tpm.and_then(|c| c.models.as_ref()) {
            if t.model != "default" && !models.contains(&t.model) {
                fails.push(format!("TPM model {} is not supported on {host}", t.model));
            }
        }
        match t.backend.as_str() {
            "emulator" => {
                if ctx.req.tpm == TpmPolicy::Refuse {
                    fails.push(format!(
                        "the emulated TPM's state lives on {} keyed by the VM's UUID and would be lost",
                        ctx.facts.source_host
                    ));
                }
                let by_caps = caps_tpm.and_then(|c| {
                    let backends = c.backends.as_ref()?;
                    Some(c.supported && backends.iter().any(|b| b == "emulator"))
                });
                let by_probe = probes.yes(&Probe::Program(SWTPM.into()));
                match by_caps.or(by_probe) {
                    Some(true) => notes.push("emulated TPM (swtpm) supported".to_string()),
                    Some(false) => fails.push(format!(
                        "{host} cannot emulate a TPM: swtpm is not installed"
                    )),
                    None => fails.push(format!("could not tell whether {host} has swtpm")),
                }
            }
            "passthrough" => match &t.device_path {
                Some(dev) if probes.yes(&Probe::Exists(dev.clone())) == Some(true) => {
                    notes.push(format!("host TPM {dev} present"));
                }
                Some(dev) => fails.push(format!("host TPM device {dev} does not exist on {host}")),
                None => notes.push("host TPM passthrough (default device)".to_string()),
            },
            other => notes.push(format!("TPM backend {other} not checked")),
        }
    }
    if !fails.is_empty() {
        let hint = if ctx.req.tpm == TpmPolicy::Refuse {
            "choose a TPM policy (a fresh TPM, or copying its state) and install swtpm on the destination"
        } else {
            "install swtpm (and swtpm-tools) on the destination, or remove the TPM"
        };
        return CheckItem::fail(ids::TPM, TITLE, fails.join("; "), hint);
    }
    CheckItem::pass(ids::TPM, TITLE, format!("{} on {host}", list(&notes)))
}
