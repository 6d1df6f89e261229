//! Escaping by construction, checked: every page and every mail rendered with hostile values
//! in every interpolated field finds them escaped (and a mail's text part shows them as text);
//! a template with no case here fails the enumeration; and no `format!`, `write!` or
//! `push_str` in `shared/src` builds markup by hand.

use crate::domain::oidc::{ClientId, OidcClient, RedirectUri};

use crate::domain::{
    Email, JobKind, JobProgress, JobStatus, MailRefusal, MailRefusalKind, PasswordPolicy, RowJob, RowOutcome,
    RowResult, Timestamp, UserId, UserSource, UserStatus,
};
use crate::flows::admin::UserView;
use crate::http::console_pages::{
    self as console, ApplicationForm, AskFor, AuditLine, CardContext, FactorsSummary, ShownSecret,
};
use crate::http::pages::{self, LoginProblem, Page, RegistrationValues};
use crate::http::FieldErrors;
use crate::look::{Href, Look};
use crate::mail::messages::{self, compose, Mail};
use crate::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Markup, both quotes, an ampersand, and a right-to-left override (display spoofing) in one
/// value.
const HOSTILE: &str = "<script>alert(1)</script>\"'&\u{202E}gpj.exe";
/// What `HOSTILE` must become in HTML: every markup character escaped, the override kept as a
/// character of the value.
const ESCAPED: &str = "&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#39;&#38;\u{202E}gpj.exe";
/// Where a URL is shown.
const HOSTILE_URL: &str = "javascript:alert(1)//<script>\"'&";

/// What hostile values must never produce in HTML: the markup as is, a quote or an ampersand
/// unescaped, a script URL in an attribute.
fn assert_escaped(case: &str, html: &str) {
    // The one script every page loads (from the site: the CSP allows nothing inline) is the
    // only script element that may be there.
    let lower = without_the_site_script(&html.to_lowercase());
    for raw in ["<script", "</script", "\"'&", "'&\u{202e}"] {
        assert!(!lower.contains(raw), "{case}: {raw:?} unescaped in\n{html}");
    }
    for attribute in ["href", "src", "action", "value", "formaction"] {
        assert!(!lower.contains(&format!("{attribute}=\"javascript:")), "{case}: a script URL in {attribute}\n{html}");
    }
}

/// `html` without the site's own script elements (`look::SCRIPT_PATH`); any other script
/// element stays, for the check to find.
fn without_the_site_script(html: &str) -> String {
    const OPEN: &str = "<script";
    let attributes = [" src=\"", crate::look::SCRIPT_PATH, "\" defer></"].concat();
    let mut parts = html.split(OPEN);
    let mut kept = parts.next().unwrap_or_default().to_owned();
    for part in parts {
        match part.strip_prefix(attributes.as_str()).and_then(|rest| rest.strip_prefix("script>")) {
            Some(after) => kept.push_str(after),
            None => {
                kept.push_str(OPEN);
                kept.push_str(part);
            }
        }
    }
    kept
}

fn hostile_look() -> Look {
    let mut look = Look::new(HOSTILE, None, None).expect("a look");
    look.logo_url = Some(HOSTILE_URL.to_owned());
    look
}

fn hostile_errors(fields: &[&str]) -> FieldErrors {
    fields.iter().map(|f| (f.to_string(), HOSTILE.to_owned())).collect()
}

fn view(status: UserStatus) -> UserView {
    let at = Timestamp::from_unix(1_800_000_000);
    UserView {
        user_id: UserId::generate(),
        email: HOSTILE.into(),
        username: HOSTILE.into(),
        name: HOSTILE.into(),
        status,
        created_at: at,
        activated_at: Some(at),
        source: UserSource::Bulk,
        failed_logins: 3,
        locked_until: Some(at),
        operator: true,
        known_devices: 1,
        known_device_failed_logins: 1,
        mail_refused: Some(MailRefusal { kind: MailRefusalKind::Bounce, address: HOSTILE.into(), at }),
        disabled_at: Some(at),
    }
}

/// An application with a hostile name (its URIs are checked on the way in, so valid ones).
fn application(public: bool) -> OidcClient {
    let uri = |raw| RedirectUri::parse(raw).expect("a valid URI");
    OidcClient {
        id: ClientId::generate(),
        name: HOSTILE.into(),
        secret_hash: (!public).then(|| crate::domain::Token::generate().hash()),
        redirect_uris: vec![uri("https://lms.example/callback?a=1&b=2")],
        post_logout_redirect_uris: vec![uri("http://127.0.0.1:8000/?x=1&y=2")],
        created_at: Timestamp::from_unix(1_800_000_000),
    }
}

