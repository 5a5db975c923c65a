//! The clone dialog: source, destination picker, new name, profile picker,
//! and the pre-flight checklist of the request last sent for validation.

use crate::model::{Checklist, CloneRequest, ConnState, HostView};

/// Longest new VM name the backend accepts.
pub const NAME_MAX: usize = crate::model::names::MAX_NAME_LEN;

/// Why a new VM name is refused, or None when it is acceptable: the very
/// rule validation applies, so the operator learns before sending.
pub fn name_problem(name: &str) -> Option<String> {
    crate::model::names::name_problem(name)
}

/// Focus order of the dialog; Tab moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneField {
    Destination,
    Name,
    Profile,
    /// The check / start button under the checklist.
    Confirm,
}

impl CloneField {
    pub const ALL: [CloneField; 4] = [
        CloneField::Destination,
        CloneField::Name,
        CloneField::Profile,
        CloneField::Confirm,
    ];

    fn index(self) -> usize {
        CloneField::ALL.iter().position(|f| *f == self).unwrap_or(0)
    }

    pub fn next(self) -> CloneField {
        CloneField::ALL[(self.index() + 1) % CloneField::ALL.len()]
    }

    pub fn prev(self) -> CloneField {
        let n = CloneField::ALL.len();
        CloneField::ALL[(self.index() + n - 1) % n]
    }
}

/// Where the validation of a sent request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckState {
    Waiting,
    Done(Checklist),
    /// The backend reported an error for the source host while we waited.
    Error(String),
}

/// A request sent for validation and what came back for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneCheck {
    pub request: CloneRequest,
    pub state: CheckState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneDialog {
    pub from: String,
    pub vm: String,
    /// Chosen destination host; looked up in the host list when drawn so
    /// its state stays current.
    pub to: String,
    pub name: String,
    pub profile: String,
    pub field: CloneField,
    pub check: Option<CloneCheck>,
    /// First checklist line shown.
    pub scroll: u16,
    /// The "save as profile" prompt, while open.
    pub save: Option<super::SaveAs>,
}

/// What the confirm button does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// Nothing checked yet, or the fields changed since: Enter checks.
    Check,
    Waiting,
    /// The checklist of the current fields has no failure: Enter starts.
    Start,
    /// The current fields failed a check: Enter checks again after a fix.
    Blocked {
        failed: usize,
    },
    /// The backend answered with an error instead of a checklist.
    Retry,
}

impl CloneDialog {
    /// The dialog for `vm` on `from`, prefilled: the first candidate
    /// destination, `<vm>-clone`, and the "default" profile when there is one.
    pub fn new(from: &str, vm: &str, destinations: &[String], profiles: &[String]) -> Self {
        let profile = profiles
            .iter()
            .find(|p| *p == "default")
            .or(profiles.first())
            .cloned()
            .unwrap_or_else(|| "default".into());
        CloneDialog {
            from: from.into(),
            vm: vm.into(),
            to: destinations.first().cloned().unwrap_or_default(),
            name: format!("{vm}-clone"),
            profile,
            field: CloneField::Destination,
            check: None,
            scroll: 0,
            save: None,
        }
    }

    /// The request the fields describe now.
    pub fn request(&self) -> CloneRequest {
        CloneRequest {
            from: self.from.clone(),
            vm: self.vm.clone(),
            to: self.to.clone(),
            new_name: self.name.clone(),
            profile: self.profile.clone(),
            start: false,
        }
    }

    /// Whether the shown check is for the fields as they are now.
    pub fn check_is_current(&self) -> bool {
        self.check
            .as_ref()
            .is_some_and(|c| c.request == self.request())
    }

    pub fn confirm(&self) -> Confirm {
        let Some(check) = self.check.as_ref().filter(|_| self.check_is_current()) else {
            return Confirm::Check;
        };
        match &check.state {
            CheckState::Waiting => Confirm::Waiting,
            CheckState::Error(_) => Confirm::Retry,
            CheckState::Done(list) if list.ok() => Confirm::Start,
            CheckState::Done(list) => Confirm::Blocked {
                failed: list
                    .items
                    .iter()
                    .filter(|i| i.status == crate::model::CheckStatus::Fail)
                    .count(),
            },
        }
    }

