//! The core fits a microcontroller: the supervisor in 256 bytes, each event
//! and each output in 16.

use wstether::{Action, Event, Output, Supervisor};

#[test]
fn the_supervisor_fits_in_256_bytes_and_an_output_in_16() {
    assert!(size_of::<Supervisor>() <= 256, "{}", size_of::<Supervisor>());
    assert!(size_of::<Event>() <= 16, "{}", size_of::<Event>());
    assert!(size_of::<Action>() <= 16, "{}", size_of::<Action>());
    // The output queue holds outputs as they are handed out; an output is no
    // larger than an event (`Instant` is aligned to 4).
    assert!(size_of::<Output>() <= 16, "{}", size_of::<Output>());
}