/// A passkey with a hostile name and id.
fn passkey() -> crate::domain::PasskeyFactor {
    crate::domain::PasskeyFactor {
        id: HOSTILE.into(),
        name: HOSTILE.into(),
        credential: "{}".into(),
        created_at: 1_800_000_000,
        last_used_at: Some(1_800_000_060),
    }
}

fn problems() -> Vec<RowOutcome> {
    vec![RowOutcome::new(2, HOSTILE, RowResult::Failed, "invalid_email", HOSTILE)]
}

/// A job, seen `elapsed` seconds after it started.
fn progress(kind: JobKind, status: JobStatus, elapsed: i64) -> JobProgress {
    let job = RowJob {
        id: HOSTILE.into(),
        kind,
        operator: HOSTILE.into(),
        created_at: Timestamp::from_unix(1_800_000_000),
        status,
        total: 20_000,
        final_counts: None,
        idempotency: None,
        invite: false,
    };
    JobProgress::new(job, Default::default(), Timestamp::from_unix(1_800_000_000 + elapsed))
}

/// The whole documents of `pages`.
fn documents(pages: Vec<Page>) -> Vec<String> {
    let look = hostile_look();
    pages.iter().map(|page| pages::render(&look, page)).collect()
}

/// A deletion check with hostile text in its invalid line.
fn learners_check() -> console::ListChecked<'static> {
    let invalid: &'static [(u64, String, String)] = Box::leak(Box::new([(3, HOSTILE.to_owned(), HOSTILE.to_owned())]));
    console::ListChecked { lines: 4, addresses: 2, accounts: 2, repeated: 1, invalid, operator_rows: &[2] }
}

fn config() -> Config {
    Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org"), ("LEARNERS_SITE_NAME", HOSTILE)])
        .expect("a config")
}

/// A mail's text part, and its HTML part as a whole document.
fn mail(mail: &impl Mail) -> Rendered {
    let outgoing = compose(&config(), &Email::parse("ada@example.org").expect("an address"), mail);
    assert!(!outgoing.subject.is_empty());
    Rendered::Mail { text: outgoing.text, html: outgoing.html }
}

enum Rendered {
    Pages(Vec<String>),
    Mail { text: String, html: String },
}

