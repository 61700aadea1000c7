//! An HTTP proxy tunnel (RFC 9110 §9.3.6): the `CONNECT` request and the
//! proxy's answer, without I/O.

use std::vec::Vec;

use super::ProxyError;
use crate::transport::base64;
use crate::transport::upgrade::{parse_head, HeadError, MAX_HEAD};
use crate::transport::url::authority;

/// Appends `CONNECT host:port HTTP/1.1` to `out`, with `Host` and, given
/// `credentials`, `Proxy-Authorization: Basic`. An IPv6 `target_host` (no
/// brackets, as [`Target::host`](crate::transport::url::Target::host) gives
/// it) is bracketed. `target_host` must come from a parsed URL, which holds
/// no whitespace or control characters.
pub(crate) fn write_request(target_host: &str, port: u16, credentials: Option<(&str, &str)>, out: &mut Vec<u8>) {
    let authority = authority(target_host, Some(port));
    out.extend_from_slice(b"CONNECT ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some((user, password)) = credentials {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(base64::basic_auth(user, password).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Reads the proxy's answer from `buf`, everything read so far: `Ok(None)`
/// until its head is complete, then `Ok(Some(head_len))` once a 2xx opened
/// the tunnel; `buf[head_len..]` already belongs to the tunnel. Interim 1xx
/// responses are skipped; HTTP/1.0 answers are accepted; a 2xx's
/// `Content-Length` or `Transfer-Encoding` is ignored, as RFC 9110 requires.
pub(crate) fn parse_response(buf: &[u8]) -> Result<Option<usize>, ProxyError> {
    let head = parse_head(buf, |head| match head.status {
        200..=299 => Ok(head.len),
        status => Err(ProxyError::Refused { status }),
    })
    .map_err(|e| match e {
        HeadError::TooLarge => ProxyError::Malformed {
            reason: "response head over 16 KiB",
        },
        HeadError::Malformed(reason) => ProxyError::Malformed { reason },
    })?;
    head.transpose()
}

const _: () = assert!(MAX_HEAD == 16 * 1024, "the error message names the limit");

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};

    fn request(host: &str, port: u16, credentials: Option<(&str, &str)>) -> String {
        let mut out = Vec::new();
        write_request(host, port, credentials, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn request_names_host_and_port() {
        assert_eq!(
            request("feed.example", 443, None),
            "CONNECT feed.example:443 HTTP/1.1\r\nHost: feed.example:443\r\n\r\n"
        );
    }

    #[test]
    fn request_brackets_ipv6() {
        assert_eq!(
            request("2001:db8::1", 8443, None),
            "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n"
        );
    }

    #[test]
    fn request_with_credentials() {
        assert_eq!(
            request("h", 80, Some(("Aladdin", "open sesame"))),
            "CONNECT h:80 HTTP/1.1\r\nHost: h:80\r\nProxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
    }

    #[test]
    fn established_split_byte_by_byte() {
        let answer = b"HTTP/1.1 200 Connection established\r\nProxy-Agent: test\r\n\r\n";
        for end in 0..answer.len() {
            assert_eq!(parse_response(&answer[..end]), Ok(None), "{end}");
        }
        assert_eq!(parse_response(answer), Ok(Some(answer.len())));
    }

    #[test]
    fn bytes_after_the_head_belong_to_the_tunnel() {
        let mut buf = b"HTTP/1.0 200 OK\r\n\r\n".to_vec();
        let head_len = buf.len();
        buf.extend_from_slice(b"\x16\x03\x03\x00\x7a"); // a TLS ServerHello's record header
        assert_eq!(parse_response(&buf), Ok(Some(head_len)));
        // Even when the proxy says a body follows: RFC 9110 §9.3.6.
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec();
        let head_len = buf.len();
        buf.extend_from_slice(b"HTTP/1.1 101 ...");
        assert_eq!(parse_response(&buf), Ok(Some(head_len)));
    }

    #[test]
    fn any_2xx_opens_and_interim_answers_are_skipped() {
        assert_eq!(parse_response(b"HTTP/1.1 204 No Content\r\n\r\n"), Ok(Some(27)));
        let answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        assert_eq!(parse_response(answer), Ok(Some(answer.len())));
        assert_eq!(parse_response(b"HTTP/1.1 100 Continue\r\n\r\n"), Ok(None));
    }

    #[test]
    fn refusals() {
        for (status, permanent) in [(407, true), (403, true), (502, false), (503, false), (504, false)] {
            let answer = std::format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\n\r\n");
            let e = parse_response(answer.as_bytes()).unwrap_err();
            assert_eq!(e, ProxyError::Refused { status });
            assert_eq!(e.is_permanent(), permanent, "{status}");
        }
        let e = parse_response(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "proxy refused the tunnel: HTTP 407 Proxy Authentication Required"
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 403 Forbidden\r\n\r\n"),
            Err(ProxyError::Refused { status: 403 })
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
            Err(ProxyError::Refused { status: 101 })
        );
    }

    #[test]
    fn garbage() {
        for input in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"\x05\x00",
            b"HTTP/1.1 2OO OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
        ] {
            let e = parse_response(input).unwrap_err();
            assert!(matches!(e, ProxyError::Malformed { .. }), "{input:?}: {e:?}");
            assert!(!e.is_permanent());
        }
        assert_eq!(parse_response(b""), Ok(None));
    }

    #[test]
    fn head_limit() {
        let mut answer = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        answer.extend_from_slice(&[b'a'; 17 * 1024]);
        assert_eq!(
            parse_response(&answer),
            Err(ProxyError::Malformed {
                reason: "response head over 16 KiB"
            })
        );
    }
}
