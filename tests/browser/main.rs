//! The learner journeys in headless Chromium, by clicking only: the test opens addresses (the
//! site's, or a link from a captured mail), types into labelled fields and presses buttons;
//! it never builds a request. Every page the browser lands on is checked to be HTML and free
//! of serious or critical axe-core violations (see `learners_tests::browser`).
//!
//! Accounts that a journey needs before it starts are made through the flows themselves (as
//! a learner would have made them earlier), not through HTTP.

use learners::flows::registration::{register, RegistrationForm};
use learners_tests::browser::{serve_page, Browser};
use learners_tests::{email, unique, Backend, TestApp, PASSWORD};

/// A site on one backend and a fresh browser pointed at it.
struct Journey {
    site: TestApp,
    browser: Browser,
}

impl Journey {
    async fn start(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let site = TestApp::spawn_site(backend, extra).await;
        let browser = Browser::start().await;
        Self { site, browser }
    }

    fn url(&self, path: &str) -> String {
        self.site.url(path)
    }

    async fn open(&self, path: &str) {
        self.browser.open(&self.url(path)).await;
    }

    /// A learner who registered earlier (with `PASSWORD`) and has not activated yet.
    async fn pending_learner(&self, name: &str) -> String {
        let address = email(name);
        let form = RegistrationForm {
            email: address.clone(),
            username: unique(name),
            name: format!("{name} Lovelace"),
            password: PASSWORD.into(),
            terms_accepted: true,
        };
        register(&self.site.app, &form).await.expect("registration");
        address
    }

    /// A learner who registered and activated earlier.
    async fn active_learner(&self) -> String {
        let address = self.pending_learner("ada").await;
        let link = self.site.mailed_link(&address, "Activate", "/activate/").await;
        let token = link.rsplit('/').next().expect("a token");
        learners::flows::activation::activate(&self.site.app, token, PASSWORD).await.expect("activation");
        address
    }

    async fn sign_in(&self, address: &str, password: &str) {
        self.open("/login").await;
        self.browser.fill("Email", address).await;
        self.browser.fill("Password", password).await;
        self.browser.press("Sign in").await;
    }

    async fn status_of(&self, address: &str) -> Option<String> {
        self.site.user(address).await.map(|user| user["status"].as_str().unwrap_or_default().to_owned())
    }

    async fn finish(self) {
        self.browser.quit().await;
    }
}

/// The full journey: a refused field, then registration, the mailed link, sign-in, settings,
/// sign-out. On both backends.
async fn register_activate_sign_in_and_out(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let address = email("grace");
    let username = unique("grace");
    j.open("/register").await;
    b.snap("register").await;
    b.fill("Email", &address).await;
    b.fill("Username", &username).await;
    b.fill("Full name", "Grace Hopper").await;
    // Long enough for the browser, refused by the server: it contains the username.
    b.fill("Password", &format!("{username} is my password")).await;
    b.tick("I accept the terms of service and the honor code.").await;
    b.press("Create account").await;

    assert_eq!(b.status().await, 422);
    assert_eq!(b.heading().await, "Create your account");
    assert_eq!(b.value_of("Email").await, address, "the form comes back filled in");
    assert_eq!(b.value_of("Username").await, username);
    assert_eq!(b.value_of("Full name").await, "Grace Hopper");
    assert_eq!(b.value_of("Password").await, "", "never the password");
    assert!(b.is_checked("I accept the terms of service and the honor code.").await);
    assert_eq!(b.field_attr("Password", "aria-describedby").await.as_deref(), Some("password-error"));
    assert_eq!(b.field_attr("Password", "aria-invalid").await.as_deref(), Some("true"));
    assert!(b.text_of("#password-error").await.contains("username"), "the reason sits beside its field");
    assert_eq!(b.field_attr("Email", "aria-invalid").await, None, "only the refused field is marked");
    b.snap("register-refused").await;
    assert!(j.status_of(&address).await.is_none(), "nothing was created");

    b.fill("Password", PASSWORD).await;
    b.press("Create account").await;
    assert_eq!(b.status().await, 202);
    assert_eq!(b.heading().await, "Check your inbox");
    assert!(b.text().await.contains("The link works for 3 days."), "{}", b.text().await);
    b.snap("check-your-inbox").await;
    assert_eq!(j.status_of(&address).await.as_deref(), Some("pending_activation"));

    let link = j.site.mailed_link(&address, "Activate", "/activate/").await;
    b.open(&link).await;
    assert_eq!(b.heading().await, "Activate your account");
    b.snap("activation-link").await;
    assert_eq!(j.status_of(&address).await.as_deref(), Some("pending_activation"), "opening spends nothing");
    b.fill("Password", PASSWORD).await;
    b.press("Activate my account").await;
    assert_eq!(b.heading().await, "Your account is active");
    b.snap("activated").await;
    assert_eq!(j.status_of(&address).await.as_deref(), Some("active"));

    b.follow("Sign in").await;
    assert_eq!(b.path().await, "/login");
    b.snap("login").await;
    b.fill("Email", &address).await;
    b.fill("Password", PASSWORD).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/account/settings");
    assert!(b.text().await.contains(&address));
    assert!(!b.has_button("Delete my account").await, "removal is off by default");
    b.snap("settings").await;

    b.press("Sign out").await;
    assert_eq!(b.path().await, "/login");
    j.open("/account/settings").await;
    assert_eq!(b.path().await, "/login", "signed out: settings sends you to sign in");
    j.finish().await;
}

