//! The fleet simulator: what happens to a server when every client loses it at
//! once, and what happens to the clients.
//!
//! N clients lose the link at the same instant; the server refuses every
//! attempt for D seconds, then accepts them — all of them, or (the capacity
//! scenarios) at most C in each whole second, refusing the excess at once or
//! answering it `503` with a `Retry-After`. wstether's schedule runs through
//! the real core — one [`Supervisor`] per client, in virtual time — beside the
//! published schedules of other WebSocket and RPC clients. The result is a
//! markdown table on stdout (ready for BENCHMARKS.md), wstether's goals with
//! their margins, and an SVG of arrivals per second once the server is back.
//!
//! ```text
//! cargo run --release --example herd -- --clients 10000 --seed 1 --svg docs/herd.svg
//! cargo run --release --example herd -- --sweep     # also try other backoff settings
//! ```

use core::time::Duration;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::path::PathBuf;

use fastrand::Rng;
use wstether::{
    Action, BackoffConfig, Cause, Config, Deadline, Failure, Inbound, Instant, Jitter, Output, State, Supervisor, Timer,
};

/// The link drops an hour into the run, so every supervisor has long been
/// stable — attempt count reset — as a long-lived production client would be.
const DROP_AT: Instant = Instant::from_secs(3_600);
const OUTAGES_S: [u64; 3] = [5, 30, 300];
/// The outage before a server with finite capacity comes back.
const CAPACITY_OUTAGE_S: u64 = 30;
/// New connections per second the capacity-limited server accepts.
const CAPACITIES_PER_S: [u32; 2] = [500, 1_000];
const SINGLE_CLIENT_SEEDS: u64 = 10_000;

/// Every scenario, in table order: an open server after each outage, then the
/// capacity-limited one, each capacity with both answers to the excess.
const SCENARIOS: [Scenario; 7] = [
    Scenario::open(OUTAGES_S[0]),
    Scenario::open(OUTAGES_S[1]),
    Scenario::open(OUTAGES_S[2]),
    Scenario::capped(CAPACITIES_PER_S[0], Overload::Refuse),
    Scenario::capped(CAPACITIES_PER_S[0], Overload::RetryAfter),
    Scenario::capped(CAPACITIES_PER_S[1], Overload::Refuse),
    Scenario::capped(CAPACITIES_PER_S[1], Overload::RetryAfter),
];

/// wstether's goals, as shares of the fleet and seconds.
const GOAL_PEAK_ARRIVAL_SHARE: f64 = 0.11;
const GOAL_P99_WAIT_S: f64 = 13.0;
const GOAL_ATTEMPTS_MEAN_300: f64 = 32.0;
const GOAL_P99_WAIT_SHORT_S: f64 = 8.0;
const GOAL_PEAK_ARRIVAL_SHARE_SHORT: f64 = 0.15;
const GOAL_SINGLE_P50_S: f64 = 1.0;
/// Capacity C: 99 % of the fleet connected within `1.25 · N / C + 2 s` of the
/// server's return.
const GOAL_CAPACITY_SLACK: f64 = 1.25;
const GOAL_CAPACITY_EXTRA_S: f64 = 2.0;

fn goal_capacity_s(clients: usize, per_s: u32) -> f64 {
    GOAL_CAPACITY_SLACK * clients as f64 / f64::from(per_s) + GOAL_CAPACITY_EXTRA_S
}

struct Args {
    clients: usize,
    seed: u64,
    svg: PathBuf,
    sweep: bool,
}

const USAGE: &str = "usage: herd [--clients N] [--seed S] [--svg PATH] [--sweep]";

fn parse_args() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args {
        clients: 10_000,
        seed: 1,
        svg: PathBuf::from("docs/herd.svg"),
        sweep: false,
    };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("clients") => args.clients = parser.value()?.parse()?,
            Long("seed") => args.seed = parser.value()?.parse()?,
            Long("svg") => args.svg = parser.value()?.into(),
            Long("sweep") => args.sweep = true,
            Short('h') | Long("help") => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ => return Err(arg.unexpected()),
        }
    }
    if args.clients == 0 {
        return Err("--clients must be at least 1".into());
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("herd: {err}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let started = std::time::Instant::now();
    let config = Config::default();

    let mut rows = Vec::new();
    // One fleet of stable supervisors, cloned for every scenario, so each
    // starts from the same seeds; the peers likewise reuse their seeds.
    let fleet = stable_fleet(&config, args.clients, args.seed);
    for scenario in SCENARIOS {
        rows.push(Row::new(
            "wstether (default)",
            scenario,
            &tether_outcome(&fleet, scenario),
        ));
        for (index, peer) in Peer::ALL.iter().enumerate() {
            let outcome = peer_outcome(*peer, args.clients, stream_seed(args.seed, index as u64 + 1), scenario);
            rows.push(Row::new(peer.name(), scenario, &outcome));
        }
    }
    let single_p50 = single_client_p50(&config);

    print_table(&args, &rows);
    print_capacity_table(&args, &rows);
    print_goals(&rows, single_p50, args.clients);

    let svg = render_svg(&rows, args.clients);
    if let Some(dir) = args.svg.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    }
    std::fs::write(&args.svg, svg).unwrap_or_else(|err| panic!("cannot write {}: {err}", args.svg.display()));
    println!("\nPicture: `{}`.", args.svg.display());
    eprintln!("herd: table and picture in {:.1} s", started.elapsed().as_secs_f64());

    if args.sweep {
        sweep(&args);
    }
    eprintln!("herd: done in {:.1} s", started.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------
// Scenarios and the server.

/// What an overloaded server does with an attempt beyond its capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overload {
    /// Refused at once (a TCP reset, or a close before the upgrade): variant A.
    Refuse,
    /// `503 Service Unavailable` with `Retry-After`: variant B. See [`Server`]
    /// for the value.
    RetryAfter,
}

/// One run: how long the server is away and what it can take once back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scenario {
    outage_s: u64,
    /// New connections accepted per whole second after the return, and what
    /// the excess hears; `None` accepts everyone.
    capacity: Option<(u32, Overload)>,
}

impl Scenario {
    const fn open(outage_s: u64) -> Scenario {
        Scenario {
            outage_s,
            capacity: None,
        }
    }

    const fn capped(per_s: u32, overload: Overload) -> Scenario {
        Scenario {
            outage_s: CAPACITY_OUTAGE_S,
            capacity: Some((per_s, overload)),
        }
    }

    fn outage(self) -> Duration {
        Duration::from_secs(self.outage_s)
    }
}

