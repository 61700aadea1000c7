//! Inbound sequence numbers checked across a reconnect.

use std::sync::atomic::{AtomicUsize, Ordering};

use tungstenite::Message;
use wstether::client::EventKind;

use crate::support::*;
use crate::tether::*;

#[test]
fn sequence_gaps_and_duplicates_across_a_reconnect_become_events() {
    let links = AtomicUsize::new(0);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        // The second link repeats id 3 and skips 4 and 5.
        let ids: &[u64] = if links.fetch_add(1, Ordering::SeqCst) == 0 {
            &[1, 2, 3]
        } else {
            &[3, 6, 7]
        };
        for id in ids {
            peer.send(format!("id {id}"));
        }
        if ids[0] == 1 {
            peer.close_with(1001);
        } else {
            peer.serve();
        }
    });
    let client = fast_builder(&server.url())
        .sequence(100, |m| m.to_text().ok()?.strip_prefix("id ")?.parse().ok())
        .connect()
        .unwrap();
    let got: Vec<Message> = (0..6)
        .map(|_| {
            client
                .recv_timeout(PATIENCE)
                .unwrap()
                .expect("a message from the server")
        })
        .collect();
    assert_eq!(texts(&got), ["id 1", "id 2", "id 3", "id 3", "id 6", "id 7"]);
    let mut events = Events::default();
    events.expect_kind(client.events(), "SequenceGap", |k| {
        matches!(k, EventKind::SequenceGap { .. })
    });
    assert_eq!(
        events.count_kind(|k| *k == EventKind::SequenceDuplicate { seq: 3 }),
        1,
        "{:#?}",
        events.seen
    );
    assert_eq!(
        events.count_kind(|k| *k == EventKind::SequenceGap { first: 4, last: 5 }),
        1,
        "{:#?}",
        events.seen
    );
    assert!(client.close().is_empty());
}
