//! `Passwords` with argon2id (see `domain::PasswordHash` for the parameters).

use crate::domain::{Password, PasswordHash};
use crate::ports::Passwords;
use async_trait::async_trait;

pub struct Argon2Passwords;

#[async_trait]
impl Passwords for Argon2Passwords {
    async fn hash(&self, password: &Password) -> anyhow::Result<PasswordHash> {
        PasswordHash::of(password).await
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> anyhow::Result<bool> {
        hash.verify(candidate).await
    }
}