/// How the server answered one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Accepted,
    /// Down, or over capacity and refusing at once.
    Refused,
    /// Over capacity: `503` with `Retry-After` in whole seconds.
    Busy {
        retry_after_s: u32,
    },
}

/// The server: refuses everything until it is back, then accepts up to its
/// capacity in each whole second counted from its return (a fixed 1-s window,
/// not a token bucket: at most C accepts in any window [back + k s, back +
/// (k + 1) s), first come first served).
///
/// Variant B's `Retry-After` is the time until the server expects to have a
/// free slot for this client: it books each client it turns away into the
/// first whole second that still has fewer than C bookings and answers the
/// seconds until then (at least 1, the start of the next window). It cannot
/// count clients it has not yet seen, so a booked second can still fill up
/// with fresh arrivals. When the excess is small the answer is "1"; it grows
/// with the backlog of clients already sent away. A fixed value would send a
/// whole second's excess back together, and no value is right for every
/// fleet size.
struct Server {
    back: Instant,
    capacity: Option<(u32, Overload)>,
    accepted: Vec<u32>,
    booked: Vec<u32>,
    /// No second before this one has a free booking.
    first_free: usize,
}

impl Server {
    fn new(scenario: Scenario) -> Server {
        Server {
            back: DROP_AT + scenario.outage(),
            capacity: scenario.capacity,
            accepted: Vec::new(),
            booked: Vec::new(),
            first_free: 0,
        }
    }

    fn answer(&mut self, now: Instant) -> Answer {
        if now < self.back {
            return Answer::Refused;
        }
        let Some((per_s, overload)) = self.capacity else {
            return Answer::Accepted;
        };
        let second = (millis(now - self.back) / 1_000) as usize;
        grow_to(&mut self.accepted, second);
        if self.accepted[second] < per_s {
            self.accepted[second] += 1;
            return Answer::Accepted;
        }
        match overload {
            Overload::Refuse => Answer::Refused,
            Overload::RetryAfter => {
                let mut slot = self.first_free.max(second + 1);
                loop {
                    grow_to(&mut self.booked, slot);
                    if self.booked[slot] < per_s {
                        break;
                    }
                    slot += 1;
                }
                self.booked[slot] += 1;
                self.first_free = slot;
                Answer::Busy {
                    retry_after_s: (slot - second) as u32,
                }
            }
        }
    }
}

/// Makes `counts[index]` addressable.
fn grow_to(counts: &mut Vec<u32>, index: usize) {
    if counts.len() <= index {
        counts.resize(index + 1, 0);
    }
}

// ---------------------------------------------------------------------------
// The event loop shared by every schedule.

/// What one schedule did in one scenario.
struct Outcome {
    outage_ms: u64,
    /// Attempts per client, the successful one included.
    attempts: Vec<u32>,
    /// When each client got back in, in ms after the drop.
    arrivals_ms: Vec<u64>,
    /// Attempts started in each millisecond after the drop.
    attempts_per_ms: Vec<u32>,
    /// Attempts the server turned away after it was back (over capacity).
    turned_away: u64,
}

/// Runs a fleet through a scenario in virtual time. `first[i]` is client i's
/// first attempt; `attempt(i, now, answer)` tells the client how its attempt
/// went and returns its next attempt, or `None` once it is connected.
///
/// A heap of next-attempt times jumps from one attempt to the next instead of
/// ticking a clock, so a 5-minute outage costs one step per attempt. Ties are
/// served in client order, so every run is deterministic.
fn run_fleet(
    first: &[Instant],
    scenario: Scenario,
    mut attempt: impl FnMut(usize, Instant, Answer) -> Option<Instant>,
) -> Outcome {
    let mut server = Server::new(scenario);
    let mut queue: BinaryHeap<Reverse<(Instant, usize)>> =
        first.iter().enumerate().map(|(i, &at)| Reverse((at, i))).collect();
    let mut outcome = Outcome {
        outage_ms: millis(scenario.outage()),
        attempts: vec![0; first.len()],
        arrivals_ms: vec![0; first.len()],
        attempts_per_ms: Vec::new(),
        turned_away: 0,
    };
    while let Some(Reverse((now, i))) = queue.pop() {
        let ms = millis(now - DROP_AT) as usize;
        grow_to(&mut outcome.attempts_per_ms, ms);
        outcome.attempts_per_ms[ms] += 1;
        outcome.attempts[i] += 1;
        let answer = server.answer(now);
        if answer != Answer::Accepted && now >= server.back {
            outcome.turned_away += 1;
        }
        match attempt(i, now, answer) {
            Some(next) => {
                assert!(
                    answer != Answer::Accepted && next >= now,
                    "client {i} retried after being accepted"
                );
                queue.push(Reverse((next, i)));
            }
            None => {
                assert!(
                    answer == Answer::Accepted,
                    "client {i} connected while the server was refusing"
                );
                outcome.arrivals_ms[i] = ms as u64;
            }
        }
    }
    outcome
}

fn millis(span: Duration) -> u64 {
    u64::try_from(span.as_millis()).unwrap_or(u64::MAX)
}

/// One independent seed per client and schedule, so adding a schedule or a
/// client does not reshuffle the others.
fn stream_seed(run_seed: u64, stream: u64) -> u64 {
    splitmix64(run_seed ^ splitmix64(stream))
}

