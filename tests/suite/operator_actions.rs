//! An operator acts on one learner (issue 26, point 2) and invites a bulk upload's learners
//! (point 3): the admin API's `POST /admin/v1/users/{disable,enable,reset-link,activation-link,
//! sign-out}`, the console's refusals on operator accounts, the mail each sends (one or none),
//! and the abuse cases `docs/security.md` names (a disabled learner keeping a session or a link,
//! mail bombing through operators, invitation links opened by scanners).

use learners::flows::outbox::{send_later, MailRequest};
use learners_tests::console;
use learners_tests::{email, on_both_backends, unique, urlencode, Backend, TestApp, ADMIN_TOKEN, PASSWORD};
use reqwest::Method;
use serde_json::{json, Value};

/// The IAM principal that grants roles here (as `learnerctl` would).
const IAM: &str = "arn:aws:iam::000000000000:user/test-admin";
const NEW_PASSWORD: &str = "violet kettle drums 42";

async fn act(app: &TestApp, action: &str, address: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url(&format!("/admin/v1/users/{action}"))).json(&json!({"email": address}));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Opens an emailed link as a mail program (or a scanner) does: a GET.
async fn open(app: &TestApp, link: &str) -> reqwest::Response {
    app.client.get(app.local(link)).send().await.unwrap()
}

async fn status_and_code(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap();
    (status, body)
}

async fn audit_of(app: &TestApp, address: &str) -> Vec<(String, String)> {
    let response = app.admin_get(&format!("/admin/v1/audit?email={}", urlencode(address))).await;
    assert_eq!(response.status(), 200);
    let entries = response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone();
    entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
        .collect()
}

fn audited(entries: &[(String, String)], action: &str, outcome: &str) -> bool {
    entries.iter().any(|(a, o)| a == action && o == outcome)
}

async fn subjects(app: &TestApp, address: &str) -> Vec<String> {
    app.mail_to(address).await.into_iter().map(|m| m.subject).collect()
}

fn count(subjects: &[String], start: &str) -> usize {
    subjects.iter().filter(|s| s.starts_with(start)).count()
}

on_both_backends!(
    a_disabled_learner_cannot_sign_in_keeps_no_session_or_link_and_gets_only_the_notice,
    resend_activation_and_send_reset_link_mail_once_each_audited_and_capped,
    the_console_leaves_operator_accounts_alone_and_the_admin_api_may,
    sign_out_everywhere_ends_every_session_and_nothing_else,
    a_bulk_upload_with_invitations_mails_each_learner_once_and_the_link_survives_scanners,
);

