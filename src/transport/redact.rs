//! URLs as they may appear in logs and error messages: without userinfo and
//! without query values, which often carry tokens.

use std::string::String;

/// `url` with the userinfo and every query value replaced by `***`.
///
/// ```
/// use wstether::transport::redact_url;
/// assert_eq!(
///     redact_url("wss://user:pw@feed.example/ws?token=abc&v=2#frag"),
///     "wss://***@feed.example/ws?token=***&v=***#frag",
/// );
/// assert_eq!(redact_url("ws://127.0.0.1:9000/"), "ws://127.0.0.1:9000/");
/// ```
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    out.push_str(scheme);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str("***@");
            out.push_str(&authority[at + 1..]);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match tail.find('#') {
        Some(i) => tail.split_at(i),
        None => (tail, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((key, _)) => {
                        out.push_str(key);
                        out.push_str("=***");
                    }
                    None => out.push_str(pair),
                }
            }
        }
        None => out.push_str(before_fragment),
    }
    out.push_str(fragment);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_inputs_do_not_panic_and_leak_nothing() {
        for url in [
            "",
            "@",
            "?",
            "#",
            "ws://",
            "ws://a@b@c/?=&=&x",
            "no scheme?k=secret",
            "ws://h/p?k=v=w#f?k=v",
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains("secret"), "{redacted}");
        }
        assert_eq!(redact_url("ws://a@b@c/"), "ws://***@c/");
        assert_eq!(redact_url("ws://h/p?k=v=w"), "ws://h/p?k=***");
    }
}
