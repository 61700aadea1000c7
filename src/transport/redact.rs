//! URLs as they may appear in logs and error messages: without userinfo,
//! query values or fragment, which often carry tokens.

use std::string::String;

/// `url` safe to log: the userinfo, every query value, every query item
/// without a value (`?SECRET`) and the fragment (`#access_token=…`) each
/// become `***`; query keys, the scheme, host, port and path stay, with
/// control characters escaped so that a log line stays one line.
///
/// Any string is taken apart as the URL grammar (RFC 3986, WHATWG) would take
/// it, whether it is a valid URL or not: the fragment starts at the first
/// `#`, the query at the first `?` before it. The authority follows a scheme
/// and its slashes (`ws://`, also `ws:/` and `ws:\\`, which WHATWG reads the
/// same; the scheme is whatever comes before the first `:`, if it has no `/`
/// or `@`), or a leading `//`; with neither, it starts the string
/// (`user:pw@host`). A `://` inside the query (`?next=ws://…`) or the path
/// starts no authority.
///
/// Two departures from the grammar keep a password that was pasted without
/// percent-encoding out of the log, at the cost of hiding more than needed
/// in odd URLs. The userinfo runs to the last `@` before the query, even past
/// a `/` (`wss://u:p/ss@h/` is `wss://***@h/`; a path such as `/@me` after a
/// host is hidden with it). And an authority that is not `host[:port]` (the
/// port not digits, as in `wss://u:pa?ss@h/`, which a parser reads as host
/// `u`, port `pa`) is hidden whole.
///
/// ```
/// use wstether::transport::redact_url;
/// assert_eq!(
///     redact_url("wss://user:pw@feed.example/ws?token=abc&v=2&SECRET#access_token=xyz"),
///     "wss://***@feed.example/ws?token=***&v=***&***#***",
/// );
/// assert_eq!(redact_url("ws://127.0.0.1:9000/"), "ws://127.0.0.1:9000/");
/// assert_eq!(redact_url("ws://h/a\nb?k=v"), "ws://h/a\\nb?k=***");
/// ```
pub fn redact_url(url: &str) -> String {
    let (head, fragment) = split_off(url, '#');
    let (head, query) = split_off(head, '?');
    let (before_authority, rest) = head.split_at(authority_start(head));
    // The userinfo ends at the last `@`, unless there is no authority at all
    // (a bare path such as `/v1/@me`).
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) if !rest.starts_with('/') => (Some(&rest[..at]), &rest[at + 1..]),
        _ => (None, rest),
    };
    let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));

    let mut out = String::with_capacity(url.len() + 8);
    push_escaped(&mut out, before_authority);
    if userinfo.is_some() {
        out.push_str("***@");
    }
    if is_host_port(host_port) {
        push_escaped(&mut out, host_port);
    } else {
        out.push_str("***");
    }
    push_escaped(&mut out, path);
    if let Some(query) = query {
        out.push('?');
        for (i, item) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match item.split_once('=') {
                Some((key, _)) => {
                    push_escaped(&mut out, key);
                    out.push_str("=***");
                }
                // `a&&b`: nothing to hide.
                None if item.is_empty() => {}
                // A bare item may be the secret itself (`?API_KEY`).
                None => out.push_str("***"),
            }
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        if !fragment.is_empty() {
            out.push_str("***");
        }
    }
    out
}

/// `text` before the first `sep`, and what follows it if there is one.
fn split_off(text: &str, sep: char) -> (&str, Option<&str>) {
    match text.split_once(sep) {
        Some((before, after)) => (before, Some(after)),
        None => (text, None),
    }
}

/// Where the authority starts in `head` (the URL without query and fragment).
fn authority_start(head: &str) -> usize {
    let scheme_end = match head.split_once(':') {
        Some((scheme, rest)) if is_scheme(scheme) && rest.starts_with(['/', '\\']) => scheme.len() + 1,
        _ if head.starts_with("//") => 0,
        _ => return 0,
    };
    let after = &head[scheme_end..];
    scheme_end + (after.len() - after.trim_start_matches(['/', '\\']).len())
}

/// Whether `text` can be `host[:port]`: the port, if any, all digits. Says
/// nothing about the host.
fn is_host_port(text: &str) -> bool {
    let port = match text.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((_, after)) => after,
            None => return false,
        },
        None => text.find(':').map_or("", |colon| &text[colon..]),
    };
    match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    }
}

/// Looser than RFC 3986 §3.1 (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`)
/// on purpose: `1ws://user@host` still has its userinfo hidden. A scheme
/// cannot hold an `@`, so `user@host:/p` keeps its authority at the start.
fn is_scheme(text: &str) -> bool {
    !text.is_empty() && !text.contains(['/', '\\', '@'])
}

