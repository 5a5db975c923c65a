//! `kvm-clone restore` (a snapshot back onto a host, through the backend's
//! job queue) and `kvm-clone extract` (one disk to a local file, no host).

use super::clone::{Job, Ours, exit, follow_job, progress_text};
use super::load;
use super::unlock::{RepoArgs, unlock};
use clap::Args;
use color_eyre::eyre::{Result, eyre};
use kvm_clone::backend;
use kvm_clone::backend::messages::{Action, Event, JobResult};
use kvm_clone::headless;
use kvm_clone::jobs::extract::{self, ExtractRequest, OutFormat};
use kvm_clone::jobs::restore::{RestoreReport, RestoreRequest};
use kvm_clone::jobs::rewrite::ImageFormat;
use kvm_clone::model::Checklist;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Snapshot id, or a unique prefix of one (`kvm-clone snapshots` lists them).
    #[arg(long, value_name = "ID")]
    pub snapshot: String,
    /// Destination host.
    #[arg(long, value_name = "HOST")]
    pub to: String,
    /// Name of the restored VM (default: <vm>-restored).
    #[arg(long, value_name = "NEW", conflicts_with = "keep_identity")]
    pub name: Option<String>,
    /// Restore the same machine (disaster recovery): the original name,
    /// UUID and MACs, which must not be defined on the destination.
    #[arg(long)]
    pub keep_identity: bool,
    /// Profile (docs/profiles.md): pool, verify, connections, bandwidth, …
    #[arg(long, value_name = "P", default_value = "default")]
    pub profile: String,
    /// Image format of the restored disks (default: the snapshot's original).
    #[arg(long, value_name = "FORMAT", value_parser = ["qcow2", "raw"])]
    pub format: Option<String>,
    /// Start the VM once it is defined.
    #[arg(long)]
    pub start: bool,
    /// Only run the pre-flight checks and print them; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the result and the validation report as JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub repo: RepoArgs,
    /// Snapshot id, or a unique prefix of one.
    #[arg(long, value_name = "ID")]
    pub snapshot: String,
    /// The disk to extract, by its target (vda, sdb, …).
    #[arg(long, value_name = "TARGET")]
    pub disk: String,
    /// The image file to write; it must not exist.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// raw or qcow2 (default: from the extension: .qcow2; .raw or .img).
    #[arg(long, value_name = "FORMAT", value_parser = ["qcow2", "raw"])]
    pub format: Option<String>,
    /// Print the result as JSON (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct RestoreJson<'a> {
    ok: bool,
    job_id: Option<u64>,
    job_number: Option<u32>,
    result: Option<&'a RestoreReport>,
    error: Option<&'a str>,
    validation: Option<&'a Checklist>,
}

fn print_json(
    job: Option<Job>,
    result: Option<&RestoreReport>,
    error: Option<&str>,
    validation: Option<&Checklist>,
) -> Result<()> {
    let doc = RestoreJson {
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

/// `kvm-clone restore`: waits for the destination, runs the job, reports.
/// Exit codes as for clone (docs/json.md). Ctrl-C cancels the job, which
/// removes what it created before the command exits.
pub async fn restore(
    config: Option<&Path>,
    via: &super::link::Via,
    args: RestoreArgs,
) -> Result<std::process::ExitCode> {
    let loaded = load(config)?;
    super::require_host(&loaded, &args.to)?;
    let request = RestoreRequest {
        unlock: unlock(&args.repo)?,
        repo: args.repo.repo.clone(),
        snapshot: args.snapshot,
        to: args.to,
        new_name: args.name,
        keep_identity: args.keep_identity,
        profile: args.profile,
        format: args.format.as_deref().map(|f| match f {
            "raw" => ImageFormat::Raw,
            _ => ImageFormat::Qcow2,
        }),
        start: args.start,
    };
    let json = args.json;
    let options = backend::Options {
        only_host: Some(request.to.clone()),
        ..backend::Options::default()
    };
    let super::link::Link {
        actions,
        mut events,
        task,
        earlier_jobs,
        ..
    } = super::link::open(via, loaded, options).await?;
    if let Some(code) =
        super::wait::hosts_ready(&[request.to.as_str()], &actions, &mut events).await?
    {
        return Ok(std::process::ExitCode::from(code));
    }
    let code = if args.dry_run {
        dry_run(&actions, &mut events, request, json).await?
    } else {
        actions
            .send(Action::StartRestore(request.clone()))
            .map_err(|_| eyre!("the backend stopped"))?;
        let hosts = [request.to.as_str()];
        let ours = Ours {
            kind: kvm_clone::model::JobKind::Restore,
            vm: None,
            hosts: &hosts,
            earlier: &earlier_jobs,
        };
        follow_job(&actions, &mut events, json, &ours, |job, result| {
            report(job, &request, result, json)
        })
        .await?
    };
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(90), task).await;
    let _ = std::io::stdout().flush();
    Ok(std::process::ExitCode::from(code))
}

fn report(job: Job, request: &RestoreRequest, result: JobResult, json: bool) -> Result<u8> {
    Ok(match &result {
        JobResult::Restored(r) => {
            if json {
                print_json(Some(job), Some(r), None, None)?;
            } else {
                println!(
                    "restored snapshot {} of {} to {} as {} ({}): {} written{}{}",
                    r.snapshot,
                    r.vm,
                    request.to,
                    r.name,
                    r.uuid,
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
                print_json(Some(job), None, Some(message), checklist.as_ref())?;
            } else {
                if let Some(c) = checklist {
                    print!("{}", c.render_text());
                }
                eprintln!("kvm-clone: restore failed: {message}");
            }
            if checklist.is_some() {
                exit::INVALID
            } else {
                exit::FAILED
            }
        }
        // Not a restore's: only a clone reports it.
        JobResult::Cloned(_) | JobResult::Exported(_) => exit::FAILED,
        JobResult::Cancelled => {
            if json {
                print_json(Some(job), None, Some("cancelled"), None)?;
            } else {
                eprintln!("kvm-clone: cancelled; nothing was left on {}", request.to);
            }
            exit::CANCELLED
        }
    })
}

/// `restore --dry-run`: the checklist alone; 0 when the restore could
/// start, 3 when a check fails.
async fn dry_run(
    actions: &tokio::sync::mpsc::UnboundedSender<Action>,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    request: RestoreRequest,
    json: bool,
) -> Result<u8> {
    let to = request.to.clone();
    actions
        .send(Action::ValidateRestore(request))
        .map_err(|_| eyre!("the backend stopped"))?;
    let checklist = loop {
        match events.recv().await {
            None | Some(Event::Stopped) => return Err(eyre!("the backend stopped")),
            Some(Event::RestoreValidation { checklist, .. }) => break checklist,
            Some(Event::Error { host, message }) if host.as_deref() == Some(&to) => {
                eprintln!("kvm-clone: {message}");
                return Ok(exit::FAILED);
            }
            Some(_) => {}
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&checklist)?);
    } else {
        print!("{}", checklist.render_text());
    }
    Ok(if checklist.ok() { 0 } else { exit::INVALID })
}

#[derive(serde::Serialize)]
struct ExtractJson<'a> {
    ok: bool,
    result: Option<&'a extract::ExtractReport>,
    error: Option<&'a str>,
}

