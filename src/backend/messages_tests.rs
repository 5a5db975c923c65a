//! Every [`Action`] and [`Event`] survives JSON: what the daemon's socket
//! will carry. The `index` functions match without a wildcard, so a new
//! variant does not compile until it is listed here, and the coverage
//! assertion fails until it has a sample.

use super::*;
use crate::config::profile::{ProfileKind, ProfileSource, ProfileSummary};
use crate::model::detail::{DetailUpdate, PhaseStamp, RetryNote};
use crate::model::history::HistoryStats;
use crate::model::reports::{DiskReport, Totals};
use crate::model::{
    CheckItem, ConnState, DiskInfo, DiskProgress, HistoryResult, ImageFormat, JobKind, JobPhase,
    JobRequest, KeepPolicy, LiveClone, NicInfo, PoolInfo, PruneLine, PruneView, RepoView,
    SnapshotRow, Unlock, VerifyView, VmState,
};
use crate::model::{CloneReport, ExportReport, NewRepoKey, RepoPlace, RestoreReport};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let json = serde_json::to_string(value).expect("serialises");
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(&back, value, "{json}");
}

fn checklist() -> Checklist {
    Checklist {
        items: vec![
            CheckItem::pass("name_valid", "New name", "ok"),
            CheckItem::fail("dest_space", "Space", "too little", "free some"),
        ],
    }
}

fn clone_request() -> CloneRequest {
    CloneRequest {
        from: "alpha".into(),
        vm: "web01".into(),
        to: "beta".into(),
        new_name: "web01-c".into(),
        profile: "default".into(),
        start: true,
    }
}

fn restore_request() -> RestoreRequest {
    RestoreRequest {
        repo: "/backups/r".into(),
        snapshot: "abcd1234".into(),
        to: "beta".into(),
        new_name: Some("web01-r".into()),
        keep_identity: false,
        profile: "default".into(),
        format: Some(ImageFormat::Raw),
        start: false,
        unlock: Unlock::Identities(vec!["/keys/id.txt".into()]),
    }
}

fn export_request() -> ExportRequest {
    ExportRequest {
        vm: "web01".into(),
        from: "alpha".into(),
        repo: "/backups/r".into(),
        profile: "quick-backup".into(),
        unlock: Unlock::Passphrase(zeroize::Zeroizing::new("pw".into())),
    }
}

fn host_view() -> HostView {
    HostView {
        name: "alpha".into(),
        endpoint: "root@127.0.0.1:2222".into(),
        state: ConnState::HostKeyChanged {
            reason: "changed".into(),
        },
        info: Some(host_info()),
    }
}

fn host_info() -> HostInfo {
    HostInfo {
        hostname: "alpha".into(),
        libvirt_version: "9.0.0".into(),
        qemu_version: "7.2.0".into(),
        cpus: 2,
        memory_total_bytes: 1 << 34,
        memory_free_bytes: 1 << 33,
        pools: vec![PoolInfo {
            name: "default".into(),
            active: true,
            capacity_bytes: 100,
            allocation_bytes: 40,
            available_bytes: 60,
            path: Some("/var/lib/libvirt/images".into()),
            fs_available_bytes: Some(50),
            usable_bytes: 50,
        }],
    }
}

fn vm() -> VmInfo {
    VmInfo {
        name: "web01".into(),
        uuid: "6c1f0d5e-0000-4000-8000-000000000001".into(),
        state: VmState::Running,
        vcpus: 2,
        memory_bytes: 1 << 30,
        disks: vec![DiskInfo {
            target: "vda".into(),
            device: "disk".into(),
            source: Some("/var/lib/libvirt/images/web01.qcow2".into()),
            format: Some("qcow2".into()),
            readonly: false,
            shareable: false,
            allocation_bytes: 10,
            capacity_bytes: 20,
        }],
        nics: vec![NicInfo {
            kind: "network".into(),
            source: Some("default".into()),
            mac: Some("52:54:00:00:00:01".into()),
            model: Some("virtio".into()),
        }],
        live_clone: LiveClone {
            possible: true,
            reason: None,
        },
        xml: "<domain/>".into(),
    }
}

