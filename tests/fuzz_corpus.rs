//! Replays the committed fuzz corpora on stable Rust, through the same
//! checks the fuzz targets run.

#[path = "scripts/parser_checks.rs"]
mod parser_checks;
#[path = "scripts/supervisor_ops.rs"]
mod supervisor_ops;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = format!("{}/fuzz/corpus/{target}", env!("CARGO_MANIFEST_DIR"));
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let mut count = 0;
    for entry in entries.flatten() {
        check(&std::fs::read(entry.path()).unwrap());
        count += 1;
    }
    assert!(count > 0, "no corpus in {dir}");
}

#[test]
fn supervisor_corpus() {
    replay("supervisor", |data| {
        supervisor_ops::run(data);
    });
}

#[test]
fn retry_after_corpus() {
    replay("retry_after", parser_checks::retry_after);
}

#[test]
fn close_code_corpus() {
    replay("close_code", parser_checks::close_code);
}

#[cfg(feature = "std")]
#[test]
fn redact_url_corpus() {
    replay("redact_url", parser_checks::redact_url);
}

#[cfg(feature = "std")]
#[test]
fn client_read_path_corpus() {
    replay("client_read_path", parser_checks::client_read_path);
}
