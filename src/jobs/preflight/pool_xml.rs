//! The two facts validation needs from a storage pool's XML: its type and
//! its target directory. Pure.

use roxmltree::Document;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolXml {
    /// `dir`, `fs`, `netfs`, `logical`, `rbd`, …
    pub pool_type: String,
    /// `<target><path>`.
    pub target_path: Option<String>,
}

impl PoolXml {
    /// Pool types whose volumes are plain files in the target directory,
    /// the only ones the clone's path rule applies to.
    pub fn is_directory_backed(&self) -> bool {
        matches!(self.pool_type.as_str(), "dir" | "fs" | "netfs")
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
        let p = parse_pool(include_str!("fixtures/pool-beta-default.xml")).unwrap();
        assert_eq!(
            p,
            PoolXml {
                pool_type: "dir".into(),
                target_path: Some("/var/lib/libvirt/images".into())
            }
        );
        assert!(p.is_directory_backed());
    }

    #[test]
    fn rbd_pool_has_no_directory() {
        let xml = "<pool type='rbd'><name>ceph</name><source><name>rbd</name></source></pool>";
        let p = parse_pool(xml).unwrap();
        assert_eq!(p.target_path, None);
        assert!(!p.is_directory_backed());
        assert!(parse_pool("<pool").is_err());
    }
}