fn job_view() -> JobView {
    JobView {
        id: 7,
        number: 3,
        kind: JobKind::Export,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "/backups/r".into(),
        phase: JobPhase::Copying,
        disks: vec![DiskProgress {
            target: "vda".into(),
            bytes_done: 5,
            bytes_total: 10,
        }],
        rate_bytes_per_sec: 1024.5,
        eta_secs: Some(3),
        message: Some("copying".into()),
        queue_position: None,
    }
}

fn history_entry() -> HistoryEntry {
    HistoryEntry {
        id: 1,
        job: 7,
        kind: "clone".into(),
        vm: "web01".into(),
        from: "alpha".into(),
        to: "beta".into(),
        profile: "default".into(),
        started_ms: 1_000,
        ended_ms: Some(2_000),
        result: HistoryResult::Failed,
        error: Some("no space".into()),
        bytes_moved: 1,
        bytes_stored: 2,
        bytes_skipped: 3,
        rate_bytes_per_sec: Some(1.5),
        copy_secs: None,
        validation: Some(serde_json::json!({"ok": true, "items": []})),
        log: vec!["a line".into()],
    }
}

fn clone_report() -> CloneReport {
    CloneReport {
        checklist: checklist(),
        new_name: "web01-c".into(),
        new_uuid: "u".into(),
        bytes_moved: 1,
        bytes_stored: 2,
        bytes_skipped: 3,
        retries: 1,
        verified: true,
        live: true,
        started: false,
        disks: vec!["/p/web01-c-vda.qcow2".into()],
        source_shut_down: false,
        source_restarted: false,
        warnings: vec!["w".into()],
    }
}

fn export_report() -> ExportReport {
    ExportReport {
        snapshot: "abcd1234abcd1234".into(),
        vm: "web01".into(),
        host: "alpha".into(),
        repo: "/backups/r".into(),
        profile: "quick-backup".into(),
        live: true,
        parent: Some("1111222233334444".into()),
        incremental_from: Some("kvm-clone-e1".into()),
        full_read_reason: None,
        checkpoint: Some("kvm-clone-e2".into()),
        resumed_chunks: 0,
        totals: Totals {
            virtual_bytes: 10,
            data_bytes: 5,
            read_bytes: 5,
            new_bytes: 4,
            new_chunks: 1,
            reused_chunks: 2,
            duration_ms: 30,
        },
        skipped_bytes: 5,
        retries: 0,
        disks: vec![DiskReport {
            target: "vda".into(),
            virtual_size: 10,
            read_bytes: 5,
            data_bytes: 5,
            unchanged_chunks: 2,
            new_chunks: 1,
        }],
        warnings: vec![],
        pruned: vec!["0000111122223333".into()],
    }
}

fn restore_report() -> RestoreReport {
    RestoreReport {
        checklist: checklist(),
        snapshot: "abcd1234".into(),
        vm: "web01".into(),
        source_host: "alpha".into(),
        name: "web01-r".into(),
        uuid: "u".into(),
        keep_identity: false,
        bytes_moved: 1,
        bytes_stored: 1,
        bytes_skipped: 0,
        retries: 0,
        verified: true,
        started: false,
        disks: vec!["/p/web01-r-vda.raw".into()],
        warnings: vec!["web01-r is defined on beta but did not start: no".into()],
    }
}

fn profile_summary() -> ProfileSummary {
    ProfileSummary {
        name: "mine".into(),
        kind: ProfileKind::Export,
        description: "d".into(),
        source: ProfileSource::User("/home/op/.config/kvm-clone/profiles/mine.toml".into()),
        overrides_builtin: false,
        settings: vec![("verify".into(), "yes".into())],
        values: crate::model::profile::ProfileEdit {
            connections: 4,
            retention: Some(KeepPolicy {
                last: 3,
                ..KeepPolicy::default()
            }),
            ..Default::default()
        },
    }
}

