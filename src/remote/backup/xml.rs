//! Pure XML work of a pull-mode backup: the `<domainbackup>` document sent
//! to libvirt, the one it reports back, and the DAC owner qemu runs as.

use crate::libvirt::domain::DomainDef;
use roxmltree::Document;

/// One disk of the domain and what the backup does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskPlan {
    /// `<target dev>`, e.g. "vda".
    pub target: String,
    /// `Some(scratch file)` to export the disk, `None` to leave it out.
    pub scratch: Option<String>,
}

/// `<domainbackup mode='pull'>` with a unix-socket NBD server. Every disk of
/// the domain is listed: exported ones with `backup='yes'` and a scratch
/// file (which holds the old contents of blocks the guest overwrites while
/// the backup runs), the others with `backup='no'`. No `<incremental>`: a
/// full backup, so no checkpoint is needed.
pub fn backup_xml(socket: &str, disks: &[DiskPlan]) -> String {
    backup_xml_from(socket, disks, None)
}

/// As [`backup_xml`]; with `incremental`, only what changed since that
/// checkpoint is marked dirty (libvirt exports the dirty bitmap with each
/// disk, and still serves every block).
pub fn backup_xml_from(socket: &str, disks: &[DiskPlan], incremental: Option<&str>) -> String {
    let mut s = String::from("<domainbackup mode='pull'>\n");
    if let Some(cp) = incremental {
        s.push_str(&format!("  <incremental>{}</incremental>\n", escape(cp)));
    }
    s.push_str(&format!(
        "  <server transport='unix' socket='{}'/>\n  <disks>\n",
        escape(socket)
    ));
    for d in disks {
        match &d.scratch {
            Some(file) => s.push_str(&format!(
                "    <disk name='{}' backup='yes' type='file'>\n      <scratch file='{}'/>\n    </disk>\n",
                escape(&d.target),
                escape(file)
            )),
            None => s.push_str(&format!(
                "    <disk name='{}' backup='no'/>\n",
                escape(&d.target)
            )),
        }
    }
    s.push_str("  </disks>\n</domainbackup>\n");
    s
}

/// `<domaincheckpoint>` named `name`, tracking the exported disks with a
/// bitmap and leaving the others out.
pub fn checkpoint_xml(name: &str, disks: &[DiskPlan]) -> String {
    let mut s = format!(
        "<domaincheckpoint>\n  <name>{}</name>\n  <disks>\n",
        escape(name)
    );
    for d in disks {
        let how = if d.scratch.is_some() { "bitmap" } else { "no" };
        s.push_str(&format!(
            "    <disk name='{}' checkpoint='{how}'/>\n",
            escape(&d.target)
        ));
    }
    s.push_str("  </disks>\n</domaincheckpoint>\n");
    s
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// An exported disk as libvirt reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedDisk {
    pub target: String,
    /// NBD export name (libvirt defaults it to the target).
    pub export_name: String,
    pub scratch: Option<String>,
    /// The dirty bitmap exported with an incremental backup
    /// (`exportbitmap`, libvirt names it `backup-<target>`).
    pub bitmap: Option<String>,
}

/// What `virDomainBackupGetXMLDesc` says about a running backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub pull: bool,
    /// The server's unix socket, when it has one.
    pub socket: Option<String>,
    pub disks: Vec<ExportedDisk>,
}

pub fn parse_backup_xml(xml: &str) -> Result<BackupInfo, String> {
    let doc = Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if !root.has_tag_name("domainbackup") {
        return Err(format!("root is <{}>", root.tag_name().name()));
    }
    let socket = root
        .children()
        .find(|n| n.has_tag_name("server"))
        .filter(|s| s.attribute("transport") == Some("unix"))
        .and_then(|s| s.attribute("socket"))
        .map(String::from);
    let disks = root
        .children()
        .filter(|n| n.has_tag_name("disks"))
        .flat_map(|d| d.children().filter(|n| n.has_tag_name("disk")))
        .filter(|d| d.attribute("backup") == Some("yes"))
        .filter_map(|d| {
            let target = d.attribute("name")?.to_string();
            let export_name = d.attribute("exportname").unwrap_or(&target).to_string();
            let scratch = d
                .children()
                .find(|n| n.has_tag_name("scratch"))
                .and_then(|s| s.attribute("file").or_else(|| s.attribute("dev")))
                .map(String::from);
            let bitmap = d.attribute("exportbitmap").map(String::from);
            Some(ExportedDisk {
                target,
                export_name,
                scratch,
                bitmap,
            })
        })
        .collect();
    Ok(BackupInfo {
        pull: root.attribute("mode") == Some("pull"),
        socket,
        disks,
    })
}