/// Disable: the learner's correct password answers as a wrong one, the open session ends, a
/// reset link mailed before no longer opens, "Forgot password" mails nothing, and the only mail
/// is the notice (once, disabled twice). Enable restores sign-in with the same password.
async fn a_disabled_learner_cannot_sign_in_keeps_no_session_or_link_and_gets_only_the_notice(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ada = app.activated_learner("ada-", "Ada Lovelace").await;
    let session = app.session_cookie(&ada, PASSWORD).await;
    let settings = || async { app.with_cookie(Method::GET, "/account/settings", &session).send().await.unwrap() };
    assert_eq!(settings().await.status(), 200);
    assert_eq!(app.post_json("/api/v1/password-resets", &json!({"email": ada})).await.status(), 202);
    let reset = app.mailed_link(&ada, "Reset your", "/password-reset/").await;
    assert_eq!(open(&app, &reset).await.status(), 200, "the link opens before the disabling");
    let mails_before = subjects(&app, &ada).await.len();

    assert_eq!(act(&app, "disable", &ada, None).await.status(), 401, "operators only");
    let (status, body) = status_and_code(act(&app, "disable", &ada, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("disabled")), "{body}");
    assert_eq!(body["user"]["status"], "active", "the status is unchanged: {body}");
    assert!(body["user"]["disabled_at"].is_string(), "{body}");

    // The right password answers exactly as a wrong one.
    let right = app.sign_in(&ada, PASSWORD).await;
    let (right_status, right_body) = (right.status(), right.text().await.unwrap());
    let wrong = app.sign_in(&ada, "not the password at all").await;
    assert_eq!((right_status.as_u16(), right_body), (wrong.status().as_u16(), wrong.text().await.unwrap()));
    assert_eq!(right_status, 401);
    assert_ne!(settings().await.status(), 200, "the open session has ended");
    assert_eq!(open(&app, &reset).await.status(), 400, "the reset link mailed before is dead");
    let reset_token = reset.rsplit('/').next().unwrap();
    let spend =
        app.post_json(&format!("/api/v1/password-resets/{reset_token}"), &json!({"password": NEW_PASSWORD})).await;
    assert_eq!(spend.status(), 400, "nor can it set a password");

    // Mail: the notice, once; nothing for "Forgot password", nor a second disabling.
    assert_eq!(app.post_json("/api/v1/password-resets", &json!({"email": ada})).await.status(), 202);
    let (status, body) = status_and_code(act(&app, "disable", &ada, Some(ADMIN_TOKEN)).await).await;
    assert_eq!(status, 200, "{body}");
    let mails = subjects(&app, &ada).await;
    assert_eq!(mails.len(), mails_before + 1, "{mails:?}");
    assert_eq!(count(&mails, "Your "), 1);
    assert!(mails.last().unwrap().ends_with("account is disabled"), "{mails:?}");
    let notice = app.mail_to(&ada).await.pop().unwrap().body;
    assert!(notice.contains("has disabled your") && notice.contains("contact the site"), "{notice}");
    // Asking for it by the operator is refused too (no mail to a disabled account).
    let (status, body) = status_and_code(act(&app, "reset-link", &ada, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("account_disabled")), "{body}");
    assert_eq!(subjects(&app, &ada).await.len(), mails_before + 1);

    let (status, body) = status_and_code(act(&app, "enable", &ada, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("enabled")), "{body}");
    assert!(body["user"]["disabled_at"].is_null(), "{body}");
    assert_eq!(app.sign_in(&ada, PASSWORD).await.status(), 200, "enabled: the same password signs in");
    assert_ne!(settings().await.status(), 200, "what the disabling ended stays ended");

    let audit = audit_of(&app, &ada).await;
    assert!(audited(&audit, "disable", "done, learner notified"), "{audit:?}");
    assert!(audited(&audit, "disable", "no_change"), "{audit:?}");
    assert!(audited(&audit, "send_reset_link", "refused: account disabled"), "{audit:?}");
    assert!(audited(&audit, "enable", "done"), "{audit:?}");
    let (status, _) = status_and_code(act(&app, "disable", &email("ghost-"), Some(ADMIN_TOKEN)).await).await;
    assert_eq!(status, 404);
    let (status, _) = status_and_code(act(&app, "enable", "not-an-address", Some(ADMIN_TOKEN)).await).await;
    assert_eq!(status, 422);
}

/// "Resend the activation link" (pending only) and "Send a reset link": one mail each, whose
/// link works, audited; at most three an hour on operators' word, then 429 and no mail.
async fn resend_activation_and_send_reset_link_mail_once_each_audited_and_capped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let pat = email("pat-");
    let first = app.register_and_get_link(&pat, &unique("pat")).await;
    let (status, body) = status_and_code(act(&app, "activation-link", &pat, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("activation_link_sent")), "{body}");
    let mails = subjects(&app, &pat).await;
    assert_eq!(count(&mails, "Activate"), 2, "one more: {mails:?}");
    let link = app.mailed_link(&pat, "Activate", "/activate/").await;
    assert_ne!(link, first);
    assert_ne!(app.activate_link(&first).await.status(), 200, "the older link ended");
    assert_eq!(app.activate_link(&link).await.status(), 200);
    assert_eq!(app.sign_in(&pat, PASSWORD).await.status(), 200);
    let (status, body) = status_and_code(act(&app, "activation-link", &pat, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("not_pending")), "{body}");

    let (status, body) = status_and_code(act(&app, "reset-link", &pat, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("reset_link_sent")), "{body}");
    let mails = app.mail_to(&pat).await;
    let resets: Vec<_> = mails.iter().filter(|m| m.subject.starts_with("Reset your")).collect();
    assert_eq!(resets.len(), 1);
    assert!(resets[0].body.contains("An administrator of the site sent you this link"), "{}", resets[0].body);
    let reset = app.mailed_link(&pat, "Reset your", "/password-reset/").await;
    let token = reset.rsplit('/').next().unwrap();
    let set = app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": NEW_PASSWORD})).await;
    assert_eq!(set.status(), 204);
    assert_eq!(app.sign_in(&pat, NEW_PASSWORD).await.status(), 200);

    // The cap: the activation resend and this reset made 2; one more, then refused.
    assert_eq!(act(&app, "reset-link", &pat, Some(ADMIN_TOKEN)).await.status(), 200);
    let (status, body) = status_and_code(act(&app, "reset-link", &pat, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("too_many_mails")), "{body}");
    assert_eq!(count(&subjects(&app, &pat).await, "Reset your"), 2, "the refused one mailed nothing");
    // The learner's own "Forgot password" is not held to the operators' cap.
    assert_eq!(app.post_json("/api/v1/password-resets", &json!({"email": pat})).await.status(), 202);
    assert_eq!(count(&subjects(&app, &pat).await, "Reset your"), 3);

    let audit = audit_of(&app, &pat).await;
    assert!(audited(&audit, "resend_activation", "done"), "{audit:?}");
    assert!(audited(&audit, "resend_activation", "refused: not pending"), "{audit:?}");
    assert!(audited(&audit, "send_reset_link", "done"), "{audit:?}");
    assert!(audited(&audit, "send_reset_link", "refused: too many mails this hour"), "{audit:?}");
}