fn client_seed(stream_seed: u64, client: usize) -> u64 {
    splitmix64(stream_seed.wrapping_add(client as u64))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// ---------------------------------------------------------------------------
// wstether, through the real core.

fn stable_fleet(config: &Config, clients: usize, run_seed: u64) -> Vec<Supervisor> {
    let seed = stream_seed(run_seed, 0);
    (0..clients)
        .map(|i| stable_supervisor(*config, client_seed(seed, i)))
        .collect()
}

/// Drains a supervisor's outputs, handing each action to `act`; returns the
/// next deadline.
fn drain(sup: &mut Supervisor, mut act: impl FnMut(&mut Supervisor, Action)) -> Option<Deadline> {
    loop {
        match sup.poll_output() {
            Output::Action(action) => act(sup, action),
            Output::Event(_) => {}
            Output::Timeout(deadline) => return deadline,
        }
    }
}

/// A supervisor that connected at the epoch and has kept a healthy link,
/// answering every ping, until just before [`DROP_AT`].
fn stable_supervisor(config: Config, seed: u64) -> Supervisor {
    let mut sup = Supervisor::new(config, seed).expect("the configuration is valid");
    sup.start(Instant::ZERO);
    let mut next = drain(&mut sup, |sup, action| match action {
        Action::Connect { id, .. } => sup.handle_connected(Instant::ZERO, id),
        other => panic!("a new supervisor asked for {other:?}"),
    });
    while let Some(deadline) = next.filter(|d| d.at < DROP_AT) {
        sup.handle_timeout(deadline.at);
        next = drain(&mut sup, |sup, action| match action {
            Action::SendPing => sup.handle_inbound(deadline.at, Inbound::Control),
            other => panic!("a healthy link asked for {other:?}"),
        });
    }
    assert_eq!(sup.state(), State::Connected);
    assert_eq!(sup.attempt(), 0, "the link must be stable before the drop");
    sup
}

/// Drops the link at [`DROP_AT`] and returns the first reconnect time.
fn drop_link(sup: &mut Supervisor) -> Instant {
    let link = sup.last_attempt();
    sup.handle_disconnected(DROP_AT, link, Failure::transient(Cause::Abnormal));
    match drain(sup, |_, action| panic!("a dropped link asked for {action:?}")) {
        Some(Deadline {
            at,
            timer: Timer::Reconnect,
        }) => at,
        other => panic!("after a drop the supervisor waits to reconnect, not {other:?}"),
    }
}

fn tether_outcome(fleet: &[Supervisor], scenario: Scenario) -> Outcome {
    let mut fleet = fleet.to_vec();
    let first: Vec<Instant> = fleet.iter_mut().map(drop_link).collect();
    run_fleet(&first, scenario, |i, now, answer| {
        let sup = &mut fleet[i];
        sup.handle_timeout(now);
        let mut connects = 0;
        let next = drain(sup, |sup, action| match action {
            Action::Connect { id, .. } => {
                connects += 1;
                // The server answers at once.
                match answer {
                    Answer::Accepted => sup.handle_connected(now, id),
                    Answer::Refused => sup.handle_connect_failed(now, id, Failure::transient(Cause::Refused)),
                    Answer::Busy { retry_after_s } => {
                        let retry_after = Duration::from_secs(retry_after_s.into());
                        sup.handle_connect_failed(now, id, Failure::http_status(503, Some(retry_after)));
                    }
                }
            }
            other => panic!("a reconnecting supervisor asked for {other:?}"),
        });
        assert_eq!(connects, 1, "each wake-up is exactly one attempt");
        match (sup.state(), next) {
            (State::Connected, _) => None,
            (
                State::Backoff,
                Some(Deadline {
                    at,
                    timer: Timer::Reconnect,
                }),
            ) => Some(at),
            other => panic!("unexpected supervisor state {other:?}"),
        }
    })
}

/// The median first reconnect delay after a single drop, over many seeds.
fn single_client_p50(config: &Config) -> Duration {
    let mut delays: Vec<Duration> = (0..SINGLE_CLIENT_SEEDS)
        .map(|seed| {
            let mut sup = stable_supervisor(*config, splitmix64(seed));
            drop_link(&mut sup) - DROP_AT
        })
        .collect();
    delays.sort_unstable();
    delays[percentile_index(delays.len(), 50)]
}

// ---------------------------------------------------------------------------
// Peers, as published. `n` is the 0-based retry index after the drop.

#[derive(Clone, Copy)]
enum Peer {
    Websockets,
    ReconnectingWebsocket,
    SocketIo,
    Phoenix,
    Centrifuge,
    Grpc,
    AwsFullJitter,
}

/// What a peer keeps between delays.
#[derive(Default)]
struct PeerState {
    /// reconnecting-websocket's minimum delay, drawn once per process.
    min_delay_ms: Option<f64>,
}

type DelayFn = fn(u32, &mut Rng, &mut PeerState) -> Duration;

impl Peer {
    const ALL: [Peer; 7] = [
        Peer::Websockets,
        Peer::ReconnectingWebsocket,
        Peer::SocketIo,
        Peer::Phoenix,
        Peer::Centrifuge,
        Peer::Grpc,
        Peer::AwsFullJitter,
    ];

    fn name(self) -> &'static str {
        match self {
            Peer::Websockets => "python-websockets 17",
            Peer::ReconnectingWebsocket => "reconnecting-websocket",
            Peer::SocketIo => "socket.io-client",
            Peer::Phoenix => "phoenix.js",
            Peer::Centrifuge => "centrifuge-js",
            Peer::Grpc => "gRPC",
            Peer::AwsFullJitter => "AWS full jitter",
        }
    }

    fn delay_fn(self) -> DelayFn {
        match self {
            Peer::Websockets => websockets,
            Peer::ReconnectingWebsocket => reconnecting_websocket,
            Peer::SocketIo => socket_io,
            Peer::Phoenix => phoenix,
            Peer::Centrifuge => centrifuge,
            Peer::Grpc => grpc,
            Peer::AwsFullJitter => aws_full_jitter,
        }
    }
}

/// Browsers' timers and Python's sleeps are as fine as a millisecond matters here.
fn ms(value: f64) -> Duration {
    Duration::from_millis(value.max(0.0).round() as u64)
}

/// python-websockets 17 (`asyncio/client.py` `connect.__aiter__`, `client.py`
/// `backoff()`): the documented `async for` loop reconnects at once after a
/// drop; only failed attempts back off, first U(0, 5 s), then 3.1 s ×1.618 to 90 s.
fn websockets(n: u32, rng: &mut Rng, _: &mut PeerState) -> Duration {
    match n {
        0 => Duration::ZERO,
        1 => ms(5_000.0 * rng.f64()),
        _ => ms((3_100.0 * 1.618f64.powi(n as i32 - 2)).min(90_000.0)),
    }
}

/// reconnecting-websocket 4.4 (`reconnecting-websocket.ts` `_getNextDelay`):
/// `minReconnectionDelay = 1000 + Math.random() * 4000` is evaluated once when
/// the module loads, ×1.3 per retry, capped at 10 s.
fn reconnecting_websocket(n: u32, rng: &mut Rng, state: &mut PeerState) -> Duration {
    let min = *state.min_delay_ms.get_or_insert_with(|| 1_000.0 + 4_000.0 * rng.f64());
    ms((min * 1.3f64.powi(n.min(1_000) as i32)).min(10_000.0))
}

/// socket.io-client 4 (`contrib/backo2.ts` `Backoff.duration`): 1 s ·2^n, one
/// random draw sets both the size (up to 50 %) and the sign of the deviation,
/// and the cap (5 s) comes after the jitter, so most late delays are exactly 5 s.
fn socket_io(n: u32, rng: &mut Rng, _: &mut PeerState) -> Duration {
    let base = 1_000.0 * 2f64.powi(n.min(30) as i32);
    let rand = rng.f64();
    let deviation = (rand * 0.5 * base).floor();
    let delay = if (rand * 10.0).floor() as u64 & 1 == 0 {
        base - deviation
    } else {
        base + deviation
    };
    ms(delay.min(5_000.0))
}

