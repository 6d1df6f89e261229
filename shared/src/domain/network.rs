//! Source networks: what the per-source counts (failed sign-ins, mail asked for) are kept by.
//! An IPv4 address counts as itself, an IPv6 address by its /64 (one subscriber is given a whole
//! /64 and may use any of its 2^64 addresses), and an IPv4-mapped address as its IPv4 address.
//! A count's key is an HMAC of the network under a secret, so a copy of the table names no
//! address (an unkeyed hash of an IPv4 address is undone by trying all 2^32).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;

/// The network `ip` counts for; None when it is not an address.
pub fn network_of(ip: &str) -> Option<String> {
    Some(match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    })
}

/// The keyed hash (hex) of a network for one purpose: the same network gives another key for
/// another purpose, and without the secret a key tells nothing about the network.
pub fn network_hmac(secret: &str, purpose: &str, network: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(purpose.as_bytes());
    mac.update(network.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}
