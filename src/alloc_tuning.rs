//! glibc malloc settings for a process that moves data in 4 MiB buffers.
//!
//! By default glibc serves allocations this large with a fresh `mmap` and
//! gives them back with `munmap`, or trims freed heap memory back to the
//! kernel. Either way every buffer of every chunk is faulted in and zeroed
//! by the kernel again, which profiling showed as a tenth of an export's
//! CPU time. Keeping such buffers in the heap lets them be reused; the
//! heap still only grows to the largest number of buffers in flight at
//! once (bounded by the profile's connections and requests), so memory
//! stays flat however large the disks are. Between jobs the TUI keeps about
//! that working set resident (glibc does not trim its per-thread heaps
//! below the threshold, and `malloc_trim` does not shrink their tops).

/// Buffers up to this size come from the heap (glibc's own cap is 32 MiB
/// on 64-bit; NBD requests and chunks are at most that).
const MMAP_THRESHOLD: libc::c_int = 32 << 20;
/// Free memory at the top of the main heap above this is given back to
/// the kernel; well above a job's buffers in flight.
const TRIM_THRESHOLD: libc::c_int = 128 << 20;

/// Applies the settings; called once, first thing in `main`.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}