/// phoenix.js 1.7 (`socket.js` default `reconnectAfterMs`): a fixed table, then
/// 5 s, without jitter.
fn phoenix(n: u32, _: &mut Rng, _: &mut PeerState) -> Duration {
    const TABLE_MS: [u64; 9] = [10, 50, 100, 150, 200, 250, 500, 1_000, 2_000];
    Duration::from_millis(TABLE_MS.get(n as usize).copied().unwrap_or(5_000))
}

/// centrifuge-js 5 (`utils.ts` `backoff(step, 500, 20000)`):
/// min(20 s, 0.5 s + randInt(0, min(20 s, 0.5 s ·2^n))).
fn centrifuge(n: u32, rng: &mut Rng, _: &mut PeerState) -> Duration {
    let high = 20_000u64.min(500u64 << n.min(31));
    Duration::from_millis(20_000u64.min(500 + rng.u64(0..=high)))
}

/// gRPC connection backoff (`doc/connection-backoff.md`): 1 s ×1.6 per retry,
/// capped at 120 s, then ±20 % uniform.
fn grpc(n: u32, rng: &mut Rng, _: &mut PeerState) -> Duration {
    let base = (1_000.0 * 1.6f64.powi(n.min(1_000) as i32)).min(120_000.0);
    ms(base * (0.8 + 0.4 * rng.f64()))
}

/// AWS Architecture Blog, "Exponential Backoff And Jitter" (2015), full jitter:
/// U(0, min(20 s, 1 s ·2^n)).
fn aws_full_jitter(n: u32, rng: &mut Rng, _: &mut PeerState) -> Duration {
    let high = 20_000u64.min(1_000u64 << n.min(40));
    Duration::from_millis(rng.u64(0..=high))
}

/// A peer's fleet. None of the peers reads `Retry-After` on a failed
/// connection: the browser clients (reconnecting-websocket, phoenix.js,
/// centrifuge-js; socket.io-client's WebSocket transport) never see the status
/// of a refused upgrade — the WebSocket API only reports an error and close
/// 1006 — and socket.io-client's polling transport turns any non-200 into a
/// transport error; python-websockets retries a 503 (`process_exception`
/// treats 500/502/503/504 as retryable) on its usual backoff and has no
/// Retry-After support; gRPC's connection backoff has none either (its
/// pushback is for calls, not connections), nor has the AWS formula. So a 503
/// is a refusal to every peer, and their variant-B rows equal variant A.
fn peer_outcome(peer: Peer, clients: usize, seed: u64, scenario: Scenario) -> Outcome {
    let delay = peer.delay_fn();
    let mut rngs: Vec<Rng> = (0..clients).map(|i| Rng::with_seed(client_seed(seed, i))).collect();
    let mut states: Vec<PeerState> = (0..clients).map(|_| PeerState::default()).collect();
    let mut retries = vec![1u32; clients];
    let first: Vec<Instant> = (0..clients)
        .map(|i| DROP_AT + delay(0, &mut rngs[i], &mut states[i]))
        .collect();
    run_fleet(&first, scenario, |i, now, answer| {
        if answer == Answer::Accepted {
            return None;
        }
        let next = now + delay(retries[i], &mut rngs[i], &mut states[i]);
        retries[i] += 1;
        Some(next)
    })
}

// ---------------------------------------------------------------------------
// Measures.

/// One line of the table.
struct Row {
    name: &'static str,
    scenario: Scenario,
    outage_s: u64,
    attempts_mean: f64,
    attempts_max: u32,
    /// Attempts the server turned away once back, per client.
    turned_away_mean: f64,
    wait_p50: Duration,
    /// With a capacity-limited server: the time until 99 % of the fleet is connected.
    wait_p99: Duration,
    wait_max: Duration,
    /// Most arrivals in any 1-s window once the server is back, as a share of N.
    peak_arrival_share: f64,
    /// Most attempts in any 1-s window of the run, as a share of N.
    peak_attempt_share: f64,
    /// Arrivals in each whole second after the server is back.
    arrivals_per_s: Vec<u32>,
}

impl Row {
    fn new(name: &'static str, scenario: Scenario, outcome: &Outcome) -> Row {
        let clients = outcome.attempts.len();
        let mut waits_ms: Vec<u64> = outcome.arrivals_ms.iter().map(|&at| at - outcome.outage_ms).collect();
        waits_ms.sort_unstable();
        let wait_at = |p| Duration::from_millis(waits_ms[percentile_index(clients, p)]);
        let wait_max_ms = waits_ms[clients - 1];

        let mut arrivals_per_ms = vec![0u32; wait_max_ms as usize + 1];
        let mut arrivals_per_s = vec![0u32; (wait_max_ms / 1_000) as usize + 1];
        for &wait in &waits_ms {
            arrivals_per_ms[wait as usize] += 1;
            arrivals_per_s[(wait / 1_000) as usize] += 1;
        }
        Row {
            name,
            scenario,
            outage_s: outcome.outage_ms / 1_000,
            attempts_mean: outcome.attempts.iter().map(|&a| f64::from(a)).sum::<f64>() / clients as f64,
            attempts_max: outcome.attempts.iter().copied().max().unwrap_or(0),
            turned_away_mean: outcome.turned_away as f64 / clients as f64,
            wait_p50: wait_at(50),
            wait_p99: wait_at(99),
            wait_max: Duration::from_millis(wait_max_ms),
            peak_arrival_share: f64::from(peak_per_second(&arrivals_per_ms)) / clients as f64,
            peak_attempt_share: f64::from(peak_per_second(&outcome.attempts_per_ms)) / clients as f64,
            arrivals_per_s,
        }
    }

    fn is_open(&self) -> bool {
        self.scenario.capacity.is_none()
    }
}

/// Nearest-rank percentile: the smallest value that `p` % of the sample does not exceed.
fn percentile_index(len: usize, p: usize) -> usize {
    (len * p).div_ceil(100).clamp(1, len) - 1
}

/// The largest count in any window of 1000 consecutive milliseconds.
fn peak_per_second(per_ms: &[u32]) -> u32 {
    let mut window = 0u32;
    let mut peak = 0u32;
    for (i, &count) in per_ms.iter().enumerate() {
        window += count;
        if i >= 1_000 {
            window -= per_ms[i - 1_000];
        }
        peak = peak.max(window);
    }
    peak
}

fn secs(span: Duration) -> String {
    format!("{:.2}", span.as_secs_f64())
}

