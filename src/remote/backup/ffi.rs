//! The libvirt backup calls the safe `virt` 0.5 crate does not wrap, made
//! through `virt::sys` (the same approach as `crate::libvirt::ffi`). Each
//! function runs on a `HostWorker` thread, inside `HostWorker::call`, so
//! `Error::last_error()` reads the error of the call just made (libvirt keeps
//! it per thread).

use std::ffi::{CStr, CString};
use virt::domain::Domain;
use virt::error::Error;
use virt::sys;

/// `virDomainBackupBegin(dom, xml, checkpoint_xml, 0)`: starts a backup
/// job, creating the checkpoint `checkpoint_xml` describes, if any, at the
/// backup's point in time.
pub fn backup_begin(
    dom: &Domain,
    backup_xml: &str,
    checkpoint_xml: Option<&str>,
) -> Result<(), Error> {
    let xml = CString::new(backup_xml)?;
    let cp = checkpoint_xml.map(CString::new).transpose()?;
    let cp_ptr = cp.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: dom holds a valid domain reference for the duration of the
    // call; xml and cp are NUL-terminated and outlive it; a NULL checkpoint
    // XML means "create no checkpoint" (documented in libvirt-domain.h).
    let rc = unsafe { sys::virDomainBackupBegin(dom.as_ptr(), xml.as_ptr(), cp_ptr, 0) };
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

/// `virDomainListAllCheckpoints`: the names of the domain's checkpoints.
pub fn checkpoint_names(dom: &Domain) -> Result<Vec<String>, Error> {
    let mut list: *mut sys::virDomainCheckpointPtr = std::ptr::null_mut();
    // SAFETY: dom is valid; libvirt allocates the array and stores it in list.
    let n = unsafe { sys::virDomainListAllCheckpoints(dom.as_ptr(), &mut list, 0) };
    if n < 0 {
        return Err(Error::last_error());
    }
    let mut names = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        // SAFETY: list holds n valid checkpoint references (libvirt's contract).
        let cp = unsafe { *list.add(i) };
        // SAFETY: cp is valid; the name is owned by cp, copied before the free.
        let name = unsafe { sys::virDomainCheckpointGetName(cp) };
        if !name.is_null() {
            names.push(
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        // SAFETY: each element is a reference we own.
        unsafe { sys::virDomainCheckpointFree(cp) };
    }
    // SAFETY: the array itself was malloc'ed by libvirt (NULL when n == 0).
    unsafe { libc::free(list.cast()) };
    Ok(names)
}

/// `virDomainCheckpointLookupByName` + `virDomainCheckpointDelete`: deletes
/// one checkpoint (its bitmaps are merged into its parent's by libvirt).
pub fn checkpoint_delete(dom: &Domain, name: &str) -> Result<(), Error> {
    let name = CString::new(name)?;
    // SAFETY: dom is valid; name is NUL-terminated and outlives the call.
    let cp = unsafe { sys::virDomainCheckpointLookupByName(dom.as_ptr(), name.as_ptr(), 0) };
    if cp.is_null() {
        return Err(Error::last_error());
    }
    // SAFETY: cp is the valid reference returned above.
    let rc = unsafe { sys::virDomainCheckpointDelete(cp, 0) };
    let err = (rc < 0).then(Error::last_error);
    // SAFETY: frees our reference exactly once.
    unsafe { sys::virDomainCheckpointFree(cp) };
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
