//! Makes `shared/data/breached-skeletons.bin` from password lists (one password a line; a
//! `\r` before the newline is dropped): the fingerprints of both skeletons of every entry,
//! sorted, without repeats (see `learners::domain::password_list`).
//!
//! `cargo run -p learners --example breached_skeletons -- LIST... > shared/data/breached-skeletons.bin`

use learners::domain::password_list::{fingerprint, skeletons};
use std::io::Write;

fn main() -> anyhow::Result<()> {
    let mut fingerprints = Vec::new();
    let mut entries = 0usize;
    for path in std::env::args().skip(1) {
        let bytes = std::fs::read(&path)?;
        for line in String::from_utf8_lossy(&bytes).lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                continue;
            }
            entries += 1;
            fingerprints.extend(skeletons(line).iter().map(|skeleton| fingerprint(skeleton)));
        }
    }
    fingerprints.sort_unstable();
    fingerprints.dedup();
    eprintln!("{entries} entries, {} fingerprints", fingerprints.len());
    let mut out = std::io::stdout().lock();
    for value in fingerprints {
        out.write_all(&value.to_be_bytes())?;
    }
    Ok(())
}
