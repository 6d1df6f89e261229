//! The allocator's other half of the evidence (its start cost is in the cold-start table):
//! resident memory and time after repeated argon2id verifies (19 MiB of working memory each, kept
//! between verifies by `domain::password`), on the system allocator (the functions') and on
//! mimalloc, under its defaults and without transparent huge pages. Each figure comes from a
//! fresh child process (`src/bin/verify-rss-*.rs`), one at a time as in a Lambda function and
//! two at a time as in the local gateway on two cores.

use crate::coldstart::{binary_dir, MIMALLOC_WITHOUT_THP};
use std::process::Command;

const VERIFIES: usize = 40;

pub fn run() -> anyhow::Result<()> {
    let dir = binary_dir()?;
    let (key, value) = MIMALLOC_WITHOUT_THP;
    let variants = [
        ("system allocator (the functions')", "verify-rss-system", vec![]),
        ("mimalloc (defaults)", "verify-rss-mimalloc", vec![]),
        ("mimalloc (no THP)", "verify-rss-mimalloc", vec![(key, value)]),
    ];
    println!(
        "\nresident memory after {VERIFIES} argon2id verifies (m = 19 MiB), MiB: before, after, peak; ms a verify"
    );
    for (label, binary, environment) in variants {
        let path = dir.join(binary);
        if !path.is_file() {
            println!("{label}: skipped, {} is not built", path.display());
            continue;
        }
        for at_a_time in [1, 2] {
            let output = Command::new(&path)
                .args([VERIFIES.to_string(), at_a_time.to_string()])
                .env_clear()
                .envs(environment.iter().cloned())
                .output()?;
            anyhow::ensure!(output.status.success(), "{binary}: {}", String::from_utf8_lossy(&output.stderr));
            let text = String::from_utf8(output.stdout)?;
            let figures: Vec<f64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
            let [before, after, peak, milliseconds] = figures[..] else {
                anyhow::bail!("{binary} printed {text:?}");
            };
            let [before, after, peak] = [before, after, peak].map(|kib| kib / 1024.0);
            println!(
                "{:<46} {before:>7.1} {after:>7.1} {peak:>7.1} {milliseconds:>7.1}",
                format!("{label}, {at_a_time} at a time")
            );
        }
    }
    Ok(())
}
