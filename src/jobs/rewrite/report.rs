//! What the rewrite changed, for the job log. Never holds XML or secrets
//! (graphics passwords stay in the XML only).

use super::inspect::KeepReason;
use super::plan::{DiskTarget, ImageFormat};
use crate::libvirt::domain::DiskSource;
use std::fmt;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Every change, in document order.
    pub changes: Vec<Change>,
    /// Things the rewrite left alone that may not work on the destination.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The live `<domain id=…>` attribute.
    DomainIdDropped {
        id: String,
    },
    Name {
        from: String,
        to: String,
    },
    Uuid {
        from: Option<String>,
        to: String,
    },
    /// `<sysinfo><system><entry name='uuid'>`: libvirt requires it to match.
    SysinfoUuid {
        from: String,
        to: String,
    },
    /// `<genid>` emptied so libvirt generates a new VM generation ID.
    GenidRegenerated,
    /// `<label>`/`<imagelabel>` of a dynamic `<seclabel>` removed.
    SeclabelCleared {
        model: String,
    },
    MacAddress {
        from: String,
        to: String,
    },
    InterfaceTargetDropped {
        dev: String,
    },
    /// A graphics device switched to autoport; the attributes it dropped or
    /// set to automatic.
    GraphicsAutoport {
        kind: String,
        reset: Vec<String>,
    },
    DiskCopied {
        target: String,
        from: Option<DiskSource>,
        to: DiskTarget,
        format: ImageFormat,
    },
    /// The copied disk's `<backingStore>` chain removed (the copy is flat).
    BackingChainFlattened {
        target: String,
    },
    DiskKept {
        target: String,
        reason: KeepReason,
    },
    Nvram {
        from: Option<String>,
        to: String,
    },
    /// A fresh, empty TPM (new UUID, new swtpm state).
    TpmFresh {
        model: String,
    },
    /// The caller must copy swtpm state from the old UUID to the new one.
    TpmStateToCopy {
        model: String,
        from_uuid: Option<String>,
        to_uuid: String,
    },
    /// A unix channel's socket path removed so libvirt makes a new one.
    ChannelSocketCleared {
        name: String,
        path: String,
    },
    /// A `type='file'` serial/console/parallel source or a `<log file=…>`.
    CharFileRenamed {
        device: String,
        from: String,
        to: String,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::DomainIdDropped { id } => write!(f, "dropped live domain id {id}"),
            Change::Name { from, to } => write!(f, "name: {from} → {to}"),
            Change::Uuid { from, to } => {
                write!(f, "uuid: {} → {to}", from.as_deref().unwrap_or("(none)"))
            }
            Change::SysinfoUuid { from, to } => write!(f, "sysinfo uuid: {from} → {to}"),
            Change::GenidRegenerated => write!(f, "genid cleared: libvirt generates a new one"),
            Change::SeclabelCleared { model } => {
                write!(f, "{model} security label cleared: libvirt relabels")
            }
            Change::MacAddress { from, to } => write!(f, "MAC {from} → {to}"),
            Change::InterfaceTargetDropped { dev } => {
                write!(f, "interface target dev {dev} dropped")
            }
            Change::GraphicsAutoport { kind, reset } => {
                write!(
                    f,
                    "{kind} graphics set to autoport (reset: {})",
                    reset.join(", ")
                )
            }
            Change::DiskCopied {
                target,
                from,
                to,
                format,
            } => match from {
                Some(from) => write!(f, "disk {target}: {from} → {to} ({format})"),
                None => write!(f, "disk {target}: → {to} ({format})"),
            },
            Change::BackingChainFlattened { target } => {
                write!(
                    f,
                    "disk {target}: backing chain removed (copy is flattened)"
                )
            }
            Change::DiskKept { target, reason } => write!(f, "disk {target}: {reason}"),
            Change::Nvram { from, to } => {
                write!(
                    f,
                    "nvram: {} → {to}",
                    from.as_deref().unwrap_or("(derived)")
                )
            }
            Change::TpmFresh { model } => write!(f, "TPM {model}: new empty TPM state"),
            Change::TpmStateToCopy {
                model,
                from_uuid,
                to_uuid,
            } => write!(
                f,
                "TPM {model}: swtpm state to copy from {} to {to_uuid}",
                from_uuid.as_deref().unwrap_or("(unknown uuid)")
            ),
            Change::ChannelSocketCleared { name, path } => {
                write!(f, "channel {name}: socket path {path} cleared")
            }
            Change::CharFileRenamed { device, from, to } => {
                write!(f, "{device} file: {from} → {to}")
            }
        }
    }
}
