//! Issue 21, pre-registered addresses, as the victim and the attacker meet them in the browser:
//! the attacker registers the victim V's address with their own password before (or after) V
//! does. Whatever the order, the password of a registration nobody proved never signs in to
//! the account V activates from V's mail. Clicking and typing only; mail read from the capture.

use learners_tests::browser::Browser;
use learners_tests::{email, unique, Backend, TestApp};

/// The attacker's and the victim's passwords.
const ATTACKER: &str = "attacker owns this one 31";
const VICTIM: &str = "violet kettle drums 42";

struct Scene {
    site: TestApp,
    browser: Browser,
}

impl Scene {
    async fn start(backend: Backend) -> Self {
        Self { site: TestApp::spawn_site(backend, &[]).await, browser: Browser::start().await }
    }

    /// Fills the registration form and sends it; the page that answers is left open.
    async fn register(&self, address: &str, name: &str, password: &str) {
        let b = &self.browser;
        b.open(&self.site.url("/register")).await;
        b.fill("Email", address).await;
        b.fill("Username", &unique(name)).await;
        b.fill("Full name", name).await;
        b.fill("Password", password).await;
        b.tick("I accept the terms of service and the honor code.").await;
        b.press("Create account").await;
        assert_eq!(b.status().await, 202);
        assert_eq!(b.heading().await, "Check your inbox");
        self.site.settle().await;
    }

    /// The newest activation link in `address`'s mailbox.
    async fn newest_link(&self, address: &str) -> String {
        self.site.mailed_link(address, "Activate", "/activate/").await
    }

    /// Opens `link`, types `password`, presses the button: the page that answers is left open.
    async fn activate(&self, link: &str, password: &str) {
        let b = &self.browser;
        b.open(link).await;
        assert_eq!(b.heading().await, "Activate your account");
        b.fill("Password", password).await;
        b.press("Activate my account").await;
    }

    /// Signs in with `password`: where the browser ends up, and the status of that page.
    async fn sign_in(&self, address: &str, password: &str) -> (String, u16) {
        let b = &self.browser;
        b.open(&self.site.url("/login")).await;
        b.fill("Email", address).await;
        b.fill("Password", password).await;
        b.press("Sign in").await;
        let landed = (b.path().await, b.status().await);
        if landed.0 == "/account/settings" {
            b.press("Sign out").await;
        }
        landed
    }

    async fn status_of(&self, address: &str) -> String {
        let user = self.site.user(address).await.expect("the account");
        user["status"].as_str().unwrap_or_default().to_owned()
    }
}

/// The attacker registers V's address with A; V registers it with B and activates from the
/// newest mail, typing B. A signs in to nothing; B does. The first mail's link (the attacker's
/// registration) ended when V registered.
async fn an_attackers_earlier_registration_gives_them_nothing(backend: Backend) {
    let s = Scene::start(backend).await;
    let b = &s.browser;
    let victim = email("victim-");
    s.register(&victim, "Mallory", ATTACKER).await;
    let attackers_answer = b.text().await;
    let attackers_link = s.newest_link(&victim).await;
    s.register(&victim, "Vera", VICTIM).await;
    assert_eq!(b.text().await, attackers_answer, "the same answer for a pending address as for a new one");
    let victims_link = s.newest_link(&victim).await;
    assert_ne!(victims_link, attackers_link);

    // The older mail's link ended with the registration it was sent for.
    b.open(&attackers_link).await;
    assert_eq!(b.status().await, 404);
    assert!(!b.has_button("Activate my account").await);

    s.activate(&victims_link, VICTIM).await;
    assert_eq!(b.heading().await, "Your account is active");
    b.snap("activated-with-password").await;
    assert_eq!(s.status_of(&victim).await, "active");

    let (path, status) = s.sign_in(&victim, ATTACKER).await;
    assert_eq!(status, 401, "the attacker's password signs in to nothing");
    assert_ne!(path, "/account/settings");
    let (path, _) = s.sign_in(&victim, VICTIM).await;
    assert_eq!(path, "/account/settings");
    s.browser.quit().await;
}