/// One case per template: its path under `shared/templates` and what renders it with hostile
/// values.
fn cases() -> Vec<(&'static str, Rendered)> {
    let settings_defaults = crate::domain::Settings {
        max_failed_logins: 6,
        lockout_seconds: 1800,
        max_failed_logins_per_ip: 100,
        self_removal_enabled: true,
        activation_ttl_seconds: 259_200,
        reset_ttl_seconds: 3600,
        resend_interval_seconds: 900,
        password_min_length: 15,
        password_min_length_second_factor: 8,
        short_passwords_accepted: false,
        session_ttl_seconds: 1_209_600,
        session_idle_seconds: 3600,
        operator_session_ttl_seconds: 28_800,
        site_name: HOSTILE.into(),
        logo_url: HOSTILE.into(),
        brand_color: "#1d4ed8".into(),
        mail_from_name: HOSTILE.into(),
    };
    let policy = PasswordPolicy::default();
    let errors = hostile_errors(&[
        "email",
        "username",
        "name",
        "password",
        "terms_accepted",
        "your_password",
        "your_code",
        "current_password",
        "new_password",
        "new_email",
    ]);
    let values = RegistrationValues {
        email: HOSTILE.into(),
        username: HOSTILE.into(),
        name: HOSTILE.into(),
        terms_accepted: true,
    };
    let problem = || Some(LoginProblem { message: HOSTILE, next: Some((HOSTILE_URL, HOSTILE)) });
    let factors = FactorsSummary { authenticator: true, passkeys: 2, recovery_codes: 10 };
    let card = |view, confirm| {
        let context = CardContext {
            confirm,
            factors: factors.clone(),
            password_errors: &errors,
            password_policy: policy,
            new_email: HOSTILE,
            email_errors: &errors,
        };
        (view, context)
    };
    let code = Some(AskFor::SecondFactor { passkeys: true, codes: true });
    let (pending, leaving) = (view(UserStatus::PendingActivation), view(UserStatus::RemovalRequested));
    let lines = [AuditLine {
        at: Timestamp::from_unix(1_800_000_000),
        who: HOSTILE.into(),
        action: HOSTILE.into(),
        learner: HOSTILE.into(),
        outcome: HOSTILE.into(),
    }];
    let rows = |next: Option<&str>| crate::jobs::Paged { items: problems(), next_cursor: next.map(str::to_owned) };
    let site = Href::new(HOSTILE_URL);
    let applications = [application(true), application(false)];
    let application_form = ApplicationForm {
        name: HOSTILE.into(),
        redirect_uris: HOSTILE.into(),
        post_logout_redirect_uris: HOSTILE.into(),
        public: true,
    };
    let application_errors = hostile_errors(&["name", "redirect_uris", "post_logout_redirect_uris"]);
    vec![
        (
            "pages/register.html",
            Rendered::Pages(documents(vec![
                pages::register_form(&values, &errors, Some(HOSTILE), policy),
                pages::register_page(
                    &values,
                    &errors,
                    Some(HOSTILE),
                    policy,
                    pages::TermsLinks { terms: Some(HOSTILE_URL), privacy: Some(HOSTILE_URL) },
                ),
            ])),
        ),
        (
            "pages/home.html",
            Rendered::Pages(documents(vec![
                pages::home(HOSTILE, None, Some(HOSTILE_URL)),
                pages::home(HOSTILE, Some(HOSTILE), Some(HOSTILE_URL)),
                pages::home(HOSTILE, None, None),
            ])),
        ),
        (
            "pages/message.html",
            Rendered::Pages(documents(vec![pages::message(HOSTILE, HOSTILE, Some((HOSTILE_URL, HOSTILE)))])),
        ),
        ("pages/check_your_inbox.html", Rendered::Pages(documents(vec![pages::check_your_inbox(HOSTILE)]))),
        (
            "pages/activation_confirm.html",
            Rendered::Pages(documents(vec![pages::activation_confirm(HOSTILE, Some(HOSTILE))])),
        ),
        (
            "pages/activation_email.html",
            Rendered::Pages(documents(vec![
                pages::activation_email_form(HOSTILE, &errors),
                pages::activation_link_invalid(true),
            ])),
        ),
        ("pages/login.html", Rendered::Pages(documents(vec![pages::login(HOSTILE, problem(), Some(HOSTILE))]))),
        (
            "pages/second_factor.html",
            Rendered::Pages(documents(
                [false, true]
                    .into_iter()
                    .map(|recovery| {
                        let choice = pages::SecondFactorChoice {
                            totp: true,
                            passkeys: true,
                            recovery_codes: true,
                            recovery,
                            next: Some(HOSTILE),
                        };
                        pages::second_factor(choice, Some(HOSTILE))
                    })
                    .collect(),
            )),
        ),
        (
            "pages/account_settings.html",
            Rendered::Pages(documents(vec![pages::account_settings_of(
                HOSTILE,
                HOSTILE,
                HOSTILE,
                pages::FactorsSummary { totp: true, recovery_codes_left: Some(3) },
                Some(&errors),
            )])),
        ),
        (
            "pages/account_name.html",
            Rendered::Pages(documents(vec![crate::http::account_pages::change_name(HOSTILE, &errors)])),
        ),
        (
            "pages/account_password.html",
            Rendered::Pages(documents(vec![crate::http::account_pages::change_password(policy, &errors)])),
        ),
        (
            "pages/account_sessions.html",
            Rendered::Pages(documents(vec![crate::http::account_pages::sessions(
                &[crate::http::account_pages::SessionLine {
                    id: HOSTILE.to_owned(),
                    browser: HOSTILE.to_owned(),
                    started: HOSTILE.to_owned(),
                    last_used: HOSTILE.to_owned(),
                    this_browser: false,
                }],
                Some(HOSTILE),
            )])),
        ),
        (
            "pages/authenticator_setup.html",
            Rendered::Pages(documents(vec![pages::authenticator_setup(
                HOSTILE,
                HOSTILE,
                HOSTILE,
                HOSTILE,
                Some(HOSTILE),
            )])),
        ),
        (
            "pages/recovery_codes.html",
            Rendered::Pages(documents(vec![pages::recovery_codes(HOSTILE, HOSTILE, &[HOSTILE.to_owned()])])),
        ),
        (
            "pages/confirm_with_password.html",
            Rendered::Pages(documents(vec![pages::confirm_with_password(
                pages::PasswordConfirmation {
                    title: HOSTILE,
                    paragraph: HOSTILE,
                    action: HOSTILE,
                    button: HOSTILE,
                    danger: true,
                },
                &errors,
            )])),
        ),
        (
            "pages/reset_request_form.html",
            Rendered::Pages(documents(vec![pages::reset_request_form(HOSTILE, &errors)])),
        ),
        (
            "pages/new_password_form.html",
            Rendered::Pages(documents(vec![pages::new_password_form(HOSTILE, &errors, policy)])),
        ),
        ("pages/error.html", Rendered::Pages(documents(vec![pages::error(422, HOSTILE, &errors)]))),
        (
            "pages/passkeys.html",
            Rendered::Pages(documents(vec![
                pages::passkeys(&[passkey()], &errors, Some(HOSTILE), Some((HOSTILE, HOSTILE))),
                pages::passkeys(&[], &errors, None, None),
                pages::passkeys(&vec![passkey(); crate::domain::MAX_PASSKEYS], &errors, None, None),
            ])),
        ),
        (
            "pages/email_change.html",
            Rendered::Pages(documents(vec![
                pages::email_change_form(
                    HOSTILE,
                    HOSTILE,
                    true,
                    &hostile_errors(&["new_email", "password", "code"]),
                    pages::EmailChangeNotice::Sent { new: HOSTILE, old: HOSTILE },
                ),
                pages::email_change_form(HOSTILE, "", false, &errors, pages::EmailChangeNotice::Problem(HOSTILE)),
            ])),
        ),
        (
            "pages/email_link.html",
            Rendered::Pages(documents(vec![
                pages::email_change_confirm(HOSTILE, HOSTILE),
                pages::email_change_revert(HOSTILE, HOSTILE),
            ])),
        ),
        (
            "console/learners.html",
            Rendered::Pages(documents(vec![
                console::learners(HOSTILE, Some(card(&pending, Some(AskFor::Password))), Some(HOSTILE), &errors),
                console::learners(HOSTILE, Some(card(&leaving, code)), None, &errors),
            ])),
        ),
        (
            "console/confirm.html",
            Rendered::Pages(documents(vec![
                console::confirm(console::ConfirmStep::Delete, HOSTILE, Some(AskFor::Password), &errors),
                console::confirm(console::ConfirmStep::Activate, HOSTILE, None, &errors),
                console::confirm(console::ConfirmStep::RemoveSecondFactors, HOSTILE, code, &errors),
                console::confirm(console::ConfirmStep::Disable, HOSTILE, code, &errors),
                console::confirm(console::ConfirmStep::SignOutEverywhere, HOSTILE, None, &errors),
            ])),
        ),
        (
            "console/confirm_email.html",
            Rendered::Pages(documents(vec![
                console::confirm_email_change(HOSTILE, HOSTILE, true, code, &errors),
                console::confirm_email_change(HOSTILE, HOSTILE, false, None, &errors),
            ])),
        ),
        ("console/bulk_upload.html", Rendered::Pages(documents(vec![console::bulk_upload(&errors)]))),
        (
            "console/bulk_checked.html",
            Rendered::Pages(documents(vec![console::bulk_checked(
                3,
                &problems(),
                &[HOSTILE.to_owned()],
                HOSTILE,
                code,
                &errors,
            )])),
        ),
        ("console/deletions_form.html", Rendered::Pages(documents(vec![console::deletions_form(&errors)]))),
        (
            "console/upload_options.html",
            Rendered::Pages(documents(vec![
                console::upload_options(JobKind::BulkRegistration, true, Some(HOSTILE), code, &errors),
                console::upload_options(JobKind::Deletion, false, None, Some(AskFor::Password), &errors),
            ])),
        ),
        (
            "console/upload_send.html",
            Rendered::Pages(documents(
                [JobKind::BulkRegistration, JobKind::Deletion]
                    .into_iter()
                    .map(|kind| {
                        // The job id and every signed field as hostile values (they come from the
                        // store and the adapter, but the page trusts neither).
                        let fields =
                            vec![(HOSTILE.to_owned(), HOSTILE.to_owned()), ("key".to_owned(), HOSTILE.to_owned())];
                        let url = "https://learners-uploads.s3.eu-west-1.amazonaws.com/";
                        console::upload_send(
                            kind,
                            HOSTILE,
                            true,
                            url,
                            &fields,
                            100 << 20,
                            std::time::Duration::from_secs(600),
                        )
                    })
                    .collect(),
            )),
        ),
        (
            "console/deletions_checked.html",
            Rendered::Pages(documents(vec![console::deletions_checked(
                &learners_check(),
                Box::leak(Box::new(vec![HOSTILE.to_owned()])),
                HOSTILE,
                HOSTILE,
                Some(AskFor::Password),
                &errors,
            )])),
        ),
        (
            "console/job.html",
            Rendered::Pages(documents(vec![
                console::job(&progress(JobKind::BulkRegistration, JobStatus::Queued, 100), &rows(Some(HOSTILE))),
                console::job(&progress(JobKind::Deletion, JobStatus::Receiving, 100), &rows(None)),
                // Past the intake deadline: cut off.
                console::job(&progress(JobKind::Deletion, JobStatus::Receiving, 86_400 * 30), &rows(None)),
            ])),
        ),
        (
            "console/audit.html",
            Rendered::Pages(documents(vec![
                console::audit(
                    &console::AuditForm {
                        operator: HOSTILE,
                        action: HOSTILE,
                        learner: HOSTILE,
                        from: HOSTILE.into(),
                        to: HOSTILE.into(),
                    },
                    &lines,
                    Some(HOSTILE.into()),
                    HOSTILE.into(),
                    Some(HOSTILE),
                ),
                console::audit(&console::AuditForm::default(), &[], None, "/operator/audit?format=csv".into(), None),
            ])),
        ),
        (
            "console/learner_list.html",
            Rendered::Pages(documents(vec![
                console::learner_list(
                    &console::ListForm {
                        q: HOSTILE,
                        status: Some(crate::domain::StatusFilter::Locked),
                        source: None,
                        created_from: HOSTILE.into(),
                        created_to: HOSTILE.into(),
                    },
                    &[console::ListedRow {
                        email: HOSTILE.into(),
                        username: HOSTILE.into(),
                        name: HOSTILE.into(),
                        status: HOSTILE.into(),
                        source: HOSTILE.into(),
                        created: Timestamp::from_unix(1_800_000_000),
                        locked_until: Some(Timestamp::from_unix(1_800_000_600)),
                    }],
                    Some(HOSTILE.into()),
                    Some(HOSTILE.into()),
                    Some(HOSTILE),
                ),
                console::learner_list(
                    &console::ListForm {
                        q: "",
                        status: None,
                        source: Some(UserSource::Bulk),
                        created_from: String::new(),
                        created_to: String::new(),
                    },
                    &[],
                    None,
                    None,
                    None,
                ),
            ])),
        ),
        (
            "console/jobs.html",
            Rendered::Pages(documents(vec![
                console::past_jobs(
                    &[console::job_row(&RowJob {
                        id: HOSTILE.into(),
                        kind: JobKind::BulkRegistration,
                        operator: HOSTILE.into(),
                        created_at: Timestamp::from_unix(1_800_000_000),
                        status: JobStatus::Queued,
                        total: 3,
                        final_counts: None,
                        idempotency: None,
                        invite: true,
                    })],
                    Some(HOSTILE.into()),
                    Some(HOSTILE),
                ),
                console::past_jobs(&[], None, None),
            ])),
        ),
        (
            "console/applications.html",
            Rendered::Pages(documents(vec![
                console::applications(
                    &applications,
                    &application_form,
                    &application_errors,
                    Some(HOSTILE),
                    Some(ShownSecret { name: HOSTILE, client_id: HOSTILE, secret: HOSTILE }),
                ),
                console::applications(&[], &application_form, &application_errors, None, None),
            ])),
        ),
        (
            "console/second_factor_required.html",
            Rendered::Pages(documents(vec![
                console::second_factor_required(false, false),
                console::second_factor_required(true, true),
            ])),
        ),
        (
            "console/settings.html",
            Rendered::Pages(documents({
                let mut values = settings_defaults.values();
                values.insert("site_name".into(), HOSTILE.into());
                values.insert("logo_url".into(), HOSTILE.into());
                let history = vec![crate::domain::settings::HistoryLine {
                    version: 2,
                    saved_by: HOSTILE.into(),
                    saved_at: Timestamp::from_unix(1_800_000_000),
                    changes: vec![("site_name", HOSTILE.into(), "Learners".into())],
                }];
                let view = |editable, conflict, errors: &'static FieldErrors| console::SettingsView {
                    version: 3,
                    saved: Some((HOSTILE, Timestamp::from_unix(1_800_000_000))),
                    values: Box::leak(Box::new(values.clone())),
                    defaults: Box::leak(Box::new(settings_defaults.clone())),
                    editable,
                    errors,
                    confirm: Some(console::AskFor::SecondFactor { passkeys: true, codes: true }),
                    notice: Some(HOSTILE),
                    conflict,
                    history: Box::leak(Box::new(history.clone())),
                };
                let errors: &'static FieldErrors =
                    Box::leak(Box::new(FieldErrors::from([("site_name".to_owned(), HOSTILE.to_owned())])));
                vec![
                    console::settings_page(view(true, true, errors)),
                    console::settings_page(view(false, false, errors)),
                ]
            })),
        ),
        (
            "console/settings_restore.html",
            Rendered::Pages(documents(vec![
                console::settings_restore(4, 2, &[("site_name", HOSTILE.into(), "x".into())], None, &errors),
                console::settings_restore(
                    4,
                    2,
                    &[("site_name", HOSTILE.into(), "x".into())],
                    Some(console::AskFor::Password),
                    &errors,
                ),
            ])),
        ),
        (
            "console/application_remove.html",
            Rendered::Pages(documents(vec![console::application_remove(&applications[0])])),
        ),
        (
            "mail/activation",
            mail(&messages::Activation {
                site_name: HOSTILE,
                site_url: site.clone(),
                link: site.clone(),
                valid_for: HOSTILE.into(),
            }),
        ),
        (
            "mail/registration_attempt",
            mail(&messages::RegistrationAttempt {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                pending: true,
                resend: site.clone(),
                login: site.clone(),
                reset: site.clone(),
            }),
        ),
        (
            "mail/registration_attempt",
            mail(&messages::RegistrationAttempt {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                pending: false,
                resend: site.clone(),
                login: site.clone(),
                reset: site.clone(),
            }),
        ),
        (
            "mail/lockout",
            mail(&messages::Lockout {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                failures: 6,
                paused_for: HOSTILE.into(),
                until: HOSTILE.into(),
                reset: site.clone(),
            }),
        ),
        (
            "mail/password_reset",
            mail(&messages::PasswordReset {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                link: site.clone(),
                valid_for: HOSTILE.into(),
                by_operator: true,
            }),
        ),
        ("mail/account_disabled", mail(&messages::AccountDisabled { name: Some(HOSTILE), site_name: HOSTILE })),
        (
            "mail/invitation",
            mail(&messages::Invitation {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                link: site.clone(),
                login: site.clone(),
                valid_for: HOSTILE.into(),
            }),
        ),
        (
            "mail/password_changed",
            mail(&messages::PasswordChanged {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                by_operator: true,
                reset: site.clone(),
            }),
        ),
        (
            "mail/email_change_link",
            mail(&messages::EmailChangeLink { site_name: HOSTILE, link: site.clone(), valid_for: HOSTILE.into() }),
        ),
        ("mail/email_change_taken", mail(&messages::EmailChangeTaken { name: Some(HOSTILE), site_name: HOSTILE })),
        (
            "mail/email_changed",
            mail(&messages::EmailChanged {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                new_email: HOSTILE,
                link: site.clone(),
                valid_for: HOSTILE.into(),
            }),
        ),
        (
            "mail/password_changed_by_you",
            mail(&messages::PasswordChangedByYou { name: HOSTILE, site_name: HOSTILE, reset: site.clone() }),
        ),
        ("mail/removal_requested", mail(&messages::RemovalRequested { name: HOSTILE, site_name: HOSTILE })),
        (
            "mail/email_changed_by_operator",
            mail(&messages::EmailChangedByOperator {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                old_email: HOSTILE,
                new_email: HOSTILE,
                login: site.clone(),
            }),
        ),
        (
            "mail/second_factors_removed",
            mail(&messages::SecondFactorsRemoved {
                name: Some(HOSTILE),
                site_name: HOSTILE,
                settings: site.clone(),
                reset: site.clone(),
            }),
        ),
    ]
}

