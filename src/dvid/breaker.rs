//! A circuit breaker per upstream DVID server (issue 6, "fails fast while DVID is
//! down"): after `threshold` consecutive failed calls it opens and refuses calls for a
//! cool-down; then one probe call is let through (half-open). A healthy probe closes
//! it, a failed one reopens it with twice the cool-down (capped). A probe that is
//! dropped unanswered lets the next call probe at once.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cooldown: Duration },
    HalfOpen { cooldown: Duration },
}

/// Whether an admitted call is an ordinary call or the half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The circuit is closed.
    Call,
    /// The circuit was open and cooled down: this call decides.
    Probe,
}

/// The breaker of one upstream.
#[derive(Debug)]
pub struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
    max_cooldown: Duration,
}

impl Breaker {
    /// A closed breaker opening after `threshold` consecutive failures for `cooldown`
    /// (doubling up to `max_cooldown` while probes keep failing).
    #[must_use]
    pub fn new(threshold: u32, cooldown: Duration, max_cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
            max_cooldown: max_cooldown.max(cooldown),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets a call through, or says how long the circuit stays open.
    ///
    /// # Errors
    /// The time left before a probe is allowed (zero while another probe runs).
    pub fn admit(&self, now: Instant) -> Result<Admission, Duration> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Ok(Admission::Call),
            State::Open { until, cooldown } if now >= until => {
                *s = State::HalfOpen { cooldown };
                Ok(Admission::Probe)
            }
            State::Open { until, .. } => Err(until - now),
            State::HalfOpen { .. } => Err(Duration::ZERO),
        }
    }

    /// Records how an admitted call ended: `healthy` when the server answered
    /// (success or a client error), not when it failed, timed out or was unreachable.
    pub fn record(&self, admission: Admission, healthy: bool, now: Instant) {
        let mut s = self.lock();
        *s = match (*s, healthy) {
            (_, true) => State::Closed { failures: 0 },
            (State::Closed { failures }, false) if failures + 1 >= self.threshold => State::Open {
                until: now + self.cooldown,
                cooldown: self.cooldown,
            },
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            (State::HalfOpen { cooldown }, false) if admission == Admission::Probe => {
                let cooldown = (cooldown * 2).min(self.max_cooldown);
                State::Open {
                    until: now + cooldown,
                    cooldown,
                }
            }
            (other, false) => other,
        };
    }

    /// A probe was dropped before it finished: let the next call probe.
    pub fn abandon(&self, now: Instant) {
        let mut s = self.lock();
        if let State::HalfOpen { cooldown } = *s {
            *s = State::Open {
                until: now,
                cooldown,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn opens_after_threshold_and_probes_after_cooldown() {
        let b = Breaker::new(3, S, 4 * S);
        let t = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.admit(t), Ok(Admission::Call));
            b.record(Admission::Call, false, t);
        }
        assert_eq!(b.admit(t), Ok(Admission::Call));
        b.record(Admission::Call, false, t);
        assert_eq!(b.admit(t), Err(S));
        assert_eq!(b.admit(t + S / 2), Err(S / 2));
        // Cooled down: exactly one probe; others keep failing fast.
        assert_eq!(b.admit(t + S), Ok(Admission::Probe));
        assert_eq!(b.admit(t + S), Err(Duration::ZERO));
        // The probe fails: open again for twice as long.
        b.record(Admission::Probe, false, t + S);
        assert_eq!(b.admit(t + 2 * S), Err(S));
        assert_eq!(b.admit(t + 3 * S), Ok(Admission::Probe));
        b.record(Admission::Probe, true, t + 3 * S);
        assert_eq!(b.admit(t + 3 * S), Ok(Admission::Call));
    }

    #[test]
    fn success_resets_the_count_and_cooldown_is_capped() {
        let b = Breaker::new(2, S, 2 * S);
        let t = Instant::now();
        b.record(Admission::Call, false, t);
        b.record(Admission::Call, true, t);
        b.record(Admission::Call, false, t);
        assert_eq!(b.admit(t), Ok(Admission::Call));
        b.record(Admission::Call, false, t);
        let mut now = t;
        for _ in 0..4 {
            let Err(wait) = b.admit(now) else {
                panic!("open circuit admitted a call")
            };
            assert!(wait <= 2 * S);
            now += wait;
            assert_eq!(b.admit(now), Ok(Admission::Probe));
            b.record(Admission::Probe, false, now);
        }
    }

    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let b = Breaker::new(1, S, S);
        let t = Instant::now();
        b.record(Admission::Call, false, t);
        assert_eq!(b.admit(t + S), Ok(Admission::Probe));
        b.abandon(t + S);
        assert_eq!(b.admit(t + S), Ok(Admission::Probe));
        // A late ordinary failure does not extend a half-open circuit.
        b.record(Admission::Call, false, t + S);
        assert_eq!(b.admit(t + S), Err(Duration::ZERO));
    }
}
