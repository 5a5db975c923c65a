//! The profile editor (`e` in the profile menu): the main settings of the
//! selected profile, changed in place and saved as a user profile. A user
//! profile saved under its own name is edited in its file; a built-in is
//! saved under a new name (its name is refused, as "save as profile" does).

use super::keys::{is_ctrl, typed_char};
use crate::config::profile::{ProfileKind, ProfileSource, ProfileSummary, file};
use crate::model::FormatChoice;
use crate::model::KeepPolicy;
use crate::model::profile::{LivePolicy, ProfileEdit};
use crossterm::event::{KeyCode, KeyEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Name,
    Live,
    Format,
    Verify,
    Bandwidth,
    Connections,
    Requests,
    /// A retention rule, by index into [`super::KEEP_FIELDS`].
    Keep(usize),
}

impl FormField {
    pub fn label(self) -> String {
        match self {
            FormField::Name => "name".into(),
            FormField::Live => "running VM".into(),
            FormField::Format => "format".into(),
            FormField::Verify => "verify".into(),
            FormField::Bandwidth => "bandwidth".into(),
            FormField::Connections => "connections".into(),
            FormField::Requests => "requests".into(),
            FormField::Keep(i) => format!("keep {}", super::KEEP_FIELDS[i]),
        }
    }

