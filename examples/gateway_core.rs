//! The core alone, the way a `no_std` gateway uses it: no threads, no heap,
//! no clock of its own. The firmware's main loop hands the supervisor the time
//! in milliseconds from its tick counter, does the actions with its own
//! network stack, and sleeps until the next deadline.
//!
//! Here the "network stack" is a simulation in virtual time: the modem is
//! down for the first 20 s, then the link holds for a minute and drops.
//!
//! ```text
//! cargo run --example gateway_core
//! ```

use wstether::{Action, Cause, Config, Event, Failure, Inbound, Instant, Output, Stats, Supervisor};

/// What the gateway's own network stack reports.
fn try_connect(now: Instant) -> Result<(), Failure> {
    if now < Instant::from_secs(20) {
        Err(Failure::transient(Cause::Refused))
    } else {
        Ok(())
    }
}

fn main() {
    let mut sup = Supervisor::new(Config::default(), 0x5EED).expect("the defaults are valid");
    let mut now = Instant::ZERO; // the firmware's tick counter
    let mut stats = Stats::new(now);
    let link_drops_at = Instant::from_secs(80);
    let mut link = None;
    sup.start(now);
    while now < Instant::from_secs(120) {
        // Drain everything the last input produced, in order.
        let deadline = loop {
            match sup.poll_output() {
                Output::Action(Action::Connect { id, endpoint, attempt }) => {
                    println!(
                        "{:>8} ms  connect to endpoint {endpoint}, attempt {attempt}",
                        now.as_millis()
                    );
                    match try_connect(now) {
                        Ok(()) => {
                            link = Some(id);
                            sup.handle_connected(now, id)
                        }
                        Err(failure) => sup.handle_connect_failed(now, id, failure),
                    }
                }
                Output::Action(Action::SendPing) => {
                    println!("{:>8} ms  ping", now.as_millis());
                    // The server answers at once.
                    sup.handle_inbound(now, Inbound::Control);
                }
                Output::Action(Action::Drop { .. } | Action::Close) => link = None,
                Output::Event(event) => {
                    stats.record(now, &event);
                    if let Event::ReconnectScheduled { delay, .. } = event {
                        println!(
                            "{:>8} ms  next attempt in {} ms",
                            now.as_millis(),
                            delay.delay().as_millis()
                        );
                    }
                }
                Output::Timeout(deadline) => break deadline.map_or(Instant::MAX, |d| d.at),
            }
        };
        // Sleep until the next deadline or the next thing the simulated link does.
        if let Some(id) = link.filter(|_| link_drops_at > now && link_drops_at < deadline) {
            now = link_drops_at;
            link = None;
            println!("{:>8} ms  link dropped", now.as_millis());
            sup.handle_disconnected(now, id, Failure::transient(Cause::Abnormal));
            continue;
        }
        now = deadline.min(Instant::from_secs(120));
        sup.handle_timeout(now);
    }
    let snapshot = stats.snapshot(now);
    println!(
        "after {} s: {} attempts, {} connects, connected {} of {} s",
        now.as_millis() / 1_000,
        snapshot.counters.attempts,
        snapshot.counters.connects,
        snapshot.total_uptime.as_secs(),
        snapshot.lifetime.as_secs(),
    );
}
