//! What each Lambda function calls in AWS besides DynamoDB and SQS (which every function's
//! adapters reach), as its IAM policy in `template.yaml` grants it. Each function's `main` passes
//! its own entry (`functions::REGISTER`) and so links the SDK of each service it calls and of no
//! other: the AWS SDKs are most of a binary, and what a binary links, its cold start maps and
//! relocates (docs/benchmarks.md, "Cold start").
//!
//! Held to the template by a test (`tests/suite/policies.rs`), and to the code by the local
//! gateway, which runs each handler with only its own function's services (`Services::confine`):
//! a test through the gateway fails where a function would call a service it is not wired, and
//! not allowed, to call.

use crate::adapters::aws::{KmsSealer, KmsSigner, NoSealer, NoSigner, S3Uploads, SesMailer};
use crate::adapters::unwired::Unwired;
use crate::ports::{Mailer, Sealer, Signer, Uploads};
use crate::{App, Config};
use aws_config::SdkConfig;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Makes a port's adapter from the SDK configuration and the function's configuration.
pub type Make<Port> = fn(&SdkConfig, &Config) -> Arc<Port>;
/// Reads SSM SecureString parameters by name, in the order given.
pub type ReadSecrets =
    for<'a> fn(&'a SdkConfig, &'a [&'a str]) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + 'a>>;

/// The AWS services one function calls beyond DynamoDB and SQS; `None`: it does not call it.
#[derive(Clone, Copy)]
pub struct Services {
    /// SSM Parameter Store: the secrets read at start (the counter key, the retirement secret).
    pub secrets: Option<ReadSecrets>,
    /// SES: sending mail.
    pub mail: Option<Make<dyn Mailer>>,
    /// KMS: signing ID tokens and publishing the public keys.
    pub signing: Option<Make<dyn Signer>>,
    /// KMS: sealing the passwords of a bulk registration, and opening them.
    pub sealing: Option<Make<dyn Sealer>>,
    /// S3: the uploads' bucket (signed uploads, reading and deleting an upload).
    pub uploads: Option<Make<dyn Uploads>>,
}

impl Services {
    /// `app` with an `Unwired` adapter for each service this function does not call.
    pub fn confine(&self, app: &App) -> App {
        let mut app = app.clone();
        if self.mail.is_none() {
            app.mailer = Arc::new(Unwired(SES));
        }
        if self.signing.is_none() {
            app.signer = Arc::new(Unwired(KMS));
        }
        if self.sealing.is_none() {
            app.sealer = Arc::new(Unwired(KMS));
        }
        if self.uploads.is_none() {
            app.uploads = Arc::new(Unwired(S3));
        }
        app
    }

    /// The mailer: SES where the function sends mail, else `Unwired`.
    pub fn mailer(&self, sdk: &SdkConfig, config: &Config) -> Arc<dyn Mailer> {
        self.mail.map_or_else(|| Arc::new(Unwired(SES)) as _, |make| make(sdk, config))
    }

    /// The signer: KMS where the function signs ID tokens, else `Unwired`.
    pub fn signer(&self, sdk: &SdkConfig, config: &Config) -> Arc<dyn Signer> {
        self.signing.map_or_else(|| Arc::new(Unwired(KMS)) as _, |make| make(sdk, config))
    }

    /// The sealer: KMS where the function seals or opens bulk passwords, else `Unwired`.
    pub fn sealer(&self, sdk: &SdkConfig, config: &Config) -> Arc<dyn Sealer> {
        self.sealing.map_or_else(|| Arc::new(Unwired(KMS)) as _, |make| make(sdk, config))
    }

    /// The uploads: S3 where the function signs, reads or deletes uploads, else `Unwired`.
    pub fn uploads(&self, sdk: &SdkConfig, config: &Config) -> Arc<dyn Uploads> {
        self.uploads.map_or_else(|| Arc::new(Unwired(S3)) as _, |make| make(sdk, config))
    }

    /// The names of the services wired, as the template's tests and the docs name them.
    pub fn names(&self) -> Vec<&'static str> {
        [
            (self.secrets.is_some(), SSM),
            (self.mail.is_some(), SES),
            (self.signing.is_some(), "KMS (signing)"),
            (self.sealing.is_some(), "KMS (sealing)"),
            (self.uploads.is_some(), S3),
        ]
        .into_iter()
        .filter_map(|(wired, name)| wired.then_some(name))
        .collect()
    }
}

const SSM: &str = "SSM";
const SES: &str = "SES";
const KMS: &str = "KMS";
const S3: &str = "S3";

/// DynamoDB and SQS only.
const NONE: Services = Services { secrets: None, mail: None, signing: None, sealing: None, uploads: None };
/// The learner-facing functions: the counter key (and for some the retirement secret) from SSM.
const SECRETS: Services = Services { secrets: Some(ssm_secrets), ..NONE };