fn print_table(args: &Args, rows: &[Row]) {
    println!("## Fleet reconnect after an outage\n");
    println!(
        "{} clients lose the link at t = 0; the server refuses every attempt until t = D, then accepts. \
         Seed {}. Waits are from D to the client's first attempt at or after D. \
         Peaks are the most arrivals (after D) or attempts (whole run) in any 1-s window, as a share of N.\n",
        args.clients, args.seed
    );
    println!(
        "| schedule | D (s) | attempts/client mean | max | wait p50 (s) | p99 (s) | max (s) | \
         peak arrivals/s (share) | peak attempts/s (share) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows.iter().filter(|row| row.is_open()) {
        println!(
            "| {} | {} | {:.1} | {} | {} | {} | {} | {:.3} | {:.3} |",
            row.name,
            row.outage_s,
            row.attempts_mean,
            row.attempts_max,
            secs(row.wait_p50),
            secs(row.wait_p99),
            secs(row.wait_max),
            row.peak_arrival_share,
            row.peak_attempt_share,
        );
    }
}

fn overload_name(overload: Overload) -> &'static str {
    match overload {
        Overload::Refuse => "A: refused",
        Overload::RetryAfter => "B: 503 + Retry-After",
    }
}

fn print_capacity_table(args: &Args, rows: &[Row]) {
    println!("\n## A server with finite capacity\n");
    println!(
        "The same {} clients; the server is away for D = {CAPACITY_OUTAGE_S} s, then accepts at most C new \
         connections in each whole second after its return and turns the excess away: refused at once (A), \
         or `503` with `Retry-After` = the seconds until the first second it has not yet promised to C \
         clients (B). *99 % in* is the time from the return until 99 % of the fleet is connected; \
         the goal is {GOAL_CAPACITY_SLACK} · N / C + {GOAL_CAPACITY_EXTRA_S} s. *Turned away* counts \
         attempts refused for capacity, per client. Seed {}.\n",
        args.clients, args.seed
    );
    println!(
        "| schedule | C (/s) | excess | 99 % in (s) | goal (s) | last in (s) | attempts/client mean | max | \
         turned away/client |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let Some((per_s, overload)) = row.scenario.capacity else {
            continue;
        };
        println!(
            "| {} | {per_s} | {} | {} | {:.1} | {} | {:.1} | {} | {:.2} |",
            row.name,
            overload_name(overload),
            secs(row.wait_p99),
            goal_capacity_s(args.clients, per_s),
            secs(row.wait_max),
            row.attempts_mean,
            row.attempts_max,
            row.turned_away_mean,
        );
    }
}

/// A goal, its measured value and whether it holds.
struct Goal {
    what: String,
    /// A short column name for the sweep.
    short: String,
    measured: f64,
    limit: f64,
}

impl Goal {
    fn new(what: impl Into<String>, short: impl Into<String>, measured: f64, limit: f64) -> Goal {
        Goal {
            what: what.into(),
            short: short.into(),
            measured,
            limit,
        }
    }

    fn met(&self) -> bool {
        self.measured <= self.limit
    }

    /// How far below its limit the measure is, as a share of the limit:
    /// negative when missed.
    fn margin(&self) -> f64 {
        (self.limit - self.measured) / self.limit
    }
}

/// The goals for one backoff schedule, from its rows for every scenario.
fn goals(rows: &[&Row], single_p50: Duration, clients: usize) -> Vec<Goal> {
    let at = |scenario: Scenario| {
        rows.iter()
            .find(|row| row.scenario == scenario)
            .unwrap_or_else(|| panic!("no row for {scenario:?}"))
    };
    let mut goals = Vec::new();
    for outage_s in [30, 300] {
        let row = at(Scenario::open(outage_s));
        goals.push(Goal::new(
            format!("D = {outage_s} s: peak arrivals in 1 s (share of N)"),
            format!("D={outage_s} peak"),
            row.peak_arrival_share,
            GOAL_PEAK_ARRIVAL_SHARE,
        ));
        goals.push(Goal::new(
            format!("D = {outage_s} s: p99 wait (s)"),
            format!("D={outage_s} p99 (s)"),
            row.wait_p99.as_secs_f64(),
            GOAL_P99_WAIT_S,
        ));
    }
    goals.push(Goal::new(
        "D = 300 s: attempts per client (mean)",
        "D=300 attempts",
        at(Scenario::open(300)).attempts_mean,
        GOAL_ATTEMPTS_MEAN_300,
    ));
    let short = at(Scenario::open(5));
    goals.push(Goal::new(
        "D = 5 s: p99 wait (s)",
        "D=5 p99 (s)",
        short.wait_p99.as_secs_f64(),
        GOAL_P99_WAIT_SHORT_S,
    ));
    goals.push(Goal::new(
        "D = 5 s: peak arrivals in 1 s (share of N)",
        "D=5 peak",
        short.peak_arrival_share,
        GOAL_PEAK_ARRIVAL_SHARE_SHORT,
    ));
    goals.push(Goal::new(
        "one client, one drop: first reconnect p50 (s)",
        "1-client p50 (s)",
        single_p50.as_secs_f64(),
        GOAL_SINGLE_P50_S,
    ));
    for per_s in CAPACITIES_PER_S {
        for overload in [Overload::Refuse, Overload::RetryAfter] {
            let variant = match overload {
                Overload::Refuse => "A",
                Overload::RetryAfter => "B",
            };
            goals.push(Goal::new(
                format!(
                    "C = {per_s}/s, {}: 99 % connected (s after the return)",
                    overload_name(overload)
                ),
                format!("C={per_s} {variant} (s)"),
                at(Scenario::capped(per_s, overload)).wait_p99.as_secs_f64(),
                goal_capacity_s(clients, per_s),
            ));
        }
    }
    goals
}

fn print_goals(rows: &[Row], single_p50: Duration, clients: usize) {
    let tether: Vec<&Row> = rows.iter().filter(|row| row.name.starts_with("wstether")).collect();
    println!("\n### wstether's default against its goals\n");
    println!("| goal | measured | limit | margin | |");
    println!("|---|---:|---:|---:|---|");
    for goal in goals(&tether, single_p50, clients) {
        let verdict = if goal.met() { "met" } else { "MISSED" };
        println!(
            "| {} | {:.3} | ≤ {} | {:+.1} % | {verdict} |",
            goal.what,
            goal.measured,
            goal.limit,
            goal.margin() * 100.0
        );
    }
    println!(
        "\nSingle client: after one drop, the median first reconnect delay over {SINGLE_CLIENT_SEEDS} seeds is {} s.",
        secs(single_p50)
    );
}

