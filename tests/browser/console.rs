//! The operator console in headless Chromium, by clicking only: an operator finds learners by
//! email and acts on their card, registers a cohort from a CSV file, deletes learners from a
//! pasted list, and reads the audit page. Another operator's account is not changed from the
//! console. Whoever is not an operator gets the same 404 as an unknown address. (Granting the role with `learnerctl` itself is in learnerctl's tests.)

use super::Journey;
use learners::domain::Token;
use learners::flows::admin::set_operator_role;
use learners::flows::signin::{sign_in, SignInError};
use learners_tests::browser::serve_page;
use learners_tests::{email, unique, Backend, PASSWORD};

/// The IAM principal that grants roles in these tests (as `learnerctl` would, signed).
const GRANTED_BY: &str = "arn:aws:iam::000000000000:user/test-admin";

impl Journey {
    /// An active account with the operator role, granted through the admin flow, and an
    /// authenticator app (the console needs a second factor).
    async fn operator(&self) -> String {
        let address = self.active_learner().await;
        set_operator_role(&self.site.app, GRANTED_BY, &address, true).await.expect("granting the role");
        self.site.enrol_totp(&address).await;
        address
    }

    /// Signs in through the console's own way in: `/operator` sends a signed-out browser to
    /// `/login?next=/operator`, the password leads to the second-factor step, and a code from
    /// the app comes back to the console.
    async fn open_console_as(&self, operator: &str) {
        self.open("/operator").await;
        assert_eq!(self.browser.path().await, "/login", "signed out: on to sign in");
        self.browser.fill("Email", operator).await;
        self.browser.fill("Password", PASSWORD).await;
        self.browser.press("Sign in").await;
        assert_eq!(self.browser.path().await, "/login/second-factor", "the password alone is not enough");
        self.browser.fill("Code from your app", &self.site.totp_code(operator).await).await;
        self.browser.press("Continue").await;
        assert_eq!(self.browser.path().await, "/operator");
        assert_eq!(self.browser.heading().await, "Learners");
    }

    /// The operator's confirmation of a sensitive action: a code from the app.
    async fn confirm_with_code(&self, operator: &str) {
        self.browser.fill("Code from your app", &self.site.totp_code(operator).await).await;
    }

    async fn find_learner(&self, address: &str) {
        self.open("/operator").await;
        self.browser.fill("Learner email", address).await;
        self.browser.press("Proceed").await;
    }

    /// Does `PASSWORD` alone sign `address` in (no second factor asked)?
    async fn password_alone(&self, address: &str) -> bool {
        sign_in(&self.site.app, address, PASSWORD).await.expect("the password is right").signed_in().is_some()
    }

    async fn can_sign_in(&self, address: &str, password: &str) -> bool {
        match sign_in(&self.site.app, address, password).await {
            Ok(_) => true,
            Err(SignInError::InvalidCredentials) => false,
            Err(other) => panic!("sign-in of {address}: {other}"),
        }
    }
}

