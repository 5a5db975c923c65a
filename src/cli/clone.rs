//! `kvm-clone clone`: validate, run and report one clone job.

use super::load;
use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend;
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::headless;
use std::path::Path;
use std::time::Duration;

/// Exit codes of `kvm-clone clone` (docs/json.md).
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const INVALID: u8 = 3;
    pub const CANCELLED: u8 = 4;
    /// A host could not be reached: try again later (EX_TEMPFAIL).
    pub const UNREACHABLE: u8 = 75;
}

#[derive(serde::Serialize)]
struct CloneJson<'a> {
    ok: bool,
    job_id: Option<u64>,
    job_number: Option<u32>,
    result: Option<&'a kvm_clone::model::CloneReport>,
    error: Option<&'a str>,
    validation: Option<&'a kvm_clone::model::Checklist>,
}

fn print_clone_json(
    job: Option<Job>,
    result: Option<&kvm_clone::model::CloneReport>,
    error: Option<&str>,
    validation: Option<&kvm_clone::model::Checklist>,
) -> Result<()> {
    let doc = CloneJson {
        ok: result.is_some(),
        job_id: job.map(|j| j.id),
        job_number: job.map(|j| j.number),
        result,
        error,
        validation: validation.or(result.map(|r| &r.checklist)),
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// `kvm-clone clone`: waits for both hosts, runs the job, reports. Ctrl-C
/// cancels the job, which removes what it created before the command exits.
pub async fn clone(
    config: Option<&Path>,
    via: &super::link::Via,
    request: kvm_clone::model::CloneRequest,
    json: bool,
    dry_run: bool,
) -> Result<std::process::ExitCode> {
    use kvm_clone::backend::messages::JobResult;
    use std::io::Write;
    let loaded = load(config)?;
    for h in [&request.from, &request.to] {
        super::require_host(&loaded, h)?;
    }
    if request.from == request.to {
        return Err(eyre!(
            "--from and --to name the same host ({})",
            request.from
        ));
    }
    let super::link::Link {
        actions,
        mut events,
        task,
        earlier_jobs,
        ..
    } = super::link::open(via, loaded, backend::Options::default()).await?;
    // Both hosts must be up with libvirt before the job can start.
    let hosts = [request.from.as_str(), request.to.as_str()];
    if let Some(code) = super::wait::hosts_ready(&hosts, &actions, &mut events).await? {
        return Ok(std::process::ExitCode::from(code));
    }
    if dry_run {
        return dry_run_report(&actions, &mut events, request, json, task).await;
    }
    actions
        .send(Action::StartClone(request.clone()))
        .map_err(|_| eyre!("the backend stopped"))?;
    let ours = Ours {
        kind: kvm_clone::model::JobKind::Clone,
        vm: Some(&request.vm),
        hosts: &hosts,
        earlier: &earlier_jobs,
    };
    let code = follow_job(&actions, &mut events, json, &ours, |job, result| {
        Ok(match &result {
            JobResult::Cloned(r) => {
                if json {
                    print_clone_json(Some(job), Some(r), None, None)?;
                } else {
                    println!(
                        "cloned {} from {} to {} as {} ({}): {} moved{}{}",
                        request.vm,
                        request.from,
                        request.to,
                        r.new_name,
                        r.new_uuid,
                        headless::size(r.bytes_moved),
                        if r.verified { ", verified" } else { "" },
                        if r.started { ", started" } else { "" },
                    );
                    for w in &r.warnings {
                        eprintln!("kvm-clone: warning: {w}");
                    }
                }
                0
            }
            JobResult::Failed { message, checklist } => {
                if json {
                    print_clone_json(Some(job), None, Some(message), checklist.as_ref())?;
                } else {
                    if let Some(c) = checklist {
                        print!("{}", c.render_text());
                    }
                    eprintln!("kvm-clone: clone failed: {message}");
                }
                if checklist.is_some() {
                    exit::INVALID
                } else {
                    exit::FAILED
                }
            }
            // Not a clone's result: this command started no restore or export.
            JobResult::Restored(_) | JobResult::Exported(_) => exit::FAILED,
            JobResult::Cancelled => {
                if json {
                    print_clone_json(Some(job), None, Some("cancelled"), None)?;
                } else {
                    eprintln!("kvm-clone: cancelled; nothing was left on {}", request.to);
                }
                exit::CANCELLED
            }
        })
    })
    .await?;
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(90), task).await;
    let _ = std::io::stdout().flush();
    Ok(std::process::ExitCode::from(code))
}

/// `clone --dry-run`: the pre-flight checklist alone; exit 0 when the clone
/// could start, 3 when a check fails. Read-only on both hosts.
async fn dry_run_report(
    actions: &tokio::sync::mpsc::UnboundedSender<Action>,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    request: kvm_clone::model::CloneRequest,
    json: bool,
    task: tokio::task::JoinHandle<()>,
) -> Result<std::process::ExitCode> {
    actions
        .send(Action::ValidateClone(request.clone()))
        .map_err(|_| eyre!("the backend stopped"))?;
    let outcome = loop {
        match events.recv().await {
            None | Some(Event::Stopped) => break Err(eyre!("the backend stopped")),
            Some(Event::Validation {
                request: r,
                checklist,
            }) if r == request => break Ok(checklist),
            Some(Event::Error { host, message }) if host.as_deref() == Some(&request.from) => {
                break Err(eyre!("{message}"));
            }
            Some(_) => {}
        }
    };
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    let checklist = outcome?;
    if json {
        println!("{}", serde_json::to_string_pretty(&checklist)?);
    } else {
        print!("{}", checklist.render_text());
    }
    Ok(std::process::ExitCode::from(if checklist.ok() {
        0
    } else {
        exit::INVALID
    }))
}

/// Which job is the command's own: with an in-process backend the only
/// one; with a daemon the first new job of this kind for these hosts and
/// VM (jobs that were there when the command attached never count).
pub(super) struct Ours<'a> {
    pub kind: kvm_clone::model::JobKind,
    /// None: any VM (a restore's is not known before the job reads it).
    pub vm: Option<&'a str>,
    pub hosts: &'a [&'a str],
    pub earlier: &'a std::collections::BTreeSet<u64>,
}

