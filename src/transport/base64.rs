//! Base64 (RFC 4648 §4, standard alphabet, padded), only as far as HTTP Basic
//! credentials need it: encoding.

use std::string::String;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `input` in standard base64 with `=` padding.
pub(crate) fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    let mut chunks = input.chunks_exact(3);
    for chunk in &mut chunks {
        if let [a, b, c] = *chunk {
            let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
            push_sextets(&mut out, n, 4);
        }
    }
    match *chunks.remainder() {
        [a] => {
            push_sextets(&mut out, u32::from(a) << 16, 2);
            out.push_str("==");
        }
        [a, b] => {
            push_sextets(&mut out, u32::from(a) << 16 | u32::from(b) << 8, 3);
            out.push('=');
        }
        _ => {}
    }
    out
}

/// The first `count` sextets of the 24-bit group `n`, most significant first.
fn push_sextets(out: &mut String, n: u32, count: u32) {
    for i in 0..count {
        let index = (n >> (18 - 6 * i)) & 0x3f;
        // `index` is below 64 by the mask, so the lookup cannot fail.
        if let Some(&symbol) = ALPHABET.get(index as usize) {
            out.push(char::from(symbol));
        }
    }
}

/// The value of an `Authorization` (or `Proxy-Authorization`) header for
/// HTTP Basic (RFC 7617), credentials taken as UTF-8.
pub(crate) fn basic_auth(user: &str, password: &str) -> String {
    let mut pair = String::with_capacity(user.len() + 1 + password.len());
    pair.push_str(user);
    pair.push(':');
    pair.push_str(password);
    let mut out = String::from("Basic ");
    out.push_str(&encode(pair.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn every_byte_and_both_high_symbols() {
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(encode(&[0, 0, 0]), "AAAA");
        assert_eq!(encode(&[0xff]), "/w==");
        let all: std::vec::Vec<u8> = (0..=255).collect();
        let encoded = encode(&all);
        assert_eq!(encoded.len(), 344);
        assert!(encoded.starts_with("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"));
        assert!(encoded.ends_with("+/w=="));
    }

    #[test]
    fn basic_auth_matches_rfc_7617() {
        assert_eq!(
            basic_auth("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        // RFC 7617 §2.1: the user-pass is UTF-8.
        assert_eq!(basic_auth("test", "123\u{a3}"), "Basic dGVzdDoxMjPCow==");
        assert_eq!(basic_auth("user", ""), "Basic dXNlcjo=");
    }
}
