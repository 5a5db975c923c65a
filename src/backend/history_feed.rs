//! The backend's side of the history: the store, opened once at start, and
//! the filter the front end last asked for, so every change (a job started
//! or ended) re-sends the page it is looking at.

use super::bus::EventBus;
use super::messages::Event;
use crate::jobs::history::{History, HistoryFilter, NewJob};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How many rows a history page holds.
pub(super) const HISTORY_SHOWN: usize = 200;

#[derive(Clone)]
pub(super) struct HistoryFeed {
    history: Option<History>,
    /// Held across query and send, so pages go out in the order asked.
    filter: Arc<Mutex<HistoryFilter>>,
    events: EventBus,
}

impl HistoryFeed {
    /// Opens `<data dir>/history.db`. Without it jobs still run: history is
    /// informative and never fails a job.
    pub(super) async fn open(events: EventBus) -> HistoryFeed {
        let history = match crate::paths::data_dir() {
            None => None,
            Some(dir) => match History::open(dir).await {
                Ok((h, report)) => {
                    if let Some(n) = report.imported {
                        tracing::info!("history: imported {n} entries from history.jsonl");
                    }
                    if report.interrupted > 0 {
                        tracing::info!(
                            "history: {} job(s) of a killed run marked interrupted",
                            report.interrupted
                        );
                    }
                    Some(h)
                }
                Err(e) => {
                    let message = format!("{e}; jobs run but are not recorded");
                    tracing::warn!("{message}");
                    events.send(Event::Error {
                        host: None,
                        message,
                    });
                    None
                }
            },
        };
        HistoryFeed {
            history,
            filter: Arc::new(Mutex::new(HistoryFilter::default())),
            events,
        }
    }

    /// A feed without a store, as when the data directory cannot be used.
    #[cfg(test)]
    pub(super) fn none(events: EventBus) -> HistoryFeed {
        HistoryFeed {
            history: None,
            filter: Arc::new(Mutex::new(HistoryFilter::default())),
            events,
        }
    }

    /// Sends the page of the current filter.
    pub(super) async fn publish(&self) {
        let Some(h) = &self.history else { return };
        let filter = self.filter.lock().await;
        match h.page(filter.clone(), HISTORY_SHOWN).await {
            Ok(page) => {
                self.events.send(Event::History(page));
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// Remembers the front end's filter and answers with its page.
    pub(super) async fn query(&self, filter: HistoryFilter) {
        *self.filter.lock().await = filter;
        self.publish().await;
    }

    /// Answers [`Event::HistoryDetail`] with one row in full.
    pub(super) async fn detail(&self, id: u64) {
        let Some(h) = &self.history else { return };
        let ev = match h.get(id).await {
            Ok(Some(entry)) => Event::HistoryDetail(Box::new(entry)),
            Ok(None) => Event::Error {
                host: None,
                message: format!("history has no job {id} (deleted?)"),
            },
            Err(e) => Event::Error {
                host: None,
                message: e.to_string(),
            },
        };
        self.events.send(ev);
    }

    /// Writes a starting job's row; None (logged) when history is unavailable.
    pub(super) async fn start(&self, job: NewJob) -> Option<u64> {
        let h = self.history.as_ref()?;
        match h.start(job).await {
            Ok(id) => {
                self.publish().await;
                Some(id)
            }
            Err(e) => {
                tracing::warn!("history: cannot record the job's start: {e}");
                None
            }
        }
    }

    /// Completes a job's row (logged on failure) and re-sends the page.
    pub(super) async fn finish(
        &self,
        row: Option<u64>,
        fin: crate::jobs::history::Finish,
        log: Vec<String>,
    ) {
        let (Some(h), Some(row)) = (&self.history, row) else {
            return;
        };
        if let Err(e) = h.finish(row, fin, log).await {
            tracing::warn!("history: cannot record the job's end: {e}");
        }
        self.publish().await;
    }
}