fn history_page() -> HistoryPage {
    HistoryPage {
        filter: HistoryFilter {
            vm: Some("web".into()),
            host: None,
            kind: Some("clone".into()),
            result: Some(HistoryResult::Done),
            contains: true,
        },
        entries: vec![history_entry()],
        stats: HistoryStats {
            jobs: 1,
            succeeded: 0,
            finished: 1,
            success_rate: Some(0.0),
            bytes_moved: 1,
            average_rate_bytes_per_sec: None,
            average_duration_secs: Some(1.0),
        },
    }
}

fn index_action(a: &Action) -> usize {
    match a {
        Action::RepoOpen { .. } => 0,
        Action::RepoUnlock { .. } => 1,
        Action::RepoVerify { .. } => 2,
        Action::RepoPrune { .. } => 3,
        Action::Refresh(_) => 4,
        Action::Connect(_) => 5,
        Action::AcceptHostKey { .. } => 6,
        Action::RejectHostKey { .. } => 7,
        Action::Passphrase { .. } => 8,
        Action::AddHost(_) => 9,
        Action::ValidateClone(_) => 10,
        Action::StartClone(_) => 11,
        Action::ValidateRestore(_) => 12,
        Action::StartRestore(_) => 13,
        Action::StartExport(_) => 14,
        Action::SaveProfile { .. } => 15,
        Action::CancelJob(_) => 16,
        Action::RetryJob(_) => 17,
        Action::QueryHistory(_) => 18,
        Action::HistoryDetail(_) => 19,
        Action::Quit => 20,
        Action::ValidateExport(_) => 21,
        Action::RepoProbe { .. } => 22,
        Action::RepoCreate { .. } => 23,
        Action::ListProfiles => 24,
        Action::RunSchedule(_) => 25,
    }
}
const ACTIONS: usize = 26;

fn actions() -> Vec<Action> {
    let policy = KeepPolicy {
        last: 3,
        daily: 7,
        ..KeepPolicy::default()
    };
    vec![
        Action::RepoOpen {
            path: "/backups/r".into(),
            passphrase: Some(Secret::new("pw".into())),
        },
        Action::RepoUnlock {
            path: "/backups/r".into(),
            unlock: Unlock::Passphrase(zeroize::Zeroizing::new("pw".into())),
        },
        Action::RepoVerify {
            path: "/backups/r".into(),
            passphrase: None,
            snapshot: Some("abcd".into()),
            read_data: true,
            repair: true,
        },
        Action::RepoPrune {
            path: "/backups/r".into(),
            passphrase: None,
            policy,
            dry_run: false,
            confirmed: Some(vec!["abcd".into()]),
        },
        Action::Refresh(None),
        Action::Connect("alpha".into()),
        Action::AcceptHostKey {
            host: "alpha".into(),
            fingerprint: "SHA256:x".into(),
        },
        Action::RejectHostKey {
            host: "alpha".into(),
        },
        Action::Passphrase {
            host: "alpha".into(),
            key_path: "/root/.ssh/id".into(),
            passphrase: Secret::new("k".into()),
        },
        Action::AddHost(crate::config::HostConfig::new("gamma", "127.0.0.3")),
        Action::ValidateClone(clone_request()),
        Action::StartClone(clone_request()),
        Action::ValidateRestore(restore_request()),
        Action::StartRestore(restore_request()),
        Action::ValidateExport(export_request()),
        Action::StartExport(export_request()),
        Action::SaveProfile {
            name: "mine".into(),
            from: "default".into(),
            replace: true,
            edit: None,
        },
        Action::SaveProfile {
            name: "mine".into(),
            from: "quick-backup".into(),
            replace: false,
            edit: Some(profile_summary().values),
        },
        Action::ListProfiles,
        Action::CancelJob(7),
        Action::RetryJob(7),
        Action::QueryHistory(history_page().filter),
        Action::HistoryDetail(1),
        Action::Quit,
        Action::RunSchedule("nightly".into()),
        Action::RepoProbe {
            path: "/backups/new".into(),
        },
        Action::RepoCreate {
            path: "/backups/new".into(),
            key: NewRepoKey::Passphrase(Secret::new("pw".into())),
        },
        Action::RepoCreate {
            path: "/backups/new".into(),
            key: NewRepoKey::Recipients(vec!["age1x".into()]),
        },
    ]
}