/// Activate, unlock and set a password from learners' cards; the audit page shows each.
async fn an_operator_supports_learners(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let pending = j.pending_learner("pat").await;
    let locked = j.active_learner().await;
    for _ in 0..3 {
        assert!(!j.can_sign_in(&locked, "not the password").await);
    }
    assert!(!j.can_sign_in(&locked, PASSWORD).await, "locked");

    j.open_console_as(&operator).await;
    b.snap("console-learners").await;

    j.find_learner(&pending).await;
    assert!(b.text().await.contains("pending activation"));
    b.snap("console-card-pending").await;
    b.press("Activate").await;
    assert!(b.text_of("[role=alert]").await.contains("The account is active."));
    assert!(!b.has_button("Activate").await, "only for pending accounts");
    assert!(j.can_sign_in(&pending, PASSWORD).await, "the learner can sign in");

    j.find_learner(&locked).await;
    assert!(b.text().await.contains("Failed sign-ins\n3") || b.text().await.contains("Failed sign-ins 3"));
    b.press("Unlock").await;
    assert!(b.text_of("[role=alert]").await.contains("unlocked"));
    assert!(!b.has_button("Unlock").await);
    assert!(j.can_sign_in(&locked, PASSWORD).await, "the learner can sign in at once");

    // Six minutes after signing in, setting a password asks for the operator's code again.
    j.site.clock.advance(360);
    j.find_learner(&locked).await;
    assert!(!b.has("#f-notify").await, "no silent option: the learner is always told");
    b.fill("New password", "Password12345678").await;
    j.confirm_with_code(&operator).await;
    b.press("Set password").await;
    assert_eq!(b.status().await, 422);
    assert!(b.text_of("#password-error").await.contains("common"), "the site's rules, with the reason");
    b.snap("console-password-refused").await;
    // The right code just typed counts: not asked again within 5 minutes.
    assert!(!b.has("#f-your_code").await);
    let chosen = "an operator chose this one";
    b.fill("New password", chosen).await;
    b.press("Set password").await;
    assert!(b.text_of("[role=alert]").await.contains("the learner was notified"), "{}", b.text().await);
    let notice = j.site.mail_to(&locked).await.into_iter().rev().find(|m| m.subject.contains("password was changed"));
    assert!(notice.expect("the learner is notified").body.contains("An administrator"));
    assert!(j.can_sign_in(&locked, chosen).await);
    assert!(!j.can_sign_in(&locked, PASSWORD).await);

    j.open("/operator/audit").await;
    b.snap("console-audit").await;
    let audit = b.text().await;
    for action in ["activate", "unlock", "set_password"] {
        assert!(audit.contains(action), "{action} in:\n{audit}");
    }
    assert!(audit.contains(&operator), "the operator's email:\n{audit}");
    assert!(audit.contains(&pending) && audit.contains(&locked), "the learners:\n{audit}");
    j.finish().await;
}

/// Without a recent confirmation, a set-password post with the operator's password (not their
/// code) or a wrong code is refused; Activate and registering a checked file ask for the code
/// too, and go ahead once it is typed.
async fn sensitive_actions_ask_for_the_operators_second_factor(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let learner = j.active_learner().await;
    let pending = j.pending_learner("pat").await;
    j.open_console_as(&operator).await;
    j.find_learner(&learner).await;
    assert!(!b.has("#f-your_code").await, "just signed in: not asked");
    j.site.clock.advance(301);
    j.find_learner(&learner).await;
    assert!(b.has("#f-your_code").await, "asked after 5 minutes");
    assert!(!b.has("#f-your_password").await, "the code, not the password");
    assert!(b.text().await.contains("Use a recovery code"));
    b.fill("New password", "a perfectly good passphrase").await;
    b.fill("Code from your app", PASSWORD).await;
    b.press("Set password").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("#your_code-error").await.contains("a code from your authenticator app"));
    assert!(j.can_sign_in(&learner, PASSWORD).await, "nothing changed");

    j.find_learner(&pending).await;
    b.press("Activate").await;
    assert_eq!(b.heading().await, "Activate account", "the confirm step");
    assert_eq!(j.status_of(&pending).await.as_deref(), Some("pending_activation"), "not yet");
    b.snap("console-activate-confirm").await;
    j.confirm_with_code(&operator).await;
    b.press("Yes, activate this account").await;
    assert!(b.text_of("[role=alert]").await.contains("The account is active."));
    assert_eq!(j.status_of(&pending).await.as_deref(), Some("active"));

    j.site.clock.advance(301);
    let newcomer = email("cohort");
    let file = learners_tests::file_named(
        "one.csv",
        format!("email,username,name\n{newcomer},{},Cohort Member\n", unique("member")),
    );
    b.follow("Bulk registration").await;
    b.choose_file("CSV file", &file).await;
    b.press("Check file").await;
    assert!(b.has("#f-your_code").await, "registering asks for the code");
    b.fill("Code from your app", "000000").await;
    b.press("Register 1 learners").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("#your_code-error").await.contains("a code from your authenticator app"));
    assert!(j.status_of(&newcomer).await.is_none(), "nothing registered");
    j.confirm_with_code(&operator).await;
    b.press("Register 1 learners").await;
    b.wait_for_text("#job-status", "completed").await;
    assert_eq!(j.status_of(&newcomer).await.as_deref(), Some("active"));
    j.finish().await;
}

