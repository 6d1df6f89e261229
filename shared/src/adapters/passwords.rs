//! `Passwords` with argon2id (see `domain::PasswordHash` for the parameters).
//!
//! At most one hash or verification per core runs at a time: more would only share the cores,
//! and each holds 19 MiB, so a burst (a batch of bulk rows, parallel sign-ins) would cost memory
//! and cache for nothing.

use crate::domain::{Password, PasswordHash};
use crate::ports::Passwords;
use async_trait::async_trait;
use std::sync::OnceLock;
use tokio::sync::Semaphore;

pub struct Argon2Passwords;

fn permits() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)))
}

#[async_trait]
impl Passwords for Argon2Passwords {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        let _permit = permits().acquire().await?;
        PasswordHash::of(password).await
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool> {
        let _permit = permits().acquire().await?;
        hash.verify(candidate).await
    }
}
