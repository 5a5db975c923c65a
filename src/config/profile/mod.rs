//! Job profiles: named sets of choices an operator picks from a menu (live
//! policy, format, verification, parallelism, bandwidth, retries,
//! encryption, retention …). Built-in profiles ship in `profiles/` and are
//! compiled in; files in the user's `profiles/` config directory add to
//! them or replace them by name. Format: docs/profiles.md.
//!
//! - [`file`] reads and checks the TOML (errors carry file:line);
//! - [`schema`] is the checked profile the jobs use;
//! - [`load`] gathers built-ins and user files; [`save`] writes a user file;
//! - [`summary`] renders settings for the TUI menu.

mod builtin;
pub mod edit;
pub mod file;
pub mod load;
pub mod save;
pub mod schema;
pub mod summary;

pub use builtin::is_builtin;
pub use file::{name_problem, parse_profile, recipient_problem, webhook_problem};
pub use load::{LoadedProfile, ProfileSource, find_profile, load_profiles, user_profile_dir};
pub use save::{SaveError, save_profile, to_toml};
pub use schema::{
    Compression, Encryption, ImageFormat, LivePolicy, PassphraseSource, Profile, ProfileKind,
    Retention, RetryProfile,
};
pub use summary::ProfileSummary;

#[cfg(test)]
mod tests;
