//! The ratatui front end. Pure parts: [`state::AppState`] (view state with its
//! reducer, key and mouse handlers), [`keymap::KeyMap`], and draw functions
//! ([`ui::draw`], [`panes`], [`overlays`]) that read the state only. The
//! impure rim is [`terminal`] and [`run`].

mod event_loop;
pub mod keymap;
pub mod layout;
pub mod overlays;
pub mod panes;
pub mod remembered;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod ui;

pub use event_loop::{TuiError, run};
pub use keymap::{KeyMap, KeyMapError};
pub use state::AppState;
pub use theme::Theme;

#[cfg(test)]
pub(crate) mod tests;