/// An expired link shows the form for a new link; the new link works. A pending account's
/// sign-in points at "Send me a new activation link", which works too.
async fn expired_link_and_new_links(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let address = j.pending_learner("alan").await;
    let first = j.site.mailed_link(&address, "Activate", "/activate/").await;
    j.site.clock.advance(j.site.app.config.activation_ttl_seconds + 1);

    b.open(&first).await;
    assert_eq!(b.status().await, 410);
    assert!(b.text().await.contains("This activation link has expired."));
    b.snap("activation-expired").await;
    b.fill("Email", &address).await;
    b.press("Send me a new link").await;
    assert_eq!(b.status().await, 202);
    assert_eq!(b.heading().await, "Check your inbox");
    let second = j.site.mailed_link(&address, "Activate", "/activate/").await;
    assert_ne!(first, second);

    // Before using it, the learner tries to sign in: refused, with the way forward.
    j.site.clock.advance(j.site.app.config.resend_interval_seconds + 1);
    j.sign_in(&address, PASSWORD).await;
    assert_eq!(b.status().await, 403);
    assert!(b.text().await.contains("not activated yet"));
    b.snap("login-not-activated").await;
    b.follow("Send me a new activation link").await;
    assert_eq!(b.path().await, "/activation-email");
    assert_eq!(b.heading().await, "Send me a new activation link");
    b.snap("new-activation-link").await;
    b.fill("Email", &address).await;
    b.press("Send me a new link").await;
    assert_eq!(b.heading().await, "Check your inbox");
    let third = j.site.mailed_link(&address, "Activate", "/activate/").await;
    assert_ne!(third, second, "a new link was mailed");

    // A newer link ends the older ones.
    b.open(&second).await;
    assert_eq!(b.status().await, 404);
    assert!(!b.has_button("Activate my account").await);
    b.open(&third).await;
    b.fill("Password", PASSWORD).await;
    b.press("Activate my account").await;
    assert_eq!(b.heading().await, "Your account is active");
    assert_eq!(j.status_of(&address).await.as_deref(), Some("active"));
    j.finish().await;
}

/// A locked account: the sign-in page says so in the same words as any failure.
async fn locked_account_reads_like_any_failure(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let b = &j.browser;
    let address = j.active_learner().await;
    let mut alerts = Vec::new();
    for _ in 0..3 {
        j.sign_in(&address, "not the password at all").await;
        assert_eq!(b.status().await, 401);
        alerts.push(b.text_of("[role=alert]").await);
    }
    b.snap("login-refused").await;
    j.sign_in(&address, PASSWORD).await;
    assert_eq!(b.status().await, 401, "locked: the right password is refused");
    assert_eq!(b.path().await, "/login");
    alerts.push(b.text_of("[role=alert]").await);
    j.sign_in(&email("nobody"), PASSWORD).await;
    alerts.push(b.text_of("[role=alert]").await);
    assert!(alerts[0].contains("Email or password is incorrect."), "{}", alerts[0]);
    assert!(alerts[0].contains("paused for 30 minutes"), "{}", alerts[0]);
    assert!(alerts.iter().all(|a| *a == alerts[0]), "{alerts:#?}");
    j.finish().await;
}