/// Templates only ever included in others, and the pages that include them (whose cases
/// render them).
const PARTIALS: [&str; 5] =
    ["layout.html", "input.html", "console/nav.html", "console/your_password.html", "console/problems.html"];

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")
}

/// Every file under `dir`, as a path relative to `root` with `/` separators.
fn files(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).expect("under the root");
            out.insert(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
}

/// The longest line of a template's own text (outside its tags): what rendering it must show.
fn own_text(source: &str) -> String {
    let mut text = String::new();
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let tag = &rest[start..];
        let close = match tag.get(..2) {
            Some("{{") => "}}",
            Some("{%") => "%}",
            Some("{#") => "#}",
            _ => {
                text.push_str(&rest[..=start]);
                rest = &rest[start + 1..];
                continue;
            }
        };
        text.push_str(&rest[..start]);
        text.push('\n');
        rest = tag.find(close).map(|end| &tag[end + 2..]).unwrap_or("");
    }
    text.push_str(rest);
    text.lines().map(str::trim).max_by_key(|line| line.len()).unwrap_or_default().to_owned()
}

#[test]
fn every_page_and_mail_escapes_hostile_values() {
    let root = templates_dir();
    // Template -> what its cases rendered with it.
    let mut rendered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (template, output) in cases() {
        match output {
            Rendered::Pages(documents) => {
                for document in &documents {
                    assert_escaped(template, document);
                    assert!(document.contains(ESCAPED), "{template}: the hostile value is not shown\n{document}");
                }
                rendered.entry(template.to_owned()).or_default().extend(documents);
            }
            Rendered::Mail { text, html } => {
                assert_escaped(template, &html);
                assert!(html.contains(ESCAPED), "{template}: the hostile value is not shown\n{html}");
                assert!(text.contains(HOSTILE), "{template}: the text part shows the hostile value as is\n{text}");
                assert!(
                    !text.contains("&lt;") && !text.contains("&#"),
                    "{template}: HTML escapes in the text part\n{text}"
                );
                rendered.entry(format!("{template}.txt")).or_default().push(text);
                rendered.entry(format!("{template}.html")).or_default().push(html);
            }
        }
    }
    // A case must render the template it names (its longest line of own text shows).
    for (template, outputs) in &rendered {
        let own = own_text(&std::fs::read_to_string(root.join(template)).expect("the template"));
        assert!(outputs.iter().any(|o| o.contains(&own)), "{template}: its cases do not render it ({own:?})");
    }
    let covered: BTreeSet<String> = rendered.into_keys().collect();
    let mut present = BTreeSet::new();
    files(&root, &root, &mut present);
    let expected: BTreeSet<String> = covered.iter().cloned().chain(PARTIALS.iter().map(|p| p.to_string())).collect();
    let untested: Vec<_> = present.difference(&expected).collect();
    assert!(untested.is_empty(), "templates with no case in escaping_tests::cases: {untested:?}");
    let missing: Vec<_> = expected.difference(&present).collect();
    assert!(missing.is_empty(), "cases naming no template: {missing:?}");
}

