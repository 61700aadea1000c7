//! The supervisor as firmware uses it: a main loop that feeds it every kind
//! of input and drains every output, on a Cortex-M4F. Built with
//! `opt-level = "z"`, LTO and one codegen unit; `.ci/run` prints the size of
//! its `.text`, which is the whole supervisor plus a few hundred bytes of
//! start-up code.
//!
//! The inputs come through `black_box`, so nothing is folded away: what is
//! measured is what a device running the real thing would carry.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::time::Duration;

use cortex_m_rt::entry;
use wstether::{Action, Cause, Config, Failure, Inbound, Instant, Output, Supervisor};

#[entry]
fn main() -> ! {
    let mut sup = match Supervisor::new(black_box(Config::default()), black_box(7)) {
        Ok(sup) => sup,
        Err(_) => loop {},
    };
    let mut now = Instant::ZERO;
    sup.start(now);
    loop {
        // Every output, in order, as the drain contract asks.
        let deadline = loop {
            match sup.poll_output() {
                Output::Action(Action::Connect { id, .. }) => {
                    match black_box(now.as_micros() as u32 % 3) {
                        0 => sup.handle_connected(now, id),
                        1 => sup.handle_connect_failed(now, id, Failure::transient(Cause::Refused)),
                        _ => sup.handle_connect_failed(now, id, Failure::http_status(black_box(503), None)),
                    }
                }
                Output::Action(action) => {
                    black_box(action);
                }
                Output::Event(event) => {
                    black_box(event);
                }
                Output::Timeout(deadline) => break deadline,
            }
        };
        now = match deadline {
            Some(deadline) => deadline.at,
            None => now + Duration::from_secs(1),
        };
        let id = sup.last_attempt();
        match black_box(now.as_micros() as u32 % 8) {
            0 => sup.handle_inbound(now, Inbound::Data),
            1 => sup.handle_inbound(now, Inbound::Control),
            2 => sup.handle_disconnected(now, id, Failure::close(black_box(1001), &Default::default())),
            3 => sup.reconnect_now(now),
            4 => sup.mark_healthy(now),
            5 if black_box(false) => sup.close(now),
            _ => sup.handle_timeout(now),
        }
        black_box(sup.state());
        black_box(sup.outcome());
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
