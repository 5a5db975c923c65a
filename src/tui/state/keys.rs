//! Key presses into state changes and backend actions.

use super::{AddHostForm, AppState, Overlay, Pane};
use crate::backend::messages::Action;
use crate::model::ConnState;
use crate::tui::keymap::{Command, KeyMap};
use crate::tui::{layout::layout, overlays, panes};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// A printable character typed without ctrl/alt, for text inputs.
pub(super) fn typed_char(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c)
            if !key
                .modifiers
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
        {
            Some(c)
        }
        _ => None,
    }
}

/// The key's code, with a character typed under ctrl or alt made `Null`:
/// letters answer questions and pick actions only when typed plainly
/// (ctrl-y is not yes).
pub(super) fn plain_code(key: &KeyEvent) -> KeyCode {
    match key.code {
        KeyCode::Char(_) if typed_char(key).is_none() => KeyCode::Null,
        code => code,
    }
}

pub(super) fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.code == KeyCode::Char(c) && key.modifiers.contains(KeyModifiers::CONTROL)
}

impl AppState {
    /// Handle one key press; returns what to send to the backend.
    pub fn on_key(&mut self, key: KeyEvent, keys: &KeyMap) -> Vec<Action> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        let mut out = Vec::new();
        let before = self.focus;
        match self.overlay.take() {
            Some(ov) => self.overlay = self.overlay_key(ov, &key, keys, &mut out),
            None if self.filter.editing => self.filter_key(&key, keys),
            None if self.history_filter.editing => self.history_filter_key(&key, keys, &mut out),
            None => self.pane_key(&key, keys, &mut out),
        }
        self.history_on_focus(before, &mut out);
        self.open_pending_prompt();
        out
    }

    fn filter_key(&mut self, key: &KeyEvent, keys: &KeyMap) {
        match key.code {
            KeyCode::Esc => {
                self.filter.text.clear();
                self.filter.editing = false;
            }
            KeyCode::Enter => self.filter.editing = false,
            KeyCode::Backspace => {
                self.filter.text.pop();
            }
            KeyCode::Up | KeyCode::Down => {
                if let Some(cmd) = keys.command(key) {
                    self.pane_command(cmd, keys, &mut Vec::new());
                }
                return;
            }
            _ => match typed_char(key) {
                Some(c) => self.filter.text.push(c),
                None => return,
            },
        }
        self.selection.vms = 0;
        self.clamp_selections();
    }

    fn pane_key(&mut self, key: &KeyEvent, keys: &KeyMap, out: &mut Vec<Action>) {
        // Esc is not rebindable: it always backs out of the filter.
        if key.code == KeyCode::Esc && self.focus == Pane::History && self.clear_history_filter(out)
        {
            return;
        }
        if key.code == KeyCode::Esc && !self.filter.text.is_empty() {
            self.filter.text.clear();
            self.clamp_selections();
            return;
        }
        if let Some(cmd) = keys.command_in(key, self.focus == Pane::Jobs) {
            self.status = None;
            self.pane_command(cmd, keys, out);
        }
    }

    fn page(&self, pane: Pane) -> isize {
        let rect = layout(self.area).get(pane);
        panes::rows_area(pane, rect, self).height.max(1) as isize
    }

    fn pane_command(&mut self, cmd: Command, keys: &KeyMap, out: &mut Vec<Action>) {
        let pane = self.focus;
        match cmd {
            Command::Quit => {
                if self.has_running_jobs() {
                    self.overlay = Some(Overlay::ConfirmQuit);
                } else {
                    self.quit = true;
                }
            }
            Command::Help => self.overlay = Some(self.help_over(keys, None)),
            Command::Filter if pane == Pane::History => self.history_filter.editing = true,
            Command::Filter => {
                self.focus = Pane::Vms;
                self.filter.editing = true;
            }
            // In the history pane, r reads the history again: other
            // processes (headless jobs, cron) add rows.
            Command::Refresh if pane == Pane::History => {
                self.set_status("reading the history again…");
                out.push(Action::QueryHistory(self.history_query()));
            }
            Command::Refresh => match self.selected_host().map(|h| h.name.clone()) {
                Some(name) => {
                    self.set_status(format!("refreshing {name}…"));
                    out.push(Action::Refresh(Some(name)));
                }
                None => self.set_status("no host to refresh"),
            },
            Command::RefreshAll => {
                self.set_status("refreshing all hosts…");
                out.push(Action::Refresh(None));
            }
            Command::NextPane => self.focus = pane.next(),
            Command::PrevPane => self.focus = pane.prev(),
            Command::Up => self.move_selection(pane, -1),
            Command::Down => self.move_selection(pane, 1),
            // ← → (h l) are the previous and next pane, as the README says:
            // Hosts and VMs side by side, then Jobs and History below.
            Command::Left => self.focus = pane.prev(),
            Command::Right => self.focus = pane.next(),
            Command::Top => self.select(pane, 0),
            Command::Bottom => self.select(pane, usize::MAX),
            Command::PageUp => self.move_selection(pane, -self.page(pane)),
            Command::PageDown => self.move_selection(pane, self.page(pane)),
            Command::Details => self.details(out),
            Command::AddHost => self.overlay = Some(Overlay::AddHost(AddHostForm::default())),
            Command::Clone => self.open_clone(),
            Command::Cancel => self.ask_cancel(),
            Command::Retry => self.retry(out),
            Command::Profiles => self.open_profiles(out),
            Command::Export => self.open_export(),
            Command::Repository => self.open_repository(out),
            Command::Schedules => self.open_schedules(),
            Command::SaveProfile => {
                self.set_status("save as profile: open a job dialog first (clone: c)")
            }
        }
    }

    /// Enter: on a host, answer what it waits for or (re)connect; on a VM, its details.
    fn details(&mut self, out: &mut Vec<Action>) {
        match self.focus {
            Pane::Hosts => {
                let Some(host) = self.selected_host() else {
                    return;
                };
                let name = host.name.clone();
                if let Some(prompt) = Self::prompt_for(host) {
                    self.overlay = Some(prompt);
                    return;
                }
                match host.state {
                    ConnState::Up => self.focus = Pane::Vms,
                    ConnState::Connecting => self.set_status(format!("{name}: connecting…")),
                    _ => {
                        self.set_status(format!("connecting to {name}…"));
                        out.push(Action::Connect(name));
                    }
                }
            }
            Pane::Vms => {
                if let (Some(host), Some(vm)) = (self.selected_host(), self.selected_vm()) {
                    self.overlay = Some(Overlay::VmDetail {
                        host: host.name.clone(),
                        vm: vm.name.clone(),
                        scroll: 0,
                    });
                }
            }
            Pane::Jobs => {
                if let Some(job) = self.selected_job() {
                    self.overlay = Some(Overlay::JobDetail {
                        id: job.id,
                        scroll: 0,
                    });
                }
            }
            Pane::History => self.open_history_detail(out),
        }
    }

    /// Keys while an overlay is open; returns the overlay that stays open.
    fn overlay_key(
        &mut self,
        ov: Overlay,
        key: &KeyEvent,
        keys: &KeyMap,
        out: &mut Vec<Action>,
    ) -> Option<Overlay> {
        let cmd = keys.command(key);
        if cmd == Some(Command::Help) && ov.context().takes_help() {
            return Some(self.help_over(keys, Some(ov)));
        }
        match ov {
            Overlay::Help(v) => self.help_key(v, key, keys),
            Overlay::Repository(b) => self
                .repository_key(b, key, keys, out)
                .map(Overlay::Repository),
            Overlay::Export(d) => self.export_key(d, key, out).map(Overlay::Export),
            Overlay::Schedules(l) => self
                .schedules_key(l, key, keys, out)
                .map(Overlay::Schedules),
            Overlay::VmDetail { host, vm, scroll } => {
                if key.code == KeyCode::Esc || matches!(cmd, Some(Command::Quit | Command::Details))
                {
                    return None;
                }
                let max = overlays::detail::max_scroll(self, &host, &vm, self.area);
                let scroll = scrolled(scroll, cmd, max, DETAIL_PAGE);
                Some(Overlay::VmDetail { host, vm, scroll })
            }
            Overlay::HistoryDetail { id, scroll } => {
                if key.code == KeyCode::Esc || matches!(cmd, Some(Command::Quit | Command::Details))
                {
                    return None;
                }
                let max = overlays::history_detail::max_scroll(self, id, self.area);
                let scroll = scrolled(scroll, cmd, max, DETAIL_PAGE);
                Some(Overlay::HistoryDetail { id, scroll })
            }
            Overlay::ConfirmQuit => match plain_code(key) {
                KeyCode::Char('y' | 'Y') => {
                    self.quit = true;
                    None
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => None,
                _ => Some(Overlay::ConfirmQuit),
            },
            Overlay::HostKey { host, fingerprint } => match plain_code(key) {
                KeyCode::Char('y' | 'Y' | 'a' | 'A') => {
                    self.answered_prompt(&host);
                    self.set_status(format!("{host}: host key accepted, saved to known_hosts"));
                    out.push(Action::AcceptHostKey { host, fingerprint });
                    None
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    self.dismiss_prompt(&host);
                    self.set_status(format!("{host}: host key rejected"));
                    out.push(Action::RejectHostKey { host });
                    None
                }
                _ => Some(Overlay::HostKey { host, fingerprint }),
            },
            Overlay::Passphrase(mut p) => match key.code {
                KeyCode::Esc => {
                    self.dismiss_prompt(&p.host);
                    self.set_status(format!(
                        "{}: passphrase not given; Enter on the host asks again",
                        p.host
                    ));
                    None
                }
                KeyCode::Enter if p.typed() == 0 => Some(Overlay::Passphrase(p)),
                KeyCode::Enter => {
                    self.answered_prompt(&p.host);
                    self.set_status(format!("{}: unlocking key…", p.host));
                    out.push(Action::Passphrase {
                        host: p.host,
                        key_path: p.key_path,
                        passphrase: p.input,
                    });
                    None
                }
                KeyCode::Backspace => {
                    p.pop();
                    Some(Overlay::Passphrase(p))
                }
                _ if is_ctrl(key, 'u') => {
                    p.clear();
                    Some(Overlay::Passphrase(p))
                }
                _ => {
                    if let Some(c) = typed_char(key) {
                        p.push(c);
                    }
                    Some(Overlay::Passphrase(p))
                }
            },
            Overlay::AddHost(mut form) => {
                match key.code {
                    KeyCode::Esc => return None,
                    KeyCode::Tab | KeyCode::Down => form.next_field(),
                    KeyCode::BackTab | KeyCode::Up => form.prev_field(),
                    KeyCode::Backspace => form.pop(),
                    KeyCode::Enter => {
                        let taken: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
                        match form.validate(&taken) {
                            Ok(cfg) => {
                                self.set_status(format!("adding host {}…", cfg.name));
                                out.push(Action::AddHost(cfg));
                                return None;
                            }
                            Err(e) => form.error = Some(e),
                        }
                    }
                    _ => {
                        if let Some(c) = typed_char(key) {
                            form.push(c);
                        }
                    }
                }
                Some(Overlay::AddHost(form))
            }
            Overlay::Clone(d) if d.save.is_some() => self.save_key(d, key, out),
            Overlay::Clone(d) if cmd == Some(Command::SaveProfile) => self.open_save(d),
            Overlay::Clone(d) => self.clone_key(d, key, out),
            Overlay::Profiles(m) => self.profile_menu_key(m, key, keys, out),
            ov @ Overlay::ConfirmCancel { .. } => self.confirm_cancel_key(ov, key, out),
            Overlay::JobDetail { id, scroll } => {
                if key.code == KeyCode::Esc || matches!(cmd, Some(Command::Quit | Command::Details))
                {
                    return None;
                }
                let max = overlays::job_detail::max_scroll(self, id, self.area);
                // End follows the log as it grows (the view clamps at draw time).
                let scroll = match cmd {
                    Some(Command::Bottom) => u16::MAX,
                    _ => scrolled(scroll.min(max), cmd, max, DETAIL_PAGE),
                };
                Some(Overlay::JobDetail { id, scroll })
            }
        }
    }
}

/// Lines a page key scrolls the detail views.
const DETAIL_PAGE: u16 = 10;

/// New scroll position of a scrollable overlay after a movement command.
pub(super) fn scrolled(scroll: u16, cmd: Option<Command>, max: u16, page: u16) -> u16 {
    let s = match cmd {
        Some(Command::Up) => scroll.saturating_sub(1),
        Some(Command::Down) => scroll.saturating_add(1),
        Some(Command::PageUp) => scroll.saturating_sub(page),
        Some(Command::PageDown) => scroll.saturating_add(page),
        Some(Command::Top) => 0,
        Some(Command::Bottom) => max,
        _ => scroll,
    };
    s.min(max)
}
