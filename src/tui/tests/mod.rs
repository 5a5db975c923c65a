//! Tests of the TUI against realistic fixture data: snapshots of every pane
//! and overlay, and the behaviour of keys, mouse and backend events.

mod attach;
mod behaviour;
mod clone_flow;
pub(crate) mod fixtures;
mod help;
mod history;
mod job_list;
mod jobs_detail;
mod keymap_drift;
mod profile_edit;
mod profile_menu;
mod repo_create;
mod repository;
mod schedules;
mod snapshots;
