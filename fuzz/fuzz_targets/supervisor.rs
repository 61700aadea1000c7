//! Arbitrary configurations and input sequences into the supervisor; the
//! script panics when an invariant breaks.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/scripts/supervisor_ops.rs"]
mod supervisor_ops;

fuzz_target!(|data: &[u8]| {
    supervisor_ops::run(data);
});
