//! Configuration, read once at start-up from `LEARNERS_*` environment variables and validated;
//! a bad value stops the process with a message naming the variable.

use crate::domain::LockoutPolicy;
use crate::look::Look;
use crate::ports::Queue;
use anyhow::{bail, Context};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug)]
pub struct Config {
    /// Public base URL of the learners' site; every link in an email is built from it, never
    /// from request headers (CVE-2017-18380, reset poisoning).
    pub site_url: String,
    pub site_name: String,
    pub mail_from: String,
    /// The display name mail is sent under: the site's name until a support person sets the
    /// site setting `mail_from_name` (issue 25).
    pub mail_from_name: String,
    pub table_name: String,
    /// Queue URLs (`LEARNERS_*_QUEUE_URL`); absent ones make enqueueing fail loudly.
    pub queue_urls: BTreeMap<Queue, String>,
    pub activation_ttl_seconds: i64,
    /// `LEARNERS_PASSWORD_MIN_LENGTH`: the least characters of a password that is the account's
    /// only factor (default 15, NIST SP 800-63B-4; never under 8).
    pub password_min_length: usize,
    /// `LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR`: the same where a second factor is enrolled
    /// (default 8, never under 8).
    pub password_min_length_second_factor: usize,
    /// `LEARNERS_BREACHED_PASSWORD_API`: base URL of a Have I Been Pwned range API
    /// (`https://api.pwnedpasswords.com` in production); unset, only the local list is asked.
    pub breached_password_api: Option<String>,
    /// Least time between two activation emails to one account (`LEARNERS_RESEND_INTERVAL_SECONDS`,
    /// 900 by default; never 0 on AWS).
    pub resend_interval_seconds: i64,
    /// `LEARNERS_MAILS_PER_ADDRESS_PER_DAY`: mails a day to one account that strangers' requests
    /// can cause (activation links, registration notices); 3 by default.
    pub mails_per_address_per_day: u32,
    /// `LEARNERS_MAILS_PER_SOURCE_PER_DAY`: such mails a day asked for from one source IP (an
    /// IPv6 /64); 0 switches the limit off.
    pub mails_per_source_per_day: u32,
    pub session_ttl_seconds: i64,
    /// Lifetime of an operator's session (at most; the session's own TTL may be shorter).
    pub operator_session_ttl_seconds: i64,
    /// `LEARNERS_SESSION_IDLE_SECONDS`: a learner's session ends after this long without a
    /// request (an operator's after `OPERATOR_IDLE_SECONDS`).
    pub session_idle_seconds: i64,
    pub reset_ttl_seconds: i64,
    /// Reset mails per account per hour.
    pub reset_mails_per_hour: u32,
    pub lockout: LockoutPolicy,
    /// `LEARNERS_MAX_FAILED_LOGINS_PER_IP`: failed sign-ins an hour from one source IP across
    /// accounts (password spraying); 0 switches the limit off.
    pub max_failed_logins_per_ip: u32,
    /// `LEARNERS_SELF_REMOVAL_ENABLED`: may learners delete their own account?
    pub self_removal_enabled: bool,
    /// `LEARNERS_RETIREMENT_SECRET`: the HMAC key of retirement records (deletions need it).
    /// In AWS it is not in the environment: `LEARNERS_RETIREMENT_SECRET_PARAMETER` names an SSM
    /// SecureString that only the deletion worker may read, fetched at its start.
    pub retirement_secret: Option<String>,
    pub retirement_secret_parameter: Option<String>,
    /// `LEARNERS_COUNTER_KEY`: the HMAC key of sign-in counter keys (at least 32 characters);
    /// in AWS an SSM SecureString named by `LEARNERS_COUNTER_KEY_PARAMETER`, read at start by
    /// the functions that count sign-ins.
    pub counter_key: Option<String>,
    pub counter_key_parameter: Option<String>,
    /// The site's name, logo and colour, and the stylesheet built from them.
    pub look: Look,
    /// `LEARNERS_OPERATOR_PRINCIPALS`: the IAM principals (ARN patterns, `*` for any run of
    /// characters) that are operators on `/admin/v1/`. None: no IAM caller is one.
    pub operator_principals: Vec<glob::Pattern>,
    /// `LEARNERS_MAX_RECEIVES`: deliveries of a queue message before it goes to the dead-letter
    /// queue (the template's `MaxReceiveCount`, in the queues' redrive policies and here); the
    /// workers settle a message's rows as failed on its last delivery.
    pub max_receives: u32,
    /// `LEARNERS_ROW_MIN_MILLIS`: the least time one message's worker spends on a row of a job
    /// (it waits out the rest): with the event source's concurrency and batch size, a bound on
    /// the rows a second a job writes, held under the table's warm throughput by a template
    /// test (`deploy::bulk_and_deletion_peaks_stay_under_the_tables_warm_throughput`). 0 (the
    /// default, `make dev` and the tests): no pace.
    pub row_min_millis: u64,
    /// `LEARNERS_SES_CONFIGURATION_SET`: the SES configuration set mail is sent with (its
    /// bounce and complaint events come back through the mail events queue).
    pub ses_configuration_set: Option<String>,
    /// `LEARNERS_METRICS_NAMESPACE`: CloudWatch namespace of the EMF metrics; unset, none are
    /// written.
    pub metrics_namespace: Option<String>,
    /// `LEARNERS_OIDC_KMS_KEY_ID`: the KMS key that signs ID tokens (AWS only; locally a key
    /// made at start signs), and `LEARNERS_OIDC_PREVIOUS_KMS_KEY_IDS` (comma-separated): keys
    /// of before a rotation, kept in the JWKS until their tokens have expired.
    pub oidc_kms_key_id: Option<String>,
    pub oidc_previous_kms_key_ids: Vec<String>,
    /// `LEARNERS_BULK_PASSWORD_KMS_KEY_ID`: the KMS key that seals the passwords of bulk rows
    /// while they wait for the worker (AWS only, set for the bulk intakes and worker; locally a
    /// key made at start seals).
    pub bulk_password_kms_key_id: Option<String>,
    /// `LEARNERS_UPLOAD_BUCKET`: the private bucket bulk files are uploaded to (AWS only; the
    /// memory backend keeps them in the local gateway).
    pub upload_bucket: Option<String>,
    /// `LEARNERS_OPERATOR_SECOND_FACTOR`: must an operator have a second factor to use the
    /// console (`required`, the default), or may one without it confirm with the password
    /// (`optional`)?
    pub operator_second_factor: OperatorSecondFactor,
    /// `LEARNERS_LMS_URL`: the address of the LMS this service signs people in to, linked from
    /// the home page (`/`); unset, the home page has no such link.
    pub lms_url: Option<String>,
    /// `LEARNERS_TERMS_URL` and `LEARNERS_PRIVACY_URL`: the terms of service and the privacy
    /// policy, linked beside the registration form's checkbox; unset, the form names the terms
    /// without a link.
    pub terms_url: Option<String>,
    pub privacy_url: Option<String>,
    /// `LEARNERS_TERMS_VERSION`: the version of the terms in force (required with
    /// `LEARNERS_TERMS_URL`), recorded on each account that accepts them at registration.
    pub terms_version: Option<String>,
}

