//! The allocator's other half of the evidence (its start cost is in the cold-start table):
//! resident memory after repeated argon2id verifies (19 MiB each), on the system allocator and
//! on mimalloc, under the template's `MIMALLOC_*` settings and under mimalloc's defaults. Each
//! figure comes from a fresh child process (`src/bin/verify-rss-*.rs`), one at a time as in a
//! Lambda function and two at a time as in the local gateway on two cores.

use crate::coldstart::{binary_dir, template_environment, MIMALLOC_OPTIONS};
use std::process::Command;

const VERIFIES: usize = 40;

pub fn run() -> anyhow::Result<()> {
    let dir = binary_dir()?;
    let settings: Vec<(String, String)> = template_environment()?
        .into_iter()
        .filter(|(key, _)| key.starts_with(MIMALLOC_OPTIONS))
        .filter_map(|(key, value)| Some((key, value?)))
        .collect();
    let mut variants = vec![("system allocator", "verify-rss-system", Vec::new())];
    if settings.is_empty() {
        variants.push(("mimalloc (defaults)", "verify-rss-mimalloc", Vec::new()));
    } else {
        variants.push(("mimalloc (the template's settings)", "verify-rss-mimalloc", settings));
        variants.push(("mimalloc (defaults)", "verify-rss-mimalloc", Vec::new()));
    }
    println!("\nresident memory after {VERIFIES} argon2id verifies (m = 19 MiB), MiB: before, after, peak");
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
            let figures: Vec<f64> = text
                .split_whitespace()
                .map(|kib| kib.parse::<f64>().map(|kib| kib / 1024.0))
                .collect::<Result<_, _>>()?;
            let [before, after, peak] = figures[..] else {
                anyhow::bail!("{binary} printed {text:?}");
            };
            println!("{:<46} {before:>7.1} {after:>7.1} {peak:>7.1}", format!("{label}, {at_a_time} at a time"));
        }
    }
    Ok(())
}
