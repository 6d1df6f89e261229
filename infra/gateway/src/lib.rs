//! The local gateway: one HTTP server that plays API Gateway for every function.
//!
//! Routes are read from `template.yaml` (so the gateway and the template cannot drift), each
//! request becomes the same `lambda_http::Request` API Gateway would hand the function (route
//! key, path and query parameters, and an IAM identity when the admin token is presented), and
//! the function's own handler answers it. `/_dev/mail` shows captured mail on the in-memory
//! backend; nothing under `/_dev` exists in AWS.

pub mod routes;
mod server;
pub mod workers;

pub use routes::{Route, RouteTable};
pub use server::{serve, Gateway, LOCAL_OPERATOR};
pub use workers::Workers;
