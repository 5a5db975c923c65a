//! The clone job: copies a VM from one libvirt host to another under a new
//! name. The checks it runs first are [`crate::jobs::preflight`]; the domain
//! XML it defines comes from [`crate::jobs::rewrite`].

mod power;
pub mod run;
