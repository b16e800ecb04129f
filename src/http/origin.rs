//! What the client keeps per origin (scheme, host and port): its connection slots, the requests in
//! flight that a connection may be opened for, and the closing habit it has shown, so that an
//! origin that closes kept-alive connections silently is asked for `Connection: close` instead.

use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Uri;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::log::warn;

use super::BoxError;

/// A connection a server closes this soon after its last answer, without having said
/// `Connection: close`, was closed silently: reusing such connections races their close.
pub(super) const SILENT_CLOSE_WINDOW: Duration = Duration::from_millis(50);

/// Silent closes, each on a different connection and within `OBSERVATION_WINDOW`, before an
/// origin is asked for `Connection: close`: one alone is as likely a restart at that moment.
const OBSERVATIONS_TO_LEARN: u32 = 2;
const OBSERVATION_WINDOW: Duration = Duration::from_secs(60);

/// After this many requests or this long asking for `Connection: close` (whichever comes
/// first), an origin is given kept-alive connections again, so a coincidence or an upstream
/// fixed since is unlearnt. The probe waits for a request that goes out alone, so that if the
/// server still closes silently, no more than that request's connection can lose a race; under
/// load with no such moment, it is forced at `FORCED_REPROBE_FACTOR` times the bounds. Each
/// relearning soon after a probe doubles the bounds, up to `MAX_REPROBE_DOUBLINGS` times.
const REPROBE_AFTER_REQUESTS: u64 = 256;
const REPROBE_AFTER: Duration = Duration::from_secs(60);
const FORCED_REPROBE_FACTOR: u32 = 4;
const MAX_REPROBE_DOUBLINGS: u32 = 6;

/// What the client keeps per origin (scheme, host and port).
pub(super) struct Origin {
    /// `connections` slots, each held by one open connection.
    slots: Arc<Semaphore>,
    /// Requests to this origin in hyper's pool: waiting for a connection or using one.
    in_flight: AtomicUsize,
    /// Signalled when `in_flight` falls to zero.
    drained: Notify,
    /// Set while the origin is believed to close connections right after answering without
    /// `Connection: close`: its requests then ask for `Connection: close` themselves, so no
    /// request goes out on a connection the server is about to close. The fast path of every
    /// request; the details live in `habit`.
    asking_for_close: AtomicBool,
    habit: Mutex<CloseHabit>,
    /// Bumped at every switch of `asking_for_close`; a connection remembers the one it was
    /// opened under, and only a connection opened since the last switch can count as an
    /// observation (one opened while asking for close was closed because we asked).
    pub(super) generation: AtomicU64,
    authority: String,
}

impl Origin {
    fn new(per_origin: usize, authority: &str) -> Self {
        Origin {
            slots: Arc::new(Semaphore::new(per_origin)),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            asking_for_close: AtomicBool::new(false),
            habit: Mutex::default(),
            generation: AtomicU64::new(0),
            authority: authority.to_owned(),
        }
    }

