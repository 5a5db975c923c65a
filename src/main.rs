//! The kvm-clone binary: the TUI by default, headless commands for scripts.

mod cli;
mod logging;

use cli::Command;
use color_eyre::eyre::{Result, WrapErr};

fn main() -> std::process::ExitCode {
    kvm_clone::alloc_tuning::tune();
    // Answers a shell's dynamic completion request (COMPLETE=… set) and
    // exits; otherwise returns at once. Nothing may print before it.
    clap_complete::CompleteEnv::with_factory(cli::command).complete();
    // color-eyre's report stays for panics (bugs); a returned error is an
    // expected failure: one line, and with --json an error object too.
    if let Err(e) = color_eyre::install() {
        eprintln!("kvm-clone: {e}");
    }
    let json = std::env::args().any(|a| a == "--json");
    match run(cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            let message = one_line(&e);
            if json {
                println!("{}", serde_json::json!({ "ok": false, "error": message }));
            }
            eprintln!("kvm-clone: {message}");
            // No daemon to hand the job to: try again later, like an
            // unreachable host (EX_TEMPFAIL).
            let no_daemon = e.chain().any(|c| {
                matches!(
                    c.downcast_ref::<kvm_clone::daemon::DaemonError>(),
                    Some(kvm_clone::daemon::DaemonError::NoDaemon { .. })
                )
            });
            std::process::ExitCode::from(if no_daemon { 75 } else { 1 })
        }
    }
}

/// The error and its causes on one line: what, where, why.
fn one_line(e: &color_eyre::eyre::Report) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        // A cause its context already quotes adds nothing.
        if !out.last().is_some_and(|l| l.contains(&p)) {
            out.push(p);
        }
    }
    out.join(": ")
}

fn run(cli: cli::Cli) -> Result<std::process::ExitCode> {
    // Neither needs logging, a runtime or a config.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            cli::completions(*shell)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Some(Command::Man { out }) => {
            cli::man(out.as_deref())?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        _ => {}
    }
    let daemon = matches!(cli.command, Some(Command::Daemon { .. }));
    let _log = logging::init(daemon).wrap_err("cannot set up logging")?;
    let via = cli.via();
    // Said at once, rather than running the job here after all.
    if via.attach == cli::link::Attach::Require
        && !matches!(
            cli.command,
            None | Some(Command::Clone { .. } | Command::Restore(_) | Command::Export(_))
        )
    {
        return Err(color_eyre::eyre::eyre!(
            "--daemon applies to the TUI, clone, restore and export only, for now; run this command without it"
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the async runtime")?;
    let ok = |r: Result<()>| r.map(|()| std::process::ExitCode::SUCCESS);
    runtime.block_on(async move {
        match cli.command {
            None => ok(cli::run_tui(cli.config.as_deref(), &via).await),
            Some(Command::Hosts { json }) => cli::hosts(cli.config.as_deref(), json).await,
            Some(Command::Profiles { json }) => ok(cli::profiles(json)),
            Some(Command::History(args)) => ok(cli::history(args).await),
            Some(Command::Export(args)) => cli::export(cli.config.as_deref(), &via, args).await,
            Some(Command::Repo(cmd)) => ok(cli::repo(cmd).await),
            Some(Command::Snapshots(args)) => cli::snapshots(args).await,
            Some(Command::Verify(args)) => cli::verify(args).await,
            Some(Command::Prune(args)) => cli::prune(args).await,
            Some(Command::Vms { host, json }) => {
                cli::vms(cli.config.as_deref(), host.as_deref(), json).await
            }
            Some(Command::Restore(args)) => cli::restore(cli.config.as_deref(), &via, args).await,
            Some(Command::Daemon { idle_exit }) => {
                ok(cli::daemon(cli.config.as_deref(), cli.socket.as_deref(), idle_exit).await)
            }
            Some(Command::Extract(args)) => cli::extract(args).await,
            // Answered above, before the runtime.
            Some(Command::Completions { .. } | Command::Man { .. }) => ok(Ok(())),
            Some(Command::Schedules { json }) => {
                ok(cli::schedules(cli.config.as_deref(), cli.socket.as_deref(), json).await)
            }
            Some(Command::Clone {
                from,
                vm,
                to,
                name,
                profile,
                start,
                dry_run,
                json,
            }) => {
                let new_name = name.unwrap_or_else(|| format!("{vm}-clone"));
                let request = kvm_clone::model::CloneRequest {
                    from,
                    vm,
                    to,
                    new_name,
                    profile,
                    start,
                };
                cli::clone(cli.config.as_deref(), &via, request, json, dry_run).await
            }
        }
    })
}