/// An operator in the console tries to set another operator's password, unlock them and delete
/// them: each is refused on the page, and nothing changes (the password still signs in, the
/// account is there, the failure count is the same).
async fn operators_cannot_act_on_operators(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let (alice, bob) = (j.operator().await, j.operator().await);
    for _ in 0..2 {
        assert!(!j.can_sign_in(&bob, "not bob's password").await);
    }
    let failures = || async { learners::flows::admin::user_by_email(&j.site.app, &bob).await.unwrap().failed_logins };
    assert_eq!(failures().await, 2);
    j.open_console_as(&alice).await;
    let refusal = "This account has the operator role: the console does not";

    j.find_learner(&bob).await;
    assert!(b.text().await.contains("the console does not set its password"), "the card says so");
    b.fill("New password", "violet kettle drums 42").await;
    b.press("Set password").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("[role=alert]").await.contains(refusal), "{}", b.text().await);
    b.snap("console-operator-refused").await;

    j.find_learner(&bob).await;
    b.press("Unlock").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("[role=alert]").await.contains(refusal));

    j.find_learner(&bob).await;
    b.press("Delete account").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("[role=alert]").await.contains(refusal));

    assert_eq!(failures().await, 2, "the lock is unchanged");
    assert!(j.status_of(&bob).await.is_some(), "the account is still there");
    assert!(!j.can_sign_in(&bob, "violet kettle drums 42").await);
    assert!(j.can_sign_in(&bob, PASSWORD).await, "bob's own password still signs in");

    j.open("/operator/audit").await;
    let audit = b.text().await;
    assert_eq!(audit.matches("refused: operator account").count(), 3, "{audit}");
    j.finish().await;
}

/// A cohort from a CSV file (3 good rows, 1 bad), then two learners deleted from a pasted list;
/// both jobs complete, the report downloads, the audit page shows them.
async fn bulk_registration_and_deletions(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let cohort: Vec<String> = (0..3).map(|_| email("cohort")).collect();
    let mut csv = String::from("email,username,name,password\n");
    for address in &cohort {
        csv.push_str(&format!("{address},{},Cohort Member,{PASSWORD}\n", unique("member")));
    }
    csv.push_str(&format!("not-an-address,{},Broken Row,\n", unique("broken")));
    let file = learners_tests::file_named("cohort.csv", &csv);

    j.open_console_as(&operator).await;
    b.follow("Bulk registration").await;
    b.snap("console-bulk").await;
    b.choose_file("CSV file", &file).await;
    b.press("Check file").await;
    let checked = b.text().await;
    assert!(checked.contains("The file has 4 rows: 3 can be registered, 1 cannot"), "{checked}");
    assert!(checked.contains("not-an-address"), "the bad row, with its reason:\n{checked}");
    assert!(j.status_of(&cohort[0]).await.is_none(), "checking creates nothing");
    b.snap("console-bulk-checked").await;
    b.press("Register 3 learners").await;
    assert!(b.path().await.starts_with("/operator/jobs/"));
    b.wait_for_text("#job-status", "completed").await;
    b.snap("console-job").await;
    assert!(b.text().await.contains("Created\n3") || b.text().await.contains("Created 3"), "{}", b.text().await);
    let report = b.download("Download report").await;
    assert_eq!(report.lines().count(), 5, "a header and 4 rows:\n{report}");
    for address in &cohort {
        assert_eq!(j.status_of(address).await.as_deref(), Some("active"));
    }

    b.follow("Deletions").await;
    b.snap("console-deletions").await;
    b.fill("Emails (one per line)", &format!("{}\n{}\n", cohort[0], cohort[1])).await;
    b.press("Check list").await;
    assert!(b.text().await.contains("2 different addresses, 2 of them with an account"), "{}", b.text().await);
    b.snap("console-deletions-checked").await;
    b.press("Delete 2 accounts").await;
    b.wait_for_text("#job-status", "completed").await;
    assert!(!j.can_sign_in(&cohort[0], PASSWORD).await);
    assert!(!j.can_sign_in(&cohort[1], PASSWORD).await);
    assert!(j.can_sign_in(&cohort[2], PASSWORD).await, "only the listed ones");

    j.open("/operator/audit").await;
    let audit = b.text().await;
    assert!(audit.contains("bulk_register") && audit.contains("delete"), "{audit}");
    assert!(audit.contains(&operator), "{audit}");
    j.finish().await;
}

