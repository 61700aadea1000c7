//! Secrets in the URL (userinfo, query values) never show in errors, events
//! or logs.

use std::sync::{Mutex, Once};

use wstether::client::{BuildError, ClientBuilder};
use wstether::Cause;

use crate::support::*;
use crate::tether::*;

/// Every log record of this crate in this test binary, formatted.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        // Only this crate's records, bounded: the other tests of this binary
        // log too.
        if record.target().starts_with("wstether") && logs.len() < 100_000 {
            logs.push(format!("{} {}", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

#[test]
fn errors_events_and_logs_never_show_userinfo_or_query_values() {
    capture_logs();
    let server = Server::start(|conn| conn.respond("HTTP/1.1 401 Unauthorized"));
    let url = format!("ws://user:hunter2@{}/feed?token=secret&v=2", server.addr());
    let client = fast_builder(&url).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Rejected(401)", rejected_with(Cause::HttpStatus(401)));
    expect_finished(&client);
    let ending = client.ending().expect("the client ended");
    drop(client);

    let mut shown: Vec<String> = events
        .seen
        .iter()
        .flat_map(|e| [format!("{:?}", e.kind), e.detail.clone().unwrap_or_default()])
        .collect();
    shown.push(ending.to_string());
    shown.push(format!("{ending:?}"));
    // A URL the client cannot use is echoed in the error, redacted.
    let builder = ClientBuilder::new("http://user:hunter2@127.0.0.1:1/feed?token=secret").no_proxy();
    shown.push(format!("{builder:?}"));
    let error = builder.connect().map(|_| ()).expect_err("an invalid URL");
    assert!(matches!(error, BuildError::Url(_)), "{error:?}");
    shown.push(error.to_string());
    shown.push(format!("{error:?}"));
    assert!(error.to_string().contains("token=***"), "{error}");

    let logs = LOGS.lock().unwrap().clone();
    let ours: Vec<&String> = logs.iter().filter(|l| l.contains("/feed?token=")).collect();
    assert!(!ours.is_empty(), "the attempt is logged with its redacted URL");
    assert!(ours.iter().all(|l| l.contains("token=***")), "{ours:#?}");
    shown.extend(logs);
    for line in &shown {
        assert!(!line.contains("hunter2") && !line.contains("secret"), "leaked: {line}");
    }
}
