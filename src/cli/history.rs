//! `kvm-clone history`: list, statistics, and the explicit delete and
//! compact commands. Reads the database directly; no host is contacted.

use clap::{Args, Subcommand};
use color_eyre::eyre::{Result, WrapErr, eyre};
use kvm_clone::headless::history as render;
use kvm_clone::jobs::history::{HistoryDb, HistoryFilter};
use kvm_clone::model::HistoryResult;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub action: Option<HistoryAction>,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show at most this many jobs, newest first.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
    /// Print JSON (docs/json.md) instead of a table: every field, logs included.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Default)]
pub struct FilterArgs {
    /// Only jobs of this VM (exact name).
    #[arg(long, value_name = "NAME")]
    pub vm: Option<String>,
    /// Only jobs from or to this host.
    #[arg(long, value_name = "H")]
    pub host: Option<String>,
    /// Only jobs of this kind (clone, export, restore).
    #[arg(long, value_name = "K")]
    pub kind: Option<String>,
    /// Only jobs with this result: running, done, failed, cancelled, interrupted.
    #[arg(long, value_name = "R", value_parser = parse_result)]
    pub result: Option<HistoryResult>,
}

fn parse_result(s: &str) -> Result<HistoryResult, String> {
    HistoryResult::parse(s).ok_or_else(|| {
        let all: Vec<&str> = HistoryResult::ALL.iter().map(|r| r.label()).collect();
        format!("use one of {}", all.join(", "))
    })
}

#[derive(Subcommand, Debug)]
pub enum HistoryAction {
    /// Jobs, success rate, bytes moved, average rate and duration.
    Stats {
        #[command(flatten)]
        filter: FilterArgs,
        /// Print JSON (docs/json.md).
        #[arg(long)]
        json: bool,
    },
    /// Delete rows: those of jobs started before a date, or one by id.
    Delete {
        /// YYYY-MM-DD (local midnight), "YYYY-MM-DD HH:MM" or RFC 3339.
        #[arg(
            long,
            value_name = "DATE",
            required_unless_present = "id",
            conflicts_with = "id"
        )]
        before: Option<String>,
        /// The row id shown by `kvm-clone history`.
        #[arg(long, value_name = "N")]
        id: Option<u64>,
    },
    /// Reclaim the space of deleted rows (SQLite VACUUM).
    Compact,
}

impl From<FilterArgs> for HistoryFilter {
    fn from(a: FilterArgs) -> Self {
        HistoryFilter {
            vm: a.vm,
            host: a.host,
            kind: a.kind,
            result: a.result,
            contains: false,
        }
    }
}

/// Runs `f` on the opened database off the async runtime.
async fn with_db<T: Send + 'static>(
    f: impl FnOnce(&mut HistoryDb) -> Result<T> + Send + 'static,
) -> Result<T> {
    let dir = kvm_clone::paths::data_dir()
        .ok_or_else(|| eyre!("no data directory: set KVM_CLONE_DATA_DIR or HOME"))?;
    tokio::task::spawn_blocking(move || {
        let (mut db, _) = HistoryDb::open(&dir)?;
        f(&mut db)
    })
    .await
    .wrap_err("the history task failed")?
}

pub async fn history(args: HistoryArgs) -> Result<()> {
    match args.action {
        None => {
            let (limit, json) = (args.limit, args.json);
            let filter = HistoryFilter::from(args.filter);
            let entries = with_db(move |db| Ok(db.list(&filter, limit, json)?)).await?;
            if json {
                println!("{}", render::render_json(&entries)?);
            } else {
                print!("{}", render::render_table(&entries, false));
            }
        }
        Some(HistoryAction::Stats { filter, json }) => {
            let filter = HistoryFilter::from(filter);
            let stats = with_db(move |db| Ok(db.stats(&filter)?)).await?;
            if json {
                println!("{}", render::render_stats_json(&stats)?);
            } else {
                print!("{}", render::render_stats(&stats));
            }
        }
        Some(HistoryAction::Delete { before, id }) => {
            let before = before
                .map(|d| render::parse_date(&d))
                .transpose()
                .map_err(|e| eyre!("--before {e}"))?;
            let n = with_db(move |db| {
                Ok(match (before, id) {
                    (Some(ms), _) => db.delete_before(ms)?,
                    (None, Some(id)) => usize::from(db.delete_id(id)?),
                    (None, None) => 0,
                })
            })
            .await?;
            match (n, id) {
                (0, Some(id)) => return Err(eyre!("no history row {id}")),
                _ => println!("deleted {n} row{}", if n == 1 { "" } else { "s" }),
            }
        }
        Some(HistoryAction::Compact) => {
            let (before, after) = with_db(|db| Ok(db.compact()?)).await?;
            println!(
                "compacted history.db: {} → {}",
                kvm_clone::headless::size(before),
                kvm_clone::headless::size(after)
            );
        }
    }
    Ok(())
}
