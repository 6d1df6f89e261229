//! Resident memory after repeated argon2id verifies on the system allocator (`verify_rss.rs`).

#[path = "../verify_rss.rs"]
mod verify_rss;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    verify_rss::run().await
}
