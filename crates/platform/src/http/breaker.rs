//! A circuit breaker for calls to another service: after `threshold`
//! consecutive failures it opens and calls fail fast for `cooldown`; then one
//! trial call is let through (half-open) and its outcome closes or reopens it.
//! A slow or dead dependency then costs nothing per request instead of a
//! timeout each.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

#[derive(Debug)]
pub struct CircuitBreaker {
    name: &'static str,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(name: &'static str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            name,
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a call may go out now.
    pub fn allow(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return true;
        };
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    pub fn record_success(&self) {
        if let Ok(mut state) = self.state.lock() {
            if !matches!(*state, State::Closed { failures: 0 }) {
                tracing::info!(breaker = self.name, "circuit closed");
            }
            *state = State::Closed { failures: 0 };
        }
    }

    pub fn record_failure(&self) {
        if let Ok(mut state) = self.state.lock() {
            let open = match *state {
                State::Closed { failures } if failures + 1 >= self.threshold => true,
                State::Closed { failures } => {
                    *state = State::Closed {
                        failures: failures + 1,
                    };
                    false
                }
                State::HalfOpen | State::Open { .. } => true,
            };
            if open {
                tracing::warn!(
                    breaker = self.name,
                    cooldown_ms = self.cooldown.as_millis() as u64,
                    "circuit open"
                );
                *state = State::Open {
                    until: Instant::now() + self.cooldown,
                };
            }
        }
    }

    pub fn is_open(&self) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| matches!(*s, State::Open { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_half_opens_after_cooldown() {
        let b = CircuitBreaker::new("t", 3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(b.allow());
            b.record_failure();
        }
        assert!(b.allow(), "still closed below the threshold");
        b.record_failure();
        assert!(!b.allow(), "open");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "one trial call");
        assert!(!b.allow(), "only one while half-open");
        b.record_failure();
        assert!(!b.allow(), "reopened");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.record_success();
        assert!(b.allow() && b.allow(), "closed again");
    }
}
