//! The thread client against servers and proxies that misbehave: refused,
//! stalled and unresolvable opens, HTTP rejections and Retry-After, silent
//! peers, blackholes, dropped pongs, idle feeds, close codes, resets and
//! FINs mid-frame, TLS failures, a server that stops reading, oversized and
//! trickled frames, a fleet after a restart — and `close()` in the middle.
//! `RELIABILITY.md` maps the fault matrix to these tests:
//!
//! | # | case | module |
//! |---|---|---|
//! | 1 | blackhole mid-stream | `heartbeat` |
//! | 2 | pongs dropped | `heartbeat` |
//! | 3 | pings answered, no data | `heartbeat` |
//! | 4 | one byte every 50 ms | `frames` |
//! | 5 | upgrade never answered / ServerHello never sent | `opens`, `tls` |
//! | 6 | connection refused | `soak`, `client::messages` |
//! | 7 | unresolvable host | `opens` |
//! | 8 | unknown CA, wrong host name, expired certificate | `tls` |
//! | 9 | 401, 403, 429 and 503 with Retry-After | `opens` |
//! | 10 | 302 not followed | `opens` |
//! | 11 | close 1000/1001/1008/1012/1013/4xxx | `close_codes` |
//! | 12 | RST mid-frame, FIN without close | `resets` |
//! | 13 | TLS EOF without close_notify | `tls` |
//! | 14 | server stops reading | `stalled` |
//! | 15 | 1000 sends with queue 256 | `client::messages` |
//! | 16 | link killed while a large message is written | `resets` |
//! | 17 | subscriptions changed across five flaps | `subscriptions`, `client::subscriptions` |
//! | 18 | accept then close, ten times | `close_codes` |
//! | 19 | 2⁶³ frame header; one byte over the limit | `frames` |
//! | 20 | `close()` against a silent peer / during backoff / mid-connect | `close`, `client::session` |
//! | 21 | slow caller | `client::backpressure` |
//! | 22 | 200 clients, server restart | `fleet` |
//!
//! and URLs in errors, events and logs never show secrets: `redaction`.
//!
//! Every test also checks that nothing is lost: each message `send` accepted
//! reached the server, in order, or came back from `close()`.

// The thread client, its transport and TLS; the core alone has none of them.
#![cfg(all(feature = "std", feature = "tls"))]

#[path = "../support/mod.rs"]
mod support;
#[path = "../client/tether.rs"]
mod tether;

mod close;
mod close_codes;
mod fleet;
mod frames;
mod heartbeat;
mod opens;
mod redaction;
mod resets;
mod stalled;
mod subscriptions;
mod tls;
