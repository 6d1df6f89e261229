//! The learner account service's domain crate.
//!
//! - `domain`: validating newtypes (an invalid email, username, name or password cannot exist).
//! - `ports`: what the flows need from the outside world, as traits.
//! - `adapters`: the implementations of those ports: AWS (DynamoDB, SES v2, SQS) and in-memory
//!   twins that keep the same atomicity and uniqueness rules.
//! - `flows`: one module per flow, with its own error enum; no AWS and no HTTP in there.
//! - `oidc`: the OpenID Connect provider's flows (applications sign learners in with it).
//! - `http`: request parsing, the error envelope, operator identity, HTML pages.
//! - `look`: the one stylesheet of pages and mail, with the site's name, logo and colour.
//! - `handlers`: one module per Lambda function; the binaries, the local gateway and the tests
//!   all call these same functions.
//! - `wiring`: which adapter backs which port (AWS or in-memory), and the Lambda entry points;
//!   the only module that names adapters, and nothing in the core imports it.

pub mod adapters;
pub mod app;
pub mod config;
pub mod domain;
pub mod flows;
pub mod handlers;
pub mod http;
pub mod jobs;
pub mod look;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod ports;
pub mod telemetry;
pub mod wiring;

#[cfg(test)]
mod escaping_tests;

pub use app::App;
pub use config::Config;