/// Signed in without the role, every console address (GET and POST) is the unknown-route 404;
/// a revoked operator's open session loses the console at its next request; `next` is only
/// ever a local path.
async fn the_console_does_not_exist_for_others(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let learner = j.active_learner().await;
    j.open("/login?next=https://evil.example/").await;
    b.fill("Email", &learner).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/account/settings", "next=https://evil.example is ignored");
    let current = b.text().await;
    assert!(current.contains(&learner));

    j.open("/no/such/page").await;
    let unknown = (b.status().await, b.text().await);
    for path in [
        "/operator",
        "/operator?email=x@example.com",
        "/operator/bulk",
        "/operator/deletions",
        "/operator/audit",
        "/operator/applications",
        "/operator/jobs/1",
    ] {
        j.open(path).await;
        assert_eq!((b.status().await, b.text().await), unknown, "{path}");
    }
    let site = j.site.app.config.site_url.clone();
    let form = format!(
        r#"<!doctype html><html lang="en"><head><title>Form</title></head><body><main><h1>Form</h1>
<form method="post" action="{site}/operator/activate"><input type="hidden" name="email" value="{learner}"><button type="submit">Post it</button></form></main></body></html>"#
    );
    let (page, server) = serve_page("127.0.0.1", form).await;
    b.open(&page).await;
    b.press("Post it").await;
    assert_eq!((b.status().await, b.text().await), unknown, "POST too");
    server.abort();

    // An operator with the console open loses it when the role goes.
    let operator = j.operator().await;
    j.open("/account/settings").await;
    b.press("Sign out").await;
    j.open_console_as(&operator).await;
    set_operator_role(&j.site.app, GRANTED_BY, &operator, false).await.unwrap();
    j.open("/operator").await;
    assert_eq!((b.status().await, b.text().await), unknown, "revoked: no console at the next request");
    j.finish().await;
}

/// The secret a confidential application has now, if `secret` is it.
async fn secret_works(j: &Journey, client_id: &str, secret: &str) -> bool {
    let clients = learners::oidc::clients::list(&j.site.app).await.expect("the applications");
    let client = clients.iter().find(|c| c.id.as_str() == client_id).expect("the application is registered");
    let typed = Token::parse(secret).expect("a secret as the page shows it");
    client.secret_hash.as_ref().map(|h| h.as_str().to_owned()) == Some(typed.hash().as_str().to_owned())
}

/// Applications: a redirect URI refused beside its field (the form filled in again), then one
/// registered with its secret shown once on the page the post answers, listed, given a new
/// secret (the old one stops working), and removed after confirming; every step audited.
async fn an_operator_manages_applications(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    j.open_console_as(&operator).await;
    b.follow("Applications").await;
    assert_eq!(b.heading().await, "Applications");
    assert_eq!(b.accessibility_violations().await, Vec::<String>::new(), "axe-core on the Applications page");
    b.snap("console-applications").await;

    let name = unique("Open edX ");
    b.fill("Name", &name).await;
    b.fill("Redirect URIs (one per line)", "https://lms.example/auth/complete/oidc/\nhttp://lms.example/callback")
        .await;
    b.press("Register application").await;
    assert_eq!(b.status().await, 422);
    assert!(b.text_of("#redirect_uris-error").await.contains("must be https"), "{}", b.text().await);
    assert_eq!(b.value_of("Name").await, name, "the form is filled in again");
    assert!(b.value_of("Redirect URIs (one per line)").await.contains("http://lms.example/callback"));
    assert_eq!(b.field_attr("Redirect URIs (one per line)", "aria-invalid").await.as_deref(), Some("true"));
    b.snap("console-applications-refused").await;

    b.fill("Redirect URIs (one per line)", "https://lms.example/auth/complete/oidc/").await;
    b.fill("Post-logout redirect URIs (one per line, optional)", "https://lms.example/logout").await;
    b.press("Register application").await;
    assert_eq!(b.status().await, 201, "the post's own answer shows the secret");
    assert_eq!(b.url().await, j.url("/operator/applications"), "no secret in the address");
    assert!(b.text().await.contains("Copy it now: it is not shown again"));
    let client_id = b.text_of("#shown-client-id").await;
    let secret = b.text_of("#shown-client-secret").await;
    assert!(!secret.is_empty() && !b.url().await.contains(&secret));
    assert!(secret_works(&j, &client_id, &secret).await, "the secret shown is the application's");
    b.snap("console-application-secret").await;

    j.open("/operator/applications").await;
    assert!(!b.has("#shown-client-secret").await, "shown once only");
    let listed = b.text().await;
    assert!(!listed.contains(&secret));
    for shown in [name.as_str(), client_id.as_str(), "confidential", "https://lms.example/auth/complete/oidc/"] {
        assert!(listed.contains(shown), "{shown} in:\n{listed}");
    }

    b.press("New secret").await;
    assert_eq!(b.status().await, 200);
    let renewed = b.text_of("#shown-client-secret").await;
    assert_ne!(renewed, secret);
    assert!(secret_works(&j, &client_id, &renewed).await);
    assert!(!secret_works(&j, &client_id, &secret).await, "the old secret no longer works");

    b.press("Remove").await;
    assert!(b.text().await.contains(&name), "the confirm step names it");
    b.snap("console-application-remove").await;
    b.press("Yes, remove it").await;
    assert_eq!(b.path().await, "/operator/applications");
    assert!(b.text_of("[role=alert]").await.contains("removed"));
    assert!(!b.text().await.contains(&client_id), "no longer listed");
    let left = learners::oidc::clients::list(&j.site.app).await.unwrap();
    assert!(left.iter().all(|c| c.id.as_str() != client_id));

    j.open("/operator/audit").await;
    let audit = b.text().await;
    for action in ["oidc_client_register", "oidc_client_rotate_secret", "oidc_client_delete"] {
        assert!(audit.contains(action), "{action} in:\n{audit}");
    }
    j.finish().await;
}