/// The other order: V registers first, the attacker registers the address again, and V opens
/// the newest mail and types B: refused, nothing activated. A still signs in to nothing; V takes
/// the account with "forgot my password", which activates it with V's new password.
async fn an_attackers_later_registration_gives_them_nothing(backend: Backend) {
    let s = Scene::start(backend).await;
    let b = &s.browser;
    let victim = email("early-");
    s.register(&victim, "Vera", VICTIM).await;
    s.register(&victim, "Mallory", ATTACKER).await;

    let newest = s.newest_link(&victim).await;
    s.activate(&newest, VICTIM).await;
    assert_eq!(b.status().await, 401);
    assert_eq!(b.heading().await, "Activate your account", "the form again");
    assert!(b.text_of("#password-error").await.contains("latest registration"), "{}", b.text().await);
    b.snap("activation-wrong-password").await;
    assert_eq!(s.status_of(&victim).await, "pending_activation");
    let (path, status) = s.sign_in(&victim, ATTACKER).await;
    assert_ne!(path, "/account/settings");
    assert_ne!(status, 200, "a pending account signs in to nothing");

    // From the activation page: "Forgot the password? Reset it".
    s.activate(&newest, VICTIM).await;
    b.follow("Reset it").await;
    assert_eq!(b.path().await, "/password-reset");
    b.fill("Email", &victim).await;
    b.press("Send the link").await;
    assert_eq!(b.heading().await, "Check your inbox");
    s.site.settle().await;
    let reset = s.site.mailed_link(&victim, "Reset", "/password-reset/").await;
    b.open(&reset).await;
    b.fill("New password", VICTIM).await;
    b.press("Set my password").await;
    assert_eq!(b.heading().await, "Your password is changed");
    assert_eq!(s.status_of(&victim).await, "active");

    let (path, status) = s.sign_in(&victim, ATTACKER).await;
    assert_eq!(status, 401);
    assert_ne!(path, "/account/settings");
    let (path, _) = s.sign_in(&victim, VICTIM).await;
    assert_eq!(path, "/account/settings");
    s.browser.quit().await;
}

/// Issue 21: one bounce silenced an account's mail for good. An operator sees the refusal on
/// the learner's card and clears it; the learner's reset link goes out again.
async fn an_operator_clears_a_mail_refusal_from_the_card(backend: Backend) {
    let s = Scene::start(backend).await;
    let b = &s.browser;
    let (operator, learner) = (email("op-"), email("bounced-"));
    for address in [&operator, &learner] {
        s.site.active_account(address, &unique("acct")).await;
    }
    let granted_by = "arn:aws:iam::000000000000:user/test-admin";
    learners::flows::admin::set_operator_role(&s.site.app, granted_by, &operator, true).await.expect("the role");
    s.site.enrol_totp(&operator).await;
    let bounce = serde_json::json!({
        "eventType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": learner}]},
    });
    let mut message = learners::handlers::sqs::SqsMessage::default();
    message.message_id = Some("bounce".into());
    message.body = Some(bounce.to_string());
    let mut event = learners::handlers::sqs::SqsEvent::default();
    event.records = vec![message];
    assert!(learners::handlers::mail_events::handle(&s.site.app, event).await.batch_item_failures.is_empty());

    b.open(&s.site.url("/operator")).await;
    b.fill("Email", &operator).await;
    b.fill("Password", learners_tests::PASSWORD).await;
    b.press("Sign in").await;
    b.fill("Code from your app", &s.site.totp_code(&operator).await).await;
    b.press("Continue").await;
    assert_eq!(b.path().await, "/operator");
    b.fill("Learner email", &learner).await;
    b.press("Proceed").await;
    assert!(b.text().await.contains("not sent: the address bounced"), "{}", b.text().await);
    b.press("Clear mail refusal").await;
    assert!(b.text_of("[role=alert]").await.contains("mail goes to the address again"));
    assert!(!b.has_button("Clear mail refusal").await);
    assert!(b.text().await.contains("no bounce or complaint reported"));
    assert_eq!(s.site.user(&learner).await.unwrap()["mail_refused"], serde_json::Value::Null);

    let before = s.site.mail_to(&learner).await.len();
    let asked = s.site.post_json("/api/v1/password-resets", &serde_json::json!({"email": learner})).await;
    assert_eq!(asked.status(), 202);
    assert_eq!(s.site.mail_to(&learner).await.len(), before + 1, "the reset link went out");
    s.browser.quit().await;
}

mod an_operator_clears_a_mail_refusal {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        super::an_operator_clears_a_mail_refusal_from_the_card(learners_tests::Backend::Memory).await
    }
}

mod an_attackers_earlier_registration {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        super::an_attackers_earlier_registration_gives_them_nothing(learners_tests::Backend::Memory).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto() {
        super::an_attackers_earlier_registration_gives_them_nothing(learners_tests::Backend::Moto).await
    }
}

mod an_attackers_later_registration {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory() {
        super::an_attackers_later_registration_gives_them_nothing(learners_tests::Backend::Memory).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn moto() {
        super::an_attackers_later_registration_gives_them_nothing(learners_tests::Backend::Moto).await
    }
}
