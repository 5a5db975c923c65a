//! The job queue and retry through the backend, against the lab: a second
//! clone waits while the first holds the host, and a failed job is retried
//! once its cause is gone. Each job's log is captured by the job log layer.

mod clone_util;

use clone_util::{Cleanup, lab};
use kvm_clone::backend::messages::{Action, Event, JobResult};
use kvm_clone::backend::{self, Backend, Options};
use kvm_clone::config::{self, JobSettings};
use kvm_clone::jobs::log::{JobLogLayer, JobLogs};
use kvm_clone::model::detail::DetailUpdate;
use kvm_clone::model::{CloneRequest, ExportRequest, JobPhase, JobView, Unlock};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Upper bound for one wait; it only keeps a broken run from hanging.
const BOUND: Duration = Duration::from_secs(240);

/// Private data and config directories for the whole test binary, and the
/// job log layer, set up once before any backend starts.
fn setup() -> &'static PathBuf {
    static DIRS: OnceLock<PathBuf> = OnceLock::new();
    DIRS.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        // SAFETY: set once, before this binary starts any backend thread
        // that reads them; every test calls setup() first.
        unsafe {
            std::env::set_var("KVM_CLONE_DATA_DIR", dir.join("data"));
            std::env::set_var("XDG_CONFIG_HOME", dir.join("config"));
        }
        use tracing_subscriber::layer::SubscriberExt;
        let sub = tracing_subscriber::registry().with(JobLogLayer::global());
        tracing::subscriber::set_global_default(sub).expect("the only subscriber");
        dir
    })
}

/// A backend on the lab's two hosts with `per_host` jobs per host.
struct Harness {
    b: Backend,
    /// Every job's last view, and what each job was asked.
    views: BTreeMap<u64, JobView>,
    requests: BTreeMap<u64, CloneRequest>,
    logs: BTreeMap<u64, Vec<String>>,
    phases: BTreeMap<u64, Vec<JobPhase>>,
}

impl Harness {
    async fn start(per_host: usize) -> Harness {
        let dir = setup();
        let lab = lab();
        let mut loaded = config::load(Some(&lab.config())).expect("lab config");
        loaded.config.jobs = Some(JobSettings { per_host, max: 4 });
        let options = Options {
            user_known_hosts: Some(lab.known_hosts()),
            ssh_config: Some(dir.join("no-ssh-config")),
            ..Options::default()
        };
        let mut h = Harness {
            b: backend::spawn(loaded, options),
            views: BTreeMap::new(),
            requests: BTreeMap::new(),
            logs: BTreeMap::new(),
            phases: BTreeMap::new(),
        };
        let mut up = std::collections::BTreeSet::new();
        h.until("both hosts' VMs", |ev, _| {
            if let Event::Vms { host, .. } = ev {
                up.insert(host.clone());
            }
            up.len() == 2
        })
        .await;
        h
    }

    fn send(&self, a: Action) {
        self.b.actions.send(a).expect("backend alive");
    }

    /// Reads events, keeping the views and details, until `done` says so.
    async fn until<T>(
        &mut self,
        what: &str,
        mut done: impl FnMut(&Event, &Harness) -> T,
    ) -> <T as Outcome>::Out
    where
        T: Outcome,
    {
        let wait = async {
            loop {
                let ev = self.b.events.recv().await;
                let Some(ev) = ev else {
                    panic!("backend stopped while waiting for {what}");
                };
                self.note(&ev);
                if let Some(out) = done(&ev, self).take() {
                    return out;
                }
            }
        };
        tokio::time::timeout(BOUND, wait)
            .await
            .unwrap_or_else(|_| panic!("no {what} within {BOUND:?}"))
    }

    fn note(&mut self, ev: &Event) {
        match ev {
            Event::Job(v) => {
                self.views.insert(v.id, v.clone());
            }
            Event::JobDetail { id, update } => match update {
                DetailUpdate::Request(r) => {
                    self.requests.insert(*id, r.clone());
                }
                DetailUpdate::Log(lines) => self.logs.entry(*id).or_default().extend(lines.clone()),
                DetailUpdate::Phase(p) => self.phases.entry(*id).or_default().push(p.phase),
                _ => {}
            },
            _ => {}
        }
    }

    /// The job made for the request with this new name (the newest one).
    fn job_named(&self, name: &str) -> Option<u64> {
        self.requests
            .iter()
            .rev()
            .find(|(_, r)| r.new_name == name)
            .map(|(id, _)| *id)
    }

    async fn quit(self) {
        self.send(Action::Quit);
        tokio::time::timeout(BOUND, self.b.task)
            .await
            .expect("backend stops")
            .expect("no panic");
    }
}

