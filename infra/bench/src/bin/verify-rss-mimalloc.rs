//! Resident memory after repeated argon2id verifies on mimalloc (`verify_rss.rs`).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../verify_rss.rs"]
mod verify_rss;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    verify_rss::run().await
}
