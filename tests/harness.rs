//! Tests of the test harness itself (`tests/support/`), each with a raw
//! client (a TcpStream speaking HTTP, frames, CONNECT or SOCKS5 by hand, or
//! tungstenite's client), so a harness bug shows up here and not as a
//! mysterious failure of a wstether test.
//!
//! Uses the dev-dependencies only: no wstether API, no feature needed.
//! The external programs (tinyproxy, microsocks, python-websockets) are
//! skipped with a message when they are not installed.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;

use support::frames::{self, opcode, FrameReader};
use support::http::{basic_auth, read_head};
use support::proxy::reply;
use support::*;

// ---------------------------------------------------------------- raw client

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// An upgrade request for `path` with extra header lines.
fn upgrade_request(addr: SocketAddr, path: &str, extra: &[(&str, &str)]) -> String {
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// A response head as a raw client sees it.
#[derive(Debug)]
struct Head {
    version: u8,
    status: u16,
    headers: Vec<(String, String)>,
    raw: String,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn read_response(stream: &mut impl Read) -> Head {
    let raw = read_head(stream).expect("a response head");
    let mut slots = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut slots);
    let status = parsed.parse(&raw).expect("a parseable response head");
    assert!(status.is_complete(), "a complete head: {raw:?}");
    Head {
        version: parsed.version.expect("a version"),
        status: parsed.code.expect("a status"),
        headers: parsed
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
        raw: String::from_utf8_lossy(&raw).into_owned(),
    }
}

/// Connects to `server`, sends an upgrade request, returns the answer.
fn ask(server: &Server, extra: &[(&str, &str)]) -> (TcpStream, Head) {
    ask_at(server, "/", extra)
}

fn ask_at(server: &Server, path: &str, extra: &[(&str, &str)]) -> (TcpStream, Head) {
    let mut stream = dial(server.addr());
    stream
        .write_all(upgrade_request(server.addr(), path, extra).as_bytes())
        .expect("send the request");
    let head = read_response(&mut stream);
    (stream, head)
}

/// Connects and completes an upgrade by hand.
fn open_raw(server: &Server) -> TcpStream {
    let (stream, head) = ask(server, &[]);
    assert_eq!(head.status, 101, "{}", head.raw);
    stream
}

fn send_frame(stream: &mut TcpStream, op: u8, payload: &[u8]) {
    send_fragment(stream, true, op, payload);
}

fn send_fragment(stream: &mut TcpStream, fin: bool, op: u8, payload: &[u8]) {
    stream
        .write_all(&frames::client_frame(fin, op, payload, [1, 2, 3, 4]))
        .expect("send a frame");
}

fn read_frame(stream: &TcpStream, reader: &mut FrameReader) -> frames::Frame {
    match reader.read(&mut &*stream, stream, Instant::now() + PATIENCE) {
        RawStep::Frame(frame) => frame,
        other => panic!("no frame: {other:?}"),
    }
}

/// Whether a read on `stream` gets nothing within `wait`.
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).expect("set a read timeout");
    let mut byte = [0u8; 1];
    let silent =
        matches!(stream.read(&mut byte), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
    stream.set_read_timeout(Some(PATIENCE)).expect("set a read timeout");
    silent
}

fn echo_server() -> Server {
    Server::start(Conn::echo_bytes)
}

/// Writes `text` and expects it back.
fn round_trip(stream: &mut (impl Read + Write), text: &str) {
    stream.write_all(text.as_bytes()).expect("write through");
    let mut back = vec![0u8; text.len()];
    stream.read_exact(&mut back).expect("read back");
    assert_eq!(String::from_utf8_lossy(&back), text);
}

// ---------------------------------------------------------------- HTTP

#[test]
fn a_correct_101_carries_the_accept_key_and_the_request_is_journalled() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_upgrade(&request);
            conn.hold_silent();
        }
    });
    let (_stream, head) = ask_at(
        &server,
        "/feed?symbol=x",
        &[
            ("Authorization", "Bearer token-1"),
            ("Sec-WebSocket-Protocol", "chat.v2, chat.v1"),
        ],
    );
    assert_eq!((head.version, head.status), (1, 101), "{}", head.raw);
    assert_eq!(
        head.header("Sec-WebSocket-Accept"),
        Some(derive_accept_key(KEY.as_bytes()).as_str())
    );
    assert_eq!(head.header("Upgrade"), Some("websocket"));

    let request = server.journal().expect_requests(1).remove(0);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/feed?symbol=x")
    );
    assert_eq!(request.authorization(), Some("Bearer token-1"));
    assert_eq!(request.websocket_key(), Some(KEY));
    assert_eq!(request.protocols(), ["chat.v2", "chat.v1"]);
    assert_eq!(request.host(), Some(server.addr().to_string().as_str()));
    assert!(request.has_token("connection", "upgrade"));
}

#[test]
fn an_odd_101_lists_upgrade_among_connection_tokens_in_odd_case() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_upgrade_odd_case(&request);
            conn.hold_silent();
        }
    });
    let (_stream, head) = ask(&server, &[]);
    assert_eq!(head.status, 101);
    assert_eq!(head.header("connection"), Some("keep-alive, Upgrade"));
    assert!(head.raw.contains("UPGRADE: WebSocket\r\n"), "{}", head.raw);
    assert!(head.raw.contains("sec-websocket-ACCEPT: "), "{}", head.raw);
    assert_eq!(
        head.header("sec-websocket-accept"),
        Some(derive_accept_key(KEY.as_bytes()).as_str())
    );
}

#[test]
fn a_dribbled_101_arrives_one_byte_at_a_time() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_upgrade_dribbled(&request, ms(1));
            conn.hold_silent();
        }
    });
    let mut stream = dial(server.addr());
    stream
        .write_all(upgrade_request(server.addr(), "/", &[]).as_bytes())
        .expect("send the request");
    let started = Instant::now();
    let (mut received, mut reads) = (Vec::new(), 0);
    while !received.ends_with(b"\r\n\r\n") {
        let mut buf = [0u8; 256];
        let n = stream.read(&mut buf).expect("read the answer");
        assert!(n > 0, "the server hung up mid-answer");
        received.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    let len = received.len();
    // A busy machine may let a few bytes pile up between reads; an answer
    // written at once would come in one or two.
    assert!(reads > len / 10, "{reads} reads for {len} bytes: not dribbled");
    assert!(
        started.elapsed() >= ms(len as u64 / 2),
        "{len} bytes in {:?}",
        started.elapsed()
    );
    assert!(received.starts_with(b"HTTP/1.1 101 "));
}