// ---------------------------------------------------------------------------
// Tuning: the same measures for other settings of the existing knobs.

/// A backoff schedule from its knobs, everything else default.
fn schedule(
    initial_ms: u64,
    multiplier_permille: u16,
    cap_ms: u64,
    jitter: Jitter,
    cap_jitter: Jitter,
) -> BackoffConfig {
    BackoffConfig {
        initial: Duration::from_millis(initial_ms),
        multiplier_permille,
        cap: Duration::from_millis(cap_ms),
        jitter,
        cap_jitter: Some(cap_jitter),
        ..BackoffConfig::default()
    }
}

/// The previous default: `Full` jitter while growing ×1.4 from 1.5 s.
fn previous_default() -> BackoffConfig {
    schedule(1_500, 1_400, 12_250, Jitter::Full, Jitter::Symmetric(50))
}

/// The settings `--sweep` compares: the default, the previous one, and
/// neighbours that show what each knob trades. The floor rows are the
/// trade-off after a 5-second outage: a longer floor lowers the peak (about
/// 1 / floor, plus the binomial noise of 10 000 independent phases) and
/// raises the p99 wait (about 0.99 · floor).
fn candidates() -> Vec<(&'static str, BackoffConfig)> {
    // Floors are in permille of the cap: 633 ‰ of 12 s is 7.6 s.
    let phased = |initial_ms, multiplier, cap_ms, floor, cap_jitter| {
        schedule(initial_ms, multiplier, cap_ms, Jitter::Phased(floor), cap_jitter)
    };
    let at_cap = Jitter::Symmetric(50);
    vec![
        ("default", BackoffConfig::default()),
        ("previous default", previous_default()),
        (
            "previous, initial 3 s",
            schedule(3_000, 1_400, 12_250, Jitter::Full, at_cap),
        ),
        ("phased, no floor", phased(1_500, 2_000, 12_000, 0, at_cap)),
        ("floor 6.5 s", phased(1_500, 2_000, 12_000, 542, at_cap)),
        ("floor 7 s", phased(1_500, 2_000, 12_000, 583, at_cap)),
        ("floor 7.3 s", phased(1_500, 2_000, 12_000, 608, at_cap)),
        ("floor 7.9 s", phased(1_500, 2_000, 12_000, 658, at_cap)),
        ("floor 8.5 s", phased(1_500, 2_000, 12_000, 708, at_cap)),
        ("×1.6", phased(1_500, 1_600, 12_000, 633, at_cap)),
        ("×3", phased(1_500, 3_000, 12_000, 633, at_cap)),
        ("initial 1.9 s", phased(1_900, 2_000, 12_000, 633, at_cap)),
        ("cap 12.5 s", phased(1_500, 2_000, 12_500, 608, at_cap)),
        ("cap 13 s", phased(1_500, 2_000, 13_000, 585, at_cap)),
        (
            "±2.5 % at cap",
            phased(1_500, 2_000, 12_000, 633, Jitter::Symmetric(25)),
        ),
        (
            "±10 % at cap",
            phased(1_500, 2_000, 12_000, 633, Jitter::Symmetric(100)),
        ),
        ("no jitter at cap", phased(1_500, 2_000, 12_000, 633, Jitter::Phased(0))),
    ]
}

/// The smallest margin, relative to its limit, of any goal: negative when one is missed.
fn worst_margin(goals: &[Goal]) -> f64 {
    goals.iter().map(Goal::margin).fold(f64::INFINITY, f64::min)
}

/// Seeds each candidate runs with. Several, because how many clients sit in
/// which growth step when the server returns makes the short-outage numbers
/// jumpy: a setting that passes on one seed can miss on the next.
const SWEEP_SEEDS: u64 = 12;

/// Every goal for one configuration, at its worst over [`SWEEP_SEEDS`] seeds,
/// and each goal's spread (best, worst) over the seeds.
fn worst_goals(config: &Config, clients: usize, first_seed: u64) -> (Vec<Goal>, Vec<(f64, f64)>) {
    let single_p50 = single_client_p50(config);
    let mut worst: Vec<Goal> = Vec::new();
    let mut spread: Vec<(f64, f64)> = Vec::new();
    for seed in first_seed..first_seed + SWEEP_SEEDS {
        let fleet = stable_fleet(config, clients, seed);
        let rows: Vec<Row> = SCENARIOS
            .iter()
            .map(|&scenario| Row::new("candidate", scenario, &tether_outcome(&fleet, scenario)))
            .collect();
        let goals = goals(&rows.iter().collect::<Vec<_>>(), single_p50, clients);
        if worst.is_empty() {
            spread = goals.iter().map(|goal| (goal.measured, goal.measured)).collect();
            worst = goals;
        } else {
            for ((kept, range), goal) in worst.iter_mut().zip(&mut spread).zip(goals) {
                kept.measured = kept.measured.max(goal.measured);
                *range = (range.0.min(goal.measured), range.1.max(goal.measured));
            }
        }
    }
    (worst, spread)
}

fn sweep(args: &Args) {
    let started = std::time::Instant::now();
    let seeds = format!("seeds {}–{}", args.seed, args.seed + SWEEP_SEEDS - 1);
    println!(
        "\n### Backoff settings against the goals ({} clients, worst of {seeds})\n",
        args.clients
    );
    let mut default_spread = Vec::new();
    let mut header = String::from("| setting | initial (s) | × | cap (s) | growing | at cap |");
    let mut rule = String::from("|---|---:|---:|---:|---|---|");
    for (index, (name, backoff)) in candidates().into_iter().enumerate() {
        let config = Config {
            backoff,
            ..Config::default()
        };
        let (goals, spread) = worst_goals(&config, args.clients, args.seed);
        if index == 0 {
            for goal in &goals {
                let _ = write!(header, " {} |", goal.short);
                rule.push_str("---:|");
            }
            header.push_str(" goals met | worst margin |");
            rule.push_str("---|---:|");
            println!("{header}\n{rule}");
            default_spread = goals.iter().map(|goal| goal.what.clone()).zip(spread).collect();
        }
        let met = goals.iter().filter(|goal| goal.met()).count();
        let mut line = format!(
            "| {name} | {} | {:.3} | {} | {} | {} |",
            secs(backoff.initial),
            f64::from(backoff.multiplier_permille) / 1_000.0,
            secs(backoff.cap),
            jitter_name(backoff.jitter, backoff.cap),
            jitter_name(backoff.cap_jitter.unwrap_or(backoff.jitter), backoff.cap),
        );
        for goal in &goals {
            let mark = if goal.met() { "" } else { " ✗" };
            let _ = write!(line, " {:.3}{mark} |", goal.measured);
        }
        let _ = write!(
            line,
            " {met}/{} | {:+.1} % |",
            goals.len(),
            worst_margin(&goals) * 100.0
        );
        println!("{line}");
    }
    println!("\nThe default's spread over {seeds} (best – worst):\n");
    println!("| goal | best | worst |");
    println!("|---|---:|---:|");
    for (what, (best, worst)) in default_spread {
        println!("| {what} | {best:.3} | {worst:.3} |");
    }
    short_outages(args, &seeds);
    eprintln!("herd: sweep in {:.1} s", started.elapsed().as_secs_f64());
}