/// What a wait returns: `true` for "done", or `Some(value)`.
trait Outcome {
    type Out;
    fn take(self) -> Option<Self::Out>;
}

impl Outcome for bool {
    type Out = ();
    fn take(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Outcome for Option<T> {
    type Out = T;
    fn take(self) -> Option<T> {
        self
    }
}

fn request(new_name: &str) -> CloneRequest {
    CloneRequest {
        from: "alpha".into(),
        vm: "archive01".into(),
        to: "beta".into(),
        new_name: new_name.into(),
        profile: "default".into(),
        start: false,
    }
}

fn done_of(ev: &Event, id: u64) -> Option<JobResult> {
    match ev {
        Event::JobDone { id: i, result } if *i == id => Some(result.clone()),
        _ => None,
    }
}

fn ended(p: JobPhase) -> bool {
    matches!(p, JobPhase::Done | JobPhase::Failed | JobPhase::Cancelled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_clone_on_the_same_hosts_waits_for_the_first() {
    let pid = std::process::id();
    let (a, b) = (format!("queue-a-{pid}"), format!("queue-b-{pid}"));
    let _clean = [a.clone(), b.clone()].map(|name| Cleanup { host: "beta", name });
    let mut h = Harness::start(1).await;
    h.send(Action::StartClone(request(&a)));
    h.send(Action::StartClone(request(&b)));
    let (ja, jb) = h
        .until("both jobs listed", |_, h| {
            Some((h.job_named(&a)?, h.job_named(&b)?))
        })
        .await;
    // The second waits, first in line, while the first runs.
    h.until("the second queued while the first runs", |_, h| {
        let (va, vb) = (h.views.get(&ja)?, h.views.get(&jb)?);
        let first_runs = va.phase != JobPhase::Queued && !ended(va.phase);
        (first_runs && vb.phase == JobPhase::Queued && vb.queue_position == Some(1)).then_some(())
    })
    .await;
    // It leaves the queue only once the first has ended.
    let mut a_done = None;
    let mut b_done = None;
    h.until("both jobs done", |ev, h| {
        if let Some(r) = done_of(ev, ja) {
            a_done = Some(r);
        }
        if let Some(vb) = h.views.get(&jb)
            && vb.phase != JobPhase::Queued
        {
            assert!(
                a_done.is_some(),
                "job {jb} started ({:?}) while job {ja} still ran",
                vb.phase
            );
        }
        if let Some(r) = done_of(ev, jb) {
            b_done = Some(r);
        }
        a_done.is_some() && b_done.is_some()
    })
    .await;
    for (name, r) in [(&a, a_done), (&b, b_done)] {
        assert!(matches!(r, Some(JobResult::Cloned(_))), "{name}: {r:?}");
        assert!(lab().domains("beta").contains(name), "{name} not on beta");
    }
    // The detail saw every phase, from the queue on, with the job's log.
    let phases = &h.phases[&jb];
    assert_eq!(phases.first(), Some(&JobPhase::Queued), "{phases:?}");
    assert!(phases.contains(&JobPhase::Copying), "{phases:?}");
    assert_eq!(phases.last(), Some(&JobPhase::Done), "{phases:?}");
    let log = &h.logs[&ja];
    assert!(
        log.iter()
            .any(|l| l.contains("clone phase") && l.contains("Copying")),
        "{log:?}"
    );
    assert!(
        log.iter().all(|l| !l.contains(&format!("c{jb}"))),
        "job {jb}'s lines in job {ja}'s log: {log:?}"
    );
    // The captured log went into the job's history row.
    let (db, _) = kvm_clone::jobs::history::HistoryDb::open(&setup().join("data")).unwrap();
    let rows = db
        .list(
            &kvm_clone::jobs::history::HistoryFilter::default(),
            100,
            true,
        )
        .unwrap();
    let row = rows
        .iter()
        .find(|r| r.job == jb)
        .expect("job b's history row");
    assert!(
        row.log
            .iter()
            .any(|l| l.contains("clone phase") && l.contains("Copying")),
        "{:?}",
        row.log
    );
    assert!(JobLogs::global().take(jb).is_empty(), "log left behind");
    h.quit().await;
}

/// A domain on beta that only holds a name.
fn placeholder_on_beta(name: &str) {
    let file = setup().join(format!("{name}.xml"));
    let xml = format!(
        "<domain type='qemu'><name>{name}</name><memory unit='MiB'>16</memory>\
         <os><type arch='x86_64'>hvm</type></os></domain>"
    );
    std::fs::write(&file, xml).expect("write xml");
    lab().virsh("beta", &["define", file.to_str().expect("utf8")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_failed_is_retried_once_its_cause_is_gone() {
    let name = format!("queue-retry-{}", std::process::id());
    let _clean = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    placeholder_on_beta(&name);
    let mut h = Harness::start(2).await;
    h.send(Action::StartClone(request(&name)));
    let first = h.until("the job listed", |_, h| h.job_named(&name)).await;
    let result = h
        .until("the first run's end", |ev, _| done_of(ev, first))
        .await;
    let JobResult::Failed {
        checklist: Some(c), ..
    } = &result
    else {
        panic!("expected a failed checklist, got {result:?}");
    };
    assert!(
        c.failures().any(|i| i.message.contains(&name)),
        "{}",
        c.render_text()
    );
    // The cause goes away; the same request runs again as a new job.
    lab().virsh("beta", &["undefine", &name]);
    h.send(Action::RetryJob(first));
    let second = h
        .until("the retry listed", |_, h| {
            h.job_named(&name).filter(|id| *id != first)
        })
        .await;
    assert_eq!(h.requests[&second], h.requests[&first]);
    let result = h
        .until("the retry's end", |ev, _| done_of(ev, second))
        .await;
    assert!(matches!(result, JobResult::Cloned(_)), "{result:?}");
    assert!(lab().domains("beta").contains(&name));
    // A job still running or unknown is not retried.
    h.send(Action::RetryJob(12345));
    let msg = h
        .until("the refusal", |ev, _| match ev {
            Event::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .await;
    assert!(msg.contains("12345"), "{msg}");
    h.quit().await;
}

/// Issue: a failed export stayed "validating" in the jobs pane. A job that
/// fails at any phase ends with a view in `failed`, carrying its error,
/// and can be retried as a new job.
#[tokio::test]
async fn an_export_that_fails_its_checks_ends_failed_and_is_retried() {
    let mut h = Harness::start(2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = dir.path().join("not-a-repository");
    std::fs::create_dir(&plain).expect("dir");
    h.send(Action::StartExport(ExportRequest {
        vm: "archive01".into(),
        from: "alpha".into(),
        repo: plain.clone(),
        profile: "quick-backup".into(),
        unlock: Unlock::None,
    }));
    let failed = |ev: &Event, _: &Harness| match ev {
        Event::JobDone {
            id,
            result: JobResult::Failed { checklist, .. },
        } => Some((*id, checklist.is_some())),
        _ => None,
    };
    let (first, had_checklist) = h.until("the export to fail", failed).await;
    assert!(had_checklist, "a failed check carries the checklist");
    let view = h.views.get(&first).expect("a view of the export");
    assert_eq!(view.phase, JobPhase::Failed, "{view:?}");
    let message = view.message.clone().unwrap_or_default();
    assert!(message.contains("not a kvm-clone repository"), "{view:?}");

    h.send(Action::RetryJob(first));
    let (second, _) = h.until("the retry to fail the same way", failed).await;
    assert_ne!(second, first, "a retry is a new job");
    assert_eq!(h.views[&second].phase, JobPhase::Failed);
    h.quit().await;
}

/// Issue: a read-back as long as the copy showed `verifying 300 MiB/300 MiB
/// - - 100%` for its whole length. The verify phase reports its own bytes,
/// rising from 0, with a rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_phase_shows_the_read_back_progress() {
    let dir = setup();
    let profiles = dir.join("config/kvm-clone/profiles");
    std::fs::create_dir_all(&profiles).expect("profiles dir");
    std::fs::write(
        profiles.join("slow-verify.toml"),
        "name = \"slow-verify\"\nverify = true\nbandwidth_limit = \"24MiB/s\"\n",
    )
    .expect("profile");
    let name = format!("queue-verify-{}", std::process::id());
    let _clean = Cleanup {
        host: "beta",
        name: name.clone(),
    };
    let mut h = Harness::start(2).await;
    let mut req = request(&name);
    req.profile = "slow-verify".into();
    h.send(Action::StartClone(req));
    let id = h.until("the job listed", |_, h| h.job_named(&name)).await;
    let mut verifying: Vec<JobView> = Vec::new();
    let result = h
        .until("the clone's end", |ev, _| {
            if let Event::Job(v) = ev
                && v.id == id
                && v.phase == JobPhase::Verifying
            {
                verifying.push(v.clone());
            }
            done_of(ev, id)
        })
        .await;
    assert!(matches!(result, JobResult::Cloned(_)), "{result:?}");
    let done: Vec<u64> = verifying.iter().map(JobView::bytes_done).collect();
    assert!(verifying.len() >= 3, "{done:?}");
    assert!(
        done.iter()
            .any(|&d| d > 0 && d < verifying[verifying.len() - 1].bytes_total()),
        "no read-back progress between 0 and the end: {done:?}"
    );
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");
    assert!(
        verifying.iter().any(|v| v.rate_bytes_per_sec > 0.0),
        "no rate while verifying"
    );
    h.quit().await;
}
