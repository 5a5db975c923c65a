//! The allocator settings: 4 MiB buffers freed by a job stay in the heap,
//! so the next chunk's buffer is reused instead of faulted in and zeroed
//! by the kernel again. Its own test binary: it changes process-wide
//! malloc settings and counts the thread's page faults.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod linux {
    /// Minor page faults of this thread so far.
    fn faults() -> i64 {
        // SAFETY: getrusage fills the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) }, 0);
        u.ru_minflt
    }

    /// Eight 4 MiB buffers, written through, as a job's chunks in flight are;
    /// returns the page faults that took.
    fn round(seed: u8) -> i64 {
        let before = faults();
        let bufs: Vec<Vec<u8>> = (0..8).map(|i| vec![seed + i; 4 << 20]).collect();
        let taken = faults() - before;
        assert!(bufs.iter().all(|b| b[4095] != 0));
        taken
    }

    #[test]
    fn freed_buffers_are_reused_not_faulted_in_again() {
        kvm_clone::alloc_tuning::tune();
        let first = round(1);
        // 32 MiB: about 8192 faults of 4 KiB pages the first time, or 16 of
        // 2 MiB where transparent huge pages are always on.
        let thp_always = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .is_ok_and(|s| s.contains("[always]"));
        let least = if thp_always { 8 } else { 4000 };
        assert!(first > least, "first round: {first} faults");
        let again = round(20);
        assert!(
            again * 10 < first,
            "reused, not faulted in again: {first} then {again} faults"
        );
    }
}
