//! Size limits of one link, and what they bound.

use tungstenite::protocol::WebSocketConfig;

/// Size limits of one link. Tungstenite's defaults (64 MiB messages, 16 MiB
/// frames, unbounded buffering) suit a server; a client that keeps a feed
/// alive wants a hostile or broken server to cost little.
///
/// What one link can hold for received data, at most:
/// `max_queued_bytes + 2 × max_message_size + max_frame_size +
/// read_buffer_size` — the queue the caller has not read yet (reading stops
/// once it reaches `max_queued_bytes`, so it overshoots by at most the one
/// message that crossed it), the message being assembled from fragments,
/// the frame being read, and the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest inbound message; a larger one ends the link (default 16 MiB).
    pub max_message_size: usize,
    /// Largest inbound frame payload (default 4 MiB).
    pub max_frame_size: usize,
    /// Bytes read from the socket at a time once the server sends faster
    /// than a 4 KiB buffer carries (default 128 KiB, tungstenite's own: a
    /// smaller buffer means more reads per megabyte, 10–15 % less
    /// throughput at 1 KiB messages). A quiet link holds 4 KiB; a busy one
    /// this much, and a frame larger than it for as long as large frames
    /// keep coming.
    pub read_buffer_size: usize,
    /// Outbound bytes gathered before the link stops taking queued
    /// messages: one write to the socket carries up to this much (default
    /// 128 KiB).
    pub write_buffer_size: usize,
    /// Received bytes waiting for the caller before the link stops reading
    /// and TCP pushes back on the server (default 1 MiB). Reading further
    /// ahead buys nothing: the socket's own buffer carries the burst, and a
    /// deeper queue of large messages, freed in bursts on the caller's
    /// thread, made the allocator hand memory back and fault it in again
    /// (a `Client` receiving 64 KiB messages ran at 12–57 thousand a second
    /// with 16 MiB, 60–79 thousand with 1 MiB).
    pub max_queued_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 << 20,
            max_frame_size: 4 << 20,
            read_buffer_size: 128 << 10,
            write_buffer_size: 128 << 10,
            max_queued_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Small buffers for gateways with many links or little memory: 1 MiB
    /// messages and queue, 4 KiB buffers.
    pub fn small() -> Limits {
        Limits {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 4 << 10,
            write_buffer_size: 4 << 10,
            max_queued_bytes: 1 << 20,
        }
    }

    /// These limits as tungstenite's configuration, for a `WebSocket` built
    /// outside the client (a test or a fuzz target over raw bytes). Outbound
    /// frames go straight to the link's own queue, which does the buffering.
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size.max(1))
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}