/// `text` with control characters as Rust escapes (`\n`, `\u{0}`).
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_query_values_and_fragment_are_hidden() {
        for (url, expected) in [
            ("ws://a@b@c/", "ws://***@c/"),
            ("ws://h/p?k=v=w", "ws://h/p?k=***"),
            ("ws://h/?SECRET", "ws://h/?***"),
            ("ws://h/?a=1&&SECRET&b=", "ws://h/?a=***&&***&b=***"),
            ("ws://h/#access_token=secret&x=1", "ws://h/#***"),
            ("ws://h/p#", "ws://h/p#"),
            ("ws://h/p?", "ws://h/p?"),
            ("ws://h/p#f?k=v", "ws://h/p#***"),
            ("ws://u:pw@h?k=v#f", "ws://***@h?k=***#***"),
            // A bare path keeps its `@`.
            ("/v1/@me?k=v", "/v1/@me?k=***"),
            ("/v1/a@b/c", "/v1/a@b/c"),
        ] {
            assert_eq!(redact_url(url), expected, "{url:?}");
        }
    }

    #[test]
    fn authority_is_found_as_url_parsers_find_it() {
        for (url, expected) in [
            ("user:pw@host/p", "***@host/p"),
            ("user:pw@host:99/p?k=v", "***@host:99/p?k=***"),
            ("//user:pw@host/p", "//***@host/p"),
            ("ws:/user:pw@host/p", "ws:/***@host/p"),
            ("ws:///user:pw@host/p", "ws:///***@host/p"),
            ("ws:\\\\user:pw@host/p", "ws:\\\\***@host/p"),
            ("ws:user:pw@host/p", "***@host/p"),
            ("Wss+x.1://u@h", "Wss+x.1://***@h"),
            ("host:8080/p", "host:8080/p"),
            // Not a scheme: the `://` is inside the query.
            ("&a?a?=/cws3://use", "&a?a?=***"),
            ("1ws://u@h/", "1ws://***@h/"),
            ("u@h:/p", "***@h:/p"),
            ("u:pw@h/x://y@z", "***@z"),
            ("[::1]:9000/p", "[::1]:9000/p"),
            ("ws://u@[::1]:9000/p", "ws://***@[::1]:9000/p"),
            ("ws://h:/p", "ws://h:/p"),
        ] {
            assert_eq!(redact_url(url), expected, "{url:?}");
        }
    }

    #[test]
    fn passwords_pasted_without_percent_encoding_stay_hidden() {
        for (url, expected) in [
            // What a parser reads as host `user`, port `p`, then a path.
            ("wss://user:p/ss@host/feed?k=v", "wss://***@host/feed?k=***"),
            ("wss://user:p@ss@host/", "wss://***@host/"),
            // Host `user`, port `pa`, then a query or a fragment.
            ("wss://user:pa?ss@host/", "wss://***?***"),
            ("wss://user:pa#ss@host/", "wss://***#***"),
            ("wss://user:pa?k=ss@host/", "wss://***?k=***"),
            // The price: an `@` in a path after a host hides the host.
            ("ws://h/users/@me", "ws://***@me"),
            ("ws://h:8o/", "ws://***/"),
            ("ws://[::1/", "ws://***/"),
        ] {
            assert_eq!(redact_url(url), expected, "{url:?}");
        }
    }

    #[test]
    fn the_fuzzers_input_is_redacted() {
        // libFuzzer found that `://` inside a query was read as the scheme
        // separator, so the query was taken for an authority and a path, and
        // everything came out unchanged.
        let url = "&a?a?=/cws3://use\x01\0\0#r:a1\x01\0\0\0\0\0\0\0g/?=&c&x";
        assert_eq!(redact_url(url), "&a?a?=***#***");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(redact_url("ws://h/a\nb"), "ws://h/a\\nb");
        assert_eq!(redact_url("ws://h\0/\r\t?\x01=v"), "ws://h\\u{0}/\\r\\t?\\u{1}=***");
        assert!(!redact_url("ws://h/\u{7f}\u{85}").contains(char::is_control));
    }

    #[test]
    fn odd_inputs_do_not_panic_and_leak_nothing() {
        for url in [
            "",
            "@",
            "?",
            "#",
            ":",
            "://",
            "ws://",
            "ws:",
            "ws:/",
            "é:/é@é",
            "ws://a@b@c/?=&=&x",
            "no scheme?k=secret",
            "no scheme?secret",
            "ws://h/p?k=v=w#f?k=secret",
            "ws://h#secret",
            "ws://secret@",
            "secret@",
            "//secret@h",
            "ws://user:secret/x@h",
            "ws://user:se?cret@h",
            "ws://user:se#cret@h",
            "ws://[secret",
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains("secret"), "{url:?} -> {redacted:?}");
        }
    }
}
