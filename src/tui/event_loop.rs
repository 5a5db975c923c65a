//! The async loop: terminal events and backend events in, draws and actions out.

use super::keymap::KeyMap;
use super::state::AppState;
use super::terminal::{self, Tui};
use super::ui;
use crate::backend::messages::{Action, Event};
use crossterm::event::{Event as TermEvent, EventStream};
use futures::StreamExt;
use ratatui::layout::Rect;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// While a job runs, redraw at least this often.
const JOB_TICK: Duration = Duration::from_millis(250);

/// Run the TUI until the operator quits or the backend stops; sends
/// `Action::Quit` before returning.
pub async fn run(
    mut state: AppState,
    keys: KeyMap,
    actions: UnboundedSender<Action>,
    mut events: UnboundedReceiver<Event>,
) -> Result<(), TuiError> {
    let mut term = terminal::enter()?;
    let result = event_loop(&mut term, &mut state, &keys, &actions, &mut events).await;
    let restored = terminal::leave();
    // The backend may already be gone; nothing to do about it then.
    let _ = actions.send(Action::Quit);
    result?;
    restored?;
    Ok(())
}

async fn event_loop(
    term: &mut Tui,
    state: &mut AppState,
    keys: &KeyMap,
    actions: &UnboundedSender<Action>,
    events: &mut UnboundedReceiver<Event>,
) -> Result<(), TuiError> {
    let size = term.size()?;
    state.area = Rect::new(0, 0, size.width, size.height);
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(JOB_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    loop {
        if dirty {
            term.draw(|f| ui::draw(f, state))?;
        }
        if state.quit {
            return Ok(());
        }
        let (changed, out) = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => on_terminal(state, keys, ev),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            ev = events.recv() => {
                match ev {
                    Some(ev) => state.apply(ev),
                    // The backend is gone: nothing left to show.
                    None => return Ok(()),
                }
                // Fold whatever else is queued into one redraw.
                while let Ok(ev) = events.try_recv() {
                    state.apply(ev);
                }
                (true, Vec::new())
            }
            _ = tick.tick(), if state.has_running_jobs() => (true, Vec::new()),
        };
        dirty = changed;
        for action in out {
            if actions.send(action).is_err() {
                state.set_error("backend is not running");
                dirty = true;
            }
        }
    }
}

/// Returns whether the screen must be redrawn, and the actions to send.
fn on_terminal(state: &mut AppState, keys: &KeyMap, ev: TermEvent) -> (bool, Vec<Action>) {
    match ev {
        TermEvent::Key(k) => (true, state.on_key(k, keys)),
        TermEvent::Mouse(m) => (true, state.on_mouse(m)),
        TermEvent::Resize(w, h) => {
            state.area = Rect::new(0, 0, w, h);
            (true, Vec::new())
        }
        _ => (false, Vec::new()),
    }
}
