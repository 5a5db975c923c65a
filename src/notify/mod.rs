//! Notifications sent when a job ends. They run beside the job and can
//! neither fail it nor hold it up.

pub mod webhook;