/// An attacker's failures from a browser the account does not know lock the account for
/// unknown browsers only: the owner's browser, which signed in before, still signs in; the
/// attacker's stays locked (OWASP's device cookies).
async fn the_owner_signs_in_through_an_attackers_lock(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_MAX_FAILED_LOGINS", "3")]).await;
    let owner = &j.browser;
    let address = j.active_learner().await;
    j.sign_in(&address, PASSWORD).await;
    assert_eq!(owner.path().await, "/account/settings");
    owner.press("Sign out").await;

    let attacker = Browser::start().await;
    for _ in 0..3 {
        attacker.open(&j.url("/login")).await;
        attacker.fill("Email", &address).await;
        attacker.fill("Password", "a guess of the attacker").await;
        attacker.press("Sign in").await;
        assert_eq!(attacker.status().await, 401);
    }
    assert_eq!(
        try_right(&attacker, &j.url("/login"), &address).await.0,
        401,
        "locked for the attacker's browser, even with the password"
    );
    let (_, path) = try_right(owner, &j.url("/login"), &address).await;
    assert_eq!(path, "/account/settings", "the owner's browser is known: it signs in during the attacker's lock");
    assert_eq!(try_right(&attacker, &j.url("/login"), &address).await.0, 401, "the attacker stays locked");
    // The operator's look-up shows both counts: every unknown browser's, and the known ones'.
    let view = j.site.user(&address).await.expect("the account");
    assert_eq!(view["failed_logins"], 3);
    assert!(view["locked_until"].is_string());
    assert!(view["known_devices"].as_u64().unwrap() >= 1, "{view}");
    assert_eq!(view["known_device_failed_logins"], 0);
    attacker.quit().await;
    j.finish().await;
}

/// Signs in with the right password in `browser`: the status and path it ends on.
async fn try_right(browser: &Browser, login: &str, address: &str) -> (u16, String) {
    browser.open(login).await;
    browser.fill("Email", address).await;
    browser.fill("Password", PASSWORD).await;
    browser.press("Sign in").await;
    (browser.status().await, browser.path().await)
}

/// Forgot password from the login page, the mailed link, a refused and an accepted password,
/// then sign-in with it.
async fn forgot_password(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let address = j.active_learner().await;
    j.open("/login").await;
    b.follow("Forgot my password").await;
    assert_eq!(b.path().await, "/password-reset");
    b.snap("forgot-password").await;
    b.fill("Email", &address).await;
    b.press("Send the link").await;
    assert_eq!(b.heading().await, "Check your inbox");
    assert!(b.text().await.contains("The link works for 1 hour."), "{}", b.text().await);
    j.site.settle().await;
    let link = j.site.mailed_link(&address, "Reset", "/password-reset/").await;

    b.open(&link).await;
    assert_eq!(b.heading().await, "Choose a new password");
    b.snap("new-password").await;
    b.fill("New password", "Password12345678").await;
    b.press("Set my password").await;
    assert_eq!(b.status().await, 422);
    assert_eq!(b.heading().await, "Choose a new password", "the form comes back");
    assert!(b.text_of("#password-error").await.contains("common"), "{}", b.text().await);
    b.snap("new-password-refused").await;

    let new_password = "a brand new passphrase here";
    b.fill("New password", new_password).await;
    b.press("Set my password").await;
    assert_eq!(b.heading().await, "Your password is changed");
    b.follow("Sign in").await;
    b.fill("Email", &address).await;
    b.fill("Password", new_password).await;
    b.press("Sign in").await;
    assert_eq!(b.path().await, "/account/settings");
    j.finish().await;
}

/// Removal switched on: a wrong password comes back on the settings page; the right one signs
/// the learner out at once, and they cannot sign in again.
async fn account_removal_from_settings(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_SELF_REMOVAL_ENABLED", "true")]).await;
    let b = &j.browser;
    let address = j.active_learner().await;
    j.sign_in(&address, PASSWORD).await;
    assert_eq!(b.path().await, "/account/settings");
    b.snap("settings-with-removal").await;

    b.fill("Your password", "not my password").await;
    b.press("Delete my account").await;
    assert_eq!(b.status().await, 403);
    assert_eq!(b.path().await, "/account/removal", "a refused form leaves the browser on a page's address");
    assert_eq!(b.heading().await, "Account settings");
    assert!(b.text_of("#password-error").await.contains("not right"));
    assert_eq!(j.status_of(&address).await.as_deref(), Some("active"));

    b.fill("Your password", PASSWORD).await;
    b.press("Delete my account").await;
    assert_eq!(b.status().await, 202);
    assert_eq!(b.heading().await, "Your account is being deleted");
    b.snap("removal-requested").await;
    j.open("/account/settings").await;
    assert_eq!(b.path().await, "/login", "signed out at once");
    j.site.settle().await;
    j.sign_in(&address, PASSWORD).await;
    assert_eq!(b.status().await, 401);
    assert!(b.text_of("[role=alert]").await.contains("Email or password is incorrect."));
    assert!(j.status_of(&address).await.is_none(), "the account is gone");
    j.finish().await;
}

