//! Command-line interface: argument parsing and the glue between the
//! backend and each front end (TUI or headless output).

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use kvm_clone::backend::messages::{Action, Event};
use kvm_clone::backend::{self, Backend};
use kvm_clone::config;
use kvm_clone::headless;
use kvm_clone::model::{ConnState, HostView, VmInfo};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "kvm-clone",
    version,
    about = "Clone, export, back up and restore KVM VMs between libvirt hosts over SSH"
)]
pub struct Cli {
    /// Config file (default: ~/.config/kvm-clone/config.toml; also KVM_CLONE_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every configured host: connection state, versions, CPUs, memory, pools.
    Hosts {
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Clone a VM to another host: validate, copy, verify, define.
    Clone {
        /// Source host.
        #[arg(long, value_name = "HOST")]
        from: String,
        /// The VM to clone.
        #[arg(long, value_name = "NAME")]
        vm: String,
        /// Destination host.
        #[arg(long, value_name = "HOST")]
        to: String,
        /// Name of the clone (default: <vm>-clone).
        #[arg(long, value_name = "NEW")]
        name: Option<String>,
        /// Profile (docs/profiles.md).
        #[arg(long, value_name = "P", default_value = "default")]
        profile: String,
        /// Start the clone once it is defined.
        #[arg(long)]
        start: bool,
        /// Only run the pre-flight checks and print them; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the result and the validation report as JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Show the VMs of one host, or of every host.
    Vms {
        /// Only this host.
        #[arg(long, value_name = "NAME")]
        host: Option<String>,
        /// Print JSON (docs/json.md) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// How long headless commands wait for hosts to answer before reporting them as they are.
const HEADLESS_TIMEOUT: Duration = Duration::from_secs(30);

fn load(config: Option<&Path>) -> Result<config::LoadedConfig> {
    // The error already names the file, line and reason.
    config::load(config).map_err(|e| eyre!("{e}"))
}

pub async fn run_tui(config: Option<&Path>) -> Result<()> {
    let loaded = load(config)?;
    let keys = kvm_clone::tui::KeyMap::from_config(&loaded.config.keys)
        .map_err(|e| eyre!("{}: [keys]: {e}", loaded.path.display()))?;
    let state = kvm_clone::tui::AppState::new(
        &keys,
        kvm_clone::tui::Theme::from_env(),
        Some(loaded.path.clone()),
    );
    let Backend {
        actions,
        events,
        task,
    } = backend::spawn(loaded, backend::Options::default());
    kvm_clone::tui::run(state, keys, actions, events)
        .await
        .wrap_err("the terminal UI failed")?;
    // The TUI sent Action::Quit; let the backend close connections.
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(())
}

/// Hosts as the backend reports them once each has settled (up with facts,
/// or failed), or when the timeout passes.
struct Inventory {
    hosts: Vec<HostView>,
    vms: BTreeMap<String, Vec<VmInfo>>,
}

fn settled(h: &HostView, vms: &BTreeMap<String, Vec<VmInfo>>, want_vms: bool) -> bool {
    match h.state {
        ConnState::Up => h.info.is_some() && (!want_vms || vms.contains_key(&h.name)),
        ConnState::Idle | ConnState::Connecting => false,
        _ => true,
    }
}

async fn collect(config: Option<&Path>, only: Option<&str>, want_vms: bool) -> Result<Inventory> {
    let loaded = load(config)?;
    if let Some(name) = only
        && !loaded.config.hosts.iter().any(|h| h.name == name)
    {
        return Err(eyre!("no host named {name:?} in {}", loaded.path.display()));
    }
    let options = backend::Options {
        only_host: only.map(String::from),
        ..backend::Options::default()
    };
    let Backend {
        actions,
        mut events,
        task,
    } = backend::spawn(loaded, options);
    let mut inv = Inventory {
        hosts: Vec::new(),
        vms: BTreeMap::new(),
    };
    let deadline = tokio::time::sleep(HEADLESS_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        let done = !inv.hosts.is_empty()
            && inv
                .hosts
                .iter()
                .filter(|h| only.is_none_or(|o| o == h.name))
                .all(|h| settled(h, &inv.vms, want_vms));
        if done {
            break;
        }
        tokio::select! {
            _ = &mut deadline => break,
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => break,
                Some(Event::Hosts(list)) => inv.hosts = list,
                Some(Event::Host(h)) => {
                    if let Some(slot) = inv.hosts.iter_mut().find(|x| x.name == h.name) {
                        *slot = h;
                    } else {
                        inv.hosts.push(h);
                    }
                }
                Some(Event::HostInfo { host, info }) => {
                    if let Some(slot) = inv.hosts.iter_mut().find(|x| x.name == host) {
                        slot.info = Some(info);
                    }
                }
                Some(Event::Vms { host, vms }) => { inv.vms.insert(host, vms); }
                Some(Event::Error { host, message }) => {
                    tracing::warn!(host = ?host, "{message}");
                }
                Some(_) => {}
            }
        }
    }
    let _ = actions.send(Action::Quit);
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    Ok(inv)
}

pub async fn hosts(config: Option<&Path>, json: bool) -> Result<()> {
    let inv = collect(config, None, false).await?;
    if json {
        println!("{}", headless::hosts::render_json(&inv.hosts)?);
    } else {
        print!("{}", headless::hosts::render_table(&inv.hosts));
    }
    Ok(())
}

pub async fn vms(config: Option<&Path>, host: Option<&str>, json: bool) -> Result<()> {
    let inv = collect(config, host, true).await?;
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for h in inv
        .hosts
        .iter()
        .filter(|h| host.is_none_or(|o| o == h.name))
    {
        match inv.vms.get(&h.name) {
            Some(v) => out.push((h.name.clone(), v.clone())),
            None => missing.push(match h.state.reason() {
                Some(r) => format!("{}: {}: {}", h.name, h.state.label(), r),
                None => format!("{}: {}", h.name, h.state.label()),
            }),
        }
    }
    if json {
        println!("{}", headless::vms::render_json(&out)?);
    } else {
        print!("{}", headless::vms::render_table(&out));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(eyre!("no VM list from: {}", missing.join("; ")))
    }
}

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
    result: Option<&'a kvm_clone::jobs::clone::run::CloneReport>,
    error: Option<&'a str>,
    validation: Option<&'a kvm_clone::model::Checklist>,
}

fn print_clone_json(
    job_id: Option<u64>,
    result: Option<&kvm_clone::jobs::clone::run::CloneReport>,
    error: Option<&str>,
    validation: Option<&kvm_clone::model::Checklist>,
) -> Result<()> {
    let doc = CloneJson {
        ok: result.is_some(),
        job_id,
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
    request: kvm_clone::model::CloneRequest,
    json: bool,
    dry_run: bool,
) -> Result<std::process::ExitCode> {
    use kvm_clone::backend::messages::JobResult;
    use std::io::Write;
    let loaded = load(config)?;
    for h in [&request.from, &request.to] {
        if !loaded.config.hosts.iter().any(|c| &c.name == h) {
            return Err(eyre!("no host named {h:?} in {}", loaded.path.display()));
        }
    }
    if request.from == request.to {
        return Err(eyre!(
            "--from and --to name the same host ({})",
            request.from
        ));
    }
    let Backend {
        actions,
        mut events,
        task,
    } = backend::spawn(loaded, backend::Options::default());
    // Both hosts must be up with libvirt before the job can start.
    let mut ready = std::collections::BTreeSet::new();
    let mut states: BTreeMap<String, ConnState> = BTreeMap::new();
    let wait = tokio::time::sleep(HEADLESS_TIMEOUT);
    tokio::pin!(wait);
    while ready.len() < 2 {
        tokio::select! {
            _ = &mut wait => {
                let why: Vec<String> = states
                    .iter()
                    .map(|(h, s)| format!("{h}: {}{}", s.label(), s.reason().map(|r| format!(" ({r})")).unwrap_or_default()))
                    .collect();
                eprintln!("kvm-clone: hosts not ready after {}s: {}", HEADLESS_TIMEOUT.as_secs(), why.join("; "));
                let _ = actions.send(Action::Quit);
                return Ok(std::process::ExitCode::from(exit::UNREACHABLE));
            }
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => return Err(eyre!("the backend stopped")),
                Some(Event::Host(h)) => {
                    let failed = !matches!(h.state, ConnState::Up | ConnState::Connecting | ConnState::Idle | ConnState::Unreachable { .. });
                    if failed && (h.name == request.from || h.name == request.to) {
                        eprintln!("kvm-clone: {}: {}: {}", h.name, h.state.label(), h.state.reason().unwrap_or(""));
                        let _ = actions.send(Action::Quit);
                        return Ok(std::process::ExitCode::from(exit::UNREACHABLE));
                    }
                    states.insert(h.name.clone(), h.state);
                }
                Some(Event::Vms { host, .. }) if host == request.from || host == request.to => {
                    ready.insert(host);
                }
                Some(_) => {}
            }
        }
    }
    if dry_run {
        return dry_run_report(&actions, &mut events, request, json, task).await;
    }
    actions
        .send(Action::StartClone(request.clone()))
        .map_err(|_| eyre!("the backend stopped"))?;
    let mut job_id = None;
    let mut last_line = std::time::Instant::now();
    let code = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                if let Some(id) = job_id {
                    eprintln!("kvm-clone: cancelling job {id}; cleaning up…");
                    let _ = actions.send(Action::CancelJob(id));
                }
            }
            ev = events.recv() => match ev {
                None | Some(Event::Stopped) => break exit::FAILED,
                Some(Event::Job(v)) => {
                    job_id = Some(v.id);
                    // A progress line a second on stderr; stdout stays for the result.
                    if !json && last_line.elapsed() >= Duration::from_secs(1) {
                        last_line = std::time::Instant::now();
                        let (done, total) = (v.bytes_done(), v.bytes_total());
                        eprintln!(
                            "{:?}: {} of {} at {}/s{}",
                            v.phase,
                            headless::size(done),
                            headless::size(total),
                            headless::size(v.rate_bytes_per_sec as u64),
                            v.eta_secs.map(|s| format!(", ETA {s}s")).unwrap_or_default()
                        );
                    }
                }
                Some(Event::Error { host, message }) if job_id.is_none() => {
                    eprintln!("kvm-clone: {}{message}", host.map(|h| format!("{h}: ")).unwrap_or_default());
                    break exit::FAILED;
                }
                Some(Event::JobDone { id, result }) => {
                    let code = match &result {
                        JobResult::Cloned(r) => {
                            if json {
                                print_clone_json(Some(id), Some(r), None, None)?;
                            } else {
                                println!(
                                    "cloned {} from {} to {} as {} ({}): {} moved{}{}",
                                    request.vm, request.from, request.to, r.new_name, r.new_uuid,
                                    headless::size(r.bytes_moved),
                                    if r.verified { ", verified" } else { "" },
                                    if r.started { ", started" } else { "" },
                                );
                            }
                            0
                        }
                        JobResult::Failed { message, checklist } => {
                            if json {
                                print_clone_json(Some(id), None, Some(message), checklist.as_ref())?;
                            } else {
                                if let Some(c) = checklist {
                                    print!("{}", c.render_text());
                                }
                                eprintln!("kvm-clone: clone failed: {message}");
                            }
                            if checklist.is_some() { exit::INVALID } else { exit::FAILED }
                        }
                        JobResult::Cancelled => {
                            if json {
                                print_clone_json(Some(id), None, Some("cancelled"), None)?;
                            } else {
                                eprintln!("kvm-clone: cancelled; nothing was left on {}", request.to);
                            }
                            exit::CANCELLED
                        }
                    };
                    break code;
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
