//! The async loop: terminal events and backend events in, draws and actions out.

use super::keymap::KeyMap;
use super::state::AppState;
use super::terminal;
use super::ui;
use crate::backend::messages::{Action, Event};
use crossterm::event::{Event as TermEvent, EventStream, MouseEventKind};
use futures::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use ratatui::layout::Rect;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

impl From<std::convert::Infallible> for TuiError {
    fn from(e: std::convert::Infallible) -> Self {
        match e {}
    }
}

/// While a job runs, redraw at least this often (4 times a second).
const JOB_TICK: Duration = Duration::from_millis(250);

/// The redraw ticks the loop listens to while something changes with time
/// alone (a running job, the repository view's ages).
fn job_ticks() -> impl Stream<Item = ()> + Unpin {
    let mut tick = tokio::time::interval(JOB_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    Box::pin(futures::stream::unfold(tick, |mut t| async move {
        t.tick().await;
        Some(((), t))
    }))
}

/// Run the TUI until the operator quits or the backend stops; restores the
/// terminal and sends `Action::Quit` before returning.
pub async fn run(
    mut state: AppState,
    keys: KeyMap,
    actions: UnboundedSender<Action>,
    mut events: UnboundedReceiver<Event>,
) -> Result<(), TuiError> {
    let mut term = terminal::enter()?;
    let result = event_loop(
        &mut term,
        EventStream::new(),
        job_ticks(),
        &mut state,
        &keys,
        &actions,
        &mut events,
    )
    .await;
    let restored = terminal::leave();
    // The backend may already be gone; nothing to do about it then.
    let _ = actions.send(Action::Quit);
    result?;
    restored?;
    Ok(())
}

/// Draw when something changed, then wait for the next terminal event,
/// backend event or (only while a job runs) tick. Idle, it sleeps: the
/// ticks are not even polled.
pub(crate) async fn event_loop<B, S, T>(
    term: &mut Terminal<B>,
    mut input: S,
    mut ticks: T,
    state: &mut AppState,
    keys: &KeyMap,
    actions: &UnboundedSender<Action>,
    events: &mut UnboundedReceiver<Event>,
) -> Result<(), TuiError>
where
    B: Backend,
    TuiError: From<B::Error>,
    S: Stream<Item = std::io::Result<TermEvent>> + Unpin,
    T: Stream<Item = ()> + Unpin,
{
    let size = term.size()?;
    state.area = Rect::new(0, 0, size.width, size.height);
    let mut dirty = true;
    let mut remembered = state.repository.clone();
    loop {
        if state.repository != remembered {
            remembered = state.repository.clone();
            remember(state);
        }
        if dirty {
            state.clock_s = chrono::Utc::now().timestamp();
            state.expire_status(state.clock_s);
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
                (true, state.take_actions())
            }
            _ = ticks.next(), if state.needs_ticks() => (true, Vec::new()),
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

/// Writes what the next run starts with; a failure only costs the prefill.
fn remember(state: &mut AppState) {
    let Some(file) = &state.remember_in else {
        return;
    };
    let r = super::remembered::Remembered {
        repository: state.repository.clone(),
    };
    if let Err(e) = super::remembered::save(file, &r) {
        state.set_error(format!("cannot remember the repository: {e}"));
    }
}

/// Returns whether the screen must be redrawn, and the actions to send.
fn on_terminal(state: &mut AppState, keys: &KeyMap, ev: TermEvent) -> (bool, Vec<Action>) {
    match ev {
        TermEvent::Key(k) => (true, state.on_key(k, keys)),
        // Mouse capture reports every motion; only clicks and the wheel matter.
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::Down(_) | MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                (true, state.on_mouse(m))
            }
            _ => (false, Vec::new()),
        },
        TermEvent::Resize(w, h) => {
            state.area = Rect::new(0, 0, w, h);
            (true, Vec::new())
        }
        _ => (false, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::tests::fixtures;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use futures::channel::mpsc;
    use ratatui::backend::TestBackend;
    use tokio::sync::mpsc::unbounded_channel;

    fn key(c: char) -> std::io::Result<TermEvent> {
        Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )))
    }

    #[tokio::test]
    async fn keys_become_actions_and_q_ends_the_loop() {
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let (act_tx, mut act_rx) = unbounded_channel();
        let (_ev_tx, mut ev_rx) = unbounded_channel();
        // Prompts dismissed, no job running: q quits at once.
        let mut state = fixtures::full(10, 10);
        state.jobs.clear();
        let input = futures::stream::iter(vec![
            Ok(TermEvent::Resize(100, 30)),
            key('r'),
            key('q'),
            key('R'),
        ]);
        let keys = KeyMap::default();
        let ticks = futures::stream::pending();
        event_loop(
            &mut term, input, ticks, &mut state, &keys, &act_tx, &mut ev_rx,
        )
        .await
        .unwrap();
        assert!(state.quit);
        assert_eq!(state.area, Rect::new(0, 0, 100, 30));
        assert!(matches!(act_rx.try_recv(), Ok(Action::Refresh(Some(h))) if h == "alpha"));
        // Nothing after q was read.
        assert!(act_rx.try_recv().is_err());
        assert!(term.backend().to_string().contains("alpha"));
    }

    /// A TestBackend that counts frames: ratatui flushes once per draw.
    struct Counting {
        inner: TestBackend,
        frames: usize,
    }

    impl Backend for Counting {
        type Error = std::convert::Infallible;
        fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
        where
            I: Iterator<Item = (u16, u16, &'a ratatui::buffer::Cell)>,
        {
            self.inner.draw(content)
        }
        fn hide_cursor(&mut self) -> Result<(), Self::Error> {
            self.inner.hide_cursor()
        }
        fn show_cursor(&mut self) -> Result<(), Self::Error> {
            self.inner.show_cursor()
        }
        fn get_cursor_position(&mut self) -> Result<ratatui::layout::Position, Self::Error> {
            self.inner.get_cursor_position()
        }
        fn set_cursor_position<P: Into<ratatui::layout::Position>>(
            &mut self,
            position: P,
        ) -> Result<(), Self::Error> {
            self.inner.set_cursor_position(position)
        }
        fn clear(&mut self) -> Result<(), Self::Error> {
            self.inner.clear()
        }
        fn clear_region(
            &mut self,
            clear_type: ratatui::backend::ClearType,
        ) -> Result<(), Self::Error> {
            self.inner.clear_region(clear_type)
        }
        fn size(&self) -> Result<ratatui::layout::Size, Self::Error> {
            self.inner.size()
        }
        fn window_size(&mut self) -> Result<ratatui::backend::WindowSize, Self::Error> {
            self.inner.window_size()
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            self.frames += 1;
            self.inner.flush()
        }
    }

    /// Frames drawn while `ticks` ticks are due and nothing else happens.
    async fn frames_with(mut state: AppState, ticks: usize) -> usize {
        let backend = Counting {
            inner: TestBackend::new(80, 24),
            frames: 0,
        };
        let mut term = Terminal::new(backend).unwrap();
        term.backend_mut().frames = 0;
        let (act_tx, _act_rx) = unbounded_channel();
        let (_ev_tx, mut ev_rx) = unbounded_channel();
        let (_in_tx, input) = mpsc::unbounded::<std::io::Result<TermEvent>>();
        let ticks =
            futures::stream::iter(std::iter::repeat_n((), ticks)).chain(futures::stream::pending());
        let keys = KeyMap::default();
        let run = event_loop(
            &mut term, input, ticks, &mut state, &keys, &act_tx, &mut ev_rx,
        );
        // Give the loop turns until it waits on something that never comes.
        let settle = async {
            for _ in 0..100 {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            r = run => panic!("the loop ended by itself: {r:?}"),
            _ = settle => {}
        }
        term.backend().frames
    }

    #[tokio::test]
    async fn ticks_redraw_while_a_job_runs_and_are_ignored_when_idle() {
        // 4 redraws a second at least.
        assert!(JOB_TICK <= Duration::from_millis(250));
        let running = fixtures::full(80, 24);
        assert!(running.has_running_jobs());
        assert_eq!(
            frames_with(running, 40).await,
            41,
            "first frame + one per tick"
        );

        let mut idle = fixtures::full(80, 24);
        idle.jobs.clear();
        assert_eq!(frames_with(idle, 40).await, 1, "idle: only the first frame");

        // Finished jobs still on screen do not tick either.
        let mut finished = fixtures::full(80, 24);
        for j in &mut finished.jobs {
            j.phase = crate::model::JobPhase::Done;
        }
        assert_eq!(frames_with(finished, 40).await, 1);
    }

    #[tokio::test]
    async fn backend_events_are_drawn_and_a_closed_backend_ends_the_loop() {
        let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let (act_tx, _act_rx) = unbounded_channel();
        let (ev_tx, mut ev_rx) = unbounded_channel();
        // No terminal input at all; the stream stays open.
        let (_in_tx, input) = mpsc::unbounded::<std::io::Result<TermEvent>>();
        let mut state = fixtures::empty(80, 24);
        ev_tx.send(Event::Hosts(fixtures::hosts())).unwrap();
        ev_tx
            .send(Event::Vms {
                host: "alpha".into(),
                vms: fixtures::alpha_vms(),
            })
            .unwrap();
        drop(ev_tx);
        let keys = KeyMap::default();
        let ticks = futures::stream::pending();
        event_loop(
            &mut term, input, ticks, &mut state, &keys, &act_tx, &mut ev_rx,
        )
        .await
        .unwrap();
        let screen = term.backend().to_string();
        assert!(screen.contains("archive01"), "{screen}");
    }
}