#[test]
fn a_script_url_goes_nowhere() {
    for bad in [
        "javascript:alert(1)",
        "JavaScript:x",
        " javascript:x",
        "data:text/html,x",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
    ] {
        assert_eq!(Href::new(bad).as_str(), "about:invalid", "{bad:?}");
    }
    for good in ["/login", "/operator?email=a%40b", "https://learn.example.org/activate/t", "http://localhost:3000/x"] {
        assert_eq!(Href::new(good).as_str(), good);
    }
}

/// The macros and methods that could write markup into a string, and the string literals in
/// their arguments that hold a tag (`<` then a letter or `/`).
fn markup_built_by_hand(source: &str) -> Vec<String> {
    const WRITERS: [&str; 5] = ["format!", "write!", "writeln!", "format_args!", "push_str"];
    let tokens = lex(source);
    let mut found = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let Token::Word(word, line) = token else { continue };
        let called = match (tokens.get(i + 1), tokens.get(i + 2)) {
            (Some(Token::Punct('!')), Some(Token::Punct('('))) => format!("{word}!"),
            (Some(Token::Punct('(')), _) if word == "push_str" => word.clone(),
            _ => continue,
        };
        if !WRITERS.contains(&called.as_str()) {
            continue;
        }
        let mut depth = 0;
        for token in &tokens[i + 1..] {
            match token {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                Token::Str(text) if has_tag(text) => found.push(format!("line {line}: {called} with {text:?}")),
                _ => {}
            }
        }
    }
    found
}

