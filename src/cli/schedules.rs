//! `kvm-clone schedules`: the daemon's view when one answers; otherwise
//! the config's schedules with their next times and the last runs the
//! daemon recorded, and a note that nothing runs them now.

use color_eyre::eyre::Result;
use kvm_clone::backend::messages::Event;
use kvm_clone::headless::schedules as render;
use kvm_clone::jobs::history::now_ms;
use kvm_clone::jobs::schedule::state;
use kvm_clone::model::schedule::ScheduleView;
use std::path::Path;

pub async fn schedules(config: Option<&Path>, socket: Option<&Path>, json: bool) -> Result<()> {
    let loaded = super::load(config)?;
    let list = match from_daemon(socket).await {
        Some(list) => list,
        None => {
            if !loaded.config.schedules.is_empty() {
                eprintln!(
                    "kvm-clone: no daemon is running, so no schedule runs now; start `kvm-clone daemon`"
                );
            }
            from_config(&loaded.config.schedules)
        }
    };
    if json {
        println!("{}", render::render_json(&list)?);
    } else if list.is_empty() {
        println!("no schedules; add [[schedules]] to the config (docs/schedules.md)");
    } else {
        print!("{}", render::render_table(&list));
    }
    Ok(())
}

/// The running daemon's schedules, from its state snapshot.
async fn from_daemon(socket: Option<&Path>) -> Option<Vec<ScheduleView>> {
    let socket = kvm_clone::daemon::socket::resolve(socket).ok()?;
    let mut link = kvm_clone::daemon::client::connect(&socket, "kvm-clone schedules")
        .await
        .ok()?;
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), link.events.recv()).await;
    let _ = link
        .actions
        .send(kvm_clone::backend::messages::Action::Quit);
    match first {
        Ok(Some(Event::Snapshot(s))) => Some(s.schedules),
        _ => None,
    }
}

fn from_config(list: &[kvm_clone::config::ScheduleConfig]) -> Vec<ScheduleView> {
    let kept = kvm_clone::paths::data_dir()
        .map(|d| state::load(&state::file(&d)))
        .unwrap_or_default();
    let now = now_ms();
    list.iter()
        .map(|s| ScheduleView {
            name: s.name.clone(),
            cron: s.cron.clone(),
            job: s.job.label().into(),
            target: s.target(),
            next_ms: kvm_clone::config::CronExpr::parse(&s.cron)
                .ok()
                .and_then(|c| c.next_after(now)),
            running: false,
            last: kept.schedules.get(&s.name).and_then(|k| k.last.clone()),
        })
        .collect()
}