    /// A choice cycled with ←→, not typed.
    pub fn is_choice(self) -> bool {
        matches!(
            self,
            FormField::Live | FormField::Format | FormField::Verify
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileForm {
    /// The profile being edited.
    pub from: String,
    pub kind: ProfileKind,
    /// `from` is a user file: saving under its name edits that file.
    pub own_file: bool,
    pub name: String,
    pub live: LivePolicy,
    pub format: FormatChoice,
    pub verify: bool,
    /// Empty: unlimited.
    pub bandwidth: String,
    pub connections: String,
    pub requests: String,
    /// Export only; empty: no such rule.
    pub keep: [String; 5],
    pub field: FormField,
    /// Why Enter was refused, or what a second Enter does.
    pub note: Option<String>,
    /// The operator was told Enter again replaces another user profile.
    pub confirm_replace: bool,
    /// Sent; waiting for the backend to write it.
    pub saving: bool,
}

/// What a key in the form asks of the menu.
#[derive(Debug, PartialEq, Eq)]
pub enum FormStep {
    Stay,
    Back,
    /// Enter with every field right: save `name` with `edit`.
    Save {
        name: String,
        edit: ProfileEdit,
        replace: bool,
    },
}

fn num(n: u32) -> String {
    if n == 0 { String::new() } else { n.to_string() }
}

const LIVE: [LivePolicy; 3] = LivePolicy::ALL;
const FORMATS: [FormatChoice; 3] = [FormatChoice::Same, FormatChoice::Qcow2, FormatChoice::Raw];

fn cycle<T: Copy + PartialEq>(all: &[T], now: T, by: isize) -> T {
    let i = all.iter().position(|x| *x == now).unwrap_or(0) as isize;
    all[(i + by).rem_euclid(all.len() as isize) as usize]
}

/// A whole number in `range`, or a one-line reason naming the field.
fn parse_in(v: &str, field: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64, String> {
    let v = v.trim();
    match v.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!(
            "{field}: {v:?} is not a whole number in {}..={}",
            range.start(),
            range.end()
        )),
    }
}

impl ProfileForm {
    pub fn new(p: &ProfileSummary) -> Self {
        let v = &p.values;
        let own_file = matches!(p.source, ProfileSource::User(_));
        let k = v.retention.unwrap_or_default();
        ProfileForm {
            from: p.name.clone(),
            kind: p.kind,
            own_file,
            // A built-in needs a name of its own.
            name: if own_file {
                p.name.clone()
            } else {
                format!("my-{}", p.name)
            },
            live: v.live,
            format: v.format,
            verify: v.verify,
            bandwidth: v.bandwidth_limit.map(|b| b.to_string()).unwrap_or_default(),
            connections: v.connections.to_string(),
            requests: v.requests_in_flight.to_string(),
            keep: [k.last, k.daily, k.weekly, k.monthly, k.yearly].map(num),
            field: FormField::Name,
            note: None,
            confirm_replace: false,
            saving: false,
        }
    }

    /// The fields in Tab order; retention only for export profiles.
    pub fn fields(&self) -> Vec<FormField> {
        let mut f = vec![
            FormField::Name,
            FormField::Live,
            FormField::Format,
            FormField::Verify,
            FormField::Bandwidth,
            FormField::Connections,
            FormField::Requests,
        ];
        if self.kind == ProfileKind::Export {
            f.extend((0..5).map(FormField::Keep));
        }
        f
    }

    /// The field's value as shown.
    pub fn shown(&self, f: FormField) -> String {
        match f {
            FormField::Name => self.name.clone(),
            FormField::Live => self.live.label().into(),
            FormField::Format => self.format.label().into(),
            FormField::Verify => if self.verify { "yes" } else { "no" }.into(),
            FormField::Bandwidth => self.bandwidth.clone(),
            FormField::Connections => self.connections.clone(),
            FormField::Requests => self.requests.clone(),
            FormField::Keep(i) => self.keep[i].clone(),
        }
    }

    fn text_mut(&mut self) -> Option<&mut String> {
        match self.field {
            FormField::Name => Some(&mut self.name),
            FormField::Bandwidth => Some(&mut self.bandwidth),
            FormField::Connections => Some(&mut self.connections),
            FormField::Requests => Some(&mut self.requests),
            FormField::Keep(i) => Some(&mut self.keep[i]),
            FormField::Live | FormField::Format | FormField::Verify => None,
        }
    }

    /// The settings as typed, checked as the profile file would check them.
    pub fn edit(&self) -> Result<ProfileEdit, String> {
        let bandwidth = self.bandwidth.trim();
        let bandwidth_limit = if bandwidth.is_empty() {
            None
        } else {
            Some(
                crate::config::parse_rate(bandwidth)
                    .map_err(|e| format!("bandwidth: {e} (empty: unlimited)"))?,
            )
        };
        let connections = parse_in(&self.connections, "connections", file::CONNECTIONS)?;
        let requests = parse_in(&self.requests, "requests", file::REQUESTS_IN_FLIGHT)?;
        let mut k = [0u32; 5];
        for (i, v) in self.keep.iter().enumerate() {
            if !v.trim().is_empty() {
                let field = FormField::Keep(i).label();
                k[i] = parse_in(v, &field, file::KEEP_RULE)? as u32;
            }
        }
        let keep = KeepPolicy {
            last: k[0],
            daily: k[1],
            weekly: k[2],
            monthly: k[3],
            yearly: k[4],
        };
        Ok(ProfileEdit {
            live: self.live,
            format: self.format,
            verify: self.verify,
            bandwidth_limit,
            connections: connections as u8,
            requests_in_flight: requests as u8,
            retention: (self.kind == ProfileKind::Export && !keep.is_empty()).then_some(keep),
        })
    }

    /// Enter: the save, or why not. `profiles` tells which names are taken.
    fn submit(&mut self, profiles: &[ProfileSummary]) -> FormStep {
        let edit = match self.edit() {
            Ok(e) => e,
            Err(why) => {
                self.note = Some(why);
                return FormStep::Stay;
            }
        };
        let name = self.name.trim().to_string();
        // Its own file keeps its name, even a built-in's it overrides.
        if self.own_file && name == self.from {
            return FormStep::Save {
                name,
                edit,
                replace: true,
            };
        }
        match super::save_target(&name, profiles) {
            Err(why) => {
                self.note = Some(why);
                FormStep::Stay
            }
            Ok(Some(path)) if !self.confirm_replace => {
                self.note = Some(format!(
                    "replaces {}; enter again to confirm",
                    path.display()
                ));
                self.confirm_replace = true;
                FormStep::Stay
            }
            Ok(existing) => FormStep::Save {
                name,
                edit,
                replace: existing.is_some(),
            },
        }
    }

    pub fn key(&mut self, key: &KeyEvent, profiles: &[ProfileSummary]) -> FormStep {
        if key.code == KeyCode::Esc {
            return FormStep::Back;
        }
        if self.saving {
            return FormStep::Stay;
        }
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.field).unwrap_or(0) as isize;
        let step = |by: isize| fields[(at + by).rem_euclid(fields.len() as isize) as usize];
        let before = self.clone();
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.field = step(1),
            KeyCode::BackTab | KeyCode::Up => self.field = step(-1),
            KeyCode::Enter => return self.submit(profiles),
            KeyCode::Left | KeyCode::Right if self.field.is_choice() => {
                let by = if key.code == KeyCode::Left { -1 } else { 1 };
                match self.field {
                    FormField::Live => self.live = cycle(&LIVE, self.live, by),
                    FormField::Format => self.format = cycle(&FORMATS, self.format, by),
                    _ => self.verify = !self.verify,
                }
            }
            KeyCode::Backspace => {
                if let Some(t) = self.text_mut() {
                    t.pop();
                }
            }
            _ if is_ctrl(key, 'u') => {
                if let Some(t) = self.text_mut() {
                    t.clear();
                }
            }
            _ => {
                if let (Some(c), Some(t)) = (typed_char(key), self.text_mut()) {
                    t.push(c);
                }
            }
        }
        // A change of value drops the note and any replace confirmation.
        let moved_only = ProfileForm {
            field: before.field,
            ..self.clone()
        } == before;
        if !moved_only {
            (self.note, self.confirm_replace) = (None, false);
        }
        FormStep::Stay
    }
}
