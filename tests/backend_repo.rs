//! The repository view's actions through the backend task: open (locked,
//! wrong and right passphrase), verify (clean, then a flipped byte), and
//! prune (dry run first, then only what it showed). No lab host is needed.

mod repo_util;

use kvm_clone::backend::messages::{Action, Event, Secret};
use kvm_clone::backend::{self, Options};
use kvm_clone::config;
use kvm_clone::model::KeepPolicy;
use std::time::Duration;

const BOUND: Duration = Duration::from_secs(60);

async fn answer(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) -> Event {
    let wait = async {
        loop {
            match events.recv().await {
                Some(
                    e @ (Event::Repo(_)
                    | Event::RepoLocked { .. }
                    | Event::RepoFailed { .. }
                    | Event::RepoVerified { .. }
                    | Event::RepoPruned { .. }),
                ) => return e,
                Some(_) => {}
                None => panic!("backend stopped"),
            }
        }
    };
    tokio::time::timeout(BOUND, wait).await.expect("an answer")
}

#[tokio::test]
async fn open_verify_and_prune_a_repository_through_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary; set before any thread reads them.
    unsafe {
        std::env::set_var("KVM_CLONE_DATA_DIR", dir.path().join("data"));
        std::env::remove_var("KVM_CLONE_PASSPHRASE");
    }
    let path = dir.path().join("repo");
    let repo = repo_util::encrypted_repo(&path);
    let day = 86_400;
    let old = repo_util::commit(&repo, "web01", 1_700_000_000, &[1, 2, 3]);
    let new = repo_util::commit(&repo, "web01", 1_700_000_000 + day, &[1, 2, 4]);
    drop(repo);

    let cfg = config::load_from(None, None, Some(dir.path().join("config.toml"))).unwrap();
    let mut b = backend::spawn(cfg, Options::default());
    let send = |a: Action| b.actions.send(a).unwrap();
    let shown = path.display().to_string();

    send(Action::RepoOpen {
        path: path.clone(),
        passphrase: None,
    });
    match answer(&mut b.events).await {
        Event::RepoLocked { path: p, message } => {
            assert_eq!(p, shown);
            assert!(message.contains("encrypted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    send(Action::RepoOpen {
        path: path.clone(),
        passphrase: Some(Secret::new("not it".into())),
    });
    match answer(&mut b.events).await {
        Event::RepoLocked { message, .. } => assert!(message.contains("passphrase"), "{message}"),
        other => panic!("{other:?}"),
    }
    let pass = Some(Secret::new(repo_util::PASS.into()));
    send(Action::RepoOpen {
        path: path.clone(),
        passphrase: pass.clone(),
    });
    match answer(&mut b.events).await {
        Event::Repo(v) => {
            assert!(v.encrypted);
            let ids: Vec<&str> = v.snapshots.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, [new.as_str(), old.as_str()], "newest first");
            assert_eq!(v.snapshots[0].data_bytes, 3 * u64::from(repo_util::CHUNK));
        }
        other => panic!("{other:?}"),
    }

    // Opened once: verify needs no passphrase again.
    send(Action::RepoVerify {
        path: path.clone(),
        passphrase: None,
        snapshot: None,
        read_data: true,
        repair: false,
    });
    match answer(&mut b.events).await {
        Event::RepoVerified { report, .. } => {
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!((report.snapshots, report.chunks), (2, 4));
        }
        other => panic!("{other:?}"),
    }
    // Flip one byte of the chunk only the newer snapshot has (seed 4, index 2).
    let r = kvm_clone::repo::Repo::open(
        &path,
        &kvm_clone::repo::Unlock::Passphrase(zeroize::Zeroizing::new(repo_util::PASS.into())),
    )
    .unwrap();
    let chunk = r.chunk_id(&repo_util::block(4)).to_string();
    let file = path.join("chunks").join(&chunk[..2]).join(&chunk);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    send(Action::RepoVerify {
        path: path.clone(),
        passphrase: None,
        snapshot: Some(new.to_string()),
        read_data: true,
        repair: false,
    });
    match answer(&mut b.events).await {
        Event::RepoVerified { report, .. } => {
            assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
            let p = &report.problems[0];
            let offset = 2 * u64::from(repo_util::CHUNK);
            assert!(
                p.contains(new.as_str())
                    && p.contains("disk vda")
                    && p.contains(&format!("offset {offset}")),
                "{p}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The view's count of damaged chunk files, then the repair removes it.
    send(Action::RepoVerify {
        path: path.clone(),
        passphrase: None,
        snapshot: Some(new.to_string()),
        read_data: true,
        repair: true,
    });
    match answer(&mut b.events).await {
        Event::RepoVerified { report, .. } => {
            assert_eq!((report.repaired, report.repairable), (1, 0), "{report:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(!file.exists());
    // The data stored again (as the VM's next export would): whole again.
    assert!(r.store_chunk(&repo_util::block(4)).unwrap().new);
    send(Action::RepoVerify {
        path: path.clone(),
        passphrase: None,
        snapshot: None,
        read_data: true,
        repair: false,
    });
    match answer(&mut b.events).await {
        Event::RepoVerified { report, .. } => {
            assert!(report.problems.is_empty(), "{:?}", report.problems);
            assert_eq!(report.repairable, 0);
        }
        other => panic!("{other:?}"),
    }

    // Prune keeping the last one: the dry run removes nothing...
    let policy = KeepPolicy {
        last: 1,
        ..KeepPolicy::default()
    };
    send(Action::RepoPrune {
        path: path.clone(),
        passphrase: None,
        policy,
        dry_run: true,
        confirmed: None,
    });
    let plan = match answer(&mut b.events).await {
        Event::RepoPruned { report, .. } => report,
        other => panic!("{other:?}"),
    };
    assert!(plan.dry_run);
    let going: Vec<String> = plan
        .snapshots
        .iter()
        .filter(|s| !s.keep)
        .map(|s| s.id.clone())
        .collect();
    assert_eq!(going, [old.to_string()]);
    assert_eq!(
        std::fs::read_dir(path.join("snapshots")).unwrap().count(),
        2
    );
    // ...then the confirmed run removes exactly that snapshot and its own chunk.
    send(Action::RepoPrune {
        path: path.clone(),
        passphrase: None,
        policy,
        dry_run: false,
        confirmed: Some(going),
    });
    match answer(&mut b.events).await {
        Event::RepoPruned { report, .. } => {
            assert!(!report.dry_run);
            assert_eq!(report.chunks_removed, 1, "seed 3 was only in the old one");
        }
        other => panic!("{other:?}"),
    }
    send(Action::RepoOpen {
        path: path.clone(),
        passphrase: None,
    });
    match answer(&mut b.events).await {
        Event::Repo(v) => {
            let ids: Vec<&str> = v.snapshots.iter().map(|s| s.id.as_str()).collect();
            assert_eq!(ids, [new.as_str()]);
        }
        other => panic!("{other:?}"),
    }
    send(Action::Quit);
    let _ = tokio::time::timeout(BOUND, b.task).await;
}