#[test]
fn early_hints_then_101() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_early_hints_then_upgrade(&request, &["</app.css>; rel=preload", "</app.js>; rel=preload"]);
            conn.hold_silent();
        }
    });
    let (mut stream, hints) = ask(&server, &[]);
    assert_eq!(hints.status, 103, "{}", hints.raw);
    assert_eq!(
        hints.headers_named("Link"),
        ["</app.css>; rel=preload", "</app.js>; rel=preload"]
    );
    assert_eq!(
        hints.header("Content-Length"),
        None,
        "an informational answer has no body"
    );
    let upgrade = read_response(&mut stream);
    assert_eq!(upgrade.status, 101, "{}", upgrade.raw);
}

#[test]
fn continue_then_101() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_continue_then_upgrade(&request);
            conn.hold_silent();
        }
    });
    let (mut stream, first) = ask(&server, &[]);
    assert_eq!(first.status, 100, "{}", first.raw);
    assert_eq!(read_response(&mut stream).status, 101);
}

#[test]
fn refusals_carry_any_status_version_and_headers() {
    let retry_at = unix_now() as u64 + 120;
    let cases = [
        (Response::new(403).version("HTTP/1.0"), 0, 403, None),
        (Response::retry_after_seconds(503, 30), 1, 503, Some("30".to_string())),
        (
            Response::retry_after_date(429, retry_at),
            1,
            429,
            Some(http_date(retry_at)),
        ),
    ];
    for (response, version, status, retry_after) in cases {
        let server = Server::start(move |conn| conn.reply(response.clone()));
        let (_stream, head) = ask(&server, &[]);
        assert_eq!((head.version, head.status), (version, status), "{}", head.raw);
        assert_eq!(head.header("Retry-After").map(str::to_string), retry_after);
        assert_eq!(head.header("Content-Length"), Some("0"));
    }
    // IMF-fixdate, as RFC 9110 §5.6.7 spells it.
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
}

#[test]
fn the_101_chooses_a_subprotocol_a_wrong_one_or_none() {
    for chosen in [Some("chat.v1"), Some("not-offered"), None] {
        let server = Server::start(move |mut conn| {
            if let Some(request) = conn.read_request() {
                conn.answer_upgrade_with_protocol(&request, chosen);
                conn.hold_silent();
            }
        });
        let (_stream, head) = ask(&server, &[("Sec-WebSocket-Protocol", "chat.v1")]);
        assert_eq!(head.status, 101);
        assert_eq!(head.header("Sec-WebSocket-Protocol"), chosen);
    }
}

#[test]
fn a_wrong_accept_key() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            conn.answer_upgrade_wrong_accept(&request);
            conn.hold_silent();
        }
    });
    let (_stream, head) = ask(&server, &[]);
    assert_eq!(head.status, 101);
    let accept = head.header("Sec-WebSocket-Accept").expect("an accept header");
    assert_ne!(accept, derive_accept_key(KEY.as_bytes()));
}

#[test]
fn frames_in_the_same_write_as_the_101() {
    let server = Server::start(|mut conn| {
        if let Some(request) = conn.read_request() {
            let burst = frames::batch([frames::text("first"), frames::ping(b"p"), frames::close(4000, "done")]);
            conn.answer_upgrade_then_frames(&request, &burst);
            conn.hold_silent();
        }
    });
    let mut stream = dial(server.addr());
    stream
        .write_all(upgrade_request(server.addr(), "/", &[]).as_bytes())
        .expect("send the request");
    // Read until the head and three frames are in, whatever the reads' sizes.
    let mut received = Vec::new();
    let whole = |received: &[u8]| {
        let end = received.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        (frames::parse_all(&received[end..]).len() == 3).then_some(())
    };
    while whole(&received).is_none() {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("read");
        assert!(n > 0, "the server hung up early: {received:?}");
        received.extend_from_slice(&buf[..n]);
    }
    let end = received.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    assert!(received.starts_with(b"HTTP/1.1 101 "));
    let after = frames::parse_all(&received[end..]);
    let ops: Vec<u8> = after.iter().map(|f| f.opcode).collect();
    assert_eq!(ops, [opcode::TEXT, opcode::PING, opcode::CLOSE]);
    assert_eq!(after[0].text(), Some("first"));
    assert_eq!(after[2].close_code(), Some(4000));
}

#[test]
fn accepting_and_never_answering() {
    let server = Server::start(Conn::never_answer);
    let mut stream = dial(server.addr());
    stream
        .write_all(upgrade_request(server.addr(), "/", &[]).as_bytes())
        .expect("send the request");
    assert!(silent_for(&mut stream, ms(150)));
    drop(stream);
    server.journal().expect_ended(0, PATIENCE);
}

#[test]
fn closing_right_after_accepting_with_a_fin_or_a_reset() {
    let fin = Server::start(Conn::close_at_once);
    let mut stream = dial(fin.addr());
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).expect("a clean end"), 0);

    // The reset may beat the client's own view of the handshake: then the
    // connect itself fails with it.
    let reset = Server::start(Conn::reset);
    let outcome = TcpStream::connect(reset.addr()).and_then(|mut stream| {
        reset.journal().expect_ended(0, PATIENCE);
        stream.read(&mut buf)
    });
    assert_eq!(outcome.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
}

// ---------------------------------------------------------------- frames