fn has_tag(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/'))
}

enum Token {
    /// An identifier, and its line.
    Word(String, usize),
    Punct(char),
    /// A string literal's contents.
    Str(String),
}

/// Just enough of Rust's lexer to find calls and their string literals: comments skipped,
/// strings (plain, raw, byte) read whole, char literals told from lifetimes.
fn lex(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"'
            || ((c == 'r' || c == 'b') && matches!(at(i + 1), '"' | '#' | 'r')) && starts_string(&chars, i)
        {
            let (text, end) = read_string(&chars, i);
            line += text.matches('\n').count();
            tokens.push(Token::Str(text));
            i = end;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\'') or a lifetime ('a).
            if at(i + 1) == '\\' {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect(), line));
        } else {
            if !c.is_whitespace() {
                tokens.push(Token::Punct(c));
            }
            i += 1;
        }
    }
    tokens
}

/// Whether a string literal starts at `i` (`"`, `r"`, `r#"`, `b"`, `br#"`...).
fn starts_string(chars: &[char], mut i: usize) -> bool {
    if chars.get(i) == Some(&'b') {
        i += 1;
    }
    if chars.get(i) == Some(&'r') {
        i += 1;
        while chars.get(i) == Some(&'#') {
            i += 1;
        }
    }
    chars.get(i) == Some(&'"')
}