/// A learner lost their phone: the card shows their factors and "Remove second factors"; the
/// confirm step asks for the operator's own code; then the learner signs in with the password
/// alone, and the audit page shows it.
async fn an_operator_removes_a_learners_second_factors(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let learner = j.active_learner().await;
    j.site.enrol_totp(&learner).await;
    assert!(!j.password_alone(&learner).await, "the learner's sign-in asks for a code");
    j.open_console_as(&operator).await;
    j.site.clock.advance(301);
    j.find_learner(&learner).await;
    assert!(b.text().await.contains("an authenticator app"), "{}", b.text().await);
    b.press("Remove second factors").await;
    assert_eq!(b.heading().await, "Remove second factors", "the confirm step");
    b.snap("console-remove-second-factors").await;
    j.confirm_with_code(&operator).await;
    b.press("Yes, remove the second factors").await;
    assert!(b.text_of("[role=alert]").await.contains("The second factors are removed"), "{}", b.text().await);
    assert!(!b.has_button("Remove second factors").await, "none left");
    assert!(j.password_alone(&learner).await, "the password alone signs the learner in");
    let mails = j.site.mail_to(&learner).await;
    assert!(mails.iter().any(|m| m.subject.contains("second factors of your")), "the learner is told");
    j.open("/operator/audit").await;
    assert!(b.text().await.contains("remove_second_factors"), "{}", b.text().await);
    j.finish().await;
}

/// Signed in with the password alone (no second factor yet), the console is only the page that
/// says how to set one up; its links lead to the authenticator setup.
async fn an_operator_without_a_second_factor_is_shown_how_to_set_one_up(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.active_learner().await;
    set_operator_role(&j.site.app, GRANTED_BY, &operator, true).await.expect("granting the role");
    j.open("/operator").await;
    b.fill("Email", &operator).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/operator");
    assert_eq!(b.heading().await, "A second factor is required");
    assert!(!b.has("#f-email").await, "no look-up form");
    b.snap("console-second-factor-required").await;
    b.follow("Set up an authenticator app").await;
    assert_eq!(b.path().await, "/account/authenticator");
    j.finish().await;
}

in_the_browser! {
    an_operator_supports_learners: memory, moto;
    sensitive_actions_ask_for_the_operators_second_factor: memory;
    an_operator_removes_a_learners_second_factors: memory;
    an_operator_without_a_second_factor_is_shown_how_to_set_one_up: memory;
    operators_cannot_act_on_operators: memory, moto;
    bulk_registration_and_deletions: memory, moto;
    the_console_does_not_exist_for_others: memory;
    an_operator_manages_applications: memory, moto;
}

mod find_and_export;
mod large_files;
mod operator_actions;
mod operator_email;
mod site_settings;
mod spreadsheets;
