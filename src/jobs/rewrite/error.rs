//! Why a clone's XML cannot be produced. Each message says what to change.

use crate::libvirt::domain::DomainXmlError;
use crate::xml::XmlError;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RewriteError {
    #[error("the domain XML cannot be parsed: {0}")]
    Xml(#[from] XmlError),
    #[error("the XML root is <{0}>, not <domain>")]
    NotADomain(String),
    #[error("the domain XML has no <{0}> element")]
    Missing(&'static str),
    #[error("invalid name {name:?} for the clone: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("the clone's UUID {0} is nil or the source's own; generate a new one")]
    UuidNotNew(Uuid),
    #[error("invalid clone plan: {0}")]
    InvalidPlan(String),
    #[error("a <disk> has no <target dev=…>")]
    DiskWithoutTarget,
    #[error("two disks use target {0}")]
    DuplicateDiskTarget(String),
    #[error("the plan names disk {0}, which the domain does not have")]
    UnknownDisk(String),
    #[error(
        "disk {target} is writable and not shareable, so it must be copied, but the plan says nothing about it"
    )]
    DiskNotPlanned { target: String },
    #[error(
        "disk {target} is writable and not shareable: keeping its source would have two VMs write one image; \
         copy it (a copy may name the same path when the destination has its own image there)"
    )]
    UnsafeKeep { target: String },
    #[error("disk {0} has no source: there is nothing to copy")]
    NothingToCopy(String),
    #[error(
        "disk {0} is encrypted with a libvirt secret of the source host; cloning encrypted disks is not supported"
    )]
    EncryptedDisk(String),
    #[error(
        "the domain keeps its UEFI variables in {current}; the plan must give the clone its own NVRAM path, \
         or two VMs would share one variable store"
    )]
    NvramPathMissing { current: String },
    #[error("the plan gives an NVRAM path but the domain has no <nvram>")]
    NvramNotInDomain,
    #[error(
        "the domain has an emulated TPM ({model}); its swtpm state lives on the source host under the old UUID \
         and would silently not follow the clone. Choose a fresh, empty TPM (secrets sealed to the old one will \
         not unseal) or have the state copied"
    )]
    TpmState { model: String },
    #[error("no unused MAC address found after {0} tries")]
    MacExhausted(usize),
}

impl From<DomainXmlError> for RewriteError {
    fn from(e: DomainXmlError) -> Self {
        match e {
            DomainXmlError::Parse(e) => RewriteError::Xml(e),
            DomainXmlError::NotADomain(root) => RewriteError::NotADomain(root),
        }
    }
}
