//! What a session was built with, fixed for its life.

use core::time::Duration;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use crate::transport::connect::Dialer;
use crate::transport::{Proxy, Target};
use crate::CloseCodeTable;

/// One endpoint: its URL as given, parsed, and the proxy to reach it by.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub(crate) url: String,
    pub(crate) target: Target,
    pub(crate) proxy: Option<Proxy>,
}

#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Arc<[String]>,
    pub(crate) dialer: Dialer,
    pub(crate) close_codes: CloseCodeTable,
    /// How long a close may spend writing what is queued.
    pub(crate) close_timeout: Duration,
    /// How long the close handshake may take after that.
    pub(crate) close_handshake_timeout: Duration,
}
