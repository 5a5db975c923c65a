//! The libvirt backup calls the safe `virt` 0.5 crate does not wrap, made
//! through `virt::sys` (the same approach as `crate::libvirt::ffi`). Each
//! function runs on a `HostWorker` thread, inside `HostWorker::call`, so
//! `Error::last_error()` reads the error of the call just made (libvirt keeps
//! it per thread).

use std::ffi::{CStr, CString};
use virt::domain::Domain;
use virt::error::Error;
use virt::sys;

/// `virDomainBackupBegin(dom, xml, NULL, 0)`: starts a backup job with no
/// checkpoint.
pub fn backup_begin(dom: &Domain, backup_xml: &str) -> Result<(), Error> {
    let xml = CString::new(backup_xml)?;
    // SAFETY: dom holds a valid domain reference for the duration of the
    // call; xml is NUL-terminated and outlives it; a NULL checkpoint XML
    // means "create no checkpoint" (documented in libvirt-domain.h).
    let rc = unsafe { sys::virDomainBackupBegin(dom.as_ptr(), xml.as_ptr(), std::ptr::null(), 0) };
    if rc < 0 {
        return Err(Error::last_error());
    }
    Ok(())
}

/// `virDomainBackupGetXMLDesc`: the running backup job's XML, with the
/// defaults libvirt filled in (export names, scratch files).
pub fn backup_xml(dom: &Domain) -> Result<String, Error> {
    // SAFETY: dom is valid; libvirt returns a malloc'ed string or NULL.
    let ptr = unsafe { sys::virDomainBackupGetXMLDesc(dom.as_ptr(), 0) };
    if ptr.is_null() {
        return Err(Error::last_error());
    }
    // SAFETY: ptr is a NUL-terminated string owned by us until freed below.
    let xml = unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: libvirt documents that the caller frees the result with free().
    unsafe { libc::free(ptr.cast()) };
    Ok(xml)
}

/// `virDomainAbortJob`: ends the domain's current job; for a pull-mode
/// backup this is the normal way to finish it.
pub fn abort_job(dom: &Domain) -> Result<(), Error> {
    // SAFETY: dom is valid for the call.
    let rc = unsafe { sys::virDomainAbortJob(dom.as_ptr()) };
    if rc < 0 {
        return Err(Error::last_error());
    }
    Ok(())
}
