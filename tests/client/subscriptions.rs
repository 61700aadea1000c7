//! Subscriptions are state: replayed once per link, before queued messages.

use tungstenite::Message;
use wstether::Cause;

use crate::support::*;
use crate::tether::*;

#[test]
fn subscriptions_replayed_once_per_link_before_queued_messages_across_flaps() {
    // Each link is closed (1001) by the server right after a `flap` marker.
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|text| text.starts_with("flap")) {
            peer.close_with(1001);
        }
    });
    let client = fast_builder(&server.url()).subscribe("sub-A").connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let b = client.subscribe("sub-B");
    server.journal().expect_messages(2);
    assert_eq!(client.unsubscribe(b), Some(Message::from("sub-B")));
    assert_eq!(client.unsubscribe(b), None);

    const FLAPS: usize = 4;
    let mut sent = Vec::new();
    let mut send = |text: String| {
        client.send(text.as_str()).unwrap();
        sent.push(text);
    };
    for flap in 0..FLAPS {
        for i in 0..3 {
            send(format!("q{flap}-{i}"));
        }
        send(format!("flap{flap}"));
        events.expect(
            client.events(),
            "Disconnected(1001)",
            disconnected_by(Cause::Close(1001)),
        );
        // Most likely queued while the client waits to reconnect.
        for i in 3..6 {
            send(format!("q{flap}-{i}"));
        }
    }
    let total = 2 + FLAPS + sent.len();
    let got = server.journal().expect_messages(total);
    let undelivered = client.close();
    assert!(undelivered.is_empty(), "undelivered: {undelivered:?}");

    let links = got.iter().map(|(conn, _)| *conn).max().unwrap() + 1;
    assert_eq!(links, FLAPS + 1);
    for link in 0..links {
        let on_link: Vec<&str> = got
            .iter()
            .filter(|(c, _)| *c == link)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(on_link[0], "sub-A", "link {link}: {on_link:?}");
        assert_eq!(
            on_link.iter().filter(|t| t.starts_with("sub-A")).count(),
            1,
            "link {link}: {on_link:?}"
        );
        let b_count = on_link.iter().filter(|t| t.starts_with("sub-B")).count();
        assert_eq!(b_count, usize::from(link == 0), "link {link}: {on_link:?}");
        if link == 0 {
            assert_eq!(on_link[1], "sub-B");
        }
    }
    let queued: Vec<String> = got
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| !t.starts_with("sub-"))
        .collect();
    assert_eq!(queued, sent, "every message once, in order");
    assert_eq!(server.journal().messages().len(), total);
}