/// The contents of the string literal at `i`, and the index after it.
fn read_string(chars: &[char], mut i: usize) -> (String, usize) {
    if chars[i] == 'b' {
        i += 1;
    }
    let mut hashes = None;
    if chars[i] == 'r' {
        i += 1;
        let mut n = 0;
        while chars[i] == '#' {
            n += 1;
            i += 1;
        }
        hashes = Some(n);
    }
    i += 1; // the opening quote
    let mut text = String::new();
    while i < chars.len() {
        let c = chars[i];
        match hashes {
            Some(n) if c == '"' && (1..=n).all(|k| chars.get(i + k) == Some(&'#')) => return (text, i + 1 + n),
            None if c == '\\' => {
                text.push(c);
                if let Some(&next) = chars.get(i + 1) {
                    text.push(next);
                }
                i += 2;
                continue;
            }
            None if c == '"' => return (text, i + 1),
            _ => text.push(c),
        }
        i += 1;
    }
    (text, i)
}

#[test]
fn no_code_builds_markup_by_hand() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeSet::new();
    files(&src, &src, &mut sources);
    let mut offences = Vec::new();
    for file in sources.iter().filter(|f| f.ends_with(".rs")) {
        let source = std::fs::read_to_string(src.join(file)).expect("a source file");
        offences.extend(markup_built_by_hand(&source).into_iter().map(|o| format!("src/{file}, {o}")));
    }
    assert!(sources.len() > 20, "the scan found the sources");
    assert!(offences.is_empty(), "markup built with strings instead of a template:\n{}", offences.join("\n"));
}

#[test]
fn the_scan_finds_markup_in_every_form_of_call() {
    let caught = [
        r#"let a = format!("<p>{}</p>", x);"#,
        "let a = format!(\n    r#\"<a href=\"{}\">\"#,\n    x\n);",
        r#"out.push_str("</li>");"#,
        r#"write!(f, "{}<br>", x)?;"#,
        r#"writeln!(f, "<tr>")?;"#,
        r#"s.push_str(&format!("{x}<b>"));"#,
    ];
    for code in caught {
        assert!(!markup_built_by_hand(code).is_empty(), "{code}");
    }
    let fine = [
        r#"let a = format!("{} < {}", x, y);"#,
        r#"let a = format!("{x}"); // format!("<p>")"#,
        r#"let s = "format!(\"<p>\")";"#,
        r#"let v: Vec<String> = format!("a{}", 'x').lines().map(|l| l.into()).collect();"#,
        r#"fn f<'a>(x: &'a str) { s.push_str(x) }"#,
    ];
    for code in fine {
        assert!(markup_built_by_hand(code).is_empty(), "{code}");
    }
}
