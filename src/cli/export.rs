//! `kvm-clone export`: one export job, headless.

use super::clone::{Job, cancelling, exit, job_line, progress_text};
use super::load;
use super::unlock::{RepoArgs, unlock};
use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend;
use kvm_clone::backend::messages::{Action, Event, JobResult};
use kvm_clone::headless;
use kvm_clone::jobs::export::{DEFAULT_PROFILE, ExportReport, ExportRequest};
use kvm_clone::model::Checklist;
use kvm_clone::repo::Unlock;
use std::path::Path;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Source host.
    #[arg(long, value_name = "HOST")]
    pub from: String,
    /// The VM to export.
    #[arg(long, value_name = "NAME")]
    pub vm: String,
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Export profile (docs/profiles.md); default: quick-backup.
    #[arg(long, value_name = "P", default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Run the pre-flight checks only and print the checklist; nothing is
    /// exported (exit 0, or 3 when a check fails).
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result as JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct ExportJson<'a> {
    ok: bool,
    job_id: Option<u64>,
    job_number: Option<u32>,
    result: Option<&'a ExportReport>,
    error: Option<&'a str>,
    /// The pre-flight checklist, when a failed check stopped the export
    /// (named as in the clone's and restore's JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<&'a Checklist>,
}

fn print_json(
    job: Option<Job>,
    result: Option<&ExportReport>,
    error: Option<&str>,
    checklist: Option<&Checklist>,
) -> Result<()> {
    let doc = ExportJson {
        ok: result.is_some(),
        job_id: job.map(|j| j.id),
        job_number: job.map(|j| j.number),
        result,
        error,
        validation: checklist,
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// `kvm-clone export`: waits for the host, runs the job, reports. Ctrl-C
/// cancels the job: what it made on the host goes, no snapshot is written.
pub async fn export(
    config: Option<&Path>,
    via: &super::link::Via,
    args: ExportArgs,
) -> Result<std::process::ExitCode> {
    use std::io::Write;
    let loaded = load(config)?;
    super::require_host(&loaded, &args.from)?;
    let unlock = unlock(&args.repo)?;
    let super::link::Link {
        actions,
        mut events,
        task,
        earlier_jobs,
        ..
    } = super::link::open(
        via,
        loaded,
        backend::Options {
            // The other hosts play no part: neither connecting to them nor
            // their being down should touch an export.
            only_host: Some(args.from.clone()),
            ..backend::Options::default()
        },
    )
    .await?;
    // The key derivation (scrypt, a good part of a small export's time)
    // runs in the backend while it connects to the host; the job then
    // finds the repository open. If it fails, the job opens it itself and
    // reports why, as it always did.
    if !matches!(unlock, Unlock::None) {
        let _ = actions.send(Action::RepoUnlock {
            path: args.repo.repo.clone(),
            unlock: unlock.clone(),
        });
    }
    if let Some(code) =
        super::wait::hosts_ready(&[args.from.as_str()], &actions, &mut events).await?
    {
        return Ok(std::process::ExitCode::from(code));
    }
    let request = ExportRequest {
        vm: args.vm.clone(),
        from: args.from.clone(),
        repo: args.repo.repo.clone(),
        profile: args.profile.clone(),
        unlock,
    };
    if args.dry_run {
        return dry_run_report(&actions, &mut events, request, args.json, task).await;
    }
    actions
        .send(Action::StartExport(request))
        .map_err(|_| eyre!("the backend stopped"))?;
    let json = args.json;
    let hosts = [args.from.as_str()];
    let ours = super::clone::Ours {
        kind: kvm_clone::model::JobKind::Export,
        vm: Some(&args.vm),
        hosts: &hosts,
        earlier: &earlier_jobs,
    };
    let mut job: Option<Job> = None;
    let job_id = |job: Option<Job>| job.map(|j| j.id);
    // A Ctrl-C before the job's first view cancels it once its id is known.
    let mut interrupted = false;
    let mut sigint = super::interrupt::interrupts()?;
    let mut last_line = std::time::Instant::now();
    let code = loop {
        tokio::select! {
            _ = sigint.recv() => {
                interrupted = true;
                if let Some(j) = job {
                    cancelling(j);
                    let _ = actions.send(Action::CancelJob(j.id));
                }
            }
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => break exit::FAILED,
                // A daemon's other jobs are not this command's.
                Some(Event::Job(v)) if !ours.is(job_id(job), &v) => {}
                Some(Event::JobDone { id, .. }) if job_id(job) != Some(id) => {}
                Some(Event::Job(v)) => {
                    if interrupted && job.is_none() {
                        cancelling(Job::of(&v));
                        let _ = actions.send(Action::CancelJob(v.id));
                    }
                    job = Some(Job::of(&v));
                    if let Some(m) = v.message.as_ref().filter(|_| !json) {
                        job_line(&v, &format!("{:?}: {m}", v.phase));
                    } else if !json && last_line.elapsed() >= Duration::from_secs(1) {
                        last_line = std::time::Instant::now();
                        job_line(&v, &progress_text(&v));
                    }
                }
                Some(Event::Error { host, message }) if job.is_none() && ours.concerns(host.as_deref()) => {
                    if json {
                        print_json(None, None, Some(&message), None)?;
                    } else {
                        eprintln!("kvm-clone: {}{message}", host.map(|h| format!("{h}: ")).unwrap_or_default());
                    }
                    break exit::FAILED;
                }
                Some(Event::JobDone { id, result }) => {
                    let job = job.unwrap_or(Job { id, number: 0 });
                    break match &result {
                        JobResult::Exported(r) => {
                            if json {
                                print_json(Some(job), Some(r), None, None)?;
                            } else {
                                print_summary(r);
                            }
                            0
                        }
                        JobResult::Failed { message, checklist } => {
                            if json {
                                print_json(Some(job), None, Some(message), checklist.as_ref())?;
                            } else {
                                if let Some(c) = checklist {
                                    print!("{}", c.render_text_for("export"));
                                }
                                eprintln!("kvm-clone: export failed: {message}");
                            }
                            if checklist.is_some() { exit::INVALID } else { exit::FAILED }
                        }
                        // Not an export's result: this command started no other job.
                        JobResult::Cloned(_) | JobResult::Restored(_) => exit::FAILED,
                        JobResult::Cancelled => {
                            if json {
                                print_json(Some(job), None, Some("cancelled"), None)?;
                            } else {
                                eprintln!("kvm-clone: cancelled; no snapshot was written");
                            }
                            exit::CANCELLED
                        }
                    };
                }
                Some(_) => {}
            }
        }
    };
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(90), task).await;
    let _ = std::io::stdout().flush();
    Ok(std::process::ExitCode::from(code))
}

