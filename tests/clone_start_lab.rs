//! A clone asked to start whose start fails: the clone is kept, defined
//! and complete, and reported as made but not started (exit 0 and a
//! warning), never half there (issue: a failed `--start` left a domain
//! pointing at deleted disks).

mod clone_util;

use clone_util::{Cleanup, Env, images, lab, local, serial};

/// A shut-off VM on alpha with a small disk and a cdrom whose ISO exists
/// only on alpha: its clone on beta defines, but cannot start.
fn vm_with_iso_only_on_alpha(name: &str) -> Cleanup {
    let guard = Cleanup {
        host: "alpha",
        name: name.to_string(),
    };
    let disk = images("alpha").join(format!("{name}-disk.raw"));
    let iso = images("alpha").join(format!("{name}-cd.iso"));
    std::fs::write(&iso, vec![0u8; 1 << 20]).unwrap();
    let f = std::fs::File::create(&disk).unwrap();
    f.set_len(64 << 20).unwrap();
    let xml = lab().virsh("alpha", &["dumpxml", "--inactive", "archive01"]);
    let cdrom = format!(
        "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>\
         <source file='/var/lib/libvirt/images/{name}-cd.iso'/>\
         <target dev='hdc' bus='ide'/><readonly/></disk>\n</devices>"
    );
    let xml: String = xml
        .lines()
        .filter(|l| !l.contains("<uuid>") && !l.contains("<mac address"))
        .map(|l| {
            l.replace("<name>archive01</name>", &format!("<name>{name}</name>"))
                .replace("archive01.raw", &format!("{name}-disk.raw"))
                .replace("</devices>", &cdrom)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = std::env::temp_dir().join(format!("{name}.xml"));
    std::fs::write(&file, xml).unwrap();
    lab().virsh("alpha", &["define", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    lab().virsh("alpha", &["pool-refresh", "default"]);
    guard
}

#[test]
fn a_start_that_fails_keeps_the_whole_clone_and_warns() {
    let _serial = serial();
    let env = Env::new();
    let src = format!("t-iso-{}", std::process::id());
    let clone = format!("{src}-c");
    let _src = vm_with_iso_only_on_alpha(&src);
    let _clone = Cleanup {
        host: "beta",
        name: clone.clone(),
    };
    let (code, doc) = env.clone_json(&[
        "--from", "alpha", "--vm", &src, "--to", "beta", "--name", &clone, "--start",
    ]);
    assert_eq!(code, 0, "{doc:#}");
    let r = &doc["result"];
    assert_eq!(r["started"], false, "{doc:#}");
    let warnings = r["warnings"].as_array().expect("warnings");
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap_or("").contains("did not start")),
        "{doc:#}"
    );
    // Defined, shut off, and every disk it names is there.
    assert!(lab().domains("beta").contains(&clone), "{doc:#}");
    let state = lab().virsh("beta", &["domstate", &clone]);
    assert!(state.contains("shut off"), "{state}");
    let disks = clone_util::disks(&doc);
    assert!(!disks.is_empty(), "{doc:#}");
    for d in &disks {
        assert!(local("beta", d).exists(), "{d} missing on beta");
    }
}
