//! The flows, one module each, with their own error enum. They use ports only: no AWS, no HTTP.

pub mod account;
pub mod activation;
pub mod admin;
pub mod admin_email;
pub mod audit;
pub mod bulk;
pub mod directory;
pub mod email_change;
pub mod mail_events;
pub mod operator_actions;
pub mod outbox;
pub mod passkeys;
pub mod pending;
pub mod recovery;
pub mod registration;
pub mod removal;
pub mod second_factor;
pub mod settings;
pub mod signin;
pub mod totp;
