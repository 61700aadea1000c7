//! A TCP relay on 127.0.0.1 in front of one upstream, injecting faults on
//! command: stop forwarding while keeping the connections open (blackhole),
//! hold every chunk for a while (delay), end every link with a FIN (cut) or
//! a reset, or accept and drop new connections (refuse).

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{release, splice, Acceptor};
use crate::support::{lock, PATIENCE};

/// The faults of one relayed connection, shared by its two directions.
#[derive(Debug, Default)]
pub struct LinkFaults {
    blackhole: AtomicBool,
    delay_micros: AtomicU64,
    reset: AtomicBool,
}

impl LinkFaults {
    pub fn is_blackholed(&self) -> bool {
        self.blackhole.load(Ordering::SeqCst)
    }

    /// The link is being reset: its ends must not send a FIN first.
    pub fn is_reset(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }

    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_micros.load(Ordering::SeqCst))
    }

    fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.delay_micros.store(micros, Ordering::SeqCst);
    }
}

struct Link {
    client: TcpStream,
    server: TcpStream,
    faults: Arc<LinkFaults>,
}

/// The old name, kept for the tests that use it.
pub type Proxy = FaultRelay;

/// A fault-injecting TCP relay in front of `upstream`.
pub struct FaultRelay {
    links: Arc<Mutex<Vec<Link>>>,
    refuse: Arc<AtomicBool>,
    accepts: Arc<AtomicUsize>,
    /// The delay new links start with.
    delay: Arc<LinkFaults>,
    acceptor: Acceptor,
}

impl FaultRelay {
    pub fn start(upstream: SocketAddr) -> FaultRelay {
        let links: Arc<Mutex<Vec<Link>>> = Arc::default();
        let refuse = Arc::new(AtomicBool::new(false));
        let accepts = Arc::new(AtomicUsize::new(0));
        let delay = Arc::new(LinkFaults::default());
        let acceptor = {
            let (links, refuse, accepts, delay) = (
                Arc::clone(&links),
                Arc::clone(&refuse),
                Arc::clone(&accepts),
                Arc::clone(&delay),
            );
            Acceptor::start(move |client, sockets| {
                accepts.fetch_add(1, Ordering::SeqCst);
                if refuse.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    return;
                }
                let Ok(server) = TcpStream::connect_timeout(&upstream, PATIENCE) else {
                    let _ = client.shutdown(Shutdown::Both);
                    return;
                };
                let _ = server.set_nodelay(true);
                // The links hold the only spare handles, so that a reset
                // closes the last one (see `reset`).
                release(sockets, &client);
                let faults = Arc::new(LinkFaults::default());
                faults.set_delay(delay.delay());
                let clones = (client.try_clone(), server.try_clone());
                let (Ok(client_end), Ok(server_end)) = clones else {
                    return;
                };
                lock(&links).push(Link {
                    client: client_end,
                    server: server_end,
                    faults: Arc::clone(&faults),
                });
                splice(client, server, Some(faults));
            })
        };
        FaultRelay {
            links,
            refuse,
            accepts,
            delay,
            acceptor,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr())
    }

    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// The connections open now stop forwarding, both ways, and stay open.
    pub fn blackhole(&self) {
        for link in lock(&self.links).iter() {
            link.faults.blackhole.store(true, Ordering::SeqCst);
        }
    }

    /// Every chunk, on the links open now and on new ones, is held `delay`
    /// before it is forwarded (zero: no delay).
    pub fn delay(&self, delay: Duration) {
        self.delay.set_delay(delay);
        for link in lock(&self.links).iter() {
            link.faults.set_delay(delay);
        }
    }

    /// Ends every open link with a FIN both ways.
    pub fn cut(&self) {
        for link in lock(&self.links).drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }

    /// Ends every open link with a reset (RST) to the client; the upstream
    /// side gets a FIN.
    pub fn reset(&self) {
        for link in lock(&self.links).drain(..) {
            link.faults.reset.store(true, Ordering::SeqCst);
            // An abortive close: the RST goes when the last handle on the
            // client socket closes. Shutting reads wakes both pumps, which
            // drop theirs; this drop is the last or close to it.
            let _ = socket2::SockRef::from(&link.client).set_linger(Some(Duration::ZERO));
            let _ = link.client.shutdown(Shutdown::Read);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }

    /// New connections are accepted and dropped at once (`true`) or
    /// forwarded again (`false`).
    pub fn refuse_new(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.cut();
    }
}