#[test]
fn the_frame_codec_round_trips_every_length_and_any_close_code() {
    for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let server = frames::server_frame(true, opcode::BINARY, &payload);
        let (frame, used) = frames::parse(&server).expect("in bounds").expect("whole");
        assert_eq!((used, frame.mask, &frame.payload), (server.len(), None, &payload));
        let client = frames::client_frame(true, opcode::BINARY, &payload, [9, 8, 7, 6]);
        let (frame, used) = frames::parse(&client).expect("in bounds").expect("whole");
        assert_eq!(
            (used, frame.mask, &frame.payload),
            (client.len(), Some([9, 8, 7, 6]), &payload)
        );
        // One byte short is not a frame yet.
        assert_eq!(frames::parse(&client[..client.len() - 1]), Ok(None));
    }
    for code in [999, 1000, 1005, 1006, 1015, 2999, 4000, 5000] {
        let (frame, _) = frames::parse(&frames::close(code, "why")).expect("ok").expect("whole");
        assert_eq!((frame.close_code(), &frame.payload[2..]), (Some(code), &b"why"[..]));
    }
    let (empty, _) = frames::parse(&frames::close_without_code())
        .expect("ok")
        .expect("whole");
    assert_eq!(empty.close_code(), None);

    let pieces = frames::parse_all(&frames::fragmented(opcode::TEXT, b"hello world", 3));
    let shape: Vec<(bool, u8)> = pieces.iter().map(|f| (f.fin, f.opcode)).collect();
    assert_eq!(
        shape,
        [
            (false, opcode::TEXT),
            (false, opcode::CONTINUATION),
            (true, opcode::CONTINUATION)
        ]
    );
    assert_eq!(
        pieces.iter().flat_map(|f| f.payload.clone()).collect::<Vec<_>>(),
        b"hello world"
    );

    let flood = frames::repeated(&frames::ping(b"x"), 100);
    assert_eq!(frames::parse_all(&flood).len(), 100);
    let rsv = frames::parse_all(&frames::server_frame_with_rsv(0b100, opcode::TEXT, b"z"));
    assert_eq!(rsv[0].rsv, 0b100);
    // An absurd length is refused rather than buffered.
    assert!(frames::parse(&frames::frame_header(true, opcode::BINARY, u64::MAX)).is_err());
}

// ---------------------------------------------------------------- raw peer

#[test]
fn a_raw_peer_journals_in_order_answers_pings_and_closes_with_any_code() {
    let server = Server::start(|conn| {
        if let Some(mut peer) = conn.upgrade_raw() {
            peer.serve_until(true, Instant::now() + PATIENCE, |text| text == "stop");
            peer.send_close(4999);
            peer.serve(true, Instant::now() + PATIENCE);
        }
    });
    let mut stream = open_raw(&server);
    send_frame(&mut stream, opcode::TEXT, b"a");
    send_fragment(&mut stream, false, opcode::TEXT, b"b");
    send_frame(&mut stream, opcode::PING, b"p");
    send_fragment(&mut stream, true, opcode::CONTINUATION, b"c");
    send_frame(&mut stream, opcode::BINARY, &[1, 2, 3]);
    send_frame(&mut stream, opcode::TEXT, b"stop");
    let mut reader = FrameReader::new();
    let pong = read_frame(&stream, &mut reader);
    assert_eq!(
        (pong.opcode, pong.payload.as_slice(), pong.mask),
        (opcode::PONG, &b"p"[..], None)
    );
    let close = read_frame(&stream, &mut reader);
    assert_eq!(close.close_code(), Some(4999));
    send_frame(&mut stream, opcode::CLOSE, &4999u16.to_be_bytes());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), ["a", "bc", "binary:3", "stop"]);
    assert_eq!(server.journal().close_codes(), [Some(4999)]);
    let seen = server.journal().snapshot();
    let ping = seen.iter().position(|s| matches!(s, Seen::Ping { .. }));
    let bc = seen
        .iter()
        .position(|s| matches!(s, Seen::Message { text, .. } if text == "bc"));
    assert!(ping < bc, "the ping came between the fragments: {seen:#?}");
}

#[test]
fn a_raw_peer_leaves_pings_unanswered_when_told() {
    let server = Server::start(|conn| {
        if let Some(mut peer) = conn.upgrade_raw() {
            peer.serve_until(false, Instant::now() + PATIENCE, |text| text == "done");
            peer.send_text("bye");
        }
    });
    let mut stream = open_raw(&server);
    send_frame(&mut stream, opcode::PING, b"unanswered");
    send_frame(&mut stream, opcode::TEXT, b"done");
    let next = read_frame(&stream, &mut FrameReader::new());
    assert_eq!((next.opcode, next.text()), (opcode::TEXT, Some("bye")));
}

#[test]
fn a_ping_flood_still_reads_the_client() {
    let report: Arc<Mutex<Option<Flood>>> = Arc::default();
    let server = {
        let report = Arc::clone(&report);
        Server::start(move |conn| {
            if let Some(mut peer) = conn.upgrade_raw() {
                let flood = peer.ping_flood(Instant::now() + PATIENCE);
                *report.lock().expect("report") = Some(flood);
            }
        })
    };
    let mut stream = open_raw(&server);
    let mut reader = FrameReader::new();
    let mut pings = 0;
    // Mid-flood, the client speaks, answers one ping and closes; the flood
    // must have read all three and answered the close.
    loop {
        let frame = read_frame(&stream, &mut reader);
        match frame.opcode {
            opcode::PING => {
                pings += 1;
                if pings == 100 {
                    send_frame(&mut stream, opcode::TEXT, b"during");
                    send_frame(&mut stream, opcode::PONG, &frame.payload);
                    send_frame(&mut stream, opcode::CLOSE, &1000u16.to_be_bytes());
                }
            }
            opcode::CLOSE => break,
            other => panic!("unexpected opcode {other}"),
        }
    }
    server.journal().expect_ended(0, PATIENCE);
    let flood = report.lock().expect("report").take().expect("a flood report");
    assert!(pings >= 100, "only {pings} pings");
    assert!(flood.clean && flood.batches > 0 && flood.pongs == 1, "{flood:?}");
    assert!(
        matches!(flood.end, RawStep::Frame(ref f) if f.opcode == opcode::CLOSE),
        "{flood:?}"
    );
    assert_eq!(server.journal().texts(), ["during"]);
    assert_eq!(server.journal().close_codes(), [Some(1000)]);
}

