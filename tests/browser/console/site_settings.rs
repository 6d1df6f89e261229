//! "Site settings" in the console (issue 25), in the browser: the support person sets failed
//! sign-ins to 3 and the third failure locks within the cache time, on both backends, without
//! a restart; self-removal switched on shows the removal form, switched off the route is
//! unknown again; invalid values are refused beside their fields and change nothing; two saves
//! from one version: the second gets the conflict page; the audit and the history show old and
//! new values, and "Restore" brings a version back; an operator without the support role reads
//! the values but has no form, and a post is refused.
//!
//! A child of `console`, for its operator helpers.

use super::{Journey, GRANTED_BY};
use learners::app::SETTINGS_CACHE_SECONDS;
use learners::domain::Actor;
use learners::flows::settings::{self, set_support_role};
use learners_tests::{Backend, PASSWORD};
use std::collections::BTreeMap;

const FAILURES: &str = "Failed sign-ins before a lock";
const REMOVAL: &str = "Learners may remove their own account";

impl Journey {
    /// An operator with the support role (granted through the admin flow, as the admin API
    /// and `learnerctl supporters grant` do), signed in to the console.
    async fn support_in_console(&self) -> String {
        let support = self.operator().await;
        set_support_role(&self.site.app, GRANTED_BY, &support, true).await.expect("granting support");
        self.open_console_as(&support).await;
        self.browser.follow("Site settings").await;
        assert_eq!(self.browser.heading().await, "Site settings");
        support
    }

    /// Lets the functions' copy of the settings run out (they read them again at the next
    /// request), as 30 seconds do.
    fn cache_time_passes(&self) {
        self.site.clock.advance(SETTINGS_CACHE_SECONDS);
    }

    /// A failed sign-in through the API (each request reads the settings in force).
    async fn fail_sign_in(&self, address: &str) {
        let answer = self.site.sign_in(address, "not the password at all").await;
        assert_eq!(answer.status(), 401);
    }

    async fn locked(&self, address: &str) -> bool {
        let user = self.site.user(address).await.expect("the account");
        !user["locked_until"].is_null()
    }
}

async fn support_sets_failed_sign_ins_to_three(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let learner = j.active_learner().await;
    j.support_in_console().await;
    assert_eq!(b.value_of(FAILURES).await, "6", "the stack's parameter first");
    let page = b.text().await;
    assert!(page.contains("Default: 6.") && page.contains("Wrong passwords in a row"), "{page}");
    b.snap("console-site-settings").await;
    b.fill(FAILURES, "3").await;
    b.press("Save settings").await;
    assert!(b.text_of("[role=status]").await.contains("The settings are saved"), "{}", b.text().await);
    assert_eq!(b.value_of(FAILURES).await, "3");

    j.cache_time_passes();
    j.fail_sign_in(&learner).await;
    j.fail_sign_in(&learner).await;
    assert!(!j.locked(&learner).await, "two failures: not locked");
    j.fail_sign_in(&learner).await;
    assert!(j.locked(&learner).await, "the third failure locks");
    let refused = j.site.sign_in(&learner, PASSWORD).await;
    assert_eq!(refused.status(), 401, "locked: the right password is refused too");
    j.finish().await;
}

