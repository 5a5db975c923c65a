//! The clone job: copies a VM from one libvirt host to another under a new
//! name. [`xml_rewrite`] turns the source domain XML into the clone's;
//! [`validate`] is the pre-flight checklist and the clone's path rule.

mod power;
pub mod run;
pub mod validate;
pub mod xml_rewrite;