    /// Counts a request as in flight until the guard drops.
    pub(super) fn request_in_flight(&self) -> OriginRequest<'_> {
        self.in_flight.fetch_add(1, SeqCst);
        OriginRequest(self)
    }

    /// A slot for a new connection, as long as some request to this origin is in flight.
    ///
    /// hyper's pool races a connect against every checkout that finds no idle connection and,
    /// when the checkout wins, lets the connect go on in the background. With every slot taken
    /// that connect waits for one, and a slot frees when an idle connection expires: long after
    /// the calls that started it are over, it would open a connection nobody asked for. It gives
    /// up instead once nothing is in flight. (A connect made for a waiting request always sees
    /// that request in flight.)
    pub(super) async fn slot_while_in_demand(&self) -> Result<OwnedSemaphorePermit, BoxError> {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain between the two still wakes this.
            drained.as_mut().enable();
            if self.in_flight.load(SeqCst) == 0 {
                return Err("no request needs a new connection".into());
            }
            tokio::select! {
                slot = self.slots.clone().acquire_owned() => return Ok(slot?),
                () = &mut drained => {}
            }
        }
    }

    /// Whether the next request should ask for `Connection: close`.
    pub(super) fn asks_for_close(&self) -> bool {
        if !self.asking_for_close.load(Relaxed) {
            return false;
        }
        let alone = self.in_flight.load(SeqCst) == 0;
        let mut habit = self.habit.lock().unwrap_or_else(|e| e.into_inner());
        match habit.next_request(Instant::now(), alone) {
            Asking::Close => true,
            Asking::KeepAliveAgain { requests, elapsed } => {
                self.switch(false);
                warn(&format!(
                    "{}: asking for kept-alive connections again after {requests} requests \
                     ({} s) with Connection: close; relearnt if it still closes them silently",
                    self.authority,
                    elapsed.as_secs()
                ));
                false
            }
        }
    }

    /// A connection opened under `generation` was closed by the server right after an answer.
    pub(super) fn saw_silent_close(&self, generation: u64) {
        if self.generation.load(Relaxed) != generation {
            return;
        }
        let mut habit = self.habit.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Relaxed) != generation || self.asking_for_close.load(Relaxed) {
            return;
        }
        if let Some(probe) = habit.observe(Instant::now()) {
            self.switch(true);
            warn(&format!(
                "{} closed {OBSERVATIONS_TO_LEARN} connections right after answering without \
                 saying so; its requests now ask for a new connection each (Connection: close) \
                 for the next {} requests or {} s",
                self.authority,
                probe.requests,
                probe.after.as_secs()
            ));
        }
    }

    fn switch(&self, ask_for_close: bool) {
        self.generation.fetch_add(1, Relaxed);
        self.asking_for_close.store(ask_for_close, Relaxed);
    }
}

/// When the next re-probe of keep-alive is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    requests: u64,
    after: Duration,
}

#[derive(Debug, PartialEq, Eq)]
enum Asking {
    Close,
    KeepAliveAgain { requests: u64, elapsed: Duration },
}

/// What an origin has shown of its closing habit: silent closes seen while connections were
/// kept alive, or, while asking for `Connection: close`, how long that has gone on.
#[derive(Debug, Default)]
struct CloseHabit {
    /// Silent closes in the current observation window, and when the window began.
    seen: u32,
    window_start: Option<Instant>,
    asking: Option<AskingSince>,
    /// When keep-alive was last re-probed, and how often relearning has followed a probe soon.
    probed_at: Option<Instant>,
    doublings: u32,
}

#[derive(Debug, Clone, Copy)]
struct AskingSince {
    since: Instant,
    requests: u64,
    probe: Probe,
}

impl CloseHabit {
    /// Counts one silent close; returns the re-probe schedule when it is enough to start asking
    /// for `Connection: close`.
    fn observe(&mut self, now: Instant) -> Option<Probe> {
        if self.asking.is_some() {
            return None;
        }
        let window_open = self
            .window_start
            .is_some_and(|start| now.duration_since(start) < OBSERVATION_WINDOW);
        if !window_open {
            self.window_start = Some(now);
            self.seen = 0;
        }
        self.seen += 1;
        if self.seen < OBSERVATIONS_TO_LEARN {
            return None;
        }
        let relearnt_soon = self
            .probed_at
            .is_some_and(|probed| now.duration_since(probed) < OBSERVATION_WINDOW);
        self.doublings = if relearnt_soon {
            (self.doublings + 1).min(MAX_REPROBE_DOUBLINGS)
        } else {
            0
        };
        let probe = Probe {
            requests: REPROBE_AFTER_REQUESTS << self.doublings,
            after: REPROBE_AFTER * (1 << self.doublings),
        };
        self.asking = Some(AskingSince {
            since: now,
            requests: 0,
            probe,
        });
        self.seen = 0;
        self.window_start = None;
        Some(probe)
    }