/// The console refuses every one of these on an account with the operator role, another's or
/// the operator's own (audited, nothing done, no mail); the admin API (IAM) may disable an
/// operator, who then cannot sign in.
async fn the_console_leaves_operator_accounts_alone_and_the_admin_api_may(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (alice, bob) = (email("alice-"), email("bob-"));
    for operator in [&alice, &bob] {
        app.active_account(operator, &unique("op")).await;
        learners::flows::admin::set_operator_role(&app.app, IAM, operator, true).await.unwrap();
    }
    let cookie = app.operator_session(&alice).await;
    let bob_mails = subjects(&app, &bob).await.len();
    for target in [&bob, &alice] {
        for path in [
            "/operator/disable",
            "/operator/enable",
            "/operator/reset-link",
            "/operator/activation-link",
            "/operator/sign-out",
        ] {
            let refused = console::post(&app, &cookie, path, &[("email", target), ("confirm", "yes")]).await;
            assert_eq!(refused.status(), 403, "{path} on {target}");
            let page = refused.text().await.unwrap().replace("&#39;", "'").replace("&#x27;", "'");
            assert!(page.contains("This account has the operator role: the console does not disable"), "{page}");
        }
    }
    assert_eq!(subjects(&app, &bob).await.len(), bob_mails, "no mail");
    let audit = audit_of(&app, &bob).await;
    for action in ["disable", "enable", "send_reset_link", "resend_activation", "sign_out_everywhere"] {
        assert!(audited(&audit, action, "refused: operator account"), "{action}: {audit:?}");
    }
    assert!(audited(&audit_of(&app, &alice).await, "disable", "refused: operator account"), "her own");
    assert_eq!(app.sign_in(&bob, PASSWORD).await.status(), 200, "bob untouched");
    let card = console::post(&app, &cookie, "/operator/disable", &[("email", &bob)]).await;
    assert_eq!(card.status(), 200, "the confirm step shows; the refusal comes with yes");

    let (status, body) = status_and_code(act(&app, "disable", &bob, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("disabled")), "{body}");
    assert_eq!(app.sign_in(&bob, PASSWORD).await.status(), 401, "the admin API disabled an operator");
}

