//! Jobs the backend runs on behalf of the front ends, and what outlives
//! them: the journal that lets a restarted app clean up after a killed one,
//! and the history of finished jobs.
//!
//! Shared by every job kind: [`hosts`] (links and reconnect), [`error`],
//! [`progress`], [`preflight`] (the checklist), [`rewrite`] (the domain
//! XML), [`transfer`] (NBD sources, sinks and the copy), [`undo`] (what a
//! job made, undone on failure), [`define`] (the domain, last), [`nvram`], [`journal`], [`queue`] and
//! [`history`]. One folder per kind holds only what is special to it:
//! [`clone`], [`export`], [`restore`], [`extract`].

pub mod clone;
pub mod context;
pub mod define;
pub mod error;
pub mod export;
pub mod extract;
pub mod history;
pub mod hosts;
pub mod journal;
pub mod log;
pub mod nvram;
pub mod preflight;
pub mod progress;
pub mod queue;
pub mod recover;
pub mod restore;
pub mod rewrite;
pub mod schedule;
pub mod transfer;
pub mod undo;
