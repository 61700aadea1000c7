//! Name resolution off the caller's loop.
//!
//! The system resolver (`getaddrinfo`) blocks and has no timeout, so each
//! lookup runs on a small thread of its own and delivers its answer through a
//! channel, waking the session's poller. The attempt's deadline bounds the
//! wait; a lookup that outlives its attempt finishes on its own and its answer
//! is dropped.

use core::net::{IpAddr, SocketAddr};
use std::io;
use std::net::ToSocketAddrs;
use std::string::String;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::vec::Vec;

use super::error::TransportError;

/// getaddrinfo with NSS modules needs more than a bare minimum of stack, but
/// far less than the default 2 MiB reservation.
const RESOLVER_STACK: usize = 256 * 1024;

/// Wakes the session's poller from another thread.
#[derive(Clone)]
pub(crate) struct Wake(pub(crate) Arc<dyn Fn() + Send + Sync>);

impl core::fmt::Debug for Wake {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Wake")
    }
}

/// A lookup in progress, or its answer.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The addresses were known without asking (an IP literal).
    Known(Vec<SocketAddr>),
    /// The resolver thread is at work.
    Pending {
        host: String,
        answer: Receiver<io::Result<Vec<SocketAddr>>>,
    },
}

/// Starts resolving `host`; `wake` is called from the resolver thread once
/// the answer is ready.
pub(crate) fn resolve(host: &str, port: u16, wake: Wake) -> Result<Lookup, TransportError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Lookup::Known(std::vec![SocketAddr::new(ip, port)]));
    }
    let (tx, answer) = mpsc::channel();
    let target = (String::from(host), port);
    thread::Builder::new()
        .name("wstether-dns".into())
        .stack_size(RESOLVER_STACK)
        .spawn(move || {
            let result = (target.0.as_str(), target.1)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(result);
            (wake.0)();
        })
        .map_err(TransportError::Io)?;
    Ok(Lookup::Pending {
        host: String::from(host),
        answer,
    })
}

impl Lookup {
    /// The addresses, once known; `Ok(None)` while the resolver works.
    pub(crate) fn poll(&mut self) -> Result<Option<Vec<SocketAddr>>, TransportError> {
        match self {
            Lookup::Known(addrs) => Ok(Some(core::mem::take(addrs))),
            Lookup::Pending { host, answer } => match answer.try_recv() {
                Ok(Ok(addrs)) if !addrs.is_empty() => Ok(Some(addrs)),
                Ok(Ok(_)) => Err(TransportError::Dns {
                    host: core::mem::take(host),
                    source: None,
                }),
                Ok(Err(e)) => Err(TransportError::Dns {
                    host: core::mem::take(host),
                    source: Some(e),
                }),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => Err(TransportError::Dns {
                    host: core::mem::take(host),
                    source: Some(io::Error::other("the resolver thread ended without an answer")),
                }),
            },
        }
    }
}