/// "Sign out everywhere" ends every session of the learner (the console's and the API's), and
/// changes nothing else: the password still signs in, and no mail is sent.
async fn sign_out_everywhere_ends_every_session_and_nothing_else(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = email("alice-");
    app.active_account(&alice, &unique("op")).await;
    learners::flows::admin::set_operator_role(&app.app, IAM, &alice, true).await.unwrap();
    let cookie = app.operator_session(&alice).await;
    let ada = app.activated_learner("ada-", "Ada Lovelace").await;
    let (one, two) = (app.session_cookie(&ada, PASSWORD).await, app.session_cookie(&ada, PASSWORD).await);
    let site = &app;
    let live = |c: String| async move { site.with_cookie(Method::GET, "/account/settings", &c).send().await.unwrap() };
    assert_eq!(live(one.clone()).await.status(), 200);
    let mails = subjects(&app, &ada).await.len();

    let step = console::post(&app, &cookie, "/operator/sign-out", &[("email", &ada)]).await;
    assert_eq!(step.status(), 200);
    let page = step.text().await.unwrap();
    assert!(page.contains("Yes, sign out everywhere"), "{page}");
    assert_eq!(live(one.clone()).await.status(), 200, "nothing before yes");
    let done = console::post(&app, &cookie, "/operator/sign-out", &[("email", &ada), ("confirm", "yes")]).await;
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("&done=signed_out"), "{location}");
    let card = app.with_cookie(Method::GET, &location, &cookie).send().await.unwrap().text().await.unwrap();
    assert!(card.contains("Every session of the learner has ended."), "{card}");
    assert_ne!(live(one).await.status(), 200);
    assert_ne!(live(two).await.status(), 200);
    assert_eq!(app.sign_in(&ada, PASSWORD).await.status(), 200, "the password is unchanged");
    assert_eq!(subjects(&app, &ada).await.len(), mails, "no mail");
    let three = app.session_cookie(&ada, PASSWORD).await;
    let (status, body) = status_and_code(act(&app, "sign-out", &ada, Some(ADMIN_TOKEN)).await).await;
    assert_eq!((status, body["done"].as_str()), (200, Some("signed_out")), "{body}");
    assert_ne!(live(three).await.status(), 200);
    let audit = audit_of(&app, &ada).await;
    assert_eq!(audit.iter().filter(|(a, o)| a == "sign_out_everywhere" && o == "done").count(), 2, "{audit:?}");
}

/// `invite=true`: each created learner gets one invitation (a redelivered message mails no
/// other), whose link opens any number of times (a mail scanner) and is spent by the password
/// posted with it; the learner then signs in, and the link is dead. The report says who was
/// invited; an upload without it mails nobody.
async fn a_bulk_upload_with_invitations_mails_each_learner_once_and_the_link_survives_scanners(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tag = unique("inv");
    let (ada, bob, cyd) = (email("ada-inv-"), email("bob-inv-"), email("cyd-plain-"));
    let csv = format!("email,username,name\n{ada},ada-{tag},Ada Invited\n{bob},bob-{tag},Bob Invited\n");
    let bad = app.admin_post_csv("/admin/v1/bulk-registrations?invite=maybe", csv.clone()).await;
    assert_eq!(bad.status(), 422);
    let response = app.admin_post_csv("/admin/v1/bulk-registrations?invite=true", csv).await;
    assert_eq!(response.status(), 202);
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(body["invite"], true, "{body}");
    let job = body["job_id"].as_str().unwrap().to_owned();
    let plain =
        app.admin_post_csv("/admin/v1/bulk-registrations", format!("email,username,name\n{cyd},cyd-{tag},Cyd\n"));
    assert_eq!(plain.await.status(), 202);
    app.settle().await;
    assert!(app.mail_to(&cyd).await.is_empty(), "no invitation unless asked for");

    for address in [&ada, &bob] {
        let mails = subjects(&app, address).await;
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(mails[0].ends_with("choose your password"), "{mails:?}");
    }
    // A redelivered invitation request mails nothing more.
    let bob_id = app.user(&bob).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    send_later(&app.app, &MailRequest::Invitation { user_id: bob_id, job_id: job.clone() }).await.unwrap();
    assert_eq!(subjects(&app, &bob).await.len(), 1);

    let link = app.mailed_link(&ada, "Your ", "/password-reset/").await;
    for _ in 0..3 {
        let page = open(&app, &link).await;
        assert_eq!(page.status(), 200, "opening the link (a scanner) spends nothing");
    }
    let token = link.rsplit('/').next().unwrap();
    let set = app.post_json(&format!("/api/v1/password-resets/{token}"), &json!({"password": NEW_PASSWORD})).await;
    assert_eq!(set.status(), 204);
    assert_eq!(app.sign_in(&ada, NEW_PASSWORD).await.status(), 200);
    assert_eq!(open(&app, &link).await.status(), 400, "single use");

    let report = app.admin_get(&format!("/admin/v1/bulk-registrations/{job}/report.csv")).await;
    assert_eq!(report.status(), 200);
    let report = report.text().await.unwrap();
    for address in [&ada, &bob] {
        let line = report.lines().find(|l| l.contains(address.as_str())).unwrap_or_else(|| panic!("{report}"));
        assert!(line.contains("\"invited\""), "{line}");
    }
}