/// The `user:group` qemu runs as for this domain, from its (live)
/// `<seclabel model='dac'><label>+107:+107</label>`. `None` when there is no
/// DAC label (qemu then runs as the daemon's configured user, usually root
/// in that setup). Only numeric ids or plain names are accepted, so the
/// value is safe for `chown`.
pub fn dac_owner(domain: &DomainDef) -> Option<String> {
    let label = domain.dac_label.as_deref()?;
    let (user, group) = label.split_once(':')?;
    let clean = |v: &str| {
        let v = v.strip_prefix('+').unwrap_or(v);
        let ok = !v.is_empty()
            && v.len() <= 32
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            && !v.starts_with('-');
        ok.then(|| v.to_string())
    };
    Some(format!("{}:{}", clean(user)?, clean(group)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::libvirt::domain::parse_domain;

    #[test]
    fn builds_pull_backup_xml_that_round_trips() {
        let xml = backup_xml(
            "/run/kvm-clone.j.X/backup/backup.sock",
            &[
                DiskPlan {
                    target: "vda".into(),
                    scratch: Some("/img/kvm-clone.j.vda.scratch".into()),
                },
                DiskPlan {
                    target: "sda".into(),
                    scratch: None,
                },
            ],
        );
        let info = parse_backup_xml(&xml).unwrap();
        assert!(info.pull);
        assert_eq!(
            info.socket.as_deref(),
            Some("/run/kvm-clone.j.X/backup/backup.sock")
        );
        assert_eq!(
            info.disks,
            vec![ExportedDisk {
                target: "vda".into(),
                export_name: "vda".into(),
                scratch: Some("/img/kvm-clone.j.vda.scratch".into()),
                bitmap: None,
            }]
        );
        assert!(xml.contains("<disk name='sda' backup='no'/>"), "{xml}");
        assert!(!xml.contains("checkpoint") && !xml.contains("incremental"));
    }

    #[test]
    fn incremental_backup_and_checkpoint_xml() {
        let plans = [
            DiskPlan {
                target: "vda".into(),
                scratch: Some("/img/s".into()),
            },
            DiskPlan {
                target: "vdb".into(),
                scratch: None,
            },
        ];
        let xml = backup_xml_from("/run/s.sock", &plans, Some("kvm-clone-e1"));
        let doc = Document::parse(&xml).unwrap();
        let inc = doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name("incremental"))
            .unwrap();
        assert_eq!(inc.text(), Some("kvm-clone-e1"));
        assert_eq!(parse_backup_xml(&xml).unwrap().disks.len(), 1);
        let cp = checkpoint_xml("kvm-clone-e2", &plans);
        let doc = Document::parse(&cp).unwrap();
        let root = doc.root_element();
        assert!(root.has_tag_name("domaincheckpoint"));
        let name = root.children().find(|n| n.has_tag_name("name")).unwrap();
        assert_eq!(name.text(), Some("kvm-clone-e2"));
        let disks: Vec<(&str, &str)> = root
            .descendants()
            .filter(|n| n.has_tag_name("disk"))
            .map(|d| {
                (
                    d.attribute("name").unwrap(),
                    d.attribute("checkpoint").unwrap(),
                )
            })
            .collect();
        assert_eq!(disks, vec![("vda", "bitmap"), ("vdb", "no")]);
    }

    #[test]
    fn escapes_attribute_values() {
        let xml = backup_xml(
            "/run/a'b&<c>\"",
            &[DiskPlan {
                target: "vda".into(),
                scratch: Some("/x/'".into()),
            }],
        );
        let info = parse_backup_xml(&xml).unwrap();
        assert_eq!(info.socket.as_deref(), Some("/run/a'b&<c>\""));
        assert_eq!(info.disks[0].scratch.as_deref(), Some("/x/'"));
    }

    #[test]
    fn reads_libvirts_report() {
        let xml = "<domainbackup mode='pull'>\
            <server transport='unix' socket='/run/s.sock'/>\
            <disks><disk name='vda' backup='yes' type='file' backupmode='full' exportname='vda' index='2'>\
            <driver type='qcow2'/><scratch file='/img/s'/></disk>\
            <disk name='vdb' backup='yes' exportname='data' exportbitmap='backup-vdb'/>\
            <disk name='sda' backup='no'/></disks></domainbackup>";
        let info = parse_backup_xml(xml).unwrap();
        assert_eq!(info.disks.len(), 2);
        assert_eq!(info.disks[1].export_name, "data");
        assert_eq!(info.disks[1].scratch, None);
        assert_eq!(info.disks[1].bitmap.as_deref(), Some("backup-vdb"));
        assert_eq!(info.disks[0].bitmap, None);
        assert!(parse_backup_xml("<domain/>").is_err());
        assert!(parse_backup_xml("<x").is_err());
        let push = parse_backup_xml("<domainbackup mode='push'/>").unwrap();
        assert!(!push.pull && push.socket.is_none());
    }

    #[test]
    fn dac_owner_from_live_xml() {
        let xml = |label: &str| {
            let xml = format!(
                "<domain><seclabel type='dynamic' model='selinux'><label>x:y</label></seclabel>\
                 <seclabel type='dynamic' model='dac' relabel='yes'><label>{label}</label></seclabel></domain>"
            );
            parse_domain(&xml).unwrap()
        };
        assert_eq!(dac_owner(&xml("+64055:+994")).as_deref(), Some("64055:994"));
        assert_eq!(
            dac_owner(&xml("libvirt-qemu:kvm")).as_deref(),
            Some("libvirt-qemu:kvm")
        );
        assert_eq!(dac_owner(&xml("+0:+0")).as_deref(), Some("0:0"));
        assert_eq!(dac_owner(&xml("a;b:c")), None);
        assert_eq!(dac_owner(&xml("-x:y")), None);
        assert_eq!(dac_owner(&xml("nocolon")), None);
        assert_eq!(dac_owner(&parse_domain("<domain/>").unwrap()), None);
    }
}
