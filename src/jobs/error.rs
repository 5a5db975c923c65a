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

/// A destination name or path that passed the checks but was taken before
/// the job got to it (another job racing for it): a failed check, as the
/// pre-flight would have reported it, naming the host as configured.
pub fn taken_after_checks(id: &str, title: &str, what: String) -> JobError {
    let mut checklist = Checklist::default();
    checklist.push(crate::model::CheckItem::fail(
        id,
        title,
        format!("{what} after the checks passed (another job took it)"),
        "choose another name, or let the other job finish and run this one again",
    ));
    JobError::Invalid(checklist)
}
