//! placeholder
pub mod messages;