#[test]
fn a_raw_peer_streams_data_continuously() {
    let server = Server::start(|conn| {
        if let Some(mut peer) = conn.upgrade_raw() {
            peer.stream_text("tick", Instant::now() + PATIENCE);
        }
    });
    let mut stream = open_raw(&server);
    let mut reader = FrameReader::new();
    let mut ticks = 0;
    loop {
        let frame = read_frame(&stream, &mut reader);
        match frame.opcode {
            opcode::TEXT => {
                assert_eq!(frame.text(), Some("tick"));
                ticks += 1;
                if ticks == 1_000 {
                    send_frame(&mut stream, opcode::CLOSE, &1000u16.to_be_bytes());
                }
            }
            opcode::CLOSE => break,
            other => panic!("unexpected opcode {other}"),
        }
    }
    assert!(ticks >= 1_000, "only {ticks} ticks");
}

#[test]
fn a_raw_peer_that_stops_reading_backs_up_the_client() {
    let end: Arc<Mutex<Option<(StallEnd, Duration)>>> = Arc::default();
    let server = {
        let end = Arc::clone(&end);
        Server::start(move |conn| {
            if let Some(mut peer) = conn.upgrade_raw() {
                let started = Instant::now();
                let how = peer.stop_reading(Instant::now() + PATIENCE);
                *end.lock().expect("end") = Some((how, started.elapsed()));
            }
        })
    };
    let mut stream = open_raw(&server);
    stream.set_nonblocking(true).expect("non-blocking");
    let chunk = frames::client_frame(true, opcode::BINARY, &[0u8; 60_000], [1, 2, 3, 4]);
    let (mut written, limit) = (0usize, 512 << 20);
    let backed_up = loop {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
            Err(e) => panic!("write failed: {e}"),
        }
        if written > limit {
            break false;
        }
    };
    assert!(backed_up, "wrote {written} bytes and the socket still took more");
    // A FIN would queue behind the unsent bytes; a reset does not.
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
    drop(stream);
    server.journal().expect_ended(0, PATIENCE);
    let (how, after) = end.lock().expect("end").take().expect("an end");
    assert_eq!(how, StallEnd::HungUp);
    assert!(after < PATIENCE, "noticed the reset only at the deadline");
}

#[test]
fn fin_then_drain_still_reads_and_reset_resets() {
    let server = Server::start(|conn| {
        if let Some(peer) = conn.upgrade_raw() {
            peer.fin_then_drain();
        }
    });
    let mut stream = open_raw(&server);
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).expect("a FIN"), 0);
    send_frame(&mut stream, opcode::TEXT, b"after the FIN");
    server.journal().expect_messages(1);
    drop(stream);
    server.journal().expect_ended(0, PATIENCE);

    let server = Server::start(|conn| {
        if let Some(peer) = conn.upgrade_raw() {
            peer.reset();
        }
    });
    let mut stream = open_raw(&server);
    server.journal().expect_ended(0, PATIENCE);
    let err = stream.read(&mut buf).expect_err("a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

// ---------------------------------------------------------------- tungstenite peer

#[test]
fn a_peer_echoes_to_a_tungstenite_client_and_journals() {
    let server = Server::start(echo);
    let (mut ws, response) = tungstenite::client::client(server.url(), dial(server.addr())).expect("upgrade");
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).expect("send");
    assert_eq!(ws.read().expect("echo"), Message::text("hello"));
    ws.send(Message::binary(vec![0u8; 5])).expect("send");
    assert_eq!(ws.read().expect("echo"), Message::binary(vec![0u8; 5]));
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), ["hello", "binary:5"]);
    assert_eq!(server.journal().close_codes(), [None]);
}

#[test]
fn a_peer_closes_with_a_code_and_chooses_a_subprotocol() {
    let server = Server::start(|conn| {
        if let Some(mut peer) = conn.upgrade_with_protocol(Some("chat.v1")) {
            peer.next(PATIENCE);
            peer.close_with(4001);
        }
    });
    let request = tungstenite::http::Request::builder()
        .uri(server.url())
        .header("Host", server.addr().to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", tungstenite::handshake::client::generate_key())
        .header("Sec-WebSocket-Protocol", "chat.v1")
        .body(())
        .expect("a request");
    let (mut ws, response) = tungstenite::client::client(request, dial(server.addr())).expect("upgrade");
    assert_eq!(
        response.headers().get("Sec-WebSocket-Protocol").map(|v| v.as_bytes()),
        Some(&b"chat.v1"[..])
    );
    ws.send(Message::text("close me")).expect("send");
    match ws.read().expect("a close") {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::from(4001)),
        other => panic!("expected a close, got {other:?}"),
    }
}

// ---------------------------------------------------------------- TLS

/// A raw TLS client: the handshake's outcome, and the stream when it
/// succeeded.
fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    name: &str,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, rustls::Error> {
    let name = ServerName::try_from(name.to_string()).expect("a server name");
    let mut tls = rustls::ClientConnection::new(config, name)?;
    let mut tcp = dial(addr);
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp).map_err(|e| match e.into_inner() {
            Some(inner) => match inner.downcast::<rustls::Error>() {
                Ok(tls_error) => *tls_error,
                Err(other) => rustls::Error::General(other.to_string()),
            },
            None => rustls::Error::General("i/o error".into()),
        })?;
    }
    Ok(rustls::StreamOwned::new(tls, tcp))
}

fn tls_echo_server(config: Arc<rustls::ServerConfig>) -> Server {
    Server::start(move |conn| {
        if let Some(conn) = conn.tls(Arc::clone(&config)) {
            conn.echo_bytes();
        }
    })
}

#[test]
fn a_tls_server_is_trusted_by_name_and_by_address() {
    let ca = TestCa::new("harness CA");
    let server = tls_echo_server(ca.local_server_config());
    for name in ["localhost", "127.0.0.1"] {
        let mut stream = tls_connect(server.addr(), ca.client_config(), name).expect("a handshake");
        round_trip(&mut stream, "over TLS");
    }
    let seen = server.journal().snapshot();
    let sni: Vec<Option<String>> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Tls {
                sni, client_certs: 0, ..
            } => Some(sni.clone()),
            _ => None,
        })
        .collect();
    // No SNI for an address (RFC 6066 §3).
    assert_eq!(sni, [Some("localhost".to_string()), None]);
}