fn index_event(e: &Event) -> usize {
    match e {
        Event::Hosts(_) => 0,
        Event::Host(_) => 1,
        Event::HostInfo { .. } => 2,
        Event::Vms { .. } => 3,
        Event::Profiles(_) => 4,
        Event::ProfileSaved { .. } => 5,
        Event::Validation { .. } => 6,
        Event::RestoreValidation { .. } => 7,
        Event::Job(_) => 8,
        Event::JobDetail { .. } => 9,
        Event::JobDone { .. } => 10,
        Event::History(_) => 11,
        Event::HistoryDetail(_) => 12,
        Event::Error { .. } => 13,
        Event::Repo(_) => 14,
        Event::RepoLocked { .. } => 15,
        Event::RepoFailed { .. } => 16,
        Event::RepoVerified { .. } => 17,
        Event::RepoPruned { .. } => 18,
        Event::Stopped => 19,
        Event::ExportValidation { .. } => 20,
        Event::Snapshot(_) => 21,
        Event::RepoProbed { .. } => 22,
        Event::RepoCreated { .. } => 23,
        Event::Schedules(_) => 24,
    }
}
const EVENTS: usize = 25;

/// A snapshot with something in every part, folded the way the bus does.
fn snapshot() -> StateSnapshot {
    let mut s = StateSnapshot::default();
    s.set_hosts(vec![host_view()]);
    s.set_vms("alpha".into(), vec![vm()]);
    s.set_job(job_view());
    s.job_detail(7, DetailUpdate::Request(clone_request()));
    s.job_detail(7, DetailUpdate::Log(vec!["l".into()]));
    s.job_done(7, JobResult::Exported(Box::new(export_report())));
    s.set_history(history_page());
    s.set_profiles(vec![profile_summary()]);
    s
}

fn events() -> Vec<Event> {
    let detail = |update| Event::JobDetail { id: 7, update };
    let done = |result| Event::JobDone { id: 7, result };
    vec![
        Event::Hosts(vec![host_view()]),
        Event::Host(host_view()),
        Event::HostInfo {
            host: "alpha".into(),
            info: host_info(),
        },
        Event::Vms {
            host: "alpha".into(),
            vms: vec![vm()],
        },
        Event::Profiles(vec![profile_summary()]),
        Event::ProfileSaved {
            name: "mine".into(),
            path: "/p/mine.toml".into(),
        },
        Event::Validation {
            request: clone_request(),
            checklist: checklist(),
        },
        Event::RestoreValidation {
            snapshot: "abcd".into(),
            to: "beta".into(),
            checklist: checklist(),
        },
        Event::ExportValidation {
            vm: "web01".into(),
            from: "alpha".into(),
            checklist: checklist(),
        },
        Event::Job(job_view()),
        detail(DetailUpdate::Request(clone_request())),
        detail(DetailUpdate::Phase(PhaseStamp {
            phase: JobPhase::Verifying,
            at_ms: 5,
        })),
        detail(DetailUpdate::Checklist(checklist())),
        detail(DetailUpdate::Retry(RetryNote {
            at_ms: 6,
            disk: "vda".into(),
            attempt: 1,
            reason: "eof".into(),
        })),
        detail(DetailUpdate::Sample {
            rate: 10.0,
            average: Some(9.5),
        }),
        detail(DetailUpdate::Log(vec!["l".into()])),
        detail(DetailUpdate::Ended {
            message: Some("failed".into()),
        }),
        done(JobResult::Cloned(clone_report())),
        done(JobResult::Exported(Box::new(export_report()))),
        done(JobResult::Restored(restore_report())),
        done(JobResult::Failed {
            message: "m".into(),
            checklist: Some(checklist()),
        }),
        done(JobResult::Cancelled),
        Event::History(history_page()),
        Event::HistoryDetail(Box::new(history_entry())),
        Event::Error {
            host: Some("alpha".into()),
            message: "m".into(),
        },
        Event::Repo(RepoView {
            path: "/backups/r".into(),
            encrypted: true,
            read_at: 10,
            snapshots: vec![SnapshotRow {
                id: "abcd".into(),
                vm: "web01".into(),
                host: "alpha".into(),
                time: 9,
                profile: "quick-backup".into(),
                live: true,
                disks: vec!["vda".into()],
                virtual_bytes: 10,
                data_bytes: 5,
                new_bytes: 4,
            }],
        }),
        Event::RepoLocked {
            path: "/backups/r".into(),
            message: "needs a passphrase".into(),
        },
        Event::RepoProbed {
            path: "/backups/new".into(),
            place: RepoPlace::Absent,
        },
        Event::RepoProbed {
            path: "/etc".into(),
            place: RepoPlace::Other { reason: "r".into() },
        },
        Event::RepoCreated {
            path: "/backups/new".into(),
            encryption: "passphrase".into(),
        },
        Event::RepoFailed {
            path: "/backups/r".into(),
            message: "m".into(),
        },
        Event::RepoVerified {
            path: "/backups/r".into(),
            report: VerifyView {
                read_data: true,
                snapshots: 1,
                chunks: 2,
                problems: vec!["p".into()],
                repairable: 1,
                repaired: 0,
            },
        },
        Event::RepoPruned {
            path: "/backups/r".into(),
            policy: KeepPolicy::default(),
            report: PruneView {
                dry_run: true,
                snapshots: vec![PruneLine {
                    id: "abcd".into(),
                    vm: "web01".into(),
                    time: 9,
                    keep: true,
                    reasons: vec!["last 1".into()],
                }],
                chunks_removed: 0,
                bytes_freed: 0,
            },
        },
        Event::Stopped,
        Event::Snapshot(Box::new(snapshot())),
        Event::Schedules(vec![crate::model::schedule::ScheduleView {
            name: "nightly".into(),
            cron: "0 2 * * *".into(),
            job: "export".into(),
            target: "web* on alpha to /srv/r".into(),
            next_ms: Some(1_700_000_000_000),
            running: false,
            last: Some(crate::model::schedule::ScheduleRun {
                due_ms: 1_699_900_000_000,
                started_ms: 1_699_900_000_100,
                ended_ms: Some(1_699_900_100_000),
                result: Some(crate::model::schedule::RunResult::Done),
                message: None,
                jobs: vec![7, 8],
            }),
        }]),
    ]
}

