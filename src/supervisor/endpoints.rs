//! Endpoint rotation: the core picks an endpoint index; the adapter owns the
//! URLs. After `rotate_after` consecutive failures on one endpoint the next
//! one is tried; a stable link keeps the endpoint it is on.

/// How many endpoints there are and when to move on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Number of endpoints (at least 1).
    pub count: u8,
    /// Consecutive failures on one endpoint before moving to the next (at least 1).
    pub rotate_after: u32,
}

impl Default for EndpointConfig {
    /// One endpoint; with more, move on after two failures in a row, so a
    /// single blip does not abandon the preferred server.
    fn default() -> Self {
        EndpointConfig {
            count: 1,
            rotate_after: 2,
        }
    }
}

/// Which endpoint is current and how often it has failed in a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Endpoints {
    current: u8,
    /// Saturates: past 65 535 failures in a row a rotation is long overdue.
    failures_here: u16,
}

impl Endpoints {
    /// The endpoint index to use for the next attempt.
    pub(crate) fn current(&self) -> u8 {
        self.current
    }

    /// Records a failure on the current endpoint, moving on after
    /// `rotate_after` in a row.
    pub(crate) fn on_failure(&mut self, count: u8, rotate_after: u32) {
        self.failures_here = self.failures_here.saturating_add(1);
        if count > 1 && u32::from(self.failures_here) >= rotate_after.max(1) {
            self.current = (self.current + 1) % count;
            self.failures_here = 0;
        }
    }

    /// A link on the current endpoint became stable.
    pub(crate) fn on_stable(&mut self) {
        self.failures_here = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_after_f_failures_and_wraps() {
        let mut e = Endpoints::default();
        let seen: [u8; 7] = core::array::from_fn(|_| {
            let current = e.current();
            e.on_failure(3, 2);
            current
        });
        assert_eq!(seen, [0, 0, 1, 1, 2, 2, 0]);
    }

    #[test]
    fn a_stable_link_forgives_earlier_failures() {
        let mut e = Endpoints::default();
        e.on_failure(2, 2);
        e.on_stable();
        e.on_failure(2, 2);
        assert_eq!(e.current(), 0);
    }
}
