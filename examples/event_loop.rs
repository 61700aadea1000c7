//! `event_loop`: one thread, no async runtime, three sources — a UDP echo
//! socket, a periodic timer and a kept-alive WebSocket ([`Session`]) — and
//! one `mio::Poll` that sleeps on all of them.
//!
//! ```text
//! cargo run --example event_loop          # a local WebSocket echo server and UDP pinger, ~5 s
//! cargo run --example event_loop -- URL   # your WebSocket server instead
//! ```
//!
//! A session asks three things of a loop:
//!
//! 1. register its fd (`SourceFd` on [`AsRawFd::as_raw_fd`]) for reading;
//! 2. sleep no longer than [`Session::timeout`];
//! 3. when the fd was readable or that timeout passed, call
//!    `session.poll(Some(Duration::ZERO))` until it returns `None`.
//!
//! The fd stays the same across reconnects, and `send` from this thread or
//! any other makes it readable, so the loop never polls for work.

#[cfg(all(feature = "std", unix))]
fn main() -> std::process::ExitCode {
    match example::run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("event_loop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(all(feature = "std", unix)))]
fn main() {
    eprintln!("event_loop needs the `std` feature and a Unix system");
}

#[cfg(all(feature = "std", unix))]
mod example {
    use std::error::Error;
    use std::io::ErrorKind;
    use std::net::{SocketAddr, TcpListener};
    use std::os::fd::AsRawFd;
    use std::process::ExitCode;
    use std::thread;
    use std::time::{Duration, Instant};

    use mio::net::UdpSocket;
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token};
    use wstether::client::{ClientBuilder, Incoming};
    use wstether::{Message, Outcome};

    const SESSION: Token = Token(0);
    const UDP: Token = Token(1);
    const RUN_FOR: Duration = Duration::from_secs(5);
    const TICK: Duration = Duration::from_secs(1);

    pub(crate) fn run() -> Result<ExitCode, Box<dyn Error>> {
        let url = match std::env::args().nth(1) {
            Some(url) => url,
            None => format!("ws://{}/echo", echo_server()?),
        };
        let mut session = ClientBuilder::new(url).session()?;

        let mut poll = Poll::new()?;
        let mut events = Events::with_capacity(16);
        // 1. The session's fd, readable whenever it has work.
        let session_fd = session.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&session_fd), SESSION, Interest::READABLE)?;
        let mut udp = UdpSocket::bind("127.0.0.1:0".parse()?)?;
        poll.registry().register(&mut udp, UDP, Interest::READABLE)?;
        udp_pinger(udp.local_addr()?)?;

        let started = Instant::now();
        let log = |source: &str, what: &str| println!("[{:5.2}s] {source:<5} {what}", started.elapsed().as_secs_f64());
        let (mut wakeups, mut ticks, mut echoes, mut messages, mut ws_events) = (0, 0, 0, 0, 0);
        let mut next_tick = started + TICK;
        let mut closing = false;
        let mut buf = [0u8; 1500];

        while !session.is_finished() {
            let now = Instant::now();
            if !closing && now >= started + RUN_FOR {
                log("loop", "time is up: closing the WebSocket");
                session.close(); // makes the fd readable; the close goes on below
                closing = true;
            }
            // 2. Sleep until the next tick or the session's deadline, or until an fd is ready.
            let session_due = session.timeout().map(|wait| now + wait);
            let wake_at = session_due.map_or(next_tick, |due| due.min(next_tick));
            poll.poll(&mut events, Some(wake_at.saturating_duration_since(now)))?;
            wakeups += 1;

            let now = Instant::now();
            let mut session_ready = session_due.is_some_and(|due| due <= now);
            for event in events.iter() {
                match event.token() {
                    SESSION => session_ready = true,
                    UDP => loop {
                        // Edge-triggered: read until the socket is empty.
                        match udp.recv_from(&mut buf) {
                            Ok((n, from)) => {
                                udp.send_to(&buf[..n], from)?;
                                echoes += 1;
                                log(
                                    "udp",
                                    &format!("echoed {:?} to {from}", String::from_utf8_lossy(&buf[..n])),
                                );
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e.into()),
                        }
                    },
                    _ => {}
                }
            }
            if now >= next_tick {
                ticks += 1;
                next_tick += TICK;
                if !closing {
                    // Queued now, written by the session's next turn (send wakes its fd).
                    match session.send(format!("tick {ticks}")) {
                        Ok(()) => log("timer", &format!("tick {ticks}, sent over the WebSocket")),
                        Err(e) => log("timer", &format!("tick {ticks}, not sent: {e}")),
                    }
                }
            }
            // 3. The session's turn: everything it has, without waiting.
            if session_ready {
                while let Some(item) = session.poll(Some(Duration::ZERO)) {
                    match item {
                        Incoming::Message(message) => {
                            messages += 1;
                            log("ws", &format!("message {message}"));
                        }
                        Incoming::Event(event) => {
                            ws_events += 1;
                            let detail = event.detail.map(|d| format!(" ({d})")).unwrap_or_default();
                            log("ws", &format!("event {:?}{detail}", event.kind));
                        }
                    }
                }
            }
        }

        let undelivered = session.take_undelivered().len();
        println!(
            "{wakeups} wake-ups in {:.1}s: {ticks} ticks, {echoes} UDP echoes, {messages} WebSocket messages, \
             {ws_events} WebSocket events, {undelivered} undelivered",
            started.elapsed().as_secs_f64()
        );
        let ending = session.ending().expect("a finished session has an ending");
        println!("session: {ending}");
        Ok(match ending.outcome {
            Outcome::Stopped => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        })
    }

    /// A WebSocket echo server on 127.0.0.1, a thread per connection.
    fn echo_server() -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                thread::spawn(move || {
                    let Ok(mut ws) = tungstenite::accept(stream) else {
                        return;
                    };
                    while let Ok(message) = ws.read() {
                        if let Message::Text(_) | Message::Binary(_) = message {
                            if ws.send(message).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(addr)
    }

    /// Another program's part: pings the echo socket four times a second.
    fn udp_pinger(echo: SocketAddr) -> std::io::Result<()> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.connect(echo)?;
        socket.set_read_timeout(Some(Duration::from_secs(1)))?;
        thread::spawn(move || {
            let mut reply = [0u8; 64];
            for n in 1.. {
                if socket.send(format!("ping {n}").as_bytes()).is_err() {
                    return;
                }
                let _ = socket.recv(&mut reply); // the echo
                thread::sleep(Duration::from_millis(250));
            }
        });
        Ok(())
    }
}