#[test]
fn every_action_round_trips_through_json() {
    let samples = actions();
    let covered: BTreeSet<usize> = samples.iter().map(index_action).collect();
    assert_eq!(covered.len(), ACTIONS, "an Action variant has no sample");
    for a in &samples {
        round_trip(a);
    }
}

#[test]
fn every_event_round_trips_through_json() {
    let samples = events();
    let covered: BTreeSet<usize> = samples.iter().map(index_event).collect();
    assert_eq!(covered.len(), EVENTS, "an Event variant has no sample");
    for e in &samples {
        round_trip(e);
    }
}

#[test]
fn every_job_request_round_trips_with_its_kind() {
    for (req, kind) in [
        (JobRequest::Clone(clone_request()), JobKind::Clone),
        (JobRequest::Export(export_request()), JobKind::Export),
        (JobRequest::Restore(restore_request()), JobKind::Restore),
    ] {
        assert_eq!(req.kind(), kind);
        let json = serde_json::to_value(&req).expect("serialises");
        assert_eq!(json["kind"], kind.label());
        round_trip(&req);
    }
}

#[test]
fn secrets_never_show_in_debug() {
    let text = format!("{:?} {:?}", actions(), export_request());
    assert!(!text.contains("\"pw\""), "{text}");
    assert!(!text.contains("\"k\""), "{text}");
}

/// A front end attached to a daemon that predates job numbers reads its
/// views as unnumbered.
#[test]
fn a_job_view_without_a_number_reads_as_unnumbered() {
    let mut json = serde_json::to_value(job_view()).expect("serialises");
    json.as_object_mut().map(|o| o.remove("number"));
    let read: JobView = serde_json::from_value(json).expect("reads");
    assert_eq!(read.number, 0);
    assert_eq!(read.label(), "…00007");
    assert_eq!(
        JobView {
            number: 0,
            ..job_view()
        },
        read
    );
}
