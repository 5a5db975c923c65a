//! Script-facing output: the `hosts` and `vms` commands render backend
//! inventory as aligned text tables or stable JSON (docs/json.md).

pub mod history;
pub mod hosts;
pub mod profiles;
pub mod repository;
pub mod schedules;
pub mod table;
pub mod vms;

use humansize::{BINARY, format_size};

/// Sizes as the TUI shows them: binary units ("1.5 GiB").
pub fn size(bytes: u64) -> String {
    format_size(bytes, BINARY)
}
