//! Jobs the backend runs on behalf of the front ends, and what outlives
//! them: the journal that lets a restarted app clean up after a killed one,
//! and the history of finished jobs.

pub mod clone;
pub mod detail;
pub mod export;
pub mod extract;
pub mod history;
pub mod journal;
pub mod log;
pub mod queue;
pub mod recover;
pub mod restore;
