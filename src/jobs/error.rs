//! The error every job kind returns: the pre-flight stopped it, it was
//! cancelled, or a named step failed.

use crate::model::Checklist;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("pre-flight checks failed: {}", summary(.0))]
    Invalid(Checklist),
    #[error("cancelled")]
    Cancelled,
    #[error("{step}: {message}")]
    Step { step: &'static str, message: String },
}

fn summary(c: &Checklist) -> String {
    c.failures()
        .map(|i| format!("{}: {}", i.title, i.message))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn step<E: std::fmt::Display>(step: &'static str) -> impl FnOnce(E) -> JobError {
    move |e| JobError::Step {
        step,
        message: e.to_string(),
    }
}

pub fn journal_err(e: crate::jobs::journal::JournalError) -> JobError {
    JobError::Step {
        step: "journal",
        message: e.to_string(),
    }
}
