//! The connect path never blocks its caller: `poll(Some(ZERO))` returns at
//! once while a server says nothing or dribbles its answer; the attempt is
//! visible when it starts; the session's fd is one for its whole life; a
//! close in the middle of a connect returns at once; many links share one
//! thread and a hanging connect holds none of the others back.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use wstether::client::{EventKind, Incoming, IoThread};
use wstether::{Event, State};

use crate::support::{echo, ms, Server, PATIENCE};
use crate::{quick, supervisor};

/// Drives `session` the way a foreign loop does: only `poll(Some(ZERO))`,
/// between waits of its own. Returns the longest single call.
fn longest_zero_poll(session: &mut wstether::client::Session, for_how_long: Duration) -> (Duration, Vec<Incoming>) {
    let mut longest = Duration::ZERO;
    let mut seen = Vec::new();
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        let started = Instant::now();
        let item = session.poll(Some(Duration::ZERO));
        longest = longest.max(started.elapsed());
        match item {
            Some(item) => seen.push(item),
            None => std::thread::sleep(ms(2)),
        }
    }
    (longest, seen)
}

#[test]
fn poll_zero_never_blocks_while_a_server_accepts_and_never_answers() {
    let server = Server::start(|conn| conn.never_answer());
    let mut session = quick(&server.url())
        .connect_timeout(Duration::from_millis(700))
        .session()
        .expect("a valid configuration");
    assert_eq!(
        session.state(),
        State::Connecting,
        "the attempt started with the session"
    );
    let (longest, seen) = longest_zero_poll(&mut session, Duration::from_millis(1_500));
    println!("longest poll(Some(ZERO)) against a silent server: {longest:?}");
    assert!(longest < ms(50), "a zero poll took {longest:?}");
    let timed_out = seen.iter().any(|item| {
        matches!(item, Incoming::Event(e) if supervisor(e, |ev| matches!(ev,
            Event::ConnectFailed { failure, .. } if failure.cause == wstether::Cause::Timeout)))
    });
    assert!(timed_out, "the connect deadline ended the attempt: {seen:?}");
}

#[test]
fn poll_zero_never_blocks_while_the_101_dribbles_and_the_slow_answer_is_accepted() {
    let server = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        if conn.answer_upgrade_dribbled(&request, ms(10)) {
            conn.hold_silent();
        }
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let (longest, seen) = longest_zero_poll(&mut session, Duration::from_millis(2_500));
    println!("longest poll(Some(ZERO)) against a dribbled 101: {longest:?}");
    assert!(longest < ms(50), "a zero poll took {longest:?}");
    assert!(
        seen.iter().any(
            |item| matches!(item, Incoming::Event(e) if supervisor(e, |ev| matches!(ev, Event::Connected { .. })))
        ),
        "a slow but timely 101 opens the link: {seen:?}"
    );
}

#[test]
fn the_attempt_is_reported_when_it_starts_not_when_it_ends() {
    let server = Server::start(|conn| conn.never_answer());
    let started = Instant::now();
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    assert_eq!(session.state(), State::Connecting);
    let first = session.poll(Some(Duration::ZERO));
    let Some(Incoming::Event(event)) = first else {
        panic!("the first item is the state change: {first:?}")
    };
    assert_eq!(
        event.kind,
        EventKind::StateChanged {
            from: State::Idle,
            to: State::Connecting
        }
    );
    let second = session.poll(Some(Duration::ZERO));
    let Some(Incoming::Event(attempt)) = second else {
        panic!("then the attempt: {second:?}")
    };
    assert!(supervisor(&attempt, |e| matches!(
        e,
        Event::AttemptStarted { attempt: 1, .. }
    )));
    assert!(
        attempt.at < ms(100) && started.elapsed() < ms(500),
        "stamped when it started"
    );
}

#[test]
fn one_fd_for_the_whole_session_wakes_a_foreign_loop_across_reconnects() {
    // Every link is dropped after its first message: three links, three
    // reconnects, all seen through the one fd.
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        peer.send("hello");
        peer.drop_tcp();
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let fd = session.as_raw_fd();
    let mut poll = Poll::new().expect("a poller");
    poll.registry()
        .register(&mut SourceFd(&fd), Token(0), Interest::READABLE)
        .expect("the session's fd registers");
    let mut events = Events::with_capacity(8);
    let (mut messages, mut wakeups) = (0, 0);
    let deadline = Instant::now() + PATIENCE;
    while messages < 3 && Instant::now() < deadline {
        poll.poll(&mut events, session.timeout()).expect("poll");
        wakeups += 1;
        while let Some(item) = session.poll(Some(Duration::ZERO)) {
            if let Incoming::Message(_) = item {
                messages += 1;
            }
        }
        assert_eq!(session.as_raw_fd(), fd, "the fd never changes");
    }
    println!("3 links through one fd: {wakeups} wake-ups");
    assert_eq!(messages, 3);
    assert!(server.journal().accepts() >= 3);
}

#[test]
fn an_idle_session_lets_its_loop_sleep() {
    let server = Server::start(echo);
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let mut seen = Vec::new();
    crate::poll_until_connected(&mut session, &mut seen);
    while session.poll(Some(Duration::ZERO)).is_some() {}
    let timeout = session.timeout().expect("a heartbeat deadline");
    assert!(
        timeout > Duration::from_secs(5),
        "an idle link sleeps until the next deadline: {timeout:?}"
    );
}

#[test]
fn close_in_the_middle_of_a_connect_returns_within_milliseconds() {
    let server = Server::start(|conn| conn.never_answer());
    let client = quick(&server.url()).connect().expect("a valid configuration");
    client.send("never sent").expect("queued");
    server.journal().expect_accepts(1);
    let started = Instant::now();
    let undelivered = client.close();
    let took = started.elapsed();
    println!("close() during a connect: {took:?}");
    assert!(took < ms(200), "close took {took:?}");
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].reason, wstether::client::Reason::NotSent);
}

#[test]
fn many_links_share_one_thread_and_a_hanging_connect_delays_none_of_them() {
    let silent = Server::start(|conn| conn.never_answer());
    let working = Server::start(echo);
    let io = IoThread::spawn().expect("an I/O thread");
    let stuck = io.add(quick(&silent.url())).expect("a client");
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| io.add(quick(&working.url())).expect("a client"))
        .collect();
    for (i, client) in clients.iter().enumerate() {
        client.send(format!("hello {i}")).expect("queued");
    }
    for (i, client) in clients.iter().enumerate() {
        let reply = client.recv_timeout(PATIENCE).expect("running").expect("an echo");
        assert_eq!(reply.to_text().expect("text"), format!("hello {i}"));
    }
    let took = started.elapsed();
    println!("20 links on one thread beside a hanging connect, all echoed in {took:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(stuck.state(), State::Connecting);
    let closed = Instant::now();
    for client in &clients {
        assert!(client.close().is_empty());
    }
    assert!(stuck.close().is_empty());
    assert!(closed.elapsed() < Duration::from_secs(3));
}