pub const REGISTER: Services = SECRETS;
pub const ACTIVATE: Services = SECRETS;
pub const ADMIN_USERS: Services = SECRETS;
pub const SESSIONS: Services = SECRETS;
pub const SECOND_FACTOR: Services = SECRETS;
pub const ACCOUNT: Services = SECRETS;
pub const ACCOUNT_EMAIL: Services = SECRETS;
pub const PASSWORD_RESET: Services = SECRETS;
pub const PASSKEYS: Services = SECRETS;
pub const DELETION_WORKER: Services = SECRETS;
pub const OPERATOR_CONSOLE: Services = Services { sealing: Some(kms_sealer), uploads: Some(s3_uploads), ..SECRETS };
pub const BULK_REGISTRATIONS: Services = Services { sealing: Some(kms_sealer), uploads: Some(s3_uploads), ..NONE };
pub const DELETIONS: Services = Services { uploads: Some(s3_uploads), ..NONE };
pub const INTAKE: Services = Services { sealing: Some(kms_sealer), uploads: Some(s3_uploads), ..NONE };
pub const BULK_WORKER: Services = Services { sealing: Some(kms_sealer), ..NONE };
pub const MAIL_WORKER: Services = Services { mail: Some(ses_mailer), ..NONE };
pub const MAIL_EVENTS: Services = NONE;
pub const OIDC: Services = Services { signing: Some(kms_signer), ..NONE };
pub const OIDC_TOKEN: Services = Services { signing: Some(kms_signer), ..NONE };
pub const OIDC_CLIENTS: Services = NONE;

/// Every function (by its binary's name in `template.yaml`) and its services: the local
/// gateway's and the tests' table. A function's `main` names its own entry instead, so that it
/// links no other.
pub const ALL: &[(&str, Services)] = &[
    ("register", REGISTER),
    ("activate", ACTIVATE),
    ("admin-users", ADMIN_USERS),
    ("sessions", SESSIONS),
    ("second-factor", SECOND_FACTOR),
    ("account", ACCOUNT),
    ("account-email", ACCOUNT_EMAIL),
    ("password-reset", PASSWORD_RESET),
    ("passkeys", PASSKEYS),
    ("bulk-registrations", BULK_REGISTRATIONS),
    ("deletions", DELETIONS),
    ("operator-console", OPERATOR_CONSOLE),
    ("oidc", OIDC),
    ("oidc-token", OIDC_TOKEN),
    ("oidc-clients", OIDC_CLIENTS),
    ("mail-worker", MAIL_WORKER),
    ("bulk-worker", BULK_WORKER),
    ("deletion-worker", DELETION_WORKER),
    ("mail-events", MAIL_EVENTS),
    ("intake", INTAKE),
];

/// The services of the function built as `binary`.
pub fn of(binary: &str) -> Option<Services> {
    ALL.iter().find(|(name, _)| *name == binary).map(|(_, services)| *services)
}

fn ssm_secrets<'a>(
    sdk: &'a SdkConfig,
    names: &'a [&'a str],
) -> Pin<Box<dyn Future<Output = anyhow::Result<Vec<String>>> + 'a>> {
    Box::pin(async move { crate::adapters::aws::secret_parameters(&aws_sdk_ssm::Client::new(sdk), names).await })
}

fn ses_mailer(sdk: &SdkConfig, config: &Config) -> Arc<dyn Mailer> {
    Arc::new(SesMailer::lazy(sdk, &config.mail_from, config.ses_configuration_set.clone()))
}

/// The KMS key `LEARNERS_OIDC_KMS_KEY_ID` names, or none (every signature then fails, saying so).
fn kms_signer(sdk: &SdkConfig, config: &Config) -> Arc<dyn Signer> {
    match &config.oidc_kms_key_id {
        Some(key) => Arc::new(KmsSigner::lazy(sdk, key, &config.oidc_previous_kms_key_ids)),
        None => Arc::new(NoSigner),
    }
}

/// The KMS key `LEARNERS_BULK_PASSWORD_KMS_KEY_ID` names, or none (sealing then fails, saying so).
fn kms_sealer(sdk: &SdkConfig, config: &Config) -> Arc<dyn Sealer> {
    match &config.bulk_password_kms_key_id {
        Some(key) => Arc::new(KmsSealer::lazy(sdk, key)),
        None => Arc::new(NoSealer),
    }
}

fn s3_uploads(sdk: &SdkConfig, config: &Config) -> Arc<dyn Uploads> {
    super::uploads_in(config, |bucket| S3Uploads::lazy(sdk, bucket))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::clock::ManualClock;

    /// The gateway's confinement: a function keeps the adapters of its own services and gets an
    /// `Unwired` one for each other.
    #[tokio::test]
    async fn a_confined_app_keeps_its_own_services_and_refuses_the_others() {
        let config = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org")]).unwrap();
        let (app, _parts) = crate::wiring::in_memory(config, Arc::new(ManualClock::new()));
        let unwired = |e: anyhow::Error| e.to_string().contains("not wired to call");

        let oidc = OIDC.confine(&app);
        assert!(oidc.signer.public_keys().await.is_ok(), "the discovery function publishes its keys");
        assert!(unwired(oidc.uploads.delete("uploads/x").await.unwrap_err()));
        assert!(unwired(oidc.sealer.seal("job", &[]).await.unwrap_err()));

        let register = REGISTER.confine(&app);
        assert!(unwired(register.signer.public_keys().await.unwrap_err()));
        assert!(unwired(register.uploads.delete("uploads/x").await.unwrap_err()));

        let intake = INTAKE.confine(&app);
        assert!(intake.sealer.seal("job", &[(2, "a long password".into())]).await.is_ok());
        assert!(intake.uploads.delete("uploads/x").await.is_ok());
        assert!(unwired(intake.signer.public_keys().await.unwrap_err()));
    }

    #[test]
    fn every_function_is_listed_once() {
        let mut names: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(of("register").map(|s| s.names()), Some(vec![SSM]));
        assert_eq!(of("mail-worker").map(|s| s.names()), Some(vec![SES]));
        assert!(of("no-such-function").is_none());
    }
}
