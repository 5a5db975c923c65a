use super::*;
use crate::model::detail::PhaseStamp;
use crate::model::history::{HistoryFilter, HistoryStats};
use crate::model::profile::{ProfileKind, ProfileSource};
use crate::model::{ConnState, JobKind, LiveClone, VmState};

fn host(name: &str, state: ConnState) -> HostView {
    HostView {
        name: name.into(),
        endpoint: format!("root@{name}:22"),
        state,
        info: None,
    }
}

fn info(hostname: &str) -> HostInfo {
    HostInfo {
        hostname: hostname.into(),
        libvirt_version: "9.0.0".into(),
        qemu_version: "7.2.0".into(),
        cpus: 4,
        memory_total_bytes: 1 << 34,
        memory_free_bytes: 1 << 33,
        pools: Vec::new(),
    }
}

fn vm(name: &str) -> VmInfo {
    VmInfo {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        state: VmState::Running,
        vcpus: 1,
        memory_bytes: 1 << 30,
        disks: Vec::new(),
        nics: Vec::new(),
        live_clone: LiveClone {
            possible: true,
            reason: None,
        },
        xml: String::new(),
    }
}

fn job(id: u64, phase: JobPhase) -> JobView {
    JobView {
        id,
        number: 0,
        kind: JobKind::Clone,
        vm: "web01".into(),
        from: "alpha".into(),
        to: "beta".into(),
        phase,
        disks: Vec::new(),
        rate_bytes_per_sec: 0.0,
        eta_secs: None,
        message: None,
        queue_position: None,
    }
}

fn page(vm: &str) -> HistoryPage {
    HistoryPage {
        filter: HistoryFilter {
            vm: Some(vm.into()),
            ..HistoryFilter::default()
        },
        entries: Vec::new(),
        stats: HistoryStats::default(),
    }
}

#[test]
fn hosts_and_vms_follow_the_host_events() {
    let mut s = StateSnapshot::default();
    s.set_hosts(vec![
        host("alpha", ConnState::Connecting),
        host("beta", ConnState::Idle),
    ]);
    s.set_vms("alpha".into(), vec![vm("web01")]);
    s.set_vms("beta".into(), vec![vm("db01")]);
    s.set_host(host("alpha", ConnState::Up));
    s.set_host_info("alpha", info("alpha.lan"));
    // Info for a host that is not listed changes nothing.
    s.set_host_info("nowhere", info("x"));
    s.set_host(host("gamma", ConnState::Connecting));

    let names: Vec<&str> = s.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert_eq!(s.hosts[0].state, ConnState::Up);
    assert_eq!(s.hosts[0].info, Some(info("alpha.lan")));
    assert_eq!(s.vms["beta"], vec![vm("db01")]);

    // beta leaves the config: its VMs go with it.
    s.set_hosts(vec![host("alpha", ConnState::Up)]);
    assert_eq!(s.hosts.len(), 1);
    assert_eq!(s.vms.keys().collect::<Vec<_>>(), ["alpha"]);
    assert_eq!(s.vms["alpha"], vec![vm("web01")]);
}

#[test]
fn a_job_keeps_its_latest_view_detail_and_result() {
    let mut s = StateSnapshot::default();
    s.set_job(job(3, JobPhase::Queued));
    let stamp = |phase, at_ms| DetailUpdate::Phase(PhaseStamp { phase, at_ms });
    s.job_detail(3, stamp(JobPhase::Queued, 1));
    s.set_job(job(3, JobPhase::Copying));
    s.job_detail(3, stamp(JobPhase::Copying, 2));
    s.job_detail(3, DetailUpdate::Log(vec!["copying vda".into()]));
    s.set_job(job(3, JobPhase::Failed));
    s.job_detail(
        3,
        DetailUpdate::Ended {
            message: Some("no space".into()),
        },
    );
    let failed = JobResult::Failed {
        message: "no space".into(),
        checklist: None,
    };
    s.job_done(3, failed.clone());
    // Detail and results of jobs never listed are dropped.
    s.job_detail(9, DetailUpdate::Log(vec!["stray".into()]));
    s.job_done(9, JobResult::Cancelled);

    assert_eq!(s.jobs.keys().collect::<Vec<_>>(), [&3]);
    let j = &s.jobs[&3];
    assert_eq!(j.view.phase, JobPhase::Failed);
    assert_eq!(j.detail.entered(JobPhase::Copying), Some(2));
    assert_eq!(j.detail.log, ["copying vda"]);
    assert!(j.detail.ended);
    assert_eq!(j.detail.error.as_deref(), Some("no space"));
    assert_eq!(j.result, Some(failed));
}

#[test]
fn only_the_newest_ended_jobs_are_kept_and_running_ones_stay() {
    let mut s = StateSnapshot::default();
    // Job 1 runs all along; jobs 2.. end one after another.
    s.set_job(job(1, JobPhase::Copying));
    let last = ENDED_JOBS_KEPT as u64 + 11;
    for id in 2..=last {
        s.set_job(job(id, JobPhase::Queued));
        s.set_job(job(id, JobPhase::Done));
    }
    assert_eq!(s.jobs.len(), ENDED_JOBS_KEPT + 1);
    assert_eq!(s.jobs[&1].view.phase, JobPhase::Copying);
    let ended: Vec<u64> = s.jobs.keys().copied().filter(|id| *id != 1).collect();
    let newest: Vec<u64> = (last + 1 - ENDED_JOBS_KEPT as u64..=last).collect();
    assert_eq!(ended, newest);
}

#[test]
fn history_and_profiles_are_replaced_by_the_latest() {
    let mut s = StateSnapshot::default();
    assert_eq!(s.history, None);
    s.set_history(page("web"));
    s.set_history(page("db"));
    assert_eq!(s.history, Some(page("db")));
    let summary = |name: &str| ProfileSummary {
        name: name.into(),
        kind: ProfileKind::Clone,
        description: String::new(),
        source: ProfileSource::BuiltIn,
        overrides_builtin: false,
        settings: Vec::new(),
        values: Default::default(),
    };
    s.set_profiles(vec![summary("default")]);
    s.set_profiles(vec![summary("default"), summary("mine")]);
    let names: Vec<&str> = s.profiles.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "mine"]);
}