/// Short outages other than the goal's 5 s: the worst peak and p99 wait over
/// the sweep's seeds, for the default and the previous default.
fn short_outages(args: &Args, seeds: &str) {
    const SHORT_S: [u64; 9] = [1, 2, 3, 5, 8, 10, 15, 20, 25];
    println!(
        "\n### Other short outages ({} clients, worst of {seeds}): peak 1-s arrival share / p99 wait (s)\n",
        args.clients
    );
    let mut header = String::from("| setting |");
    let mut rule = String::from("|---|");
    for outage_s in SHORT_S {
        let _ = write!(header, " D = {outage_s} s |");
        rule.push_str("---:|");
    }
    println!("{header}\n{rule}");
    for (name, backoff) in [
        ("default", BackoffConfig::default()),
        ("previous default", previous_default()),
    ] {
        let config = Config {
            backoff,
            ..Config::default()
        };
        let mut worst = [(0.0f64, Duration::ZERO); SHORT_S.len()];
        for seed in args.seed..args.seed + SWEEP_SEEDS {
            let fleet = stable_fleet(&config, args.clients, seed);
            for (kept, outage_s) in worst.iter_mut().zip(SHORT_S) {
                let scenario = Scenario::open(outage_s);
                let row = Row::new("candidate", scenario, &tether_outcome(&fleet, scenario));
                *kept = (kept.0.max(row.peak_arrival_share), kept.1.max(row.wait_p99));
            }
        }
        let mut line = format!("| {name} |");
        for (peak, p99) in worst {
            let _ = write!(line, " {peak:.3} / {} |", secs(p99));
        }
        println!("{line}");
    }
}

fn jitter_name(jitter: Jitter, cap: Duration) -> String {
    match jitter {
        Jitter::None => "none".into(),
        Jitter::Full => "full".into(),
        Jitter::Equal => "equal".into(),
        Jitter::Decorrelated => "decorrelated".into(),
        Jitter::Proportional(p) => format!("+{:.1} %", f64::from(p) / 10.0),
        Jitter::Symmetric(p) => format!("±{:.1} %", f64::from(p) / 10.0),
        Jitter::Phased(0) => "phased".into(),
        Jitter::Phased(floor) => format!("phased, floor {:.2} s", cap.as_secs_f64() * f64::from(floor) / 1_000.0),
    }
}

// ---------------------------------------------------------------------------
// The picture: arrivals per second after the server is back, one small panel
// per schedule, one column per scenario, on shared scales.

const PANEL_W: f64 = 300.0;
const PANEL_H: f64 = 54.0;
const PANEL_GAP: f64 = 16.0;
const LEFT: f64 = 215.0;
const COLUMN_GAP: f64 = 50.0;
const TOP: f64 = 124.0;
/// The shared y scale tops out here; taller bars are clipped and labelled, so
/// lockstep schedules do not flatten everyone else.
const Y_MAX_SHARE: f64 = 0.25;
/// The x axis stops here; a slow tail (gRPC's) would squeeze everyone else
/// into a few pixels, so what comes later is a number at the panel's edge.
const X_MAX_S: usize = 60;
const COLORS: [&str; 8] = [
    "#1565c0", "#6d4c41", "#8e24aa", "#00897b", "#e65100", "#c2185b", "#558b2f", "#455a64",
];
const GOAL_COLOR: &str = "#d32f2f";

/// The columns of the picture: the three outages, then the smaller capacity
/// with refusals.
const PICTURED: [Scenario; 4] = [SCENARIOS[0], SCENARIOS[1], SCENARIOS[2], SCENARIOS[3]];

/// The dashed line of a column: the peak goal, or the server's capacity.
fn column_line_share(scenario: Scenario, clients: usize) -> f64 {
    match scenario.capacity {
        Some((per_s, _)) => f64::from(per_s) / clients as f64,
        None if scenario.outage_s <= 5 => GOAL_PEAK_ARRIVAL_SHARE_SHORT,
        None => GOAL_PEAK_ARRIVAL_SHARE,
    }
}