/// Whether the operator console asks for a second factor (`LEARNERS_OPERATOR_SECOND_FACTOR`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OperatorSecondFactor {
    /// Without a session begun with a second factor, the console shows only how to enrol one
    /// (OWASP ASVS 5.0 6.3.3, NIST SP 800-63B-4 AAL2).
    #[default]
    Required,
    /// An operator without one uses the console with the password, as before second factors.
    Optional,
}

impl OperatorSecondFactor {
    pub fn is_required(self) -> bool {
        self == Self::Required
    }
}

pub const DEFAULT_ACTIVATION_TTL_SECONDS: i64 = 259_200;
/// SQS deliveries of a message before the dead-letter queue, unless `LEARNERS_MAX_RECEIVES` says.
pub const DEFAULT_MAX_RECEIVES: u32 = 3;

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds a configuration from explicit values, with the same defaults and validation.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> anyhow::Result<Self> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self::from_lookup(|name| map.get(name).cloned())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let get =
            |name: &str, default: &str| lookup(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned());
        let site_url =
            lookup("LEARNERS_SITE_URL").context("LEARNERS_SITE_URL must be set (e.g. https://learn.example.org)")?;
        let site_name = get("LEARNERS_SITE_NAME", "Learners");
        let look = Look::new(
            &site_name,
            lookup("LEARNERS_BRAND_COLOR").as_deref(),
            lookup("LEARNERS_SITE_LOGO_URL").as_deref(),
        )?;
        let config = Self {
            site_url: parse_site_url(&site_url)?,
            mail_from_name: site_name.clone(),
            site_name,
            look,
            mail_from: get("LEARNERS_MAIL_FROM", "no-reply@example.com"),
            table_name: get("LEARNERS_TABLE_NAME", "learners"),
            queue_urls: Queue::ALL
                .into_iter()
                .filter_map(|queue| lookup(queue.url_variable()).filter(|url| !url.is_empty()).map(|url| (queue, url)))
                .collect(),
            activation_ttl_seconds: number(
                &lookup,
                "LEARNERS_ACTIVATION_TTL_SECONDS",
                DEFAULT_ACTIVATION_TTL_SECONDS,
                60,
            )?,
            password_min_length: number(
                &lookup,
                "LEARNERS_PASSWORD_MIN_LENGTH",
                crate::domain::MIN_LENGTH_SINGLE_FACTOR as i64,
                crate::domain::MIN_LENGTH_WITH_SECOND_FACTOR as i64,
            )? as usize,
            password_min_length_second_factor: number(
                &lookup,
                "LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR",
                crate::domain::MIN_LENGTH_WITH_SECOND_FACTOR as i64,
                crate::domain::MIN_LENGTH_WITH_SECOND_FACTOR as i64,
            )? as usize,
            breached_password_api: breached_password_api(lookup("LEARNERS_BREACHED_PASSWORD_API").as_deref())?,
            resend_interval_seconds: number(&lookup, "LEARNERS_RESEND_INTERVAL_SECONDS", 900, 0)?,
            mails_per_address_per_day: number(&lookup, "LEARNERS_MAILS_PER_ADDRESS_PER_DAY", 3, 1)? as u32,
            mails_per_source_per_day: number(&lookup, "LEARNERS_MAILS_PER_SOURCE_PER_DAY", 100, 0)? as u32,
            session_ttl_seconds: number(&lookup, "LEARNERS_SESSION_TTL_SECONDS", 1_209_600, 60)?,
            operator_session_ttl_seconds: number(&lookup, "LEARNERS_OPERATOR_SESSION_TTL_SECONDS", 28_800, 60)?,
            session_idle_seconds: number(
                &lookup,
                "LEARNERS_SESSION_IDLE_SECONDS",
                crate::domain::LEARNER_IDLE_SECONDS,
                120,
            )?,
            reset_ttl_seconds: number(&lookup, "LEARNERS_RESET_TTL_SECONDS", 3600, 60)?,
            reset_mails_per_hour: number(&lookup, "LEARNERS_RESET_MAILS_PER_HOUR", 2, 1)? as u32,
            self_removal_enabled: match lookup("LEARNERS_SELF_REMOVAL_ENABLED").as_deref().map(str::trim) {
                None | Some("") | Some("false") => false,
                Some("true") => true,
                Some(other) => bail!("LEARNERS_SELF_REMOVAL_ENABLED must be true or false, got {other:?}"),
            },
            retirement_secret: lookup("LEARNERS_RETIREMENT_SECRET").filter(|s| !s.is_empty()),
            retirement_secret_parameter: lookup("LEARNERS_RETIREMENT_SECRET_PARAMETER").filter(|s| !s.is_empty()),
            counter_key: lookup("LEARNERS_COUNTER_KEY").filter(|s| !s.is_empty()),
            counter_key_parameter: lookup("LEARNERS_COUNTER_KEY_PARAMETER").filter(|s| !s.is_empty()),
            operator_principals: operator_principals(lookup("LEARNERS_OPERATOR_PRINCIPALS").as_deref())?,
            max_failed_logins_per_ip: number(&lookup, "LEARNERS_MAX_FAILED_LOGINS_PER_IP", 100, 0)? as u32,
            max_receives: number(&lookup, "LEARNERS_MAX_RECEIVES", i64::from(DEFAULT_MAX_RECEIVES), 1)? as u32,
            row_min_millis: number(&lookup, "LEARNERS_ROW_MIN_MILLIS", 0, 0)?.min(60_000) as u64,
            ses_configuration_set: lookup("LEARNERS_SES_CONFIGURATION_SET").filter(|s| !s.is_empty()),
            metrics_namespace: lookup("LEARNERS_METRICS_NAMESPACE").filter(|s| !s.is_empty()),
            oidc_kms_key_id: lookup("LEARNERS_OIDC_KMS_KEY_ID").filter(|s| !s.is_empty()),
            oidc_previous_kms_key_ids: lookup("LEARNERS_OIDC_PREVIOUS_KMS_KEY_IDS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            bulk_password_kms_key_id: lookup("LEARNERS_BULK_PASSWORD_KMS_KEY_ID").filter(|s| !s.is_empty()),
            upload_bucket: lookup("LEARNERS_UPLOAD_BUCKET").filter(|s| !s.is_empty()),
            operator_second_factor: match lookup("LEARNERS_OPERATOR_SECOND_FACTOR").as_deref().map(str::trim) {
                None | Some("") | Some("required") => OperatorSecondFactor::Required,
                Some("optional") => OperatorSecondFactor::Optional,
                Some(other) => bail!("LEARNERS_OPERATOR_SECOND_FACTOR must be required or optional, got {other:?}"),
            },
            lms_url: public_url(&lookup, "LEARNERS_LMS_URL")?,
            terms_url: public_url(&lookup, "LEARNERS_TERMS_URL")?,
            privacy_url: public_url(&lookup, "LEARNERS_PRIVACY_URL")?,
            terms_version: terms_version(lookup("LEARNERS_TERMS_VERSION").as_deref())?,
            lockout: LockoutPolicy {
                max_failures: number(&lookup, "LEARNERS_MAX_FAILED_LOGINS", 6, 1)? as u32,
                lockout_seconds: number(&lookup, "LEARNERS_LOCKOUT_SECONDS", 1800, 1)?,
            },
        };
        if crate::domain::Email::parse(&config.mail_from).is_err() {
            bail!("LEARNERS_MAIL_FROM is not a valid email address: {:?}", config.mail_from);
        }
        if config.counter_key.as_ref().is_some_and(|s| s.len() < 32) {
            bail!("LEARNERS_COUNTER_KEY must have at least 32 characters");
        }
        if config.retirement_secret.as_ref().is_some_and(|s| s.len() < 32) {
            bail!("LEARNERS_RETIREMENT_SECRET must have at least 32 characters");
        }
        // NIST SP 800-63B-4: emailed recovery secrets live at most 24 hours.
        if config.reset_ttl_seconds > 86_400 {
            bail!("LEARNERS_RESET_TTL_SECONDS must be at most 86400 (24 hours)");
        }
        // NIST SP 800-63B-4: at most 100 consecutive failures per account.
        if config.lockout.max_failures > 100 {
            bail!("LEARNERS_MAX_FAILED_LOGINS must be at most 100");
        }
        if config.max_receives > 1000 {
            // SQS's own ceiling for maxReceiveCount.
            bail!("LEARNERS_MAX_RECEIVES must be at most 1000");
        }
        // Lambda sets AWS_LAMBDA_FUNCTION_NAME in every function's environment: there, mail must
        // never be asked for again and again without a pause (issue 21).
        if lookup("AWS_LAMBDA_FUNCTION_NAME").is_some_and(|s| !s.is_empty()) && config.resend_interval_seconds == 0 {
            bail!("LEARNERS_RESEND_INTERVAL_SECONDS must not be 0 on AWS (the default is 900)");
        }
        if config.terms_url.is_some() && config.terms_version.is_none() {
            bail!("LEARNERS_TERMS_VERSION must be set with LEARNERS_TERMS_URL (it is recorded on each account)");
        }
        if config.password_min_length > crate::domain::password::MAX_LENGTH {
            bail!("LEARNERS_PASSWORD_MIN_LENGTH must be at most 128");
        }
        if config.password_min_length_second_factor > crate::domain::password::MAX_LENGTH {
            bail!("LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR must be at most 128");
        }
        Ok(config)
    }

    /// Is the site served over https (so every answer carries HSTS)?
    pub fn site_is_https(&self) -> bool {
        self.site_url.starts_with("https://")
    }
}