#[test]
fn a_wrong_name_an_expired_certificate_and_an_unknown_ca_are_refused() {
    let ca = TestCa::new("harness CA");
    let other = TestCa::new("someone else");
    let cases = [
        (ca.wrong_name_server_config(), "NotValidForName"),
        (ca.expired_server_config(&tls::LOCAL_NAMES), "Expired"),
        (other.local_server_config(), "UnknownIssuer"),
    ];
    for (config, why) in cases {
        let server = tls_echo_server(config);
        let err = tls_connect(server.addr(), ca.client_config(), "localhost").expect_err("a refusal");
        assert!(format!("{err:?}").contains(why), "{why}: {err:?}");
        let failed = server.journal().wait_for(PATIENCE, |seen| {
            seen.iter().find_map(|s| match s {
                Seen::TlsFailed { error, .. } => Some(error.clone()),
                _ => None,
            })
        });
        assert!(failed.is_some(), "the server saw no failure for {why}");
    }
}

#[test]
fn a_server_that_requires_a_client_certificate() {
    let ca = TestCa::new("harness CA");
    let server = tls_echo_server(ca.server_config_requiring_client_cert(&tls::LOCAL_NAMES));

    // TLS 1.3: the client's handshake ends before the server judged it; the
    // refusal arrives as an alert on the first read.
    let anonymous = tls_connect(server.addr(), ca.client_config(), "localhost");
    if let Ok(mut stream) = anonymous {
        let _ = stream.write_all(b"x");
        let mut buf = [0u8; 1];
        assert!(
            stream.read(&mut buf).is_err(),
            "a client without a certificate got through"
        );
    }
    let failed = server.journal().wait_for(PATIENCE, |seen| {
        seen.iter()
            .any(|s| matches!(s, Seen::TlsFailed { conn: 0, .. }))
            .then_some(())
    });
    assert!(failed.is_some(), "{:#?}", server.journal().snapshot());

    let identity = ca.client_identity("harness client");
    let mut stream =
        tls_connect(server.addr(), ca.client_config_with_identity(&identity), "localhost").expect("a handshake");
    round_trip(&mut stream, "with a certificate");
    assert!(server.journal().snapshot().iter().any(|s| matches!(
        s,
        Seen::Tls {
            conn: 1,
            client_certs: 1,
            ..
        }
    )));
}

#[test]
fn pem_files_hold_the_ca_and_both_identities() {
    let ca = TestCa::new("harness CA");
    let files = ca.pem_files(&tls::LOCAL_NAMES);
    let ca_cert = CertificateDer::from_pem_file(&files.ca).expect("the CA in PEM");
    assert_eq!(ca_cert, ca.cert);
    let server_cert = CertificateDer::from_pem_file(&files.server_cert).expect("a server certificate");
    let server_key = PrivateKeyDer::from_pem_file(&files.server_key).expect("a server key");
    let client_cert = CertificateDer::from_pem_file(&files.client_cert).expect("a client certificate");
    let client_key = PrivateKeyDer::from_pem_file(&files.client_key).expect("a client key");
    assert_eq!((&server_cert, &client_cert), (&files.server.cert, &files.client.cert));

    // The files make a working pair: a server from the server's, a client
    // from the client's, over mutual TLS.
    let server_identity_config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(
                rustls::server::WebPkiClientVerifier::builder_with_provider(
                    ca.roots(),
                    Arc::new(rustls::crypto::ring::default_provider()),
                )
                .build()
                .expect("a verifier"),
            )
            .with_single_cert(vec![server_cert], server_key)
            .expect("a server config");
    let server = tls_echo_server(Arc::new(server_identity_config));
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(ca.roots())
        .with_client_auth_cert(vec![client_cert], client_key)
        .expect("a client config");
    let mut stream = tls_connect(server.addr(), Arc::new(client_config), "127.0.0.1").expect("a handshake");
    round_trip(&mut stream, "from files");

    let dir = files.dir.path().to_path_buf();
    drop(files);
    assert!(!dir.exists(), "the PEM directory outlived its guard");
}

#[test]
fn a_tls_upgrade_to_a_tungstenite_client() {
    let ca = TestCa::new("harness CA");
    let config = ca.local_server_config();
    let server = Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.echo();
        }
    });
    let stream = tls_connect(server.addr(), ca.client_config(), "localhost").expect("a handshake");
    let (mut ws, _) = tungstenite::client::client(server.wss_url(), stream).expect("upgrade");
    ws.send(Message::text("secure")).expect("send");
    assert_eq!(ws.read().expect("echo"), Message::text("secure"));
}

// ---------------------------------------------------------------- fault relay

