//! The one disk image format type: what profiles choose, what the XML
//! rewrite writes into `<driver type=…>`, and what qemu-img and qemu-nbd
//! are told.

use std::fmt;
use std::str::FromStr;

/// Disk image formats kvm-clone reads and writes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    #[default]
    Qcow2,
    Raw,
}

impl ImageFormat {
    /// The name qemu-img, qemu-nbd, libvirt and profiles use.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
        }
    }

    /// The same name, as tables and the profile menu show it.
    pub fn label(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A format name kvm-clone does not handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image format {0:?} is not supported (only raw and qcow2)")]
pub struct UnknownFormat(pub String);

impl FromStr for ImageFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "raw" => Ok(ImageFormat::Raw),
            "qcow2" => Ok(ImageFormat::Qcow2),
            other => Err(UnknownFormat(other.escape_debug().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in [ImageFormat::Raw, ImageFormat::Qcow2] {
            assert_eq!(f.as_str().parse::<ImageFormat>(), Ok(f));
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<ImageFormat>(&json).unwrap(), f);
        }
        assert!("vmdk".parse::<ImageFormat>().is_err());
    }
}
