//! Time and randomness are inputs, never ambient: every rule that depends on "now" or on a
//! random draw takes a `Clock` or `Random`, so tests can move time and fix draws.

use std::sync::atomic::{AtomicI64, Ordering};
use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;

    /// Whole seconds since the Unix epoch.
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The wall clock, shifted by an offset that only test mode can change.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_seconds: AtomicI64,
}

impl OffsetClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves this clock forward (or back, with a negative value) and returns the new offset.
    pub fn advance(&self, seconds: i64) -> i64 {
        self.offset_seconds.fetch_add(seconds, Ordering::SeqCst) + seconds
    }

    pub fn offset(&self) -> i64 {
        self.offset_seconds.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + time::Duration::seconds(self.offset())
    }
}

/// A source of random bytes.
pub trait Random: Send + Sync + 'static {
    fn fill(&self, dest: &mut [u8]);

    fn next_u32(&self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }

    /// A uniformly drawn integer in `low..=high` (modulo bias is negligible for our ranges).
    fn in_range(&self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let span = u64::try_from(high - low).unwrap_or(0) + 1;
        let mut b = [0u8; 8];
        self.fill(&mut b);
        low + i64::try_from(u64::from_le_bytes(b) % span).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_clock_moves() {
        let c = OffsetClock::new();
        let before = c.unix();
        assert_eq!(c.advance(3600), 3600);
        let after = c.unix();
        assert!(after - before >= 3600 && after - before < 3660);
    }

    struct Fixed(u8);
    impl Random for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(self.0);
        }
    }

    #[test]
    fn in_range_stays_in_bounds() {
        for v in [0u8, 1, 77, 255] {
            let r = Fixed(v).in_range(3600, 5400);
            assert!((3600..=5400).contains(&r));
        }
        assert_eq!(Fixed(9).in_range(10, 10), 10);
    }
}