#[test]
fn the_fault_relay_forwards_delays_blackholes_cuts_resets_and_refuses() {
    let target = echo_server();
    let relay = FaultRelay::start(target.addr());
    let mut stream = dial(relay.addr());
    round_trip(&mut stream, "plain");

    relay.delay(ms(40));
    let started = Instant::now();
    round_trip(&mut stream, "slow");
    assert!(
        started.elapsed() >= ms(80),
        "both ways delayed: {:?}",
        started.elapsed()
    );
    relay.delay(Duration::ZERO);

    relay.blackhole();
    stream.write_all(b"lost").expect("write into the blackhole");
    assert!(silent_for(&mut stream, ms(100)));

    let mut cut = dial(relay.addr());
    round_trip(&mut cut, "before the cut");
    relay.cut();
    let mut buf = [0u8; 8];
    assert_eq!(cut.read(&mut buf).expect("a FIN"), 0);

    let mut reset = dial(relay.addr());
    round_trip(&mut reset, "before the reset");
    relay.reset();
    let err = reset.read(&mut buf).expect_err("a reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);

    relay.refuse_new(true);
    let mut refused = dial(relay.addr());
    assert!(matches!(refused.read(&mut buf), Ok(0) | Err(_)));
    relay.refuse_new(false);
    round_trip(&mut dial(relay.addr()), "again");
    assert_eq!(relay.accepts(), 5);
}

// ---------------------------------------------------------------- CONNECT proxy

fn connect_through(proxy: SocketAddr, target: &str, extra: &[(&str, &str)]) -> (TcpStream, Head) {
    let mut stream = dial(proxy);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send CONNECT");
    let head = read_response(&mut stream);
    (stream, head)
}

#[test]
fn the_connect_proxy_tunnels_by_address_name_and_alias() {
    let target = echo_server();
    let proxy = ConnectProxy::start(ConnectMode::Tunnel);
    proxy.alias("echo.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
    let port = target.port();
    for authority in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("echo.test:{port}"),
    ] {
        let (mut stream, head) = connect_through(proxy.addr(), &authority, &[]);
        assert_eq!(head.status, 200, "{}", head.raw);
        round_trip(&mut stream, &authority);
    }
    assert_eq!(proxy.tunnels(), 3);
    let targets: Vec<String> = proxy.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(targets[2], format!("echo.test:{port}"));
    assert!(proxy.requests().iter().all(|r| r.method == "CONNECT"));
}

#[test]
fn the_connect_proxy_requires_basic_credentials_when_told() {
    let target = echo_server();
    let proxy = ConnectProxy::start(ConnectMode::require_auth("alice", "s3cret"));
    let authority = format!("127.0.0.1:{}", target.port());
    let (_s, head) = connect_through(proxy.addr(), &authority, &[]);
    assert_eq!(head.status, 407);
    assert_eq!(head.header("Proxy-Authenticate"), Some("Basic realm=\"wstether-test\""));
    let wrong = basic_auth("alice", "guess");
    let (_s, head) = connect_through(proxy.addr(), &authority, &[("Proxy-Authorization", &wrong)]);
    assert_eq!(head.status, 407);
    let right = basic_auth("alice", "s3cret");
    let (mut stream, head) = connect_through(proxy.addr(), &authority, &[("Proxy-Authorization", &right)]);
    assert_eq!(head.status, 200);
    round_trip(&mut stream, "authorised");
    let requests = proxy.expect_requests(3);
    assert_eq!(requests[2].header("Proxy-Authorization"), Some(right.as_str()));
    assert_eq!(
        requests[2].basic_credentials("Proxy-Authorization"),
        Some(("alice".to_string(), "s3cret".to_string()))
    );
    assert_eq!(proxy.tunnels(), 1);
}

#[test]
fn the_connect_proxy_fails_as_configured() {
    let target = echo_server();
    let authority = format!("127.0.0.1:{}", target.port());
    let proxy = ConnectProxy::start(ConnectMode::status(502));
    for status in [502, 503, 504, 407] {
        proxy.set_mode(ConnectMode::status(status));
        let (_s, head) = connect_through(proxy.addr(), &authority, &[]);
        assert_eq!(head.status, status, "{}", head.raw);
    }
    proxy.set_mode(ConnectMode::Tunnel);
    let (_s, head) = connect_through(proxy.addr(), "nowhere.invalid:443", &[]);
    assert_eq!(head.status, 502, "an unknown name fails like a failed lookup");
    // Never dialled: the proxy only tunnels to loopback.
    let (_s, head) = connect_through(proxy.addr(), "192.0.2.1:443", &[]);
    assert_eq!(head.status, 403);
    let refused = Server::reserve();
    let (_s, head) = connect_through(proxy.addr(), &refused.to_string(), &[]);
    assert_eq!(head.status, 502);

    proxy.set_mode(ConnectMode::Hang);
    let mut stream = dial(proxy.addr());
    stream
        .write_all(format!("CONNECT {authority} HTTP/1.1\r\n\r\n").as_bytes())
        .expect("send CONNECT");
    assert!(silent_for(&mut stream, ms(150)));
    assert_eq!(proxy.tunnels(), 0);
}

#[test]
fn the_connect_proxy_dribbles_its_200() {
    let target = echo_server();
    let proxy = ConnectProxy::start(ConnectMode::Dribble(ms(2)));
    let mut stream = dial(proxy.addr());
    stream
        .write_all(format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", target.port()).as_bytes())
        .expect("send CONNECT");
    let started = Instant::now();
    let mut reads = 0;
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).expect("read the 200");
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
        reads += 1;
    }
    assert!(head.starts_with(b"HTTP/1.1 200 "));
    assert!(
        reads > head.len() / 10 && started.elapsed() >= ms(head.len() as u64),
        "{reads} reads"
    );
    round_trip(&mut stream, "after the dribble");
}

// ---------------------------------------------------------------- SOCKS5

/// The SOCKS5 exchange by hand: greeting with `methods`, credentials if the
/// proxy picks user/password, then CONNECT to `target`. Returns the method
/// chosen, the auth status (if any) and the reply code (if it got there).
struct SocksOutcome {
    stream: TcpStream,
    method: u8,
    auth_status: Option<u8>,
    reply: Option<u8>,
}

enum Dest<'a> {
    Addr(SocketAddr),
    Name(&'a str, u16),
}

fn socks_connect(proxy: SocketAddr, methods: &[u8], credentials: (&str, &str), dest: Dest) -> SocksOutcome {
    socks_connect_waiting(proxy, methods, credentials, dest, PATIENCE)
}

/// Like `socks_connect`, waiting only `reply_wait` for the reply.
fn socks_connect_waiting(
    proxy: SocketAddr,
    methods: &[u8],
    credentials: (&str, &str),
    dest: Dest,
    reply_wait: Duration,
) -> SocksOutcome {
    let mut stream = dial(proxy);
    let mut greeting = vec![5, methods.len() as u8];
    greeting.extend_from_slice(methods);
    stream.write_all(&greeting).expect("greet");
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice).expect("a method choice");
    assert_eq!(choice[0], 5);
    let mut outcome = SocksOutcome {
        stream,
        method: choice[1],
        auth_status: None,
        reply: None,
    };
    if outcome.method == 0xFF {
        return outcome;
    }
    if outcome.method == 0x02 {
        let (user, password) = credentials;
        let mut auth = vec![1, user.len() as u8];
        auth.extend_from_slice(user.as_bytes());
        auth.push(password.len() as u8);
        auth.extend_from_slice(password.as_bytes());
        outcome.stream.write_all(&auth).expect("authenticate");
        let mut status = [0u8; 2];
        outcome.stream.read_exact(&mut status).expect("an auth status");
        outcome.auth_status = Some(status[1]);
        if status[1] != 0 {
            return outcome;
        }
    }
    let mut request = vec![5, 1, 0];
    match dest {
        Dest::Addr(SocketAddr::V4(addr)) => {
            request.push(1);
            request.extend_from_slice(&addr.ip().octets());
            request.extend_from_slice(&addr.port().to_be_bytes());
        }
        Dest::Addr(SocketAddr::V6(addr)) => {
            request.push(4);
            request.extend_from_slice(&addr.ip().octets());
            request.extend_from_slice(&addr.port().to_be_bytes());
        }
        Dest::Name(name, port) => {
            request.extend_from_slice(&[3, name.len() as u8]);
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(&port.to_be_bytes());
        }
    }
    outcome.stream.write_all(&request).expect("request");
    outcome
        .stream
        .set_read_timeout(Some(reply_wait))
        .expect("a read timeout");
    let mut head = [0u8; 4];
    if outcome.stream.read_exact(&mut head).is_ok() {
        let rest = match head[3] {
            1 => 6,
            4 => 18,
            _ => 0,
        };
        let mut bound = vec![0u8; rest];
        outcome.stream.read_exact(&mut bound).expect("the bound address");
        outcome.reply = Some(head[1]);
    }
    outcome.stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    outcome
}

