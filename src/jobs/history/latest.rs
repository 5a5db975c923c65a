//! The newest success of each VM for one job kind: what "time since the
//! last good backup" alerts are built on (the daemon's metrics).

use super::{HistoryDb, HistoryError};
use crate::model::JobKind;

/// One VM's newest successful job of a kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastSuccess {
    pub vm: String,
    /// The source host.
    pub host: String,
    /// Unix milliseconds.
    pub ended_ms: u64,
}

impl HistoryDb {
    /// For each (VM, source host), when its newest job of `kind` that
    /// ended done ended.
    pub fn last_successes(&self, kind: JobKind) -> Result<Vec<LastSuccess>, HistoryError> {
        let mut st = self
            .conn
            .prepare(
                "SELECT vm, source_host, MAX(ended_at) FROM jobs
                 WHERE kind = ?1 AND result = 'done' AND ended_at IS NOT NULL
                 GROUP BY vm, source_host ORDER BY vm, source_host",
            )
            .map_err(self.err())?;
        let rows = st
            .query_map([kind.label()], |r| {
                Ok(LastSuccess {
                    vm: r.get(0)?,
                    host: r.get(1)?,
                    ended_ms: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::history::{Finish, NewJob};
    use crate::model::HistoryResult;

    fn run(db: &mut HistoryDb, n: u64, kind: JobKind, vm: &str, result: HistoryResult) {
        let job = NewJob {
            job: n,
            kind,
            vm: vm.into(),
            from: "alpha".into(),
            to: "/repo".into(),
            profile: "default".into(),
            started_ms: n * 1000,
        };
        let id = db.start(&job).unwrap();
        let fin = Finish {
            result,
            ended_ms: Some(n * 1000 + 500),
            ..Finish::default()
        };
        db.finish(id, &fin, &[]).unwrap();
    }

    #[test]
    fn the_newest_done_job_of_the_kind_counts_per_vm() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = HistoryDb::open_file(&dir.path().join("h.db")).unwrap();
        run(&mut db, 1, JobKind::Export, "web", HistoryResult::Done);
        run(&mut db, 2, JobKind::Export, "web", HistoryResult::Done);
        run(&mut db, 3, JobKind::Export, "web", HistoryResult::Failed);
        run(&mut db, 4, JobKind::Clone, "web", HistoryResult::Done);
        run(&mut db, 5, JobKind::Export, "db", HistoryResult::Done);
        let got = db.last_successes(JobKind::Export).unwrap();
        let want = [("db", 5_500), ("web", 2_500)];
        let got: Vec<(&str, u64)> = got.iter().map(|l| (l.vm.as_str(), l.ended_ms)).collect();
        assert_eq!(got, want);
    }
}