/// Removal switched off: no removal form anywhere.
async fn no_removal_form_when_switched_off(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let address = j.active_learner().await;
    j.sign_in(&address, PASSWORD).await;
    assert!(!b.has_button("Delete my account").await);
    assert!(!b.has("form[action='/account/removal']").await);
    assert!(!b.text().await.contains("Delete my account"));
    j.finish().await;
}

/// Forms served by another origin on this machine (same site: another port of 127.0.0.1, so
/// the browser does send the session cookie) cannot remove an account, sign the learner out,
/// or sign the browser in to another account.
async fn cross_site_forms_are_refused(backend: Backend) {
    let j = Journey::start(backend, &[("LEARNERS_SELF_REMOVAL_ENABLED", "true")]).await;
    let b = &j.browser;
    let victim = j.active_learner().await;
    let attacker = j.active_learner().await;
    let site = j.site.app.config.site_url.clone();
    let page = format!(
        r#"<!doctype html><html lang="en"><head><title>Win a prize</title></head><body><main><h1>Win a prize</h1>
<form method="post" action="{site}/api/v1/account/removal"><label for="p">Your password</label><input id="p" type="password" name="password"><button type="submit">Claim the prize</button></form>
<form method="post" action="{site}/logout"><button type="submit">Another prize</button></form>
<form method="post" action="{site}/api/v1/sessions"><input type="hidden" name="email" value="{attacker}"><input type="hidden" name="password" value="{PASSWORD}"><button type="submit">Last prize</button></form>
</main></body></html>"#
    );
    let (evil, server) = serve_page("127.0.0.1", page).await;
    assert_ne!(evil, format!("{site}/"));

    j.sign_in(&victim, PASSWORD).await;
    assert_eq!(b.path().await, "/account/settings");

    b.open(&evil).await;
    b.fill("Your password", PASSWORD).await;
    b.press("Claim the prize").await;
    assert_eq!(b.status().await, 403);
    assert!(b.text().await.contains("must come from the site's own pages"), "{}", b.text().await);
    b.snap("cross-origin-refused").await;
    assert_eq!(j.status_of(&victim).await.as_deref(), Some("active"), "nothing was removed");

    b.open(&evil).await;
    b.press("Another prize").await;
    assert_eq!(b.status().await, 403);
    j.open("/account/settings").await;
    assert!(b.text().await.contains(&victim), "still signed in as the victim");

    b.open(&evil).await;
    b.press("Last prize").await;
    assert_eq!(b.status().await, 403, "login CSRF");
    j.open("/account/settings").await;
    assert!(b.text().await.contains(&victim), "not signed in as the attacker");
    assert!(!b.text().await.contains(&attacker));

    // The same removal form on the site's own page works (the journey above shows it too).
    b.fill("Your password", PASSWORD).await;
    b.press("Delete my account").await;
    assert_eq!(b.status().await, 202);
    server.abort();
    j.finish().await;
}

/// An address the site does not have gets a page, not JSON.
async fn unknown_addresses_get_a_page(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    j.open("/no/such/page").await;
    assert_eq!(b.status().await, 404);
    assert_eq!(b.heading().await, "Page not found");
    b.snap("not-found").await;
    // An error of a page route (an unknown reset link) is a page too.
    j.open("/password-reset/not-a-real-token").await;
    assert_eq!(b.heading().await, "This link cannot be used");
    j.finish().await;
}

macro_rules! in_the_browser {
    ($($name:ident: $($backend:ident),+;)*) => {$(
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $backend() {
                    let backend = match stringify!($backend) {
                        "memory" => learners_tests::Backend::Memory,
                        _ => learners_tests::Backend::Moto,
                    };
                    super::$name(backend).await
                }
            )+
        }
    )*};
}

in_the_browser! {
    register_activate_sign_in_and_out: memory, moto;
    expired_link_and_new_links: memory;
    locked_account_reads_like_any_failure: memory;
    the_owner_signs_in_through_an_attackers_lock: memory, moto;
    forgot_password: memory, moto;
    account_removal_from_settings: memory, moto;
    no_removal_form_when_switched_off: memory;
    cross_site_forms_are_refused: memory;
    unknown_addresses_get_a_page: memory;
}

mod account;
mod console;
mod email_change;
mod front;
mod oidc;
mod passkeys;
mod prereg;
mod second_factor;
