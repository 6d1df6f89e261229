//! Issue 23, point 8, as a learner meets it in the browser: the site's front at `/` (the way in,
//! the LMS's address, and after sign-in the way to the account), the terms of service and the
//! privacy policy beside the registration checkbox, "Ann Lee" registering with a passphrase
//! that merely contains "ann" and "lee", and refused forms that leave the browser on the page's
//! own address with the reason shown. Clicking and typing only.

use learners_tests::browser::{serve_page, Browser};
use learners_tests::{email, unique, Backend, TestApp};

const LMS_PAGE: &str = "<!doctype html><html lang=\"en\"><head><title>LMS</title></head>\
<body><main><h1>The courses</h1></main></body></html>";

const TERMS_URL: &str = "https://learn.example.org/legal/terms";
const PRIVACY_URL: &str = "https://learn.example.org/legal/privacy";

/// The passphrase of issue 23: "ann" is inside "planning", "lee" inside "sleep".
const ANNS_PASSWORD: &str = "planning to go sleep early";

async fn the_front_the_terms_and_ann_lee(backend: Backend) {
    let (lms, _server) = serve_page("127.0.0.1", LMS_PAGE.to_owned()).await;
    let site = TestApp::spawn_site(
        backend,
        &[
            ("LEARNERS_LMS_URL", lms.as_str()),
            ("LEARNERS_TERMS_URL", TERMS_URL),
            ("LEARNERS_PRIVACY_URL", PRIVACY_URL),
            ("LEARNERS_TERMS_VERSION", "2026-01"),
        ],
    )
    .await;
    let b = Browser::start().await;

    // The front, signed out: the way in, and the LMS's address.
    b.open(&site.url("/")).await;
    assert_eq!(b.status().await, 200, "no longer \"Page not found\"");
    assert_eq!(b.heading().await, "Welcome");
    assert!(b.has(r#"main a[href="/login"]"#).await && b.has(r#"main a[href="/register"]"#).await);
    assert!(b.text_of("main").await.contains(&lms), "the LMS's address is shown");
    assert!(!b.has(r#"main a[href="/account/settings"]"#).await, "signed out: no account link");
    b.snap("home").await;
    b.follow(&lms).await;
    assert_eq!(b.heading().await, "The courses");
    b.open(&site.url("/")).await;
    b.follow("Create an account").await;
    assert_eq!(b.path().await, "/register");

    // The terms and the privacy policy, linked beside the checkbox.
    let beside = |href: &str| format!(r#"form label.check + p a[href="{href}"]"#);
    assert!(b.has(&beside(TERMS_URL)).await, "the terms link sits right after the checkbox");
    assert!(b.has(&beside(PRIVACY_URL)).await);
    assert_eq!(b.text_of(&beside(TERMS_URL)).await, "Terms of service");
    assert_eq!(b.text_of(&beside(PRIVACY_URL)).await, "Privacy policy");
    b.snap("register-with-terms").await;

    // Refused (the name itself is in the password): the browser stays on /register.
    let address = email("ann");
    let username = unique("annlee");
    b.fill("Email", &address).await;
    b.fill("Username", &username).await;
    b.fill("Full name", "Ann Lee").await;
    b.fill("Password", "ann lee goes to sleep early").await;
    b.tick("I accept the terms of service and the honor code.").await;
    b.press("Create account").await;
    assert_eq!(b.status().await, 422);
    assert_eq!(b.path().await, "/register", "not an /api/v1/ address");
    assert!(b.text_of("#password-error").await.contains("your name"), "the reason beside the field");
    assert!(b.has(&beside(TERMS_URL)).await, "the refused form keeps its links");

    // "planning to go sleep early" is Ann Lee's to use.
    b.fill("Password", ANNS_PASSWORD).await;
    b.press("Create account").await;
    assert_eq!(b.status().await, 202, "{}", b.text().await);
    assert_eq!(b.heading().await, "Check your inbox");
    let link = site.mailed_link(&address, "Activate", "/activate/").await;
    b.open(&link).await;
    b.fill("Password", ANNS_PASSWORD).await;
    b.press("Activate my account").await;
    assert_eq!(b.heading().await, "Your account is active");

    // A refused sign-in stays on /login, with the reason.
    b.follow("Sign in").await;
    b.fill("Email", &address).await;
    b.fill("Password", "not the password at all").await;
    b.press("Sign in").await;
    assert_eq!(b.status().await, 401);
    assert_eq!(b.path().await, "/login", "not an /api/v1/ address");
    assert!(b.text_of("[role=alert]").await.contains("Email or password is incorrect"));
    assert_eq!(b.value_of("Email").await, address, "the address is kept");
    b.fill("Password", ANNS_PASSWORD).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/account/settings");

    // The front, signed in: the way to the account, and the LMS.
    b.open(&site.url("/")).await;
    assert!(b.text_of("main").await.contains(&address), "{}", b.text().await);
    assert!(!b.has(r#"main a[href="/login"]"#).await, "signed in: no sign-in link");
    assert!(b.has(&format!(r#"main a[href="{lms}"]"#)).await);
    b.snap("home-signed-in").await;
    b.follow("Your account").await;
    assert_eq!(b.path().await, "/account/settings");
    b.quit().await;
}

/// Without the LMS's or the terms' addresses: no LMS link, and the checkbox as it always read.
async fn without_the_addresses(backend: Backend) {
    let site = TestApp::spawn_site(backend, &[]).await;
    let b = Browser::start().await;
    b.open(&site.url("/")).await;
    assert!(b.has(r#"main a[href="/login"]"#).await && b.has(r#"main a[href="/register"]"#).await);
    assert!(!b.has(r#"main a:not([href="/login"]):not([href="/register"])"#).await, "and no other link");
    b.follow("Sign in").await;
    assert_eq!(b.path().await, "/login");
    b.open(&site.url("/register")).await;
    assert!(!b.has("form label.check + p a").await, "no terms link when none is configured");
    assert!(b.text().await.contains("I accept the terms of service and the honor code."));

    // A refused registration (a long part of the name in the password): the browser stays on
    // /register, with the reason beside the field.
    b.fill("Email", &email("bob")).await;
    b.fill("Username", &unique("bob")).await;
    b.fill("Full name", "Bob Marley").await;
    b.fill("Password", "marley and me forever").await;
    b.tick("I accept the terms of service and the honor code.").await;
    b.press("Create account").await;
    assert_eq!(b.status().await, 422);
    assert_eq!(b.path().await, "/register");
    assert!(b.text_of("#password-error").await.contains("your name"));
    b.quit().await;
}

in_the_browser! {
    the_front_the_terms_and_ann_lee: memory, moto;
    without_the_addresses: memory;
}