fn number(lookup: &impl Fn(&str) -> Option<String>, name: &str, default: i64, min: i64) -> anyhow::Result<i64> {
    match lookup(name).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(raw) => {
            let value: i64 =
                raw.trim().parse().with_context(|| format!("{name} must be a whole number, got {raw:?}"))?;
            if value < min {
                bail!("{name} must be at least {min}, got {value}");
            }
            Ok(value)
        }
    }
}

/// A base URL (`https://...`, or `http://` to this machine for a local fake); empty is unset.
fn breached_password_api(raw: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    let url = url::Url::parse(raw).with_context(|| format!("LEARNERS_BREACHED_PASSWORD_API is not a URL: {raw:?}"))?;
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && local)) || url.query().is_some() {
        bail!(
            "LEARNERS_BREACHED_PASSWORD_API must be an https:// base URL (http:// only to this machine), got {raw:?}"
        );
    }
    Ok(Some(raw.trim_end_matches('/').to_owned()))
}

/// A page on the web that the site links to (`https://...`, or `http://` to this machine in
/// development); empty is unset. Only the address is shown, never fetched.
fn public_url(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<Option<String>> {
    let Some(raw) = lookup(name).map(|raw| raw.trim().to_owned()).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    let url = url::Url::parse(&raw).with_context(|| format!("{name} is not a URL: {raw:?}"))?;
    let local = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && local)) || !url.username().is_empty() {
        bail!("{name} must be an https:// URL (http:// only to this machine), got {raw:?}");
    }
    Ok(Some(raw))
}

