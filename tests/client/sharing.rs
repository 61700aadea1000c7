//! One client, several threads.

use std::sync::Arc;
use std::thread;

use crate::support::*;
use crate::tether::*;

#[test]
fn one_client_is_shared_by_a_receiving_and_a_sending_thread() {
    fn shareable<T: Send + Sync>() {}
    shareable::<wstether::client::Client>();
    // Echo until the client closes.
    let server = Server::start(echo);
    let client = Arc::new(fast_builder(&server.url()).connect().unwrap());
    let receiver = {
        let client = Arc::clone(&client);
        thread::spawn(move || {
            (0..50)
                .map_while(|_| client.recv_timeout(PATIENCE).ok().flatten())
                .collect::<Vec<_>>()
        })
    };
    let sent = numbered("e", 50);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    let got = receiver.join().unwrap();
    assert_eq!(texts(&got), sent);
    let client = Arc::into_inner(client).expect("the receiver thread is done");
    assert!(client.close().is_empty());
}