fn render_svg(rows: &[Row], clients: usize) -> String {
    let panels = rows.iter().filter(|row| row.scenario == PICTURED[0]).count();
    let columns = PICTURED.len() as f64;
    let width = LEFT + columns * PANEL_W + (columns - 1.0) * COLUMN_GAP + 30.0;
    let plot_h = panels as f64 * (PANEL_H + PANEL_GAP) - PANEL_GAP;
    let height = TOP + plot_h + 50.0;
    let mut svg = String::new();
    let w = &mut svg;
    let _ = writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(w, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        w,
        r#"<text x="{LEFT}" y="22" font-size="15" font-weight="bold">Arrivals per second after the server comes back</text>"#
    );
    let _ = writeln!(
        w,
        r##"<text x="{LEFT}" y="40" fill="#333">{clients} clients lose the link at t = 0; the server refuses every attempt until t = D, then accepts all — or, in the last column, at most C each second, refusing the rest.</text>"##
    );
    // Legend.
    let legend_y = 62.0;
    let _ = writeln!(
        w,
        r##"<rect x="{LEFT}" y="{:.0}" width="12" height="10" fill="#1565c0"/><text x="{:.0}" y="{legend_y:.0}">clients connecting in each 1-s bin, % of the fleet</text>"##,
        legend_y - 9.0,
        LEFT + 18.0,
    );
    let goal_x = LEFT + 330.0;
    let _ = writeln!(
        w,
        r##"<line x1="{goal_x}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{GOAL_COLOR}" stroke-dasharray="4 3"/><text x="{:.0}" y="{legend_y:.0}">wstether's goal: at most {:.0} % in any second ({:.0} % after 5 s); in the last column the server's capacity, and the time by which 99 % should be in</text>"##,
        legend_y - 4.0,
        goal_x + 24.0,
        legend_y - 4.0,
        goal_x + 30.0,
        GOAL_PEAK_ARRIVAL_SHARE * 100.0,
        GOAL_PEAK_ARRIVAL_SHARE_SHORT * 100.0,
    );
    let _ = writeln!(
        w,
        r##"<text x="{LEFT}" y="{:.0}" fill="#333">▲ n % — the tallest bar, clipped at {:.0} %; “+n % later” — the share arriving after the axis ends; “99 %: t s” — when 99 % of the fleet is in</text>"##,
        legend_y + 18.0,
        Y_MAX_SHARE * 100.0
    );

    for (column, scenario) in PICTURED.iter().enumerate() {
        let column_rows: Vec<&Row> = rows.iter().filter(|row| row.scenario == *scenario).collect();
        let x0 = LEFT + column as f64 * (PANEL_W + COLUMN_GAP);
        let longest = column_rows
            .iter()
            .map(|row| row.arrivals_per_s.len())
            .max()
            .unwrap_or(1)
            .min(X_MAX_S);
        // Round the x range up to a tick so both ends are labelled.
        let tick_s = if longest > 30 { 10 } else { 5 };
        let span_s = longest.div_ceil(tick_s).max(1) * tick_s;
        let title = match scenario.capacity {
            Some((per_s, _)) => format!("D = {} s, then at most {per_s} per second", scenario.outage_s),
            None => format!("outage D = {} s", scenario.outage_s),
        };
        let _ = writeln!(
            w,
            r#"<text x="{:.0}" y="{:.0}" font-size="13" font-weight="bold" text-anchor="middle">{title}</text>"#,
            x0 + PANEL_W / 2.0,
            TOP - 14.0
        );
        for (index, row) in column_rows.iter().enumerate() {
            let y0 = TOP + index as f64 * (PANEL_H + PANEL_GAP);
            let color = COLORS[index % COLORS.len()];
            if column == 0 {
                let _ = writeln!(
                    w,
                    r#"<text x="{:.0}" y="{:.0}" text-anchor="end" fill="{color}" font-weight="bold">{}</text>"#,
                    LEFT - 30.0,
                    y0 + PANEL_H / 2.0 + 4.0,
                    row.name
                );
            }
            draw_panel(w, row, x0, y0, span_s, color, clients);
        }
        let axis_y = TOP + plot_h;
        for tick in (0..=span_s).step_by(tick_s) {
            let x = x0 + tick as f64 / span_s as f64 * PANEL_W;
            let _ = writeln!(
                w,
                r##"<line x1="{x:.1}" y1="{axis_y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{tick}</text>"##,
                axis_y + 4.0,
                axis_y + 15.0
            );
        }
        let _ = writeln!(
            w,
            r#"<text x="{:.0}" y="{:.0}" text-anchor="middle">seconds after the server is back</text>"#,
            x0 + PANEL_W / 2.0,
            axis_y + 32.0
        );
    }
    // The y axis label, once, at the far left.
    let mid_y = TOP + plot_h / 2.0;
    let _ = writeln!(
        w,
        r#"<text x="14" y="{mid_y:.0}" transform="rotate(-90 14 {mid_y:.0})" text-anchor="middle">% of the fleet connecting in each second</text>"#
    );
    let _ = writeln!(w, "</svg>");
    svg
}

fn draw_panel(w: &mut String, row: &Row, x0: f64, y0: f64, span_s: usize, color: &str, clients: usize) {
    let share_of = |count: u32| f64::from(count) / clients as f64;
    let y_of = |share: f64| y0 + PANEL_H - share.min(Y_MAX_SHARE) / Y_MAX_SHARE * PANEL_H;
    let _ = writeln!(
        w,
        r##"<rect x="{x0:.1}" y="{y0:.1}" width="{PANEL_W:.1}" height="{PANEL_H:.1}" fill="#fafafa" stroke="#bbb"/>"##
    );
    for share in [0.0, 0.1, 0.2] {
        let y = y_of(share);
        let _ = writeln!(
            w,
            r##"<line x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="#333"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="9">{:.0}</text>"##,
            x0 - 3.0,
            x0 - 5.0,
            y + 3.0,
            share * 100.0
        );
    }
    let bar_w = PANEL_W / span_s as f64;
    let shown = &row.arrivals_per_s[..row.arrivals_per_s.len().min(span_s)];
    for (second, &count) in shown.iter().enumerate().filter(|(_, &count)| count > 0) {
        let share = share_of(count);
        let y = y_of(share);
        let _ = writeln!(
            w,
            r#"<rect x="{:.2}" y="{y:.2}" width="{:.2}" height="{:.2}" fill="{color}"><title>{}: {:.1} % in second {second}</title></rect>"#,
            x0 + second as f64 * bar_w,
            (bar_w - 0.5).max(0.5),
            y0 + PANEL_H - y,
            row.name,
            share * 100.0
        );
    }
    let tallest = shown.iter().enumerate().max_by_key(|(_, &count)| count);
    if let Some((second, &count)) = tallest.filter(|(_, &count)| share_of(count) > Y_MAX_SHARE) {
        let x = x0 + (second + 1) as f64 * bar_w + 3.0;
        let _ = writeln!(
            w,
            r#"<text x="{x:.1}" y="{:.1}" font-size="10" font-weight="bold" fill="{color}">▲ {:.0} %</text>"#,
            y0 + 11.0,
            share_of(count) * 100.0
        );
    }
    let later: u32 = row.arrivals_per_s[shown.len()..].iter().sum();
    if later > 0 {
        let _ = writeln!(
            w,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" font-weight="bold" text-anchor="end" fill="{color}">+{:.0} % later →</text>"#,
            x0 + PANEL_W - 4.0,
            y0 + 11.0,
            share_of(later) * 100.0
        );
    }
    let line_y = y_of(column_line_share(row.scenario, clients));
    let _ = writeln!(
        w,
        r##"<line x1="{x0:.1}" y1="{line_y:.1}" x2="{:.1}" y2="{line_y:.1}" stroke="{GOAL_COLOR}" stroke-dasharray="4 3"/>"##,
        x0 + PANEL_W
    );
    if let Some((per_s, _)) = row.scenario.capacity {
        // When 99 % are in, and the goal for it.
        let goal_s = goal_capacity_s(clients, per_s);
        if goal_s <= span_s as f64 {
            let x = x0 + goal_s / span_s as f64 * PANEL_W;
            let _ = writeln!(
                w,
                r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="{GOAL_COLOR}" stroke-dasharray="4 3"/>"##,
                y0 + PANEL_H
            );
        }
        let _ = writeln!(
            w,
            r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="{color}">99 %: {} s</text>"#,
            x0 + PANEL_W - 4.0,
            y0 + if later > 0 { 24.0 } else { 11.0 },
            secs(row.wait_p99)
        );
    }
}
