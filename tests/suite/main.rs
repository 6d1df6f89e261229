//! The test suite beyond unit tests: port contracts on both backends, end-to-end flows through
//! the local gateway on both backends, handler robustness, and route/template/OpenAPI agreement.

mod account_page;
mod activation;
mod admin;
mod audit_log;
mod bad_input;
mod bulk;
mod contract;
mod contract_oidc;
mod deploy;
mod docs;
mod email_change;
mod front;
mod layers;
mod mail;
mod oidc;
mod oidc_social;
mod openapi;
mod operator_actions;
mod operator_email;
mod operator_second_factor;
mod operator_support;
mod passkeys;
mod passwords;
mod policies;
mod recovery;
mod registration;
mod removal;
mod routes;
mod row_jobs;
mod second_factor;
mod signin;
mod site_settings;
mod uniform;
mod uploads;
mod workers;