    /// Called for each request while asking for `Connection: close`; `alone` when no other
    /// request to the origin is in flight.
    fn next_request(&mut self, now: Instant, alone: bool) -> Asking {
        let Some(asking) = self.asking.as_mut() else {
            return Asking::Close;
        };
        let elapsed = now.duration_since(asking.since);
        let past = |factor: u32| {
            asking.requests >= asking.probe.requests * u64::from(factor)
                || elapsed >= asking.probe.after * factor
        };
        if (alone && past(1)) || past(FORCED_REPROBE_FACTOR) {
            let requests = asking.requests;
            self.asking = None;
            self.probed_at = Some(now);
            return Asking::KeepAliveAgain { requests, elapsed };
        }
        asking.requests += 1;
        Asking::Close
    }
}

/// A request in flight to an origin; see `Origin::slot_while_in_demand`.
pub(super) struct OriginRequest<'a>(&'a Origin);

impl Drop for OriginRequest<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

pub(super) struct Origins {
    per_origin: usize,
    known: Mutex<std::collections::HashMap<String, Arc<Origin>>>,
}

impl Origins {
    /// Origins of `per_origin` connections each.
    pub(super) fn new(per_origin: usize) -> Self {
        Origins {
            per_origin,
            known: Mutex::default(),
        }
    }