#[test]
fn the_socks5_proxy_tunnels_to_an_address_or_a_name() {
    let target = echo_server();
    let proxy = Socks5Proxy::start(Socks5Mode::NoAuth);
    proxy.alias("echo.test", IpAddr::V4(Ipv4Addr::LOCALHOST));
    for dest in [
        Dest::Addr(target.addr()),
        Dest::Name("localhost", target.port()),
        Dest::Name("echo.test", target.port()),
    ] {
        let mut outcome = socks_connect(proxy.addr(), &[0x00], ("", ""), dest);
        assert_eq!((outcome.method, outcome.reply), (0x00, Some(reply::SUCCEEDED)));
        round_trip(&mut outcome.stream, "socks");
    }
    let targets: Vec<Option<SocksTarget>> = proxy.expect_requests(3).into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        [
            Some(SocksTarget::Addr(target.addr())),
            Some(SocksTarget::Name("localhost".into(), target.port())),
            Some(SocksTarget::Name("echo.test".into(), target.port())),
        ]
    );
    assert_eq!(proxy.tunnels(), 3);
}

#[test]
fn the_socks5_proxy_checks_user_and_password() {
    let target = echo_server();
    let proxy = Socks5Proxy::start(Socks5Mode::user_password("bob", "pw"));
    let mut good = socks_connect(proxy.addr(), &[0x00, 0x02], ("bob", "pw"), Dest::Addr(target.addr()));
    assert_eq!((good.method, good.auth_status, good.reply), (0x02, Some(0), Some(0)));
    round_trip(&mut good.stream, "authenticated");
    let bad = socks_connect(proxy.addr(), &[0x02], ("bob", "nope"), Dest::Addr(target.addr()));
    assert_eq!((bad.auth_status, bad.reply), (Some(1), None));
    let none = socks_connect(proxy.addr(), &[0x00], ("", ""), Dest::Addr(target.addr()));
    assert_eq!(none.method, 0xFF, "no auth offered, none accepted");
    let sessions = proxy.expect_requests(3);
    assert_eq!(sessions[0].credentials, Some(("bob".into(), "pw".into())));
    assert_eq!(sessions[0].methods, [0x00, 0x02]);
    assert_eq!(sessions[1].target, None);
    assert_eq!(proxy.tunnels(), 1);
}

#[test]
fn the_socks5_proxy_fails_as_configured() {
    let target = echo_server();
    let proxy = Socks5Proxy::start(Socks5Mode::RejectAuth);
    let rejected = socks_connect(proxy.addr(), &[0x00, 0x02], ("any", "thing"), Dest::Addr(target.addr()));
    assert_eq!((rejected.method, rejected.auth_status), (0x02, Some(1)));

    proxy.set_mode(Socks5Mode::NoAcceptableMethod);
    assert_eq!(
        socks_connect(proxy.addr(), &[0x00, 0x02], ("", ""), Dest::Addr(target.addr())).method,
        0xFF
    );

    for code in [reply::HOST_UNREACHABLE, reply::CONNECTION_REFUSED, reply::NOT_ALLOWED] {
        proxy.set_mode(Socks5Mode::Reply(code));
        let outcome = socks_connect(proxy.addr(), &[0x00], ("", ""), Dest::Name("localhost", target.port()));
        assert_eq!(outcome.reply, Some(code));
    }

    proxy.set_mode(Socks5Mode::NoAuth);
    let unknown = socks_connect(proxy.addr(), &[0x00], ("", ""), Dest::Name("nowhere.invalid", 443));
    assert_eq!(unknown.reply, Some(reply::HOST_UNREACHABLE));
    let off_machine = socks_connect(
        proxy.addr(),
        &[0x00],
        ("", ""),
        Dest::Addr("192.0.2.1:443".parse().expect("an address")),
    );
    assert_eq!(off_machine.reply, Some(reply::NOT_ALLOWED), "never dialled");
    let closed = socks_connect(proxy.addr(), &[0x00], ("", ""), Dest::Addr(Server::reserve()));
    assert_eq!(closed.reply, Some(reply::CONNECTION_REFUSED));

    proxy.set_mode(Socks5Mode::Hang);
    let hung = socks_connect_waiting(proxy.addr(), &[0x00], ("", ""), Dest::Addr(target.addr()), ms(150));
    assert_eq!((hung.method, hung.reply), (0x00, None));
    proxy.set_mode(Socks5Mode::HangAtGreeting);
    let mut silent = dial(proxy.addr());
    silent.write_all(&[5, 1, 0]).expect("greet");
    assert!(silent_for(&mut silent, ms(150)));
    assert_eq!(proxy.tunnels(), 0);
}

// ---------------------------------------------------------------- external programs

#[test]
fn tinyproxy_tunnels_to_an_allowed_port_only() {
    let target = echo_server();
    let Some(proxy) = Tinyproxy::start(&[target.port()]) else {
        return;
    };
    let (mut stream, head) = connect_through(proxy.addr(), &format!("127.0.0.1:{}", target.port()), &[]);
    assert_eq!(head.status, 200, "{}\n{}", head.raw, proxy.log());
    round_trip(&mut stream, "through tinyproxy");
    let other = echo_server();
    let (_s, head) = connect_through(proxy.addr(), &format!("127.0.0.1:{}", other.port()), &[]);
    assert_eq!(head.status, 403, "a port not listed in ConnectPort: {}", head.raw);
}

