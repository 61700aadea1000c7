//! Subscriptions changed while the link is down apply to the next replay,
//! once each, before queued messages.

use tungstenite::Message;
use wstether::{BackoffConfig, Cause};

use crate::support::*;
use crate::tether::*;

#[test]
fn subscriptions_changed_while_down_are_replayed_exactly_once_across_five_flaps() {
    // Each link is closed (1001) by the server right after a `flap` marker.
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|text| text.starts_with("flap")) {
            peer.close_with(1001);
        }
    });
    // A fixed 300 ms between links: room to change subscriptions while down.
    let backoff = BackoffConfig {
        initial: ms(300),
        cap: ms(300),
        ..fast_backoff()
    };
    let client = fast_builder(&server.url())
        .backoff(backoff)
        .subscribe("A")
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let b = client.subscribe("B");
    let mut c = None;
    // What each link must start with.
    let mut expected_subs: Vec<Vec<&str>> = vec![vec!["A", "B"]];
    let mut sent = Vec::new();
    const FLAPS: usize = 5;
    for flap in 0..FLAPS {
        let q = format!("q{flap}");
        let marker = format!("flap{flap}");
        send_all(&client, &mut sent, &[q.as_str(), marker.as_str()]);
        events.expect(
            client.events(),
            "Disconnected(1001)",
            disconnected_by(Cause::Close(1001)),
        );
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        // Down: change the subscriptions before the next link replays them.
        let subs = match flap {
            0 => {
                assert_eq!(client.unsubscribe(b), Some(Message::from("B")));
                c = Some(client.subscribe("C"));
                vec!["A", "C"]
            }
            2 => {
                let c = c.expect("subscribed on the first flap");
                assert_eq!(client.unsubscribe(c), Some(Message::from("C")));
                vec!["A"]
            }
            _ => expected_subs.last().unwrap().clone(),
        };
        expected_subs.push(subs);
        let queued = format!("down{flap}");
        send_all(&client, &mut sent, &[queued.as_str()]);
        events.expect(client.events(), "Connected again", is_connected);
    }
    let total: usize = expected_subs.iter().map(Vec::len).sum::<usize>() + sent.len();
    let got = server.journal().expect_messages(total);
    assert!(client.close().is_empty());
    for (link, subs) in expected_subs.iter().enumerate() {
        let on_link: Vec<&str> = got
            .iter()
            .filter(|(conn, _)| *conn == link)
            .map(|(_, t)| t.as_str())
            .collect();
        assert!(
            on_link.starts_with(subs),
            "link {link}: {on_link:?}, expected {subs:?} first"
        );
        let all_subs = on_link.iter().filter(|t| t.len() == 1).count();
        assert_eq!(all_subs, subs.len(), "link {link}: {on_link:?}");
    }
    let queued: Vec<String> = got.iter().map(|(_, t)| t.clone()).filter(|t| t.len() > 1).collect();
    assert_same(&queued, &sent);
    assert_eq!(server.journal().messages().len(), total, "nothing twice");
}