/// A short label (`2026-01`, `v3`): at most 64 printable characters; empty is unset.
fn terms_version(raw: Option<&str>) -> anyhow::Result<Option<String>> {
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    if raw.chars().count() > 64 || raw.chars().any(char::is_control) {
        bail!("LEARNERS_TERMS_VERSION must be at most 64 printable characters, got {raw:?}");
    }
    Ok(Some(raw.to_owned()))
}

/// Comma-separated ARN patterns; each must look like an ARN.
fn operator_principals(raw: Option<&str>) -> anyhow::Result<Vec<glob::Pattern>> {
    raw.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if !p.starts_with("arn:") {
                bail!(
                    "LEARNERS_OPERATOR_PRINCIPALS holds ARN patterns (arn:aws:iam::123456789012:role/ops*), got {p:?}"
                );
            }
            glob::Pattern::new(p).with_context(|| format!("LEARNERS_OPERATOR_PRINCIPALS: {p:?} is not a pattern"))
        })
        .collect()
}

/// Is `arn` (the authorizer's `userArn`) one of the operators `patterns` name? An IAM user or a
/// pattern written for the caller's own ARN matches as written. A caller on a role (an assumed
/// role, an IAM Identity Center permission set) calls as
/// `arn:<partition>:sts::<account>:assumed-role/<role>/<session>`, without the role's path, so it
/// also matches a role pattern `arn:<partition>:iam::<account>:role/<path>/<role>`: the account
/// and the role name must match, the path is not in the ARN to check. A role pattern whose name
/// is only wildcards (`role/team/*`) would then name every role of the account, so such a
/// pattern matches an assumed role only without a path (`role/*` says so as written).
pub fn is_operator_principal(patterns: &[glob::Pattern], arn: &str) -> bool {
    let as_role = assumed_role(arn);
    patterns.iter().any(|pattern| {
        pattern.matches(arn)
            || as_role.as_ref().is_some_and(|(prefix, role)| {
                let Some((pattern_prefix, role_pattern)) = pattern.as_str().split_once(":role/") else {
                    return false;
                };
                let name = role_pattern.rsplit('/').next().unwrap_or(role_pattern);
                if name != role_pattern && name.chars().all(|c| matches!(c, '*' | '?')) {
                    return false;
                }
                glob::Pattern::new(&format!("{pattern_prefix}:role/{name}"))
                    .is_ok_and(|p| p.matches(&format!("{prefix}:role/{role}")))
            })
    })
}

