//! Replay state: step through a session's reasoning chain forward and back, play at several
//! speeds, jump to anomalies, filter by kind. Pure; time comes in through `tick`.

use super::session::{ItemKind, Reread, TimelineData};
use crate::model::time::Timestamp;

pub const SPEEDS: [u32; 4] = [1, 2, 4, 8];

/// Kind filters the replay cycles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindFilter {
    All,
    Llm,
    Tools,
    Approvals,
    Control,
    Checkpoints,
    Anomalies,
}

impl KindFilter {
    const ORDER: [KindFilter; 7] = [
        KindFilter::All,
        KindFilter::Llm,
        KindFilter::Tools,
        KindFilter::Approvals,
        KindFilter::Control,
        KindFilter::Checkpoints,
        KindFilter::Anomalies,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KindFilter::All => "all",
            KindFilter::Llm => "llm calls",
            KindFilter::Tools => "tools",
            KindFilter::Approvals => "approvals",
            KindFilter::Control => "control",
            KindFilter::Checkpoints => "checkpoints",
            KindFilter::Anomalies => "anomalies",
        }
    }

    fn next(self) -> KindFilter {
        let i = Self::ORDER.iter().position(|k| *k == self).unwrap_or(0);
        Self::ORDER.get((i + 1) % Self::ORDER.len()).copied().unwrap_or(self)
    }

    fn keeps(self, kind: ItemKind, anomaly: bool) -> bool {
        use crate::model::audit::EventKind as E;
        match self {
            KindFilter::All => true,
            KindFilter::Llm => kind == ItemKind::Event(E::LlmCall),
            KindFilter::Tools => matches!(kind, ItemKind::Event(E::ToolCall | E::ToolResult)),
            KindFilter::Approvals => matches!(kind, ItemKind::Event(E::ApprovalRequested | E::ApprovalDecided)),
            KindFilter::Control => matches!(kind, ItemKind::Event(E::Control | E::OperatorAction)),
            KindFilter::Checkpoints => kind == ItemKind::Checkpoint,
            KindFilter::Anomalies => anomaly,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ReplayState {
    pub id: String,
    pub data: Option<Result<TimelineData, String>>,
    /// Indices into the items that pass the filter.
    pub shown: Vec<usize>,
    /// Position within `shown`.
    pub pos: usize,
    pub playing: bool,
    pub speed: usize,
    pub filter: KindFilter,
    last_step_at: Option<Timestamp>,
    /// A session's replay is live (a window's is not): re-read on the fleet's refreshes, paced.
    pub reread: Reread,
}

impl ReplayState {
    pub fn new(id: &str) -> ReplayState {
        ReplayState {
            id: id.to_owned(),
            data: None,
            shown: Vec::new(),
            pos: 0,
            playing: false,
            speed: 0,
            filter: KindFilter::All,
            last_step_at: None,
            reread: Reread::default(),
        }
    }

    /// Whether the replay is re-read as entries are stored: one session's, once loaded.
    pub fn is_live(&self) -> bool {
        matches!(&self.data, Some(Ok(d)) if !d.window)
    }

    /// A newly read timeline of the session: new entries appear, the position stays on its
    /// entry, and at the end (not playing) it follows the newest, as `logs -f` does. A failed
    /// re-read keeps what is shown.
    pub fn reload(&mut self, data: Result<TimelineData, String>) {
        if data.is_err() && matches!(self.data, Some(Ok(_))) {
            return;
        }
        let at_end = self.pos + 1 >= self.shown.len();
        self.data = Some(data);
        self.refilter();
        if at_end && !self.playing {
            self.pos = self.shown.len().saturating_sub(1);
        }
    }

    pub fn load(&mut self, data: Result<TimelineData, String>) {
        self.data = Some(data);
        self.pos = 0;
        self.refilter();
    }

    fn refilter(&mut self) {
        let current = self.current_index();
        let filter = self.filter;
        self.shown = match &self.data {
            Some(Ok(d)) => d
                .items
                .iter()
                .enumerate()
                .filter(|(_, i)| filter.keeps(i.kind, i.anomaly.is_some()))
                .map(|(n, _)| n)
                .collect(),
            _ => Vec::new(),
        };
        // Stay at (or just after) the item that was current.
        self.pos = current.and_then(|c| self.shown.iter().position(|&i| i >= c)).unwrap_or(0);
        self.pos = self.pos.min(self.shown.len().saturating_sub(1));
    }

    pub fn current_index(&self) -> Option<usize> {
        self.shown.get(self.pos).copied()
    }

    pub fn step(&mut self, delta: isize) {
        if self.shown.is_empty() {
            return;
        }
        self.pos = (self.pos as isize + delta).clamp(0, self.shown.len() as isize - 1) as usize;
        if self.pos + 1 == self.shown.len() {
            self.playing = false;
        }
    }

    pub fn toggle_play(&mut self, now: Timestamp) {
        if self.pos + 1 >= self.shown.len() && !self.playing {
            self.pos = 0; // play again from the start
        }
        self.playing = !self.playing;
        self.last_step_at = Some(now);
    }

    pub fn faster(&mut self) {
        self.speed = (self.speed + 1).min(SPEEDS.len() - 1);
    }

    pub fn slower(&mut self) {
        self.speed = self.speed.saturating_sub(1);
    }

    /// The playback speed as a multiple of 1× (`speed` indexes `SPEEDS` and is kept in range).
    pub fn speed_factor(&self) -> u32 {
        SPEEDS.get(self.speed).copied().unwrap_or(1)
    }

    pub fn cycle_filter(&mut self) {
        self.filter = self.filter.next();
        self.refilter();
    }

    /// Jumps to the next anomaly after the current position (wrapping). False when none.
    pub fn next_anomaly(&mut self) -> bool {
        let Some(Ok(d)) = &self.data else { return false };
        let n = self.shown.len();
        for k in 1..=n {
            let p = (self.pos + k) % n;
            if self.shown.get(p).and_then(|&i| d.items.get(i)).is_some_and(|item| item.anomaly.is_some()) {
                self.pos = p;
                self.playing = false;
                return true;
            }
        }
        false
    }

    /// Advances while playing: one step per second at 1×. True when something changed.
    pub fn tick(&mut self, now: Timestamp) -> bool {
        if !self.playing {
            return false;
        }
        let interval_ms = 1000 / i64::from(self.speed_factor());
        let last = self.last_step_at.unwrap_or(now);
        let elapsed = (now - last).num_milliseconds();
        if elapsed < interval_ms {
            return false;
        }
        let steps = (elapsed / interval_ms) as isize;
        self.last_step_at = Some(now);
        self.step(steps);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::tui::session::Item;
    use crate::model::audit::EventKind;
    use crate::model::untrusted::UntrustedJson;

    fn item(kind: ItemKind, anomaly: bool) -> Item {
        Item {
            kind,
            seq: None,
            step: 0,
            time: None,
            summary: String::new(),
            anomaly: anomaly.then(|| "x".into()),
            raw: UntrustedJson::default(),
            checkpoint: None,
        }
    }

    fn replay() -> ReplayState {
        let items = vec![
            item(ItemKind::Event(EventKind::SessionStarted), false),
            item(ItemKind::Event(EventKind::LlmCall), false),
            item(ItemKind::Event(EventKind::ToolCall), true),
            item(ItemKind::Checkpoint, false),
            item(ItemKind::Event(EventKind::Error), true),
        ];
        let mut r = ReplayState::new("s");
        r.load(Ok(TimelineData {
            session: None,
            items,
            integrity: Ok(4),
            checkpoint_coverage: Vec::new(),
            window: false,
            more: false,
            anomalies: Vec::new(),
        }));
        r
    }

    #[test]
    fn steps_plays_and_jumps_to_anomalies() {
        let mut r = replay();
        r.step(-1);
        assert_eq!(r.current_index(), Some(0));
        assert!(r.next_anomaly());
        assert_eq!(r.current_index(), Some(2));
        assert!(r.next_anomaly());
        assert_eq!(r.current_index(), Some(4));
        assert!(r.next_anomaly());
        assert_eq!(r.current_index(), Some(2));

        let t0 = crate::model::time::now();
        r.toggle_play(t0);
        r.faster(); // 2×: a step every 500 ms
        assert!(!r.tick(t0 + chrono::Duration::milliseconds(400)));
        assert!(r.tick(t0 + chrono::Duration::milliseconds(1000)));
        assert_eq!(r.current_index(), Some(4));
        assert!(!r.playing, "stops at the end");
    }

    #[test]
    fn a_live_replay_keeps_its_place_and_follows_at_the_end() {
        let mut r = replay();
        assert!(r.is_live());
        r.step(1);
        let more = |r: &mut ReplayState, extra: usize| {
            let Some(Ok(mut d)) = r.data.clone() else { panic!("loaded") };
            d.items.extend((0..extra).map(|_| item(ItemKind::Event(EventKind::LlmCall), false)));
            r.reload(Ok(d));
        };
        more(&mut r, 2);
        assert_eq!((r.current_index(), r.shown.len()), (Some(1), 7), "new entries appear; the place stays");
        r.step(10);
        more(&mut r, 3);
        assert_eq!(r.current_index(), Some(9), "at the end it follows the newest");
        r.reload(Err("gone".into()));
        assert_eq!(r.shown.len(), 10, "a failed re-read keeps what is shown");
        let mut window = ReplayState::new("last 10m");
        window.load(Ok(TimelineData { window: true, ..TimelineData::from_window_entries(&[], &Default::default()) }));
        assert!(!window.is_live(), "a window is read once");
    }

    #[test]
    fn kind_filter_keeps_position() {
        let mut r = replay();
        r.step(3); // the checkpoint
        r.cycle_filter(); // llm calls only
        assert_eq!(r.shown, vec![1]);
        r.cycle_filter(); // tools
        assert_eq!(r.shown, vec![2]);
        for _ in 0..4 {
            r.cycle_filter();
        }
        assert_eq!(r.filter, KindFilter::Anomalies);
        assert_eq!(r.shown, vec![2, 4]);
    }
}
