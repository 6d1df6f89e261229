//! Issue 23, the learner's own account page, as a learner meets it in the browser: "Change my
//! name", "Change my password" while another browser is signed in, "Where you're signed in"
//! with two browsers and "Sign out everywhere else", and "Download my data". Clicking and
//! typing only; a second browser is a second WebDriver session with its own profile.

use learners_tests::browser::Browser;
use learners_tests::{Backend, TestApp, PASSWORD};

const NEW_PASSWORD: &str = "violet kettle drums 42 at dawn";

async fn sign_in(site: &TestApp, b: &Browser, address: &str, password: &str) {
    b.open(&site.url("/login")).await;
    b.fill("Email", address).await;
    b.fill("Password", password).await;
    b.press("Sign in").await;
}

/// Is this browser signed in? (The settings page opens, or it is sent to sign in.)
async fn signed_in(site: &TestApp, b: &Browser) -> bool {
    b.open(&site.url("/account/settings")).await;
    match b.path().await.as_str() {
        "/account/settings" => true,
        "/login" => false,
        other => panic!("the settings page led to {other}"),
    }
}

async fn a_learner_changes_their_name_and_downloads_their_data(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let b = Browser::start().await;
    let address = site.activated_learner("own", "Grace Hopper").await;
    sign_in(&site, &b, &address, PASSWORD).await;
    assert_eq!(b.path().await, "/account/settings");
    b.snap("settings-account").await;

    b.follow("Change my name").await;
    assert_eq!(b.heading().await, "Change my name");
    assert_eq!(b.value_of("Full name").await, "Grace Hopper", "the name now, to edit");
    // Refused as at registration: the form again, at its own address, the reason at the field.
    b.fill("Full name", "<b>Grace</b>").await;
    b.press("Change my name").await;
    assert_eq!(b.status().await, 422);
    assert_eq!(b.path().await, "/account/name");
    assert!(b.text_of("#name-error").await.contains("cannot contain"), "{}", b.text().await);
    b.snap("change-name-refused").await;

    b.fill("Full name", "Grace Brewster Hopper").await;
    b.press("Change my name").await;
    assert_eq!(b.path().await, "/account/settings");
    assert!(b.text().await.contains("Grace Brewster Hopper"), "the settings page shows it");

    let file = b.download("Download my data").await;
    let data: serde_json::Value = serde_json::from_str(&file).expect("a JSON file");
    assert_eq!(data["account"]["email"], address);
    assert_eq!(data["account"]["name"], "Grace Brewster Hopper");
    let audit = data["audit"].as_array().expect("the audit");
    assert!(audit.iter().any(|e| e["action"] == "change_name" && e["by"] == "you"), "{audit:?}");
    assert_eq!(data["sessions"].as_array().expect("the sessions").len(), 1);
    assert_eq!(data["sessions"][0]["this_browser"], true);
    b.quit().await;
}

async fn changing_the_password_signs_the_other_browser_out(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let (this, other) = (Browser::start().await, Browser::start().await);
    let address = site.activated_learner("own", "Grace Hopper").await;
    sign_in(&site, &this, &address, PASSWORD).await;
    sign_in(&site, &other, &address, PASSWORD).await;
    assert!(signed_in(&site, &other).await);

    this.open(&site.url("/account/settings")).await;
    this.follow("Change my password").await;
    assert_eq!(this.path().await, "/account/password", "not the forgot-password flow");
    this.snap("change-password").await;
    this.fill("Current password", "not my password at all").await;
    this.fill("New password", NEW_PASSWORD).await;
    this.press("Change my password").await;
    assert_eq!(this.status().await, 403);
    assert_eq!(this.path().await, "/account/password");
    assert!(this.text_of("#current_password-error").await.contains("not right"));
    this.snap("change-password-refused").await;
    assert!(signed_in(&site, &other).await, "a refused change ends nothing");

    this.fill("Current password", PASSWORD).await;
    this.fill("New password", NEW_PASSWORD).await;
    this.press("Change my password").await;
    assert_eq!(this.path().await, "/account/settings");
    assert!(signed_in(&site, &this).await, "this browser stays signed in");
    assert!(!signed_in(&site, &other).await, "the other browser is signed out");

    sign_in(&site, &other, &address, PASSWORD).await;
    assert_eq!(other.status().await, 401, "the old password no longer signs in");
    sign_in(&site, &other, &address, NEW_PASSWORD).await;
    assert_eq!(other.path().await, "/account/settings", "the new one does");
    let mails = site.mail_to(&address).await;
    assert!(mails.iter().any(|m| m.subject.contains("password was changed")), "a notice is mailed");
    this.quit().await;
    other.quit().await;
}

async fn two_browsers_are_listed_and_the_other_is_signed_out(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let (this, other) = (Browser::start().await, Browser::start().await);
    let address = site.activated_learner("own", "Grace Hopper").await;
    sign_in(&site, &this, &address, PASSWORD).await;
    sign_in(&site, &other, &address, PASSWORD).await;

    this.open(&site.url("/account/settings")).await;
    this.follow("Where you're signed in").await;
    assert_eq!(this.heading().await, "Where you're signed in");
    let page = this.text().await;
    assert_eq!(page.matches("Chrome on Linux").count(), 2, "both browsers, by name: {page}");
    assert_eq!(page.matches("This browser").count(), 1, "{page}");
    assert!(this.has_button("End this session").await);
    this.snap("sessions").await;

    this.press("Sign out everywhere else").await;
    assert_eq!(this.path().await, "/account/sessions");
    let page = this.text().await;
    assert_eq!(page.matches("Chrome on Linux").count(), 1, "{page}");
    assert!(page.contains("This browser") && !this.has_button("Sign out everywhere else").await);
    assert!(signed_in(&site, &this).await);
    assert!(!signed_in(&site, &other).await, "the other browser is signed out");
    this.quit().await;
    other.quit().await;
}

in_the_browser! {
    a_learner_changes_their_name_and_downloads_their_data: memory, moto;
    changing_the_password_signs_the_other_browser_out: memory, moto;
    two_browsers_are_listed_and_the_other_is_signed_out: memory, moto;
}
