//! Implementations of the ports: `aws` (DynamoDB, SES v2, SQS) and `memory` (the embedded
//! default of `make dev`, and the fast side of the contract tests), plus clocks.

pub mod aws;
pub mod capacity;
pub mod clock;
pub mod memory;
pub mod passwords;