fn print_summary(r: &ExportReport) {
    let t = &r.totals;
    println!(
        "exported {} from {} as snapshot {}: {} read, {} new in {} chunks, {} skipped{}",
        r.vm,
        r.host,
        r.snapshot,
        headless::size(t.read_bytes),
        headless::size(t.new_bytes),
        t.new_chunks,
        headless::size(r.skipped_bytes),
        r.incremental_from
            .as_ref()
            .map(|c| format!(", incremental from checkpoint {c}"))
            .unwrap_or_default(),
    );
    if let Some(why) = &r.full_read_reason {
        println!("note: {why}");
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
}

/// `export --dry-run`: the pre-flight checklist alone; exit 0 when the
/// export could start, 3 when a check fails. Nothing is exported; the only
/// write is a probe file in the repository, removed at once.
async fn dry_run_report(
    actions: &tokio::sync::mpsc::UnboundedSender<Action>,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    request: ExportRequest,
    json: bool,
    task: tokio::task::JoinHandle<()>,
) -> Result<std::process::ExitCode> {
    actions
        .send(Action::ValidateExport(request.clone()))
        .map_err(|_| eyre!("the backend stopped"))?;
    let outcome = loop {
        match events.recv().await {
            None | Some(Event::Stopped) => break Err(eyre!("the backend stopped")),
            Some(Event::ExportValidation {
                vm,
                from,
                checklist,
            }) if vm == request.vm && from == request.from => break Ok(Ok(checklist)),
            Some(Event::Error { host, message }) if host.as_deref() == Some(&request.from) => {
                break Ok(Err(message));
            }
            Some(_) => {}
        }
    };
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    // An operator's mistake (an unknown profile, a profile of another kind)
    // is one line, not a report.
    let checklist = match outcome? {
        Ok(c) => c,
        Err(message) => {
            if json {
                print_json(None, None, Some(&message), None)?;
            } else {
                eprintln!("kvm-clone: {message}");
            }
            return Ok(std::process::ExitCode::from(exit::FAILED));
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&checklist)?);
    } else {
        print!("{}", checklist.render_text_for("export"));
    }
    Ok(std::process::ExitCode::from(if checklist.ok() {
        0
    } else {
        exit::INVALID
    }))
}
