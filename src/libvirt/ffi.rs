//! The few libvirt calls the safe `virt` 0.5 crate lacks or gets wrong, made
//! directly through `virt::sys`. Every `unsafe` of the libvirt layer is here.
//!
//! - `virDomainGetBlockInfo`: `Domain::block_info` ignores the return code
//!   and hands back uninitialised memory on failure.
//! - `virDomainGetJobStats`: `Domain::job_stats` builds a `Vec` from a
//!   pointer that is NULL when there is no job; we only need the operation.
//! - Event callbacks (`virConnectDomainEventRegisterAny`,
//!   `virConnectRegisterCloseCallback`): not wrapped at all.

use super::events::Sink;
use std::ffi::{CStr, CString, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::error::Error;
use virt::sys;

/// Capacity and allocation of one disk, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSizes {
    pub capacity: u64,
    pub allocation: u64,
}

/// `virDomainGetBlockInfo` for a disk given by target ("vda") or source path.
/// Works on inactive domains too.
pub fn block_info(dom: &Domain, disk: &str) -> Result<BlockSizes, Error> {
    let disk = CString::new(disk)?;
    let mut info = std::mem::MaybeUninit::<sys::virDomainBlockInfo>::uninit();
    // SAFETY: dom holds a valid reference; disk is a NUL-terminated string
    // that outlives the call; info is written in full when rc == 0.
    let rc =
        unsafe { sys::virDomainGetBlockInfo(dom.as_ptr(), disk.as_ptr(), info.as_mut_ptr(), 0) };
    if rc < 0 {
        return Err(Error::last_error());
    }
    // SAFETY: rc == 0, so libvirt filled the struct.
    let info = unsafe { info.assume_init() };
    Ok(BlockSizes {
        capacity: info.capacity,
        allocation: info.allocation,
    })
}

/// The running job's `virDomainJobOperation`: `None` when there is no job,
/// `Some(0)` (unknown) when libvirt does not say which.
pub fn job_operation(dom: &Domain) -> Result<Option<i32>, Error> {
    let mut kind: c_int = 0;
    let mut params: sys::virTypedParameterPtr = std::ptr::null_mut();
    let mut nparams: c_int = 0;
    // SAFETY: all out-pointers are valid locals; libvirt allocates params.
    let rc =
        unsafe { sys::virDomainGetJobStats(dom.as_ptr(), &mut kind, &mut params, &mut nparams, 0) };
    if rc < 0 {
        return Err(Error::last_error());
    }
    let mut op: c_int = 0;
    let found = if params.is_null() {
        0
    } else {
        // SAFETY: params/nparams come from libvirt; the name is a C string constant.
        unsafe {
            sys::virTypedParamsGetInt(
                params,
                nparams,
                sys::VIR_DOMAIN_JOB_OPERATION.as_ptr(),
                &mut op,
            )
        }
    };
    // SAFETY: frees what libvirt allocated above; NULL is accepted.
    unsafe { sys::virTypedParamsFree(params, nparams) };
    if kind == sys::VIR_DOMAIN_JOB_NONE as c_int {
        return Ok(None);
    }
    Ok(Some(if found == 1 { op } else { 0 }))
}

/// Registers the lifecycle callback on `conn`; returns libvirt's callback id.
/// libvirt owns one `Arc<Sink>` until the callback is deregistered.
pub fn register_lifecycle(conn: &Connect, sink: Arc<Sink>) -> Result<c_int, Error> {
    let opaque = Box::into_raw(Box::new(sink)).cast::<c_void>();
    type Lifecycle =
        unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void);
    type Generic = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);
    // SAFETY: this is VIR_DOMAIN_EVENT_CALLBACK() from the C headers: libvirt
    // calls the callback with the signature that matches the event id
    // (VIR_DOMAIN_EVENT_ID_LIFECYCLE → virConnectDomainEventCallback).
    let generic = unsafe { std::mem::transmute::<Lifecycle, Generic>(on_lifecycle) };
    // SAFETY: conn is valid; opaque is freed by free_sink exactly once, by
    // libvirt on deregistration or by us below if registration fails.
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            Some(generic),
            opaque,
            Some(free_sink),
        )
    };
    if id < 0 {
        let err = Error::last_error();
        // SAFETY: libvirt did not take ownership on failure.
        unsafe { free_sink(opaque) };
        return Err(err);
    }
    Ok(id)
}

pub fn deregister_lifecycle(conn: &Connect, id: c_int) {
    // SAFETY: conn is valid; an unknown id only yields an error.
    let rc = unsafe { sys::virConnectDomainEventDeregisterAny(conn.as_ptr(), id) };
    if rc < 0 {
        tracing::debug!(error = %Error::last_error(), "lifecycle callback not deregistered");
    }
}

/// Registers the callback run when the connection drops (EOF, keepalive
/// timeout, I/O error). One per connection.
pub fn register_close(conn: &Connect, sink: Arc<Sink>) -> Result<(), Error> {
    let opaque = Box::into_raw(Box::new(sink)).cast::<c_void>();
    // SAFETY: as for register_lifecycle; libvirt frees opaque with free_sink
    // when the callback is unregistered or the connection is freed.
    let rc = unsafe {
        sys::virConnectRegisterCloseCallback(conn.as_ptr(), Some(on_close), opaque, Some(free_sink))
    };
    if rc < 0 {
        let err = Error::last_error();
        // SAFETY: not registered, so still ours.
        unsafe { free_sink(opaque) };
        return Err(err);
    }
    Ok(())
}

pub fn unregister_close(conn: &Connect) {
    // SAFETY: conn is valid; on_close is the function registered above.
    let rc = unsafe { sys::virConnectUnregisterCloseCallback(conn.as_ptr(), Some(on_close)) };
    if rc < 0 {
        tracing::debug!(error = %Error::last_error(), "close callback not unregistered");
    }
}

/// Runs on libvirt's event loop thread. Never unwinds into C.
unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    _detail: c_int,
    opaque: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: opaque is the Box<Arc<Sink>> registered above, alive until
        // free_sink; dom is valid for the duration of the callback and its
        // name is owned by dom (not freed here).
        let sink = unsafe { &*opaque.cast::<Arc<Sink>>() };
        let name = unsafe { sys::virDomainGetName(dom) };
        let name = if name.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned()
        };
        sink.lifecycle(name, event);
    }));
}

/// Runs on libvirt's event loop thread (or the thread that saw the EOF).
unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: opaque is the Box<Arc<Sink>> registered in register_close.
        let sink = unsafe { &*opaque.cast::<Arc<Sink>>() };
        sink.closed(reason);
    }));
}

unsafe extern "C" fn free_sink(opaque: *mut c_void) {
    if !opaque.is_null() {
        // SAFETY: created by Box::into_raw in a register_* function; libvirt
        // calls the free callback once.
        drop(unsafe { Box::from_raw(opaque.cast::<Arc<Sink>>()) });
    }
}