#[test]
fn tinyproxy_asks_for_basic_credentials_when_configured() {
    let target = echo_server();
    let Some(proxy) = Tinyproxy::start_with_auth(&[], "carol", "pw1") else {
        return;
    };
    let authority = format!("127.0.0.1:{}", target.port());
    let (_s, head) = connect_through(proxy.addr(), &authority, &[]);
    assert_eq!(head.status, 407, "{}", head.raw);
    let credentials = basic_auth("carol", "pw1");
    let (mut stream, head) = connect_through(proxy.addr(), &authority, &[("Proxy-Authorization", &credentials)]);
    assert_eq!(head.status, 200, "{}\n{}", head.raw, proxy.log());
    round_trip(&mut stream, "authorised by tinyproxy");
}

#[test]
fn microsocks_tunnels_with_and_without_a_password() {
    let target = echo_server();
    let Some(open) = Microsocks::start() else {
        return;
    };
    let mut outcome = socks_connect(open.addr(), &[0x00], ("", ""), Dest::Name("localhost", target.port()));
    assert_eq!(outcome.reply, Some(0), "{}", open.log());
    round_trip(&mut outcome.stream, "through microsocks");

    let Some(guarded) = Microsocks::start_with_auth("dave", "pw2") else {
        return;
    };
    let mut good = socks_connect(guarded.addr(), &[0x02], ("dave", "pw2"), Dest::Addr(target.addr()));
    assert_eq!((good.method, good.auth_status, good.reply), (0x02, Some(0), Some(0)));
    round_trip(&mut good.stream, "authenticated by microsocks");
    let bad = socks_connect(guarded.addr(), &[0x02], ("dave", "wrong"), Dest::Addr(target.addr()));
    assert_ne!(bad.auth_status, Some(0));
}

#[test]
fn the_python_peer_echoes_journals_and_closes_with_a_code() {
    let Some(peer) = PythonPeer::start_with(PythonPeerOptions::default().subprotocol("chat.v1")) else {
        return;
    };
    let (mut ws, _) = tungstenite::client::client(peer.url(), dial(peer.addr())).expect("upgrade");
    ws.send(Message::text("hello python")).expect("send");
    assert_eq!(ws.read().expect("echo"), Message::text("hello python"));
    ws.send(Message::text("!send 3 n")).expect("send");
    let sent: Vec<Message> = (0..3).map(|_| ws.read().expect("a message")).collect();
    assert_eq!(texts(&sent), numbered("n", 3));
    ws.send(Message::text("!close 4002 bye")).expect("send");
    match ws.read().expect("a close") {
        Message::Close(Some(frame)) => {
            assert_eq!((frame.code, frame.reason.as_str()), (CloseCode::from(4002), "bye"));
        }
        other => panic!("expected a close, got {other:?}"),
    }
    while ws.read().is_ok() {}
    // The server waits for the client's FIN after the closing handshake.
    drop(ws);
    peer.journal().expect_ended(0, PATIENCE);
    assert_eq!(peer.journal().texts(), ["hello python", "!send 3 n", "!close 4002 bye"]);
    assert_eq!(peer.journal().close_codes(), [Some(4002)], "{}", peer.stderr());
    let request = peer.journal().expect_requests(1).remove(0);
    assert_eq!(request.websocket_key().map(str::len), Some(24));
    assert!(!peer.version().is_empty());
}

#[test]
fn the_python_peer_pings_and_requires_a_header_when_told() {
    let Some(peer) = PythonPeer::start_with(PythonPeerOptions::default().require_header("Authorization", "Bearer t"))
    else {
        return;
    };
    let refused = tungstenite::client::client(peer.url(), dial(peer.addr()));
    match refused {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
            assert_eq!(response.status(), 401);
        }
        Err(other) => panic!("expected a 401, got {other:?}"),
        Ok(_) => panic!("expected a 401, got through"),
    }
    let request = tungstenite::http::Request::builder()
        .uri(peer.url())
        .header("Host", peer.addr().to_string())
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", tungstenite::handshake::client::generate_key())
        .header("Authorization", "Bearer t")
        .body(())
        .expect("a request");
    let (mut ws, _) = tungstenite::client::client(request, dial(peer.addr())).expect("upgrade");
    ws.send(Message::text("!ping hello")).expect("send");
    // tungstenite sends the pong from a read; read in short slices until
    // the peer reports it.
    ws.get_ref().set_read_timeout(Some(ms(20))).expect("a read timeout");
    let has_pong = |seen: &[Seen]| seen.iter().any(|s| matches!(s, Seen::Pong { .. })).then_some(());
    let deadline = Instant::now() + PATIENCE;
    while peer.journal().wait_for(Duration::ZERO, has_pong).is_none() && Instant::now() < deadline {
        let _ = ws.read();
    }
    assert!(
        peer.journal().wait_for(Duration::ZERO, has_pong).is_some(),
        "{:#?}",
        peer.journal().snapshot()
    );
}

// ---------------------------------------------------------------- server

#[test]
fn the_server_stops_refuses_and_restarts_on_the_same_port() {
    let mut server = Server::start(record);
    let addr = server.addr();
    round_trip_ws(&server, "one");
    server.stop();
    let refused = TcpStream::connect_timeout(&addr, PATIENCE)
        .map(|_| ())
        .map_err(|e| e.kind());
    assert_eq!(refused, Err(ErrorKind::ConnectionRefused));
    server.restart();
    assert_eq!(server.addr(), addr);
    round_trip_ws(&server, "two");
    assert_eq!(
        server.journal().expect_messages(2),
        [(0, "one".into()), (1, "two".into())]
    );
    assert_eq!(server.journal().accepted_at().len(), 2);
}

fn round_trip_ws(server: &Server, text: &str) {
    let (mut ws, _) = tungstenite::client::client(server.url(), dial(server.addr())).expect("upgrade");
    ws.send(Message::text(text)).expect("send");
    ws.close(None).expect("close");
    while ws.read().is_ok() {}
}
