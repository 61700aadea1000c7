//! What the session has for its caller, in order.
//!
//! Messages are most of it and events are rare, so they wait in two queues:
//! messages stay small to move (an event is about twice a message's size),
//! and each event records how many messages came before it.

use std::collections::VecDeque;

use tungstenite::Message;

use crate::client::event::{ClientEvent, Incoming};

#[derive(Debug, Default)]
pub(super) struct Ready {
    messages: VecDeque<Message>,
    /// Each event with the number of messages pushed before it.
    events: VecDeque<(u64, ClientEvent)>,
    pushed: u64,
    taken: u64,
}

impl Ready {
    pub(super) fn push_message(&mut self, message: Message) {
        self.messages.push_back(message);
        self.pushed += 1;
    }

    pub(super) fn push_event(&mut self, event: ClientEvent) {
        self.events.push_back((self.pushed, event));
    }

    /// The oldest item: an event first when no message came before it.
    #[inline]
    pub(super) fn pop(&mut self) -> Option<Incoming> {
        if self.events.front().is_some_and(|(after, _)| *after == self.taken) {
            return self.events.pop_front().map(|(_, event)| Incoming::Event(event));
        }
        let message = self.messages.pop_front()?;
        self.taken += 1;
        Some(Incoming::Message(message))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::event::EventKind;
    use core::time::Duration;

    fn event(count: usize) -> ClientEvent {
        ClientEvent {
            at: Duration::ZERO,
            kind: EventKind::Expired { count },
            detail: None,
        }
    }

    fn label(item: Option<Incoming>) -> std::string::String {
        match item {
            Some(Incoming::Message(message)) => std::format!("m{}", message.into_text().unwrap()),
            Some(Incoming::Event(event)) => match event.kind {
                EventKind::Expired { count } => std::format!("e{count}"),
                _ => unreachable!(),
            },
            None => "-".into(),
        }
    }

    #[test]
    fn events_and_messages_come_out_in_the_order_they_went_in() {
        let mut ready = Ready::default();
        ready.push_event(event(0));
        ready.push_message(Message::text("1"));
        ready.push_message(Message::text("2"));
        ready.push_event(event(1));
        ready.push_event(event(2));
        ready.push_message(Message::text("3"));
        let mut seen = std::vec::Vec::new();
        for _ in 0..3 {
            seen.push(label(ready.pop()));
        }
        // Pushed while some are taken: still in order.
        ready.push_message(Message::text("4"));
        ready.push_event(event(3));
        while !ready.is_empty() {
            seen.push(label(ready.pop()));
        }
        seen.push(label(ready.pop()));
        assert_eq!(seen, ["e0", "m1", "m2", "e1", "e2", "m3", "m4", "e3", "-"]);
    }
}