    /// Was `request` the one last sent for validation? Its answer is taken
    /// even after an error, which may have been about something else.
    pub fn asked(&self, request: &CloneRequest) -> bool {
        self.check.as_ref().is_some_and(|c| c.request == *request)
    }
}

/// Candidate destinations for a clone from `from`: every other host, the
/// ones that are up first, otherwise in config order.
pub fn destinations(hosts: &[HostView], from: &str) -> Vec<String> {
    let mut others: Vec<&HostView> = hosts.iter().filter(|h| h.name != from).collect();
    others.sort_by_key(|h| h.state != ConnState::Up);
    others.into_iter().map(|h| h.name.clone()).collect()
}

/// The entry `step` places away from `current` in `options`, wrapping around;
/// the first one when `current` is not there.
pub fn cycle(options: &[String], current: &str, step: isize) -> Option<String> {
    let n = options.len() as isize;
    if n == 0 {
        return None;
    }
    let i = match options.iter().position(|o| o == current) {
        Some(i) => (i as isize + step).rem_euclid(n),
        None => 0,
    };
    options.get(i as usize).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckItem, CheckStatus};

    #[test]
    fn names_are_checked_like_the_backend_does() {
        assert_eq!(name_problem("web01-clone"), None);
        assert_eq!(name_problem(&"a".repeat(64)), None);
        let cases = [
            ("", "empty"),
            (&*"a".repeat(65), "65 characters"),
            ("a/b", "path separator"),
            ("a..b", "\"..\""),
            ("a\tb", "control"),
            ("café", "not allowed"),
        ];
        for (name, want) in cases {
            let got = name_problem(name).unwrap_or_default();
            assert!(got.contains(want), "{name:?}: {got}");
        }
    }

    #[test]
    fn fields_cycle_both_ways() {
        let mut f = CloneField::Destination;
        let order: Vec<CloneField> = (0..4)
            .map(|_| {
                f = f.next();
                f
            })
            .collect();
        assert_eq!(
            order,
            [
                CloneField::Name,
                CloneField::Profile,
                CloneField::Confirm,
                CloneField::Destination
            ]
        );
        assert_eq!(CloneField::Destination.prev(), CloneField::Confirm);
    }

    #[test]
    fn cycle_wraps_and_recovers_from_a_vanished_choice() {
        let o: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(cycle(&o, "c", 1).as_deref(), Some("a"));
        assert_eq!(cycle(&o, "a", -1).as_deref(), Some("c"));
        assert_eq!(cycle(&o, "gone", 1).as_deref(), Some("a"));
        assert_eq!(cycle(&[], "a", 1), None);
    }

    fn item(status: CheckStatus) -> CheckItem {
        CheckItem {
            id: "x".into(),
            title: "x".into(),
            status,
            message: String::new(),
            hint: None,
        }
    }

    #[test]
    fn confirm_follows_the_check_of_the_current_fields() {
        let mut d = CloneDialog::new("alpha", "web01", &["beta".into()], &[]);
        assert_eq!(d.profile, "default");
        assert_eq!(d.confirm(), Confirm::Check);
        d.check = Some(CloneCheck {
            request: d.request(),
            state: CheckState::Waiting,
        });
        assert_eq!(d.confirm(), Confirm::Waiting);
        assert!(d.asked(&d.request()));
        let list = Checklist {
            items: vec![item(CheckStatus::Pass), item(CheckStatus::Warn)],
        };
        d.check.as_mut().unwrap().state = CheckState::Done(list);
        assert_eq!(d.confirm(), Confirm::Start);
        // Any edit makes the result stale.
        d.name.push('2');
        assert_eq!(d.confirm(), Confirm::Check);
        d.name.pop();
        let failed = Checklist {
            items: vec![item(CheckStatus::Fail), item(CheckStatus::Fail)],
        };
        d.check.as_mut().unwrap().state = CheckState::Done(failed);
        assert_eq!(d.confirm(), Confirm::Blocked { failed: 2 });
    }
}
