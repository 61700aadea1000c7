//! Raw server bytes into the client's read path. See
//! `tests/scripts/parser_checks.rs`; the same check replays the committed
//! corpus in `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/scripts/parser_checks.rs"]
#[allow(dead_code)] // Each target uses one check.
mod parser_checks;

fuzz_target!(|data: &[u8]| parser_checks::client_read_path(data));
