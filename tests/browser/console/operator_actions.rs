//! An operator acts on one learner from the card, and invites a bulk upload's learners (issue
//! 26, points 2 and 3), in the browser: "Disable account" signs the learner's own browser out
//! and keeps them out, "Enable account" lets them back in; "Resend the activation link" and
//! "Send a reset link" deliver one mail each and show in the audit; a cohort uploaded with "Send
//! each learner an invitation" gets the mail, each learner chooses a password from it and signs
//! in.
//!
//! A child of `console`, for its operator helpers.

use super::Journey;
use learners_tests::browser::Browser;
use learners_tests::{email, unique, Backend, PASSWORD};

const CHOSEN: &str = "violet kettle drums 42";

/// Presses a card's action, then "Yes, ..." on its confirm step (the sign-in's code counts as
/// the confirmation for 5 minutes, so none is asked).
async fn act(j: &Journey, learner: &str, button: &str, yes: &str) {
    j.find_learner(learner).await;
    j.browser.press(button).await;
    assert_eq!(j.browser.heading().await, button, "the confirm step");
    j.browser.press(yes).await;
    assert_eq!(j.browser.status().await, 200, "{}", j.browser.text().await);
}

async fn an_operator_disables_and_enables_a_learner(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let learner = j.active_learner().await;

    // The learner, signed in in their own browser.
    let theirs = Browser::start().await;
    theirs.open(&j.url("/login")).await;
    theirs.fill("Email", &learner).await;
    theirs.fill("Password", PASSWORD).await;
    theirs.press("Sign in").await;
    assert_eq!(theirs.path().await, "/account/settings");

    j.open_console_as(&operator).await;
    j.find_learner(&learner).await;
    let card = b.text().await;
    assert!(b.has_button("Disable account").await && !b.has_button("Enable account").await, "{card}");
    act(&j, &learner, "Disable account", "Yes, disable this account").await;
    let done = b.text_of("[role=alert]").await;
    assert!(done.contains("The account is disabled"), "{done}");
    assert!(b.text().await.contains("yes, since"), "the card says so: {}", b.text().await);
    b.snap("console-disabled").await;

    // Their browser is signed out, and the password no longer signs in.
    theirs.open(&j.url("/account/settings")).await;
    assert_eq!(theirs.path().await, "/login", "signed out");
    theirs.fill("Email", &learner).await;
    theirs.fill("Password", PASSWORD).await;
    theirs.press("Sign in").await;
    assert_eq!(theirs.path().await, "/login");
    assert_eq!(theirs.status().await, 401);
    let mails = j.site.mail_to(&learner).await;
    assert!(mails.last().unwrap().subject.ends_with("account is disabled"), "the notice");

    act(&j, &learner, "Enable account", "Yes, enable this account").await;
    assert!(b.text_of("[role=alert]").await.contains("The account is enabled"));
    assert!(b.has_button("Disable account").await);
    theirs.fill("Email", &learner).await;
    theirs.fill("Password", PASSWORD).await;
    theirs.press("Sign in").await;
    assert_eq!(theirs.path().await, "/account/settings", "enabled: signed in again");
    theirs.quit().await;

    j.open("/operator/audit").await;
    let audit = b.text().await;
    assert!(
        audit.contains("disable") && audit.contains("done, learner notified") && audit.contains("enable"),
        "{audit}"
    );
    j.finish().await;
}

async fn resend_activation_and_send_reset_link_deliver_one_mail_each(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let pending = j.pending_learner("pat").await;
    let active = j.active_learner().await;
    let activations =
        |mails: &[learners_tests::Mail]| mails.iter().filter(|m| m.subject.starts_with("Activate")).count();
    assert_eq!(activations(&j.site.mail_to(&pending).await), 1);
    let resets_before = j.site.mail_to(&active).await.len();

    j.open_console_as(&operator).await;
    j.find_learner(&active).await;
    assert!(!b.has_button("Resend the activation link").await, "an active account has none");
    act(&j, &pending, "Resend the activation link", "Yes, resend the activation link").await;
    assert!(b.text_of("[role=alert]").await.contains("A new activation link is on its way"));
    assert_eq!(activations(&j.site.mail_to(&pending).await), 2, "one mail more");
    act(&j, &active, "Send a reset link", "Yes, send a reset link").await;
    assert!(b.text_of("[role=alert]").await.contains("A reset link is on its way"));
    let mails = j.site.mail_to(&active).await;
    assert_eq!(mails.len(), resets_before + 1, "one mail");
    assert!(mails.last().unwrap().subject.starts_with("Reset your"));

    // The new activation link works.
    let link = j.site.mailed_link(&pending, "Activate", "/activate/").await;
    b.open(&link).await;
    b.fill("Password", PASSWORD).await;
    b.press("Activate my account").await;
    assert_eq!(b.heading().await, "Your account is active");

    j.open("/operator/audit").await;
    let audit = b.text().await;
    assert!(audit.contains("resend_activation") && audit.contains("send_reset_link"), "{audit}");
    j.finish().await;
}

async fn a_bulk_upload_with_invitations(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let cohort: Vec<String> = (0..2).map(|_| email("invited")).collect();
    let mut csv = String::from("email,username,name\n");
    for address in &cohort {
        csv.push_str(&format!("{address},{},Invited Member\n", unique("member")));
    }
    let file = learners_tests::file_named("cohort.csv", &csv);

    j.open_console_as(&operator).await;
    b.follow("Bulk registration").await;
    b.choose_file("CSV file", &file).await;
    b.press("Check file").await;
    assert!(!b.is_checked("Send each learner an invitation").await, "off by default");
    b.tick("Send each learner an invitation").await;
    b.snap("console-bulk-invite").await;
    b.press("Register 2 learners").await;
    b.wait_for_text("#job-status", "completed").await;
    let report = b.download("Download report").await;
    assert_eq!(report.matches("\"invited\"").count(), 2, "who was invited:\n{report}");

    for address in &cohort {
        let link = j.site.mailed_link(address, "Your ", "/password-reset/").await;
        b.open(&link).await;
        assert_eq!(b.heading().await, "Choose a new password");
        b.fill("New password", CHOSEN).await;
        b.press("Set my password").await;
        assert_eq!(b.heading().await, "Your password is changed");
        j.sign_in(address, CHOSEN).await;
        assert_eq!(b.path().await, "/account/settings", "{address} signs in");
        assert!(b.text().await.contains(address.as_str()));
        b.press("Sign out").await;
    }
    j.finish().await;
}

in_the_browser! {
    an_operator_disables_and_enables_a_learner: memory, moto;
    resend_activation_and_send_reset_link_deliver_one_mail_each: memory;
    a_bulk_upload_with_invitations: memory, moto;
}