/// `kvm-clone extract`: local only. Ctrl-C stops it and removes the
/// partial file. Exit 0, 1 failed, 4 cancelled.
pub async fn extract(args: ExtractArgs) -> Result<std::process::ExitCode> {
    let format = match args.format.as_deref() {
        Some(f) => OutFormat::parse(f),
        None => OutFormat::from_path(&args.out),
    }
    .ok_or_else(|| {
        eyre!(
            "cannot tell the format of {} from its extension: name it .qcow2 or .raw, or give --format",
            args.out.display()
        )
    })?;
    let req = ExtractRequest {
        unlock: Arc::new(unlock(&args.repo)?),
        repo: args.repo.repo.clone(),
        snapshot: args.snapshot,
        disk: args.disk,
        out: args.out,
        format,
    };
    let progress = Arc::new(kvm_clone::pipeline::Progress::new());
    let cancel = tokio_util::sync::CancellationToken::new();
    let run = extract::extract(&req, progress.clone(), cancel.clone());
    tokio::pin!(run);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut rate = kvm_clone::pipeline::RateEstimator::new(Duration::from_secs(3));
    let mut sigint = super::interrupt::interrupts()?;
    let result = loop {
        tokio::select! {
            r = &mut run => break r,
            _ = sigint.recv() => {
                eprintln!("kvm-clone: cancelling; removing the partial file…");
                cancel.cancel();
            }
            _ = tick.tick() => {
                if !args.json {
                    let s = progress.snapshot();
                    rate.update(std::time::Instant::now(), s.bytes_done);
                    // Not a backend job: no number to name it by.
                    let line = progress_text(&kvm_clone::model::JobView {
                        id: 0,
                        number: 0,
                        kind: kvm_clone::model::JobKind::Extract,
                        vm: String::new(),
                        from: String::new(),
                        to: String::new(),
                        phase: kvm_clone::model::JobPhase::Copying,
                        disks: vec![kvm_clone::model::DiskProgress {
                            target: req.disk.clone(),
                            bytes_done: s.bytes_done,
                            bytes_total: s.bytes_total,
                        }],
                        rate_bytes_per_sec: rate.rate().unwrap_or(0.0),
                        eta_secs: rate.eta(s.bytes_done, s.bytes_total).map(|d| d.as_secs()),
                        message: None,
                        queue_position: None,
                    });
                    eprintln!("{line}");
                }
            }
        }
    };
    let code = match &result {
        Ok(r) => {
            if args.json {
                let doc = ExtractJson {
                    ok: true,
                    result: Some(r),
                    error: None,
                };
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!(
                    "extracted disk {} of snapshot {} ({}) to {} ({}): {} written, {} left as holes",
                    r.disk,
                    r.snapshot,
                    r.vm,
                    r.out.display(),
                    r.format.as_str(),
                    headless::size(r.bytes_written),
                    headless::size(r.bytes_skipped)
                );
            }
            0
        }
        Err(e) => {
            let message = e.to_string();
            if args.json {
                let doc = ExtractJson {
                    ok: false,
                    result: None,
                    error: Some(&message),
                };
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                eprintln!("kvm-clone: extract failed: {message}");
            }
            if matches!(e, extract::ExtractError::Cancelled) {
                exit::CANCELLED
            } else {
                exit::FAILED
            }
        }
    };
    Ok(std::process::ExitCode::from(code))
}