    pub(super) fn of(&self, uri: &Uri) -> Arc<Origin> {
        let authority = uri.authority().map_or("", |a| a.as_str());
        let key = format!("{}://{authority}", uri.scheme_str().unwrap_or("http"));
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known
            .entry(key)
            .or_insert_with(|| Arc::new(Origin::new(self.per_origin, authority)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connect_with_nothing_in_flight_gives_up_at_once() {
        let origin = Origin::new(2, "example.test");
        assert!(origin.slot_while_in_demand().await.is_err());
        assert_eq!(origin.slots.available_permits(), 2);
    }

    #[tokio::test]
    async fn a_connect_for_a_request_in_flight_takes_a_free_slot() {
        let origin = Origin::new(2, "example.test");
        let _request = origin.request_in_flight();
        let slot = origin.slot_while_in_demand().await.expect("a slot is free");
        assert_eq!(origin.slots.available_permits(), 1);
        drop(slot);
        assert_eq!(origin.slots.available_permits(), 2);
    }

    /// A connect started in the background for `origin`; the task says whether it got a slot.
    fn connect_in_background(origin: &Arc<Origin>) -> tokio::task::JoinHandle<bool> {
        let origin = origin.clone();
        tokio::spawn(async move { origin.slot_while_in_demand().await.is_ok() })
    }

    #[tokio::test]
    async fn a_connect_waiting_for_a_slot_gives_up_when_the_requests_are_over() {
        let origin = Arc::new(Origin::new(1, "example.test"));
        let open_connection = origin.slots.clone().acquire_owned().await.unwrap();
        let request = origin.request_in_flight();
        let waiting = connect_in_background(&origin);
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "it waits while the request is in flight"
        );
        drop(request);
        assert!(
            !waiting.await.unwrap(),
            "it gave up once nothing was in flight"
        );
        // The idle connection closing later frees a slot that nobody takes.
        drop(open_connection);
        assert_eq!(origin.slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn a_connect_waiting_for_a_slot_takes_it_while_a_request_is_in_flight() {
        let origin = Arc::new(Origin::new(1, "example.test"));
        let open_connection = origin.slots.clone().acquire_owned().await.unwrap();
        let _request = origin.request_in_flight();
        let waiting = connect_in_background(&origin);
        tokio::task::yield_now().await;
        drop(open_connection);
        assert!(waiting.await.unwrap());
    }

    #[test]
    fn one_silent_close_is_not_learnt() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        assert_eq!(habit.observe(start), None);
        // The next one comes after the window: the first is forgotten.
        assert_eq!(habit.observe(start + OBSERVATION_WINDOW), None);
        let probe = habit.observe(start + OBSERVATION_WINDOW + Duration::from_secs(1));
        assert_eq!(
            probe,
            Some(Probe {
                requests: REPROBE_AFTER_REQUESTS,
                after: REPROBE_AFTER
            })
        );
    }

    #[test]
    fn keep_alive_is_probed_again_after_a_bounded_number_of_requests() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        assert!(habit.observe(start).is_some());
        for _ in 0..REPROBE_AFTER_REQUESTS {
            assert_eq!(habit.next_request(start, true), Asking::Close);
        }
        assert_eq!(
            habit.next_request(start, true),
            Asking::KeepAliveAgain {
                requests: REPROBE_AFTER_REQUESTS,
                elapsed: Duration::ZERO
            }
        );
        // Kept alive again: observations count anew.
        assert_eq!(habit.observe(start + REPROBE_AFTER * 2), None);
    }

    #[test]
    fn keep_alive_is_probed_again_after_a_bounded_time() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        habit.observe(start);
        assert_eq!(
            habit.next_request(start + Duration::from_secs(1), true),
            Asking::Close
        );
        assert!(matches!(
            habit.next_request(start + REPROBE_AFTER, true),
            Asking::KeepAliveAgain { requests: 1, .. }
        ));
    }

    #[test]
    fn under_load_the_probe_waits_for_a_request_alone_up_to_a_bound() {
        let start = Instant::now();
        let mut habit = CloseHabit::default();
        habit.observe(start);
        habit.observe(start);
        let busy = |habit: &mut CloseHabit, now| habit.next_request(now, false);
        assert_eq!(busy(&mut habit, start + REPROBE_AFTER), Asking::Close);
        assert!(matches!(
            habit.next_request(start + REPROBE_AFTER, true),
            Asking::KeepAliveAgain { .. }
        ));
        habit.observe(start + REPROBE_AFTER);
        habit.observe(start + REPROBE_AFTER);
        let mut busy_requests = 0;
        while busy(&mut habit, start + REPROBE_AFTER) == Asking::Close {
            busy_requests += 1;
        }
        // Relearnt right after the probe: the bounds doubled, and under load four times that.
        assert_eq!(
            busy_requests,
            REPROBE_AFTER_REQUESTS * 2 * u64::from(FORCED_REPROBE_FACTOR)
        );
    }

    #[test]
    fn relearning_soon_after_a_probe_spaces_the_probes_out() {
        let mut now = Instant::now();
        let mut habit = CloseHabit::default();
        let mut schedule = Vec::new();
        for _ in 0..(MAX_REPROBE_DOUBLINGS + 2) {
            habit.observe(now);
            let probe = habit.observe(now).expect("learnt");
            schedule.push(probe.requests);
            now += probe.after;
            assert!(matches!(
                habit.next_request(now, true),
                Asking::KeepAliveAgain { .. }
            ));
        }
        let most = REPROBE_AFTER_REQUESTS << MAX_REPROBE_DOUBLINGS;
        assert_eq!(schedule[..3], [256, 512, 1024]);
        assert_eq!(schedule[schedule.len() - 2..], [most, most]);
        // A server that behaves for a while after a probe starts the schedule over.
        habit.observe(now + OBSERVATION_WINDOW);
        let probe = habit.observe(now + OBSERVATION_WINDOW).unwrap();
        assert_eq!(probe.requests, REPROBE_AFTER_REQUESTS);
    }

    #[test]
    fn an_origin_counts_each_connection_of_the_current_generation_once() {
        let origin = Origin::new(4, "example.test");
        assert!(!origin.asks_for_close());
        origin.saw_silent_close(0);
        assert!(
            !origin.asks_for_close(),
            "one silent close is a coincidence"
        );
        // A connection from before the last switch does not count.
        origin.saw_silent_close(7);
        assert!(!origin.asks_for_close());
        origin.saw_silent_close(0);
        assert!(origin.asks_for_close());
        let asking = origin.generation.load(Relaxed);
        // While asking for close, connections close because we asked: nothing to learn.
        origin.saw_silent_close(asking);
        let mut asked = 1;
        while origin.asks_for_close() {
            asked += 1;
        }
        assert_eq!(asked, REPROBE_AFTER_REQUESTS);
        assert!(!origin.asks_for_close());
        // Connections opened while asking for close end as asked: they do not count either.
        origin.saw_silent_close(asking);
        origin.saw_silent_close(asking);
        assert!(!origin.asks_for_close());
    }
}