async fn support_switches_self_removal_on_and_off(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let learner = j.active_learner().await;
    let cookie = j.site.session_cookie(&learner, PASSWORD).await;
    let account_page = || async {
        j.site
            .with_cookie(reqwest::Method::GET, "/account/settings", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    assert!(!account_page().await.contains("Delete my account"), "off by default");
    j.support_in_console().await;
    assert!(!b.is_checked(REMOVAL).await);
    b.tick(REMOVAL).await;
    b.press("Save settings").await;
    assert!(b.is_checked(REMOVAL).await);
    j.cache_time_passes();
    let page = account_page().await;
    assert!(page.contains("Delete my account") && page.contains("action=\"/account/removal\""), "{page}");

    // Off again: the route answers as an unknown one.
    b.untick(REMOVAL).await;
    b.press("Save settings").await;
    assert!(!b.is_checked(REMOVAL).await);
    j.cache_time_passes();
    assert!(!account_page().await.contains("Delete my account"));
    let post = |path: &'static str| {
        j.site
            .with_cookie(reqwest::Method::POST, path, &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("password={}", learners_tests::urlencode(PASSWORD)))
            .send()
    };
    let removal = post("/account/removal").await.unwrap();
    let unknown = post("/account/no-such-page").await.unwrap();
    assert_eq!((removal.status().as_u16(), unknown.status().as_u16()), (404, 404));
    assert_eq!(removal.text().await.unwrap(), unknown.text().await.unwrap(), "like an unknown route");
    assert!(j.site.user(&learner).await.is_some(), "the account is still there");
    j.finish().await;
}

async fn invalid_values_are_refused_beside_their_fields(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    j.support_in_console().await;
    b.fill(FAILURES, "0").await;
    b.fill("Brand colour", "#ffff00").await;
    b.fill("Logo URL", "http://cdn.example.org/logo.png").await;
    b.press("Save settings").await;
    assert_eq!(b.status().await, 422);
    assert!(b.text_of("[role=alert]").await.contains("Nothing was saved"));
    for (label, id, says) in [
        (FAILURES, "max_failed_logins-error", "from 1 to 100"),
        ("Brand colour", "brand_color-error", "4.5:1"),
        ("Logo URL", "logo_url-error", "https://"),
    ] {
        assert_eq!(b.field_attr(label, "aria-describedby").await.as_deref(), Some(id));
        let reason = b.text_of(&format!("#{id}")).await;
        assert!(reason.contains(says), "{label}: {reason}");
    }
    assert_eq!(b.value_of("Brand colour").await, "#ffff00", "what was typed comes back");
    b.snap("console-site-settings-refused").await;
    // Nothing changed.
    assert_eq!(settings::current(&j.site.app).await.unwrap().version, 0);
    b.follow("Site settings").await;
    assert_eq!(b.value_of(FAILURES).await, "6");
    assert_eq!(b.value_of("Brand colour").await, "#1d4ed8");
    j.finish().await;
}

async fn a_second_save_from_the_same_version_gets_the_conflict_page(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    j.support_in_console().await;
    // Someone else saves version 1 while this page (version 0) is open.
    let other = Actor::Iam(GRANTED_BY.into());
    let changes = BTreeMap::from([("max_failed_logins".to_owned(), "8".to_owned())]);
    let values = settings::current(&j.site.app).await.unwrap().settings.with_values(&changes).unwrap().values();
    settings::save(&j.site.app, &other, 0, &values).await.expect("the other save");
    b.fill(FAILURES, "4").await;
    b.fill("Site name", "Mine Wins").await;
    b.press("Save settings").await;
    assert_eq!(b.status().await, 409);
    let alert = b.text_of("[role=alert]").await;
    assert!(alert.contains("changed while you were editing") && alert.contains("Nothing was saved"), "{alert}");
    assert_eq!(b.value_of(FAILURES).await, "8", "the values in force now");
    b.snap("console-site-settings-conflict").await;
    let now = settings::current(&j.site.app).await.unwrap();
    assert_eq!((now.version, now.settings.max_failed_logins), (1, 8));
    assert_ne!(now.settings.site_name, "Mine Wins", "nothing of the second save");
    j.finish().await;
}

async fn the_audit_shows_each_change_and_restore_brings_a_version_back(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let support = j.support_in_console().await;
    b.fill(FAILURES, "3").await;
    b.press("Save settings").await;
    b.fill(FAILURES, "5").await;
    b.fill("Site name", "Campus Accounts").await;
    b.press("Save settings").await;
    let history = b.text_of("section table").await;
    assert!(history.contains("max_failed_logins: 6 → 3"), "{history}");
    assert!(history.contains("max_failed_logins: 3 → 5; site_name: Learners → Campus Accounts"), "{history}");
    assert!(history.contains(&support), "who: {history}");
    j.open("/operator/audit").await;
    let audit = b.text().await;
    assert!(audit.contains("change_settings") && audit.contains("max_failed_logins: 6 → 3"), "{audit}");
    assert!(audit.contains("(site settings)"), "{audit}");

    // "Restore" on version 1, confirmed with a code (past the 5 minutes of the sign-in's).
    j.site.clock.advance(301);
    b.follow("Site settings").await;
    b.press("Restore").await;
    assert_eq!(b.heading().await, "Restore site settings");
    assert!(b.text().await.contains("max_failed_logins: 5 → 3"), "{}", b.text().await);
    j.confirm_with_code(&support).await;
    b.press("Yes, restore version 1").await;
    assert!(b.text_of("[role=status]").await.contains("The version is restored"));
    assert_eq!(b.value_of(FAILURES).await, "3");
    assert_eq!(b.value_of("Site name").await, "Learners");
    let now = settings::current(&j.site.app).await.unwrap();
    assert_eq!((now.version, now.settings.max_failed_logins), (3, 3));
    j.cache_time_passes();
    j.open("/operator/settings").await;
    assert!(b.text().await.contains("Learners"), "the header shows the restored name");
    j.finish().await;
}

async fn an_operator_without_the_support_role_reads_but_cannot_change(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    j.open_console_as(&operator).await;
    b.follow("Site settings").await;
    assert_eq!(b.heading().await, "Site settings");
    let page = b.text().await;
    assert!(
        page.contains("Only the support team") && page.contains(FAILURES) && page.contains("Default: 6."),
        "{page}"
    );
    assert!(!b.has("form[action='/operator/settings']").await, "no form");
    assert!(!b.has_button("Save settings").await && !b.has_button("Restore").await);
    b.snap("console-site-settings-read-only").await;
    // A post from the site's own page (as a form would send it) is refused, and nothing changes.
    let mut fields: Vec<String> = settings::current(&j.site.app)
        .await
        .unwrap()
        .settings
        .values()
        .into_iter()
        .map(|(k, v)| format!("{k}={}", learners_tests::urlencode(&v)))
        .collect();
    fields.retain(|f| !f.starts_with("max_failed_logins="));
    fields.push("max_failed_logins=3".into());
    fields.push("version=0".into());
    let script = format!(
        "const done = arguments[arguments.length - 1];
         fetch('/operator/settings', {{method: 'POST', headers: {{'content-type': 'application/x-www-form-urlencoded'}}, body: '{}'}})
           .then(r => r.text().then(t => done([r.status, t])));",
        fields.join("&")
    );
    let answer = b.run_async(&script).await;
    assert_eq!(answer[0], 403, "refused");
    assert!(answer[1].as_str().unwrap_or_default().contains("nothing was saved"), "{answer}");
    assert_eq!(settings::current(&j.site.app).await.unwrap().version, 0, "nothing changed");
    j.finish().await;
}

in_the_browser! {
    support_sets_failed_sign_ins_to_three: memory, moto;
    support_switches_self_removal_on_and_off: memory;
    invalid_values_are_refused_beside_their_fields: memory;
    a_second_save_from_the_same_version_gets_the_conflict_page: memory;
    the_audit_shows_each_change_and_restore_brings_a_version_back: memory;
    an_operator_without_the_support_role_reads_but_cannot_change: memory;
}
