//! Issue 23, "Change my email", as a learner meets it in the browser: the form at
//! `/account/email`, the link in the new mailbox, "Confirm my new email", and "This was not me"
//! from the old mailbox, which brings the address back and signs the browser out. Clicking and
//! typing only.

use learners_tests::browser::Browser;
use learners_tests::{email, Backend, TestApp, PASSWORD};

/// Signs in with `address` and `PASSWORD`: the status and path the browser ends on.
async fn sign_in(site: &TestApp, b: &Browser, address: &str) -> (u16, String) {
    b.open(&site.url("/login")).await;
    b.fill("Email", address).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    (b.status().await, b.path().await)
}

async fn a_learner_changes_their_email_and_the_old_mailbox_takes_it_back(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let b = Browser::start().await;
    let old = site.activated_learner("mover", "Mary Somerville").await;
    let new = email("moved");
    assert_eq!(sign_in(&site, &b, &old).await.1, "/account/settings");

    b.open(&site.url("/account/email")).await;
    assert_eq!(b.heading().await, "Change my email");
    assert!(b.text().await.contains(&format!("Your email is {old}.")));
    b.snap("email-change").await;
    // A wrong password comes back beside its field, the address typed kept.
    b.fill("New email", &new).await;
    b.fill("Current password", "not my password at all").await;
    b.press("Change my email").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text_of("#password-error").await.contains("The password is not right."));
    assert_eq!(b.value_of("New email").await, new);
    b.snap("email-change-refused").await;
    b.fill("Current password", PASSWORD).await;
    b.press("Change my email").await;
    assert_eq!(b.status().await, 202);
    assert!(
        b.text().await.contains(&format!("We sent a link to {new}. Your email stays {old} until you open it.")),
        "{}",
        b.text().await
    );
    b.snap("email-change-sent").await;

    // The link arrives at the new address; until it is used, the old address signs in.
    let link = site.mailed_link(&new, "Confirm your new email", "/account/email/confirm/").await;
    assert_eq!(sign_in(&site, &b, &new).await.0, 401, "the new address does not sign in yet");
    assert_eq!(sign_in(&site, &b, &old).await.1, "/account/settings", "the old one does");

    b.open(&link).await;
    assert_eq!(b.heading().await, "Confirm your new email");
    assert!(b.text().await.contains(&new));
    b.snap("email-change-confirm").await;
    b.press("Confirm my new email").await;
    assert_eq!(b.heading().await, "Your email is changed");
    assert!(b.text().await.contains(&format!("The email of your account is now {new}.")));
    b.snap("email-changed").await;
    b.open(&link).await;
    assert_eq!(b.status().await, 400);
    assert_eq!(b.heading().await, "This link cannot be used");
    assert!(b.text().await.contains("This link was used or has expired."));
    b.snap("email-link-invalid").await;

    // After: only the new address signs in.
    assert_eq!(sign_in(&site, &b, &old).await.0, 401, "the old address no longer signs in");
    assert_eq!(sign_in(&site, &b, &new).await.1, "/account/settings");
    assert!(b.text().await.contains(&new));

    // The old mailbox got "This was not me": it restores the address and ends every session.
    let not_me = site.mailed_link(&old, "The email of your", "/account/email/not-me/").await;
    b.open(&not_me).await;
    assert_eq!(b.heading().await, "This was not me");
    b.snap("email-change-not-me").await;
    b.press("This was not me").await;
    assert_eq!(b.heading().await, "Your email is back");
    assert!(b.text().await.contains(&format!("The email of your account is {old} again")));
    b.snap("email-change-reverted").await;
    b.open(&site.url("/account/settings")).await;
    assert_eq!(b.path().await, "/login", "the browser's session was ended");

    // A reset link arrives at the old address; and the old address signs in again.
    let reset = site.mailed_link(&old, "Reset", "/password-reset/").await;
    b.open(&reset).await;
    assert_eq!(b.heading().await, "Choose a new password");
    assert_eq!(sign_in(&site, &b, &new).await.0, 401);
    assert_eq!(sign_in(&site, &b, &old).await.1, "/account/settings");
    assert!(b.text().await.contains(&old));
    b.quit().await;
}

in_the_browser! {
    a_learner_changes_their_email_and_the_old_mailbox_takes_it_back: memory, moto;
}