impl Ours<'_> {
    pub(super) fn is(&self, known: Option<u64>, v: &kvm_clone::model::JobView) -> bool {
        match known {
            Some(id) => v.id == id,
            None => {
                !self.earlier.contains(&v.id)
                    && v.kind == self.kind
                    && self.vm.is_none_or(|vm| v.vm == vm)
                    && (self.hosts.contains(&v.from.as_str())
                        || self.hosts.contains(&v.to.as_str()))
            }
        }
    }

    /// An error before the job starts is the command's when it names no
    /// host or one of its hosts.
    pub(super) fn concerns(&self, host: Option<&str>) -> bool {
        host.is_none_or(|h| self.hosts.contains(&h))
    }
}

/// The command's job, once its first view has come: its id (the key in
/// the JSON, the logs and the history) and the number the backend gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Job {
    pub id: u64,
    pub number: u32,
}

impl Job {
    pub(super) fn of(v: &kvm_clone::model::JobView) -> Job {
        Job {
            id: v.id,
            number: v.number,
        }
    }

    /// "#3", as the TUI names it.
    pub(super) fn label(&self) -> String {
        kvm_clone::model::job_label(self.id, self.number)
    }
}

/// Phase, bytes, rate, ETA: "Copying: 1.2 GiB of 3 GiB at 12 MiB/s, ETA 65s".
pub(super) fn progress_text(v: &kvm_clone::model::JobView) -> String {
    format!(
        "{:?}: {} of {} at {}/s{}",
        v.phase,
        headless::size(v.bytes_done()),
        headless::size(v.bytes_total()),
        headless::size(v.rate_bytes_per_sec as u64),
        v.eta_secs
            .map(|s| format!(", ETA {s}s"))
            .unwrap_or_default()
    )
}

/// A line about a job, named as the TUI names it: "job #3: Copying: …".
fn about(job: Job, what: &str) -> String {
    format!("job {}: {what}", job.label())
}

/// One line about the job on stderr (stdout stays for the result).
pub(super) fn job_line(v: &kvm_clone::model::JobView, what: &str) {
    eprintln!("{}", about(Job::of(v), what));
}

fn cancelling_text(job: Job) -> String {
    format!("kvm-clone: cancelling job {}; cleaning up…", job.label())
}

/// Ctrl-C cancels the job: said on stderr.
pub(super) fn cancelling(job: Job) {
    eprintln!("{}", cancelling_text(job));
}

/// Follows the job a start action created until it ends: a progress line a
/// second on stderr (unless `json`), Ctrl-C cancels it (it cleans up
/// first), and `done` prints the result and picks the exit code.
pub(super) async fn follow_job(
    actions: &tokio::sync::mpsc::UnboundedSender<Action>,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    json: bool,
    ours: &Ours<'_>,
    mut done: impl FnMut(Job, kvm_clone::backend::messages::JobResult) -> Result<u8>,
) -> Result<u8> {
    let mut job: Option<Job> = None;
    let job_id = |job: Option<Job>| job.map(|j| j.id);
    // A Ctrl-C before the job's first view cancels it once its id is known.
    let mut interrupted = false;
    let mut sigint = super::interrupt::interrupts()?;
    let mut last_line = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = sigint.recv() => {
                interrupted = true;
                if let Some(j) = job {
                    cancelling(j);
                    let _ = actions.send(Action::CancelJob(j.id));
                }
            }
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => return Ok(exit::FAILED),
                // A daemon's other jobs are not this command's.
                Some(Event::Job(v)) if !ours.is(job_id(job), &v) => {}
                Some(Event::JobDone { id, .. }) if job_id(job) != Some(id) => {}
                Some(Event::Job(v)) => {
                    if interrupted && job.is_none() {
                        cancelling(Job::of(&v));
                        let _ = actions.send(Action::CancelJob(v.id));
                    }
                    job = Some(Job::of(&v));
                    // stdout stays for the result.
                    if !json && last_line.elapsed() >= Duration::from_secs(1) {
                        last_line = std::time::Instant::now();
                        job_line(&v, &progress_text(&v));
                    }
                }
                Some(Event::Error { host, message }) if job.is_none() && ours.concerns(host.as_deref()) => {
                    eprintln!("kvm-clone: {}{message}", host.map(|h| format!("{h}: ")).unwrap_or_default());
                    return Ok(exit::FAILED);
                }
                Some(Event::JobDone { id, result }) => {
                    return done(job.unwrap_or(Job { id, number: 0 }), result);
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: the headless lines named the job by its 16-digit id; they
    /// use the number the TUI shows.
    #[test]
    fn progress_and_cancel_lines_name_the_job_by_its_number() {
        let job = Job {
            id: 1_838_000_000_123_001,
            number: 3,
        };
        assert_eq!(
            about(job, "Copying: 1 MiB of 2 MiB at 0 B/s"),
            "job #3: Copying: 1 MiB of 2 MiB at 0 B/s"
        );
        assert_eq!(
            cancelling_text(job),
            "kvm-clone: cancelling job #3; cleaning up…"
        );
        // A daemon too old to number its jobs: the id's last digits.
        let old = Job { number: 0, ..job };
        assert_eq!(
            cancelling_text(old),
            "kvm-clone: cancelling job …23001; cleaning up…"
        );
    }
}
