//! Reading rows: filtered lists, newest first, and one row by id.

use super::{HistoryDb, HistoryError};
use crate::model::history::{HistoryFilter, HistoryPage};
use crate::model::{HistoryEntry, HistoryResult};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params_from_iter};

impl HistoryFilter {
    /// The SQL condition and its parameters.
    pub(super) fn to_sql(&self) -> (String, Vec<Value>) {
        let mut cond = vec!["1 = 1".to_string()];
        let mut args: Vec<Value> = Vec::new();
        let text = |col: &str, n: usize| {
            if self.contains {
                format!("instr(lower({col}), lower(?{n})) > 0")
            } else {
                format!("{col} = ?{n}")
            }
        };
        if let Some(vm) = &self.vm {
            args.push(Value::Text(vm.clone()));
            cond.push(text("vm", args.len()));
        }
        if let Some(h) = &self.host {
            args.push(Value::Text(h.clone()));
            let n = args.len();
            cond.push(format!(
                "({} OR {})",
                text("source_host", n),
                text("dest_host", n)
            ));
        }
        if let Some(k) = &self.kind {
            args.push(Value::Text(k.clone()));
            cond.push(format!("kind = ?{}", args.len()));
        }
        if let Some(r) = self.result {
            args.push(Value::Text(r.label().into()));
            cond.push(format!("result = ?{}", args.len()));
        }
        (cond.join(" AND "), args)
    }
}

const COLUMNS: &str = "id, job_id, kind, vm, source_host, dest_host, profile, started_at,
    ended_at, result, error, bytes_moved, bytes_stored, bytes_skipped, avg_rate, copy_ms";

fn u(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn entry(r: &Row<'_>) -> rusqlite::Result<HistoryEntry> {
    let result: String = r.get(9)?;
    Ok(HistoryEntry {
        id: u(r.get(0)?),
        job: u(r.get(1)?),
        kind: r.get(2)?,
        vm: r.get(3)?,
        from: r.get(4)?,
        to: r.get(5)?,
        profile: r.get(6)?,
        started_ms: u(r.get(7)?),
        ended_ms: r.get::<_, Option<i64>>(8)?.map(u),
        // The CHECK constraint keeps other values out.
        result: HistoryResult::parse(&result).unwrap_or(HistoryResult::Failed),
        error: r.get(10)?,
        bytes_moved: u(r.get(11)?),
        bytes_stored: u(r.get(12)?),
        bytes_skipped: u(r.get(13)?),
        rate_bytes_per_sec: r.get(14)?,
        copy_secs: r.get::<_, Option<i64>>(15)?.map(|ms| u(ms) as f64 / 1000.0),
        validation: None,
        log: Vec::new(),
    })
}

impl HistoryDb {
    /// The newest `limit` rows the filter matches, newest first. With
    /// `full`, each row carries its validation report and log too.
    pub fn list(
        &self,
        filter: &HistoryFilter,
        limit: usize,
        full: bool,
    ) -> Result<Vec<HistoryEntry>, HistoryError> {
        let (cond, mut args) = filter.to_sql();
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        let sql = format!(
            "SELECT {COLUMNS}, validation, log FROM jobs WHERE {cond}
             ORDER BY started_at DESC, id DESC LIMIT ?{}",
            args.len()
        );
        let mut st = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = st
            .query_map(params_from_iter(args), |r| {
                let mut e = entry(r)?;
                if full {
                    fill_details(&mut e, r)?;
                }
                Ok(e)
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// One row with its validation report and log.
    pub fn get(&self, id: u64) -> Result<Option<HistoryEntry>, HistoryError> {
        let sql = format!("SELECT {COLUMNS}, validation, log FROM jobs WHERE id = ?1");
        self.conn
            .query_row(&sql, [i64::try_from(id).unwrap_or(-1)], |r| {
                let mut e = entry(r)?;
                fill_details(&mut e, r)?;
                Ok(e)
            })
            .optional()
            .map_err(self.err())
    }

    /// A list and its statistics in one read transaction, so they agree.
    pub fn page(&self, filter: &HistoryFilter, limit: usize) -> Result<HistoryPage, HistoryError> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        let entries = self.list(filter, limit, false)?;
        let stats = self.stats(filter)?;
        drop(tx);
        Ok(HistoryPage {
            filter: filter.clone(),
            entries,
            stats,
        })
    }
}

fn fill_details(e: &mut HistoryEntry, r: &Row<'_>) -> rusqlite::Result<()> {
    let validation: Option<String> = r.get(16)?;
    // A report that no longer parses is shown as its text.
    e.validation =
        validation.map(|v| serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v)));
    let log: String = r.get(17)?;
    e.log = if log.is_empty() {
        Vec::new()
    } else {
        log.lines().map(String::from).collect()
    };
    Ok(())
}
