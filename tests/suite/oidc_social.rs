//! Open edX's own OpenID Connect client: python-social-auth's `OpenIdConnectAuth` (pinned in
//! `infra/oidc/requirements.txt`, installed into `.venv` by `make test`), pointed at the local
//! gateway with `OIDC_ENDPOINT`, run through its own flow by `infra/oidc/social_core_client.py`:
//! the authorization URL, the learner signing in on the site's page, `auth_complete`. What it
//! yields is what Open edX's pipeline would get.

use learners_tests::{email, unique, Backend, TestApp, PASSWORD};
use std::process::Command;

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/oidc/social_core_client.py");
const REDIRECT: &str = "http://127.0.0.1:9/auth/complete/oidc/";

async fn social_core_signs_the_learner_in(backend: Backend) {
    let installed = Command::new(PYTHON).args(["-c", "import social_core"]).output();
    assert!(
        installed.is_ok_and(|o| o.status.success()),
        "social-auth-core is missing from .venv: `make test` installs it (infra/oidc/requirements.txt)"
    );
    let app = TestApp::spawn_site(backend, &[]).await;
    let address = email("social-");
    let username = unique("social_");
    app.active_account(&address, &username).await;
    let rp = app.register_rp(REDIRECT, false).await;
    let mut command = Command::new(PYTHON);
    command
        .arg(SCRIPT)
        .env("OIDC_ENDPOINT", &app.app.config.site_url)
        .env("OIDC_KEY", &rp.client_id)
        .env("OIDC_SECRET", rp.client_secret.as_deref().expect("a confidential application"))
        .env("OIDC_REDIRECT_URI", REDIRECT)
        .env("LEARNER_EMAIL", &address)
        .env("LEARNER_PASSWORD", PASSWORD);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("python runs");
    assert!(
        output.status.success(),
        "social-core's flow failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).expect("the script's JSON");
    let details = &result["details"];
    assert_eq!(details["email"], address.as_str());
    assert_eq!(details["username"], username.as_str());
    assert_eq!(details["fullname"], "Ada Lovelace");
    let user = app.user(&address).await.unwrap();
    assert_eq!(result["uid"], user["user_id"], "the LMS keys the learner by sub, the account's id");
    assert_eq!(result["basic_auth"], true, "the discovery lists client_secret_basic");
    assert_eq!(result["iss_in_callback"], app.app.config.site_url.as_str());
}

learners_tests::on_both_backends!(social_core_signs_the_learner_in);