/// `arn:<p>:sts::<account>:assumed-role/<role>/<session>` as (`arn:<p>:iam::<account>`, role).
fn assumed_role(arn: &str) -> Option<(String, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sts"), Some(""), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
    let plain = |s: &str| !s.is_empty() && !s.contains(['*', '?', '[', ']', '/']);
    (plain(partition) && plain(account) && plain(role) && !session.is_empty())
        .then(|| (format!("arn:{partition}:iam::{account}"), role))
}

/// A plain base URL; `http://` only on this machine's loopback (`make dev`): anywhere else
/// sessions and links must not cross the network in the clear.
fn parse_site_url(raw: &str) -> anyhow::Result<String> {
    let url = raw.trim().trim_end_matches('/');
    let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => bail!("LEARNERS_SITE_URL must start with https://, got {raw:?}"),
    };
    if rest.is_empty() || rest.contains(|c: char| c.is_whitespace() || c == '?' || c == '#' || c == '@') {
        bail!("LEARNERS_SITE_URL must be a plain base URL (scheme, host, optional port and path), got {raw:?}");
    }
    let host = match rest.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => rest.split(['/', ':']).next().unwrap_or(""),
    };
    if !https && !matches!(host, "localhost" | "127.0.0.1" | "::1") {
        bail!("LEARNERS_SITE_URL must be https:// (http:// is only for localhost or 127.0.0.1), got {raw:?}");
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_site_url_is_required() {
        let err = Config::from_pairs(&[]).unwrap_err();
        assert!(err.to_string().contains("LEARNERS_SITE_URL"));
        let config = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org/")]).unwrap();
        assert_eq!(config.site_url, "https://learn.example.org");
        assert_eq!(config.activation_ttl_seconds, 259_200);
        assert_eq!(config.password_min_length, 15);
        assert!(config.site_is_https());
        assert_eq!(config.session_ttl_seconds, 1_209_600);
        assert_eq!(config.lockout, LockoutPolicy { max_failures: 6, lockout_seconds: 1800 });
    }

    #[test]
    fn password_settings_default_to_nist_and_never_go_under_8() {
        let site = ("LEARNERS_SITE_URL", "https://x.org");
        let config = Config::from_pairs(&[site]).unwrap();
        assert_eq!((config.password_min_length, config.password_min_length_second_factor), (15, 8));
        assert_eq!(config.breached_password_api, None, "off unless set");
        let config = Config::from_pairs(&[
            site,
            ("LEARNERS_PASSWORD_MIN_LENGTH", "20"),
            ("LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR", "10"),
            ("LEARNERS_BREACHED_PASSWORD_API", "https://api.pwnedpasswords.com/"),
        ])
        .unwrap();
        assert_eq!((config.password_min_length, config.password_min_length_second_factor), (20, 10));
        assert_eq!(config.breached_password_api.as_deref(), Some("https://api.pwnedpasswords.com"));
        for (name, value) in [
            ("LEARNERS_PASSWORD_MIN_LENGTH", "7"),
            ("LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR", "7"),
            ("LEARNERS_PASSWORD_MIN_LENGTH_SECOND_FACTOR", "129"),
            ("LEARNERS_BREACHED_PASSWORD_API", "http://api.pwnedpasswords.com"),
            ("LEARNERS_BREACHED_PASSWORD_API", "not a url"),
        ] {
            let err = Config::from_pairs(&[site, (name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let local = Config::from_pairs(&[site, ("LEARNERS_BREACHED_PASSWORD_API", "http://127.0.0.1:9000")]).unwrap();
        assert_eq!(local.breached_password_api.as_deref(), Some("http://127.0.0.1:9000"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err =
            Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org"), ("LEARNERS_ACTIVATION_TTL_SECONDS", "soon")])
                .unwrap_err();
        assert!(err.to_string().contains("LEARNERS_ACTIVATION_TTL_SECONDS"));
        let err = Config::from_pairs(&[("LEARNERS_SITE_URL", "ftp://x.org")]).unwrap_err();
        assert!(err.to_string().contains("LEARNERS_SITE_URL"));
        let err = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org"), ("LEARNERS_PASSWORD_MIN_LENGTH", "4")])
            .unwrap_err();
        assert!(err.to_string().contains("LEARNERS_PASSWORD_MIN_LENGTH"));
        let err = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org"), ("LEARNERS_MAX_FAILED_LOGINS", "101")])
            .unwrap_err();
        assert!(err.to_string().contains("LEARNERS_MAX_FAILED_LOGINS"));
        let config = Config::from_pairs(&[
            ("LEARNERS_SITE_URL", "https://x.org"),
            ("LEARNERS_MAX_FAILED_LOGINS", "3"),
            ("LEARNERS_LOCKOUT_SECONDS", "60"),
        ])
        .unwrap();
        assert_eq!(config.lockout, LockoutPolicy { max_failures: 3, lockout_seconds: 60 });
    }

    #[test]
    fn mail_caps_default_to_a_quarter_hour_and_three_a_day_and_never_zero_on_aws() {
        let site = ("LEARNERS_SITE_URL", "https://x.org");
        let config = Config::from_pairs(&[site]).unwrap();
        assert_eq!(config.resend_interval_seconds, 900);
        assert_eq!(config.mails_per_address_per_day, 3);
        assert_eq!(config.mails_per_source_per_day, 100);
        let zero = ("LEARNERS_RESEND_INTERVAL_SECONDS", "0");
        assert_eq!(Config::from_pairs(&[site, zero]).unwrap().resend_interval_seconds, 0, "allowed off AWS");
        let err = Config::from_pairs(&[site, zero, ("AWS_LAMBDA_FUNCTION_NAME", "learners-register")]).unwrap_err();
        assert!(err.to_string().contains("LEARNERS_RESEND_INTERVAL_SECONDS"), "{err}");
        let err = Config::from_pairs(&[site, ("LEARNERS_MAILS_PER_ADDRESS_PER_DAY", "0")]).unwrap_err();
        assert!(err.to_string().contains("LEARNERS_MAILS_PER_ADDRESS_PER_DAY"), "{err}");
    }

    #[test]
    fn operators_need_a_second_factor_unless_told_otherwise() {
        let site = ("LEARNERS_SITE_URL", "https://x.org");
        assert_eq!(Config::from_pairs(&[site]).unwrap().operator_second_factor, OperatorSecondFactor::Required);
        let setting = |value| Config::from_pairs(&[site, ("LEARNERS_OPERATOR_SECOND_FACTOR", value)]);
        assert_eq!(setting("required").unwrap().operator_second_factor, OperatorSecondFactor::Required);
        assert_eq!(setting("optional").unwrap().operator_second_factor, OperatorSecondFactor::Optional);
        for bad in ["Optional", "off", "no"] {
            let err = setting(bad).unwrap_err().to_string();
            assert!(err.contains("LEARNERS_OPERATOR_SECOND_FACTOR must be required or optional"), "{bad}: {err}");
        }
    }

    #[test]
    fn operator_principals_are_arn_patterns() {
        let config = Config::from_pairs(&[
            ("LEARNERS_SITE_URL", "https://x.org"),
            (
                "LEARNERS_OPERATOR_PRINCIPALS",
                "arn:aws:iam::123456789012:role/ops-*, arn:aws:sts::123456789012:assumed-role/support/*",
            ),
        ])
        .unwrap();
        let allowed = |arn: &str| config.operator_principals.iter().any(|p| p.matches(arn));
        assert!(allowed("arn:aws:iam::123456789012:role/ops-admin"));
        assert!(allowed("arn:aws:sts::123456789012:assumed-role/support/alice"));
        assert!(!allowed("arn:aws:iam::123456789012:role/developer"));
        assert!(!allowed("arn:aws:iam::999999999999:role/ops-admin"));
        let none = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org")]).unwrap();
        assert!(none.operator_principals.is_empty());
        let err =
            Config::from_pairs(&[("LEARNERS_SITE_URL", "https://x.org"), ("LEARNERS_OPERATOR_PRINCIPALS", "ops")])
                .unwrap_err();
        assert!(err.to_string().contains("LEARNERS_OPERATOR_PRINCIPALS"));
    }

    #[test]
    fn an_assumed_role_matches_its_role_pattern_as_written() {
        let config = Config::from_pairs(&[
            ("LEARNERS_SITE_URL", "https://x.org"),
            (
                "LEARNERS_OPERATOR_PRINCIPALS",
                "arn:aws:iam::123456789012:role/learner-ops, \
                 arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_LearnerOps_*, \
                 arn:aws:iam::123456789012:role/team/*",
            ),
        ])
        .unwrap();
        let allowed = |arn: &str| is_operator_principal(&config.operator_principals, arn);
        // A role and an IAM Identity Center permission set, as the authorizer's userArn names them.
        assert!(allowed("arn:aws:sts::123456789012:assumed-role/learner-ops/alice"));
        assert!(allowed(
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_LearnerOps_0a1b2c3d4e5f6a7b/alice@example.org"
        ));
        // Another role, another account, another partition, a role's name as a session.
        assert!(!allowed("arn:aws:sts::123456789012:assumed-role/developer/alice"));
        assert!(!allowed("arn:aws:sts::123456789012:assumed-role/learner-ops-old/alice"));
        assert!(!allowed("arn:aws:sts::999999999999:assumed-role/learner-ops/alice"));
        assert!(!allowed("arn:aws-cn:sts::123456789012:assumed-role/learner-ops/alice"));
        assert!(!allowed("arn:aws:sts::123456789012:assumed-role/developer/learner-ops"));
        assert!(!allowed("arn:aws:sts::123456789012:assumed-role/learner-ops"));
        assert!(!allowed("arn:aws:sts::123456789012:federated-user/learner-ops"));
        // `role/team/*` names the roles under /team/, which an assumed role's ARN cannot show.
        assert!(!allowed("arn:aws:sts::123456789012:assumed-role/admin/alice"));
        // An IAM user still matches as written; the role ARN itself too.
        assert!(allowed("arn:aws:iam::123456789012:role/learner-ops"));
        assert!(!allowed("arn:aws:iam::123456789012:user/learner-ops"));
    }

    #[test]
    fn the_lms_terms_and_privacy_addresses_are_optional_web_addresses() {
        let site = ("LEARNERS_SITE_URL", "https://x.org");
        let config = Config::from_pairs(&[site]).unwrap();
        assert_eq!(
            (config.lms_url, config.terms_url, config.privacy_url, config.terms_version),
            (None, None, None, None)
        );
        let config = Config::from_pairs(&[
            site,
            ("LEARNERS_LMS_URL", "https://lms.example.org"),
            ("LEARNERS_TERMS_URL", "https://x.org/legal/terms"),
            ("LEARNERS_PRIVACY_URL", "http://localhost:8000/privacy"),
            ("LEARNERS_TERMS_VERSION", " 2026-01 "),
        ])
        .unwrap();
        assert_eq!(config.lms_url.as_deref(), Some("https://lms.example.org"));
        assert_eq!(config.terms_url.as_deref(), Some("https://x.org/legal/terms"));
        assert_eq!(config.privacy_url.as_deref(), Some("http://localhost:8000/privacy"));
        assert_eq!(config.terms_version.as_deref(), Some("2026-01"));
        for (name, value) in [
            ("LEARNERS_LMS_URL", "http://lms.example.org"),
            ("LEARNERS_LMS_URL", "javascript:alert(1)"),
            ("LEARNERS_TERMS_URL", "not a url"),
            ("LEARNERS_PRIVACY_URL", "https://user@evil.example/"),
            ("LEARNERS_TERMS_VERSION", "a\nb"),
        ] {
            let err = Config::from_pairs(&[site, (name, value), ("LEARNERS_TERMS_VERSION", "1")]);
            let err = if name == "LEARNERS_TERMS_VERSION" { Config::from_pairs(&[site, (name, value)]) } else { err };
            let err = err.unwrap_err().to_string();
            assert!(err.contains(name), "{name}={value}: {err}");
        }
        let err = Config::from_pairs(&[site, ("LEARNERS_TERMS_URL", "https://x.org/terms")]).unwrap_err().to_string();
        assert!(err.contains("LEARNERS_TERMS_VERSION"), "{err}");
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        for local in ["http://127.0.0.1:3000", "http://localhost:3000/lms", "http://[::1]:8080"] {
            let config = Config::from_pairs(&[("LEARNERS_SITE_URL", local)]).unwrap();
            assert!(!config.site_is_https(), "{local}");
        }
        for public in [
            "http://learn.example.org",
            "http://10.0.0.5",
            "http://127.0.0.1.evil.example",
            "http://localhost.evil.example/",
        ] {
            let err = Config::from_pairs(&[("LEARNERS_SITE_URL", public)]).unwrap_err().to_string();
            assert!(err.contains("must be https://"), "{public}: {err}");
        }
    }
}
