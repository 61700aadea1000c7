//! Many clients of one server that restarts: their first reconnects must
//! spread out rather than arrive together.

use std::time::{Duration, Instant};

use wstether::client::Client;

use crate::support::*;
use crate::tether::*;

#[test]
fn two_hundred_clients_spread_their_first_reconnects_after_a_server_restart() {
    const CLIENTS: usize = 200;
    let mut server = Server::start(record);
    // The default schedule, seeded from entropy as in production: the first
    // delay after a drop is a random share of `initial` (the phase of
    // `Jitter::Phased`).
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| {
            Client::builder(server.url())
                .no_proxy()
                .queue_capacity(8)
                .inbound_capacity(8)
                .event_capacity(64)
                .close_timeout(Duration::from_secs(1))
                .connect()
                .unwrap()
        })
        .collect();
    let mut events: Vec<Events> = (0..CLIENTS).map(|_| Events::default()).collect();
    for (client, events) in clients.iter().zip(&mut events) {
        events.expect(client.events(), "Connected", is_connected);
    }
    server.journal().expect_accepts(CLIENTS);

    server.stop();
    let stopped = Instant::now();
    server.restart();
    let at = server.journal().expect_accepts(2 * CLIENTS);
    let mut after: Vec<Duration> = at[CLIENTS..]
        .iter()
        .map(|t| t.saturating_duration_since(stopped))
        .collect();
    after.sort();
    let mut buckets = [0usize; 100];
    for t in &after {
        buckets[(t.as_millis() / 100).min(99) as usize] += 1;
    }
    let busiest = *buckets.iter().max().unwrap();
    let span = *after.last().unwrap() - after[0];
    eprintln!("reconnects per 100 ms after the restart: {:?}", &buckets[..20]);
    assert!(
        busiest <= CLIENTS / 2,
        "{busiest} reconnects in one 100 ms: {buckets:?}"
    );
    assert!(span >= ms(500), "all reconnects within {span:?}");

    let started = Instant::now();
    for client in clients {
        assert!(client.close().is_empty());
    }
    assert_within(started.elapsed(), Duration::from_secs(10), "closing 200 clients");
}
