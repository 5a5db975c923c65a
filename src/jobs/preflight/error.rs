//! Why validation could not run at all. Problems it finds are report items,
//! not errors.

use super::probe::ProbeError;
use crate::libvirt::LibvirtError;

#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    #[error("cannot read the source host {host}: {source}")]
    Source {
        host: String,
        #[source]
        source: LibvirtError,
    },
    #[error("cannot read the destination host {host}: {source}")]
    Dest {
        host: String,
        #[source]
        source: LibvirtError,
    },
    #[error("cannot run the checks over SSH on {host}: {source}")]
    Probe {
        host: String,
        #[source]
        source: ProbeError,
    },
}

impl ValidationError {
    /// True when the connection is gone and retrying after a reconnect may help.
    pub fn is_disconnect(&self) -> bool {
        match self {
            ValidationError::Source { source, .. } | ValidationError::Dest { source, .. } => {
                source.is_disconnect()
            }
            ValidationError::Probe { source, .. } => match source {
                ProbeError::Ssh(e) => e.is_transient(),
                ProbeError::Output(_) => false,
            },
        }
    }
}
