//! The body of the two `verify-rss-*` binaries, which differ only in their allocator:
//! `verify-rss-<allocator> <verifies> <at a time>` runs that many argon2id verifies (OWASP
//! parameters, on tokio's blocking pool as the functions run them) and prints its resident
//! memory (VmRSS, KiB) before and after, its peak (VmHWM), and the milliseconds a verify took
//! (wall time over the verifies).

use learners::domain::{PasswordHash, PasswordPolicy};

pub async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let verifies: usize = args.next().unwrap_or_else(|| "40".into()).parse()?;
    let at_a_time: usize = args.next().unwrap_or_else(|| "1".into()).parse()?;
    let before = status_kib("VmRSS:")?;
    let password = PasswordPolicy::default().check("correct horse battery staple", &[]).map_err(anyhow::Error::msg)?;
    let hash = PasswordHash::of(&password).await?;
    let started = std::time::Instant::now();
    for _ in 0..verifies.div_ceil(at_a_time.max(1)) {
        let rounds = (0..at_a_time.max(1)).map(|_| hash.verify("correct horse battery staple"));
        for verified in futures::future::join_all(rounds).await {
            anyhow::ensure!(verified?, "the hash verifies");
        }
    }
    let milliseconds = started.elapsed().as_secs_f64() * 1000.0 / verifies.max(1) as f64;
    println!("{before} {} {} {milliseconds:.1}", status_kib("VmRSS:")?, status_kib("VmHWM:")?);
    Ok(())
}

fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status.lines().find(|l| l.starts_with(field)).ok_or_else(|| anyhow::anyhow!("no {field}"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}
