//! What the backend itself knows of a job, kept for its history row: the
//! phases with their times, the progress last seen, and how it ended.

use crate::model::{JobPhase, JobView};

#[derive(Debug, Default)]
pub(super) struct JobRecord {
    lines: Vec<String>,
    phase: Option<JobPhase>,
    /// Data bytes done at the last progress report.
    pub bytes_done: u64,
}

fn stamp() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S%.3f")
        .to_string()
}

impl JobRecord {
    /// Adds a timestamped line.
    pub fn note(&mut self, text: impl AsRef<str>) {
        self.lines.push(format!("{} {}", stamp(), text.as_ref()));
    }

    /// Takes in a progress report: a line when the phase changes.
    pub fn observe(&mut self, v: &JobView) {
        if self.phase != Some(v.phase) {
            self.phase = Some(v.phase);
            // The variant names are the words operators see ("copying").
            self.note(format!(
                "phase: {}",
                format!("{:?}", v.phase).to_lowercase()
            ));
        }
        if !v.disks.is_empty() {
            self.bytes_done = v.bytes_done();
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: JobPhase, done: u64) -> JobView {
        JobView {
            id: 1,
            number: 1,
            kind: crate::model::JobKind::Clone,
            vm: "vm".into(),
            from: "a".into(),
            to: "b".into(),
            phase,
            disks: vec![crate::model::DiskProgress {
                target: "vda".into(),
                bytes_done: done,
                bytes_total: 100,
            }],
            rate_bytes_per_sec: 0.0,
            eta_secs: None,
            message: None,
            queue_position: None,
        }
    }

    #[test]
    fn one_line_per_phase_change_and_the_last_progress() {
        let mut r = JobRecord::default();
        r.observe(&view(JobPhase::Copying, 10));
        r.observe(&view(JobPhase::Copying, 60));
        r.observe(&view(JobPhase::Verifying, 100));
        r.note("failed: verifying: digest differs");
        let lines = r.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].ends_with(" phase: copying"), "{lines:?}");
        assert!(lines[1].ends_with(" phase: verifying"), "{lines:?}");
        assert!(lines[2].ends_with(" failed: verifying: digest differs"));
        // Each line starts with its date.
        assert!(
            lines
                .iter()
                .all(|l| l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b' ')
        );
        assert_eq!(r.bytes_done, 100);
    }
}
