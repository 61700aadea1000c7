//! The application's code that runs on the session's turn: before each
//! attempt, and at the start of each link.

use core::fmt;
use std::boxed::Box;
use std::vec::Vec;

use tungstenite::Message;

use super::attempt::Attempt;

/// What a new link starts with, for [`super::ClientBuilder::on_link`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStart {
    /// Links count from 1 over the session.
    pub link: u64,
    /// The subprotocol the server chose.
    pub subprotocol: Option<std::string::String>,
    /// The highest inbound sequence number seen so far (with
    /// [`super::ClientBuilder::sequence`]): where to resume a feed.
    pub last_sequence: Option<u64>,
}

pub(crate) type BeforeConnect = Box<dyn FnMut(&mut Attempt) + Send>;
pub(crate) type OnLink = Box<dyn FnMut(&LinkStart) -> Vec<Message> + Send>;

#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) before_connect: Option<BeforeConnect>,
    pub(crate) on_link: Option<OnLink>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("before_connect", &self.before_connect.is_some())
            .field("on_link", &self.on_link.is_some())
            .finish()
    }
}
