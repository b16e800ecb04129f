//! Counters a user can graph, kept with relaxed atomics so the hot path never takes a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Log-linear latency buckets: 16 sub-buckets per power of two of microseconds, so a
/// percentile is within about 6 % of the true value, from 1 µs to well past an hour.
const SUB_BUCKETS: usize = 16;
const OCTAVES: usize = 33;
const BUCKETS: usize = SUB_BUCKETS * OCTAVES;

pub struct Stats {
    pub calls: AtomicU64,
    pub in_flight: AtomicU64,
    pub upstream_requests: AtomicU64,
    pub connections_opened: AtomicU64,
    pub lookup_cache_hits: AtomicU64,
    pub lookup_cache_misses: AtomicU64,
    pub lookup_shared: AtomicU64,
    pub timeouts: AtomicU64,
    pub errors: AtomicU64,
    latency: Box<[AtomicU64]>,
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub calls: u64,
    pub in_flight: u64,
    pub upstream_requests: u64,
    pub connections_opened: u64,
    pub lookup_cache_hits: u64,
    pub lookup_cache_misses: u64,
    pub lookup_shared: u64,
    pub timeouts: u64,
    pub errors: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Cumulative counts per latency upper bound (ms), for histogram exporters.
    pub latency_buckets: Vec<(f64, u64)>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            calls: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            upstream_requests: AtomicU64::new(0),
            connections_opened: AtomicU64::new(0),
            lookup_cache_hits: AtomicU64::new(0),
            lookup_cache_misses: AtomicU64::new(0),
            lookup_shared: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn bucket_of(micros: u64) -> usize {
    let v = micros.max(1);
    let octave = 63 - v.leading_zeros() as usize;
    let sub = if octave >= 4 {
        ((v >> (octave - 4)) & 0xF) as usize
    } else {
        ((v << (4 - octave)) & 0xF) as usize
    };
    (octave * SUB_BUCKETS + sub).min(BUCKETS - 1)
}

/// The upper bound of a bucket, in microseconds.
fn bucket_upper_micros(index: usize) -> f64 {
    let octave = index / SUB_BUCKETS;
    let sub = index % SUB_BUCKETS;
    (1u64 << octave) as f64 * (1.0 + (sub as f64 + 1.0) / SUB_BUCKETS as f64)
}

impl Stats {
    pub fn record_latency(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency[bucket_of(micros)].fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let counts: Vec<u64> = self.latency.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let percentile = |p: f64| -> f64 {
            if total == 0 {
                return 0.0;
            }
            let rank = ((p * total as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return bucket_upper_micros(i) / 1000.0;
                }
            }
            bucket_upper_micros(BUCKETS - 1) / 1000.0
        };
        let mut cumulative = 0;
        let latency_buckets = counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                cumulative += c;
                (bucket_upper_micros(i) / 1000.0, cumulative)
            })
            .collect();
        Snapshot {
            calls: self.calls.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            upstream_requests: self.upstream_requests.load(Relaxed),
            connections_opened: self.connections_opened.load(Relaxed),
            lookup_cache_hits: self.lookup_cache_hits.load(Relaxed),
            lookup_cache_misses: self.lookup_cache_misses.load(Relaxed),
            lookup_shared: self.lookup_shared.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            errors: self.errors.load(Relaxed),
            latency_p50_ms: percentile(0.50),
            latency_p99_ms: percentile(0.99),
            latency_buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for micros in [
            1u64,
            2,
            3,
            15,
            16,
            17,
            100,
            1_000,
            65_535,
            1_000_000,
            3_600_000_000,
        ] {
            let b = bucket_of(micros);
            assert!(b >= last, "bucket of {micros} went backwards");
            assert!(
                bucket_upper_micros(b) >= micros as f64,
                "{micros} above its bucket"
            );
            assert!(
                bucket_upper_micros(b) <= micros as f64 * 1.07 + 1.0,
                "{micros} bucket too wide"
            );
            last = b;
        }
    }

    #[test]
    fn percentiles_follow_the_recorded_latencies() {
        let stats = Stats::default();
        for _ in 0..98 {
            stats.record_latency(Duration::from_micros(100));
        }
        stats.record_latency(Duration::from_millis(50));
        stats.record_latency(Duration::from_millis(50));
        let snap = stats.snapshot();
        assert!(
            (0.1..0.107).contains(&snap.latency_p50_ms),
            "{}",
            snap.latency_p50_ms
        );
        // 99 % of 100 calls is the 99th, one of the two slow ones.
        assert!(
            (50.0..53.2).contains(&snap.latency_p99_ms),
            "{}",
            snap.latency_p99_ms
        );
        assert_eq!(snap.latency_buckets.last().unwrap().1, 100);
        assert_eq!(Stats::default().snapshot().latency_p50_ms, 0.0);
    }
}
