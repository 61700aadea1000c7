//! The core fits a microcontroller: the supervisor in 256 bytes, each event
//! in 24.

use wstether::{Action, Event, Output, Supervisor};

#[test]
fn the_supervisor_fits_in_256_bytes_and_an_event_in_24() {
    assert!(size_of::<Supervisor>() <= 256, "{}", size_of::<Supervisor>());
    assert!(size_of::<Event>() <= 24, "{}", size_of::<Event>());
    assert!(size_of::<Action>() <= 24, "{}", size_of::<Action>());
    assert!(size_of::<Output>() <= 24, "{}", size_of::<Output>());
}
