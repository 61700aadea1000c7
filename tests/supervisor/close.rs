//! `close` in every state: the right action, a final state, and nothing after.

use wstether::{Action, Cause, Event, Failure, Instant, Outcome, State};

use crate::{plain_config, Driven};

#[test]
fn close_is_safe_in_every_state() {
    let reach: [fn(&mut Driven); 6] = [
        |_| {},
        |d| d.start(Instant::ZERO),
        |d| {
            d.start(Instant::ZERO);
            d.connected(Instant::ZERO)
        },
        |d| {
            d.start(Instant::ZERO);
            d.connect_failed(Instant::ZERO, Failure::transient(Cause::Io))
        },
        |d| {
            d.start(Instant::ZERO);
            d.close(Instant::ZERO)
        },
        |d| {
            d.start(Instant::ZERO);
            d.connect_failed(Instant::ZERO, Failure::http_status(403, None))
        },
    ];
    // One way to reach each state, in `State::ALL` order.
    for (reach, state) in reach.iter().zip(State::ALL) {
        let mut d = Driven::new(plain_config(), 1);
        reach(&mut d);
        assert_eq!(d.sup.state(), state);
        d.take();
        d.close(Instant::from_secs(1));
        let (actions, events) = d.take();
        let wants_close = matches!(state, State::Connecting | State::Connected);
        assert_eq!(
            actions,
            if wants_close { vec![Action::Close] } else { vec![] },
            "{state:?}"
        );
        if !state.is_final() {
            assert_eq!(events, vec![Event::Stopped]);
            assert_eq!(d.sup.outcome(), Some(Outcome::Stopped));
        }
        assert!(d.sup.state().is_final());
        assert_eq!(d.deadline(), None);
        d.close(Instant::from_secs(2));
        d.connected(Instant::from_secs(2));
        d.timeout(Instant::from_secs(100));
        assert_eq!(d.take(), (vec![], vec![]));
    }
}
