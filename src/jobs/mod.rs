//! Jobs the backend runs on behalf of the front ends.

pub mod clone;
