//! The order in which resolved addresses are tried (RFC 8305 §4, "Happy
//! Eyeballs" v2): the connect path races them with staggered starts, so a
//! broken IPv6 (or IPv4) route costs one stagger, not one timeout per address.

use core::net::SocketAddr;
use std::vec::Vec;

/// `addrs` with the two families alternating, starting with the family of the
/// first address; the resolver's order (which already reflects RFC 6724
/// preferences) is kept within each family. Once one family runs out, the rest
/// of the other follows.
pub(crate) fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_is_v6 = first.is_ipv6();
    let (preferred, other): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|addr| addr.is_ipv6() == first_is_v6);
    let mut out = Vec::with_capacity(addrs.len());
    let mut preferred = preferred.into_iter();
    let mut other = other.into_iter();
    loop {
        match (preferred.next(), other.next()) {
            (None, None) => break,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    fn v4(last: u8) -> SocketAddr {
        SocketAddr::from(([192, 0, 2, last], 443))
    }

    fn v6(last: u16) -> SocketAddr {
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, last], 443))
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(interleave(vec![]), vec![]);
        assert_eq!(interleave(vec![v4(1)]), vec![v4(1)]);
        assert_eq!(interleave(vec![v6(1)]), vec![v6(1)]);
    }

    #[test]
    fn starts_with_the_first_family_and_alternates() {
        let addrs = vec![v6(1), v6(2), v6(3), v4(1), v4(2), v4(3)];
        assert_eq!(interleave(addrs), vec![v6(1), v4(1), v6(2), v4(2), v6(3), v4(3)]);
        let addrs = vec![v4(1), v4(2), v6(1), v6(2)];
        assert_eq!(interleave(addrs), vec![v4(1), v6(1), v4(2), v6(2)]);
    }

    #[test]
    fn keeps_the_resolver_order_within_a_family() {
        let addrs = vec![v6(9), v4(7), v6(3), v4(5), v4(1), v6(2)];
        assert_eq!(interleave(addrs), vec![v6(9), v4(7), v6(3), v4(5), v6(2), v4(1)]);
    }

    #[test]
    fn the_longer_family_finishes_the_list() {
        let addrs = vec![v4(1), v6(1), v4(2), v4(3), v4(4)];
        assert_eq!(interleave(addrs), vec![v4(1), v6(1), v4(2), v4(3), v4(4)]);
        let addrs = vec![v6(1), v4(1), v6(2), v6(3)];
        assert_eq!(interleave(addrs), vec![v6(1), v4(1), v6(2), v6(3)]);
    }

    #[test]
    fn one_family_only_is_unchanged() {
        let addrs = vec![v4(3), v4(1), v4(2)];
        assert_eq!(interleave(addrs.clone()), addrs);
        let addrs = vec![v6(3), v6(1)];
        assert_eq!(interleave(addrs.clone()), addrs);
    }
}
