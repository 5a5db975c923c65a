//! The two facts read from a storage pool's XML: its type and its target
//! directory. Pure; the inventory and pre-flight validation both use it.

use roxmltree::Document;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolXml {
    /// `dir`, `fs`, `netfs`, `logical`, `rbd`, …
    pub pool_type: String,
    /// `<target><path>`.
    pub target_path: Option<String>,
}

impl PoolXml {
    /// See [`volume_dir`].
    pub fn dir(&self) -> Option<&str> {
        volume_dir(&self.pool_type, self.target_path.as_deref())
    }
}

/// The directory holding a pool's volumes as plain files: the target path
/// of `dir`, `fs` and `netfs` pools, the only ones the clone's path rule and
/// the free-space probe apply to.
pub fn volume_dir<'a>(pool_type: &str, target_path: Option<&'a str>) -> Option<&'a str> {
    match pool_type {
        "dir" | "fs" | "netfs" => target_path,
        _ => None,
    }
}

pub fn parse_pool(xml: &str) -> Result<PoolXml, roxmltree::Error> {
    let doc = Document::parse(xml)?;
    let root = doc.root_element();
    let target_path = root
        .children()
        .find(|n| n.has_tag_name("target"))
        .and_then(|t| t.children().find(|n| n.has_tag_name("path")))
        .and_then(|p| p.text())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    Ok(PoolXml {
        pool_type: root.attribute("type").unwrap_or_default().to_string(),
        target_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_default_pool() {
        let p = parse_pool(include_str!(
            "../jobs/preflight/fixtures/pool-beta-default.xml"
        ))
        .unwrap();
        assert_eq!(
            p,
            PoolXml {
                pool_type: "dir".into(),
                target_path: Some("/var/lib/libvirt/images".into())
            }
        );
        assert_eq!(p.dir(), Some("/var/lib/libvirt/images"));
    }

    #[test]
    fn rbd_pool_has_no_directory() {
        let xml = "<pool type='rbd'><name>ceph</name><source><name>rbd</name></source></pool>";
        let p = parse_pool(xml).unwrap();
        assert_eq!(p.target_path, None);
        assert_eq!(p.dir(), None);
        let no_target = "<pool type='dir'><name>x</name></pool>";
        assert_eq!(parse_pool(no_target).unwrap().dir(), None);
        assert!(parse_pool("<pool").is_err());
    }
}
