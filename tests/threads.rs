//! Threads come back: every I/O thread ends once its client is closed and
//! dropped, however fast clients come and go. (Its own test binary: the
//! count is the process's.)

mod support;

use std::time::{Duration, Instant};

use support::{Server, PATIENCE};
use wstether::client::ClientBuilder;
use wstether::State;

/// The I/O threads alive in this process.
fn io_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.trim() == "wstether-io"))
        .count()
}

#[test]
fn every_io_thread_ends_when_clients_come_and_go_back_to_back() {
    if std::fs::metadata("/proc/self/task").is_err() {
        return; // Linux only
    }
    let server = Server::start(support::record);
    for i in 0..30 {
        let client = ClientBuilder::new(server.url())
            .no_proxy()
            .connect()
            .expect("a valid configuration");
        let deadline = Instant::now() + PATIENCE;
        while client.state() != State::Connected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        client.send(format!("m{i}")).expect("queued");
        assert!(client.close().is_empty());
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while io_threads() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(io_threads(), 0, "I/O threads left behind by closed clients");
}
