//! `trades`: sequence checking on an exchange-like feed.
//!
//! A local server streams trades with increasing ids. Each time it drops the
//! link it resumes from a slightly different place, as real feeds do: some
//! ids are skipped, some are sent twice. The client's sequence extractor
//! turns that into gap and duplicate events.
//!
//! ```text
//! cargo run --example trades
//! ```

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;
use wstether::client::{Client, EventKind};
use wstether::{BackoffConfig, Event, Jitter};

fn main() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("bound listener has an address");
    let next_id = Arc::new(AtomicU64::new(1));
    thread::spawn(move || serve(listener, next_id));

    let client = Client::builder(format!("ws://{addr}/trades"))
        .backoff(BackoffConfig {
            initial: Duration::from_millis(100),
            cap: Duration::from_millis(500),
            jitter: Jitter::Full,
            cap_jitter: None,
            ..BackoffConfig::default()
        })
        .seed(3)
        .sequence(10_000, |message| {
            let trade: serde_json::Value = serde_json::from_str(message.to_text().ok()?).ok()?;
            trade.get("trade_id")?.as_u64()
        })
        .connect()
        .expect("a valid configuration");

    let started = Instant::now();
    let (mut trades, mut gaps, mut missing, mut duplicates) = (0u64, 0u64, 0u64, 0u64);
    while started.elapsed() < Duration::from_secs(12) {
        for notice in client.events().try_iter() {
            let t = notice.at.as_secs_f64();
            match notice.kind {
                EventKind::SequenceGap { first, last } => {
                    gaps += 1;
                    missing += last - first + 1;
                    println!("[{t:6.2}s] gap: trades {first}..={last} missing");
                }
                EventKind::SequenceDuplicate { seq } => {
                    duplicates += 1;
                    println!("[{t:6.2}s] duplicate: trade {seq} seen before");
                }
                EventKind::Supervisor(Event::Connected { attempt, .. }) => {
                    println!("[{t:6.2}s] connected (attempt {attempt})")
                }
                EventKind::Supervisor(Event::Disconnected { failure }) => {
                    println!("[{t:6.2}s] disconnected: {}", failure.cause)
                }
                _ => {}
            }
        }
        if let Ok(Some(_)) = client.recv_timeout(Duration::from_millis(50)) {
            trades += 1;
        }
    }
    let undelivered = client.close();
    println!(
        "summary: {trades} trades received, {gaps} gaps ({missing} trades missing), {duplicates} duplicates, {} undelivered",
        undelivered.len()
    );
}

/// Accepts links one after another; each streams trades for 1.5–3 s, then
/// drops, and the next resumes a few ids off.
fn serve(listener: TcpListener, next_id: Arc<AtomicU64>) {
    let mut rng = fastrand::Rng::with_seed(11);
    for stream in listener.incoming().flatten() {
        let lifetime = Duration::from_millis(rng.u64(1_500..3_000));
        // Resume up to 3 ids back (repeats) or up to 5 ahead (a gap).
        let shift = rng.i64(-3..=5);
        let id = next_id.load(Ordering::SeqCst).saturating_add_signed(shift).max(1);
        next_id.store(id, Ordering::SeqCst);
        let next_id = Arc::clone(&next_id);
        // One link at a time, so ids stay in order on each link.
        stream_trades(stream, lifetime, &next_id);
    }
}

fn stream_trades(stream: TcpStream, lifetime: Duration, next_id: &AtomicU64) {
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(10))).ok();
    let opened = Instant::now();
    while opened.elapsed() < lifetime {
        let id = next_id.fetch_add(1, Ordering::SeqCst);
        let trade = format!(
            r#"{{"trade_id":{id},"price":{}.{:02},"qty":1}}"#,
            100 + id % 7,
            id % 100
        );
        if ws.send(Message::text(trade)).is_err() {
            return;
        }
        // Answers pings; read errors other than a timeout end the link.
        if let Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) = ws.read() {
            return;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
}
