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

/// What a profile asks for the copies' format: each disk's own (`same`, the
/// default, as virt-clone does), or one format for every disk.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FormatChoice {
    #[default]
    Same,
    Qcow2,
    Raw,
}

impl FormatChoice {
    /// The format of the copy of a disk whose own format is `source`
    /// (libvirt's `<driver type>`). `same` keeps raw and qcow2; a disk in
    /// another format (or none named) becomes qcow2, and the checklist
    /// says so.
    pub fn for_source(self, source: Option<&str>) -> ImageFormat {
        match self {
            FormatChoice::Qcow2 => ImageFormat::Qcow2,
            FormatChoice::Raw => ImageFormat::Raw,
            FormatChoice::Same => source
                .and_then(|s| s.parse().ok())
                .unwrap_or(ImageFormat::Qcow2),
        }
    }

    /// The one format every disk gets; None for `same`.
    pub fn fixed(self) -> Option<ImageFormat> {
        match self {
            FormatChoice::Same => None,
            FormatChoice::Qcow2 => Some(ImageFormat::Qcow2),
            FormatChoice::Raw => Some(ImageFormat::Raw),
        }
    }

    /// The name profiles use, as tables and the profile menu show it.
    pub fn label(self) -> &'static str {
        match self {
            FormatChoice::Same => "same",
            FormatChoice::Qcow2 => "qcow2",
            FormatChoice::Raw => "raw",
        }
    }
}

impl From<ImageFormat> for FormatChoice {
    fn from(f: ImageFormat) -> Self {
        match f {
            ImageFormat::Qcow2 => FormatChoice::Qcow2,
            ImageFormat::Raw => FormatChoice::Raw,
        }
    }
}

impl fmt::Display for FormatChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_keeps_each_disks_format_and_makes_the_rest_qcow2() {
        let same = FormatChoice::Same;
        assert_eq!(same.for_source(Some("raw")), ImageFormat::Raw);
        assert_eq!(same.for_source(Some("qcow2")), ImageFormat::Qcow2);
        assert_eq!(same.for_source(Some("vmdk")), ImageFormat::Qcow2);
        assert_eq!(same.for_source(None), ImageFormat::Qcow2);
        assert_eq!(
            FormatChoice::Raw.for_source(Some("qcow2")),
            ImageFormat::Raw
        );
        assert_eq!(
            FormatChoice::Qcow2.for_source(Some("raw")),
            ImageFormat::Qcow2
        );
        assert_eq!(same.fixed(), None);
        assert_eq!(serde_json::to_string(&same).unwrap(), "\"same\"");
    }

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
