//! Every DynamoDB action a function's code sends is granted by its policy in `template.yaml`.
//! IAM checks a transaction's actions one by one (a `Delete` in a `TransactWriteItems` needs
//! `dynamodb:DeleteItem`), and neither moto nor the local gateway checks IAM at all: without
//! this test a missing action shows only in AWS, as `AccessDenied` on the first such request.
//!
//! Each function's flows run on the DynamoDB adapter (on moto) with an interceptor that records
//! every action its requests carry, under the function that runs them in AWS; the records must
//! be within the function's policy. (The flows are called as their handlers call them; the
//! console, which runs the flows of the other operator functions, is checked with those.)

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use learners::adapters::aws::{provision, AwsClients};
use learners::adapters::clock::SystemClock;
use learners::adapters::memory::{InProcessQueue, MemoryMailer, QueuedBatch};
use learners::flows::{
    account, activation, admin, admin_email, bulk, email_change, passkeys, recovery, registration, removal,
    second_factor, signin, totp,
};
use learners::{App, Config};
use learners_gateway::routes::TEMPLATE;
use learners_gateway::{RouteTable, Workers};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use yaml_rust2::YamlLoader;

type Seen = Arc<Mutex<BTreeMap<String, BTreeSet<String>>>>;

/// Records the IAM actions of every DynamoDB request under the function named in `current`.
#[derive(Clone, Debug, Default)]
struct Recorder {
    current: Arc<Mutex<String>>,
    seen: Seen,
    /// The partition keys' prefixes (`USER#`, `OPERATORS`) of the table items each function's
    /// requests name (queries of an index aside: their partition key is another attribute).
    leading: Seen,
    /// The attributes each function's puts and updates write.
    written: Seen,
}

/// The attribute names an update expression writes (its words and its `#name`s resolved).
fn updated_names(expression: Option<&str>, names: Option<&std::collections::HashMap<String, String>>) -> Vec<String> {
    let words = expression.unwrap_or_default().split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#'));
    words
        .filter(|w| !w.is_empty())
        .map(|w| match w.strip_prefix('#') {
            Some(_) => names.and_then(|n| n.get(w)).cloned().unwrap_or_default(),
            None => w.to_owned(),
        })
        .collect()
}

/// A partition key's prefix: up to its first `#`, or all of it (`OPERATORS`).
fn prefix_of(pk: &str) -> String {
    match pk.find('#') {
        Some(at) => pk[..=at].to_owned(),
        None => pk.to_owned(),
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "IAM action recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemInput, batch_write_item::BatchWriteItemInput, delete_item::DeleteItemInput,
            get_item::GetItemInput, put_item::PutItemInput, query::QueryInput, scan::ScanInput,
            transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
        };
        let input = context.input();
        let mut actions = Vec::new();
        let simple = [
            (input.downcast_ref::<GetItemInput>().is_some(), "GetItem"),
            (input.downcast_ref::<PutItemInput>().is_some(), "PutItem"),
            (input.downcast_ref::<UpdateItemInput>().is_some(), "UpdateItem"),
            (input.downcast_ref::<DeleteItemInput>().is_some(), "DeleteItem"),
            (input.downcast_ref::<QueryInput>().is_some(), "Query"),
            (input.downcast_ref::<ScanInput>().is_some(), "Scan"),
            (input.downcast_ref::<BatchGetItemInput>().is_some(), "BatchGetItem"),
            (input.downcast_ref::<BatchWriteItemInput>().is_some(), "BatchWriteItem"),
        ];
        actions.extend(simple.iter().filter(|(is, _)| *is).map(|(_, action)| action.to_string()));
        if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in transaction.transact_items.iter().flatten() {
                for (present, action) in [
                    (item.put.is_some(), "PutItem"),
                    (item.update.is_some(), "UpdateItem"),
                    (item.delete.is_some(), "DeleteItem"),
                    (item.condition_check.is_some(), "ConditionCheckItem"),
                ] {
                    if present {
                        actions.push(action.to_owned());
                    }
                }
            }
        }
        assert!(!actions.is_empty(), "a DynamoDB request this recorder does not know");
        let mut keys: Vec<Option<&std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>>> =
            Vec::new();
        if let Some(get) = input.downcast_ref::<GetItemInput>() {
            keys.push(get.key.as_ref());
        }
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            keys.push(put.item.as_ref());
        }
        if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            keys.push(update.key.as_ref());
        }
        if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            keys.push(delete.key.as_ref());
        }
        if let Some(query) = input.downcast_ref::<QueryInput>() {
            if query.index_name.is_none() {
                assert!(query.key_condition_expression.as_deref().unwrap_or_default().starts_with("pk = :pk"));
                keys.push(
                    query
                        .expression_attribute_values
                        .as_ref()
                        .and_then(|values| values.contains_key(":pk").then_some(values)),
                );
            }
        }
        if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
            for request in batch.request_items.iter().flat_map(|r| r.values()) {
                keys.extend(request.keys.iter().map(Some));
            }
        }
        if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            for write in batch.request_items.iter().flat_map(|r| r.values()).flatten() {
                keys.push(write.put_request.as_ref().map(|p| &p.item));
                keys.push(write.delete_request.as_ref().map(|d| &d.key));
            }
        }
        if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in transaction.transact_items.iter().flatten() {
                keys.push(item.put.as_ref().map(|p| &p.item));
                keys.push(item.update.as_ref().map(|u| &u.key));
                keys.push(item.delete.as_ref().map(|d| &d.key));
                keys.push(item.condition_check.as_ref().map(|c| &c.key));
            }
        }
        let prefixes: Vec<String> = keys
            .into_iter()
            .flatten()
            .filter_map(|key| key.get("pk").or_else(|| key.get(":pk")))
            .filter_map(|pk| pk.as_s().ok())
            .map(|pk| prefix_of(pk))
            .collect();
        let mut written: Vec<String> = Vec::new();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            written.extend(put.item.iter().flat_map(|i| i.keys().cloned()));
        }
        if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            written
                .extend(updated_names(update.update_expression.as_deref(), update.expression_attribute_names.as_ref()));
        }
        if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            for write in batch.request_items.iter().flat_map(|r| r.values()).flatten() {
                written.extend(write.put_request.iter().flat_map(|p| p.item.keys().cloned()));
            }
        }
        if let Some(transaction) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in transaction.transact_items.iter().flatten() {
                written.extend(item.put.iter().flat_map(|p| p.item.keys().cloned()));
                if let Some(update) = &item.update {
                    written.extend(updated_names(
                        Some(&update.update_expression),
                        update.expression_attribute_names.as_ref(),
                    ));
                }
            }
        }
        let current = self.current.lock().unwrap().clone();
        self.written.lock().unwrap().entry(current.clone()).or_default().extend(written);
        self.leading.lock().unwrap().entry(current.clone()).or_default().extend(prefixes);
        self.seen
            .lock()
            .unwrap()
            .entry(current)
            .or_default()
            .extend(actions.into_iter().map(|a| format!("dynamodb:{a}")));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        Ok(())
    }
}

/// The DynamoDB actions each function's policy grants, by binary name.
fn granted() -> BTreeMap<String, BTreeSet<String>> {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut granted = BTreeMap::new();
    for (_, resource) in doc["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let code = resource["Properties"]["CodeUri"].as_str().unwrap();
        let binary = code.trim_end_matches('/').rsplit('/').next().unwrap().to_owned();
        let mut actions = BTreeSet::new();
        for policy in resource["Properties"]["Policies"].as_vec().into_iter().flatten() {
            for statement in policy["Statement"].as_vec().into_iter().flatten() {
                if statement["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                let listed = match &statement["Action"] {
                    yaml_rust2::Yaml::Array(items) => items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>(),
                    other => other.as_str().into_iter().collect(),
                };
                actions.extend(listed.into_iter().filter(|a| a.starts_with("dynamodb:")).map(str::to_owned));
            }
        }
        granted.insert(binary, actions);
    }
    granted
}

struct Rig {
    app: App,
    recorder: Recorder,
    workers: Workers,
    queue: tokio::sync::mpsc::UnboundedReceiver<QueuedBatch>,
    mailer: Arc<MemoryMailer>,
}

impl Rig {
    fn as_function(&self, function: &str) {
        *self.recorder.current.lock().unwrap() = function.to_owned();
    }

    /// Every queued message through its worker function.
    async fn drain(&mut self) {
        while let Ok(batch) = self.queue.try_recv() {
            let function = self.workers.binary(batch.queue).unwrap().to_owned();
            self.as_function(&function);
            let answer = self.workers.deliver(&self.app, batch.queue, &batch.bodies).await.unwrap();
            assert!(answer.batch_item_failures.is_empty(), "a {function} message failed");
        }
    }

    fn mailed_token(&self, address: &str, prefix: &str) -> String {
        let mail = self.mailer.sent().into_iter().rev().find(|m| m.to == address && m.text.contains(prefix)).unwrap();
        let start = mail.text.find(prefix).unwrap() + prefix.len();
        mail.text[start..].split_whitespace().next().unwrap().to_owned()
    }
}

const PASSWORD: &str = "correct horse battery staple";
const OPERATOR: &str = "arn:aws:iam::000000000000:user/policy-test";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dynamodb_action_a_function_sends_is_in_its_policy() {
    let clients = AwsClients::for_endpoint(learners_tests::moto::url()).await;
    let table = learners_tests::unique("policies-");
    provision::create_table(&clients.dynamodb, &table).await.unwrap();
    let recorder = Recorder::default();
    let recorded = aws_sdk_dynamodb::Client::from_conf(
        clients.dynamodb.config().to_builder().interceptor(recorder.clone()).build(),
    );
    let config = Config::from_pairs(&[
        ("LEARNERS_SITE_URL", "https://learn.example.org"),
        ("LEARNERS_TABLE_NAME", &table),
        ("LEARNERS_OPERATOR_PRINCIPALS", OPERATOR),
        ("LEARNERS_COUNTER_KEY", "policy-counter-key-0123456789abcdef0123456789"),
        ("LEARNERS_RETIREMENT_SECRET", "policy-retirement-secret-0123456789abcdef"),
        ("LEARNERS_RESEND_INTERVAL_SECONDS", "0"),
        ("LEARNERS_SELF_REMOVAL_ENABLED", "true"),
    ])
    .unwrap();
    let clients = AwsClients { dynamodb: recorded, ..clients };
    let mut app = learners::wiring::aws(config, &clients, Arc::new(SystemClock));
    let (queue, receiver) = InProcessQueue::new();
    let mailer = Arc::new(MemoryMailer::new(app.clock.clone()));
    app.queue = Arc::new(queue);
    app.mailer = mailer.clone();
    // Uploaded files kept in memory: the table calls are what is recorded here.
    let uploads = Arc::new(learners::adapters::memory::MemoryUploads::new("http://127.0.0.1:9"));
    app.uploads = uploads.clone();
    let workers = Workers::from_routes(&RouteTable::from_template(TEMPLATE).unwrap()).unwrap();
    let mut rig = Rig { app, recorder: recorder.clone(), workers, queue: receiver, mailer };
    let tag = learners_tests::unique("p");
    let address = |who: &str| format!("{who}-{tag}@example.com");
    let form = |who: &str| registration::RegistrationForm {
        email: address(who),
        username: format!("{who}_{}", &tag[tag.len() - 6..]).replace('-', "_"),
        name: "Policy Learner".into(),
        password: PASSWORD.into(),
        terms_accepted: true,
    };
    let app = rig.app.clone();

    // Learners: register (and the mail worker), activate, sign in, fail, lock, reset, remove.
    for who in ["ada", "bob", "cy"] {
        rig.as_function("register");
        registration::register(&app, &form(who)).await.unwrap();
        let _ = registration::register(&app, &form(who)).await;
        rig.drain().await;
        rig.as_function("activate");
        let token = rig.mailed_token(&address(who), "/activate/");
        activation::inspect(&app, &token).await.unwrap();
        activation::activate(&app, &token, PASSWORD).await.unwrap();
    }
    rig.as_function("activate");
    activation::resend(&app, &address("ada")).await.unwrap();
    rig.drain().await;
    rig.as_function("sessions");
    let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap().signed_in().unwrap();
    let session = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap().1;
    signin::sign_out(&app, &session).await.unwrap();
    // Passkeys: each ceremony's options and (forged) answer, a confirmation, a removal.
    let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap().signed_in().unwrap();
    rig.as_function("passkeys");
    let (user, _) = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap();
    let ceremony = passkeys::start_registration(&app, &user, "Phone").await.unwrap();
    let _ = passkeys::finish_registration(&app, &user, ceremony.token.as_str(), "{}", "Phone").await;
    let ceremony = passkeys::start_sign_in(&app).await.unwrap();
    let _ = passkeys::finish_sign_in(&app, ceremony.token.as_str(), "{}", signin::Client::default()).await;
    let _ = passkeys::verify_own_passkey(&app, &user, ceremony.token.as_str(), "{}").await.unwrap();
    passkeys::remove(&app, &user, "no-such-passkey").await.unwrap();
    // Second factors: an authenticator set up, the sign-in's second step (a wrong code, then a
    // recovery code), the codes renewed, the app removed.
    rig.as_function("second-factor");
    let ada = signed_in.user.clone();
    let setup = totp::begin_setup(&app, &ada).await.unwrap();
    let code = learners::domain::second_factor::totp::code_at(&setup.secret, app.clock.now().unix()).unwrap();
    let codes = totp::confirm_setup(&app, &ada, &setup.token, &code).await.unwrap().unwrap();
    rig.as_function("sessions");
    let step = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap();
    let signin::SignInStep::SecondFactor(pending) = step else { panic!("ada has a second factor now") };
    rig.as_function("second-factor");
    let client = signin::Client::default();
    assert!(second_factor::complete_with_code(&app, pending.token.as_str(), "000000", client).await.is_err());
    second_factor::complete_with_code(&app, pending.token.as_str(), &codes[0], client).await.unwrap();
    totp::renew_recovery_codes(&app, &ada, PASSWORD).await.unwrap();
    totp::remove_authenticator(&app, &ada, PASSWORD).await.unwrap();
    rig.drain().await;
    rig.as_function("sessions");
    for _ in 0..=app.config.lockout.max_failures {
        let _ = signin::sign_in(&app, &address("bob"), "wrong password").await;
    }
    rig.drain().await;
    rig.as_function("password-reset");
    recovery::request_reset(&app, &address("cy")).await.unwrap();
    rig.drain().await;
    rig.as_function("password-reset");
    let token = rig.mailed_token(&address("cy"), "/password-reset/");
    recovery::usable_reset_token(&app, &token).await.unwrap();
    recovery::reset_password(&app, &token, "another horse battery staple").await.unwrap();
    rig.drain().await;
    rig.as_function("sessions");
    let signed_in =
        signin::sign_in(&app, &address("cy"), "another horse battery staple").await.unwrap().signed_in().unwrap();
    let other =
        signin::sign_in(&app, &address("cy"), "another horse battery staple").await.unwrap().signed_in().unwrap();
    // The account page: the name, the data file, the sessions (one ended, then every other),
    // the password; then removal.
    rig.as_function("account");
    let (user, session) = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap();
    account::change_name(&app, &user, "Cy Young").await.unwrap();
    account::my_data(&app, &user, &session).await.unwrap();
    let (_, other_session) = signin::current_user(&app, other.token.as_str()).await.unwrap().unwrap();
    account::end_session(&app, &user, &session, &other_session.public_id()).await.unwrap();
    let client = signin::Client { session: Some(signed_in.token.as_str()), ..Default::default() };
    let renewed = account::end_other_sessions(&app, &user, &session, client, None).await.unwrap();
    let (user, session) = signin::current_user(&app, renewed.token.as_str()).await.unwrap().unwrap();
    let client = signin::Client { session: Some(renewed.token.as_str()), ..Default::default() };
    let new_password = "a violet kettle drum of 42";
    let renewed = account::change_password(&app, &user, &session, client, "another horse battery staple", new_password)
        .await
        .unwrap();
    rig.drain().await;
    rig.as_function("account");
    let (user, session) = signin::current_user(&app, renewed.token.as_str()).await.unwrap().unwrap();
    removal::request_self_removal(&app, &user, &session, new_password).await.unwrap();
    rig.drain().await;

    // "Change my email": a request (a wrong code, a taken address, a free one), the link the
    // worker mails, its page and button, and "This was not me" from the old address.
    rig.as_function("sessions");
    let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap().signed_in().unwrap();
    rig.as_function("account-email");
    let (user, _) = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap();
    let moved = address("ada-moved");
    let ask = |new_email, password, code| email_change::ChangeRequest { new_email, password, code };
    assert!(email_change::request_change(&app, &user, &ask(&moved, "", "000000")).await.is_err());
    let taken = address("bob");
    email_change::request_change(&app, &user, &ask(&taken, PASSWORD, "")).await.unwrap();
    email_change::request_change(&app, &user, &ask(&moved, PASSWORD, "")).await.unwrap();
    rig.drain().await;
    rig.as_function("account-email");
    let token = rig.mailed_token(&moved, "/account/email/confirm/");
    use learners::domain::TokenPurpose;
    email_change::usable_link(&app, &token, TokenPurpose::EmailChange).await.unwrap().unwrap();
    email_change::confirm_change(&app, &token).await.unwrap();
    rig.drain().await;
    rig.as_function("account-email");
    let token = rig.mailed_token(&address("ada"), "/account/email/not-me/");
    email_change::revert_change(&app, &token).await.unwrap();
    rig.drain().await;

    // Applications (OpenID Connect): register one, authorize, exchange, refresh, replay,
    // userinfo, sign out through it, remove it.
    {
        use learners::oidc::{authorize, clients, logout, token, userinfo};
        rig.as_function("oidc-clients");
        let new = clients::NewClient {
            name: "LMS".into(),
            redirect_uris: vec!["https://lms.example.org/cb".into()],
            post_logout_redirect_uris: vec!["https://lms.example.org/bye".into()],
            public: false,
        };
        let (client, _) = clients::register(&app, OPERATOR, &new).await.unwrap();
        clients::list(&app).await.unwrap();
        let secret = clients::rotate_secret(&app, OPERATOR, client.id.as_str()).await.unwrap();
        rig.as_function("sessions");
        let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap().signed_in().unwrap();
        rig.as_function("oidc");
        let current = signin::current_user(&app, signed_in.token.as_str()).await.unwrap();
        let session = current.as_ref().unwrap().1.clone();
        let pairs = [
            ("client_id", client.id.as_str()),
            ("redirect_uri", "https://lms.example.org/cb"),
            ("response_type", "code"),
            ("scope", "openid email offline_access"),
        ];
        let params =
            authorize::AuthorizeParams::new(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        let authorize::Authorization::Redirect(to) = authorize::authorize(&app, &params, current).await.unwrap() else {
            panic!("a signed-in learner gets a code");
        };
        let code = url::Url::parse(&to).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        rig.as_function("oidc-token");
        let request = |grant: &str, code: Option<&str>, refresh: Option<&str>, secret: &str| token::TokenRequest {
            grant_type: Some(grant.into()),
            code: code.map(str::to_owned),
            redirect_uri: Some("https://lms.example.org/cb".into()),
            refresh_token: refresh.map(str::to_owned),
            client_id: Some(client.id.to_string()),
            client_secret: Some(secret.to_owned()),
            source_ip: Some("192.0.2.1".into()),
            ..token::TokenRequest::default()
        };
        let issued =
            token::exchange(&app, &request("authorization_code", Some(&code), None, secret.as_str())).await.unwrap();
        let refresh = issued.refresh_token.as_ref().unwrap().as_str().to_owned();
        token::exchange(&app, &request("refresh_token", None, Some(&refresh), secret.as_str())).await.unwrap();
        assert!(token::exchange(&app, &request("refresh_token", None, Some(&refresh), secret.as_str())).await.is_err());
        assert!(token::exchange(&app, &request("authorization_code", Some(&code), None, secret.as_str()))
            .await
            .is_err());
        assert!(token::exchange(&app, &request("authorization_code", Some(&code), None, "wrong")).await.is_err());
        rig.as_function("oidc");
        let _ = userinfo::userinfo(&app, issued.access_token.as_str()).await;
        let hint = logout::LogoutParams { id_token_hint: Some(issued.id_token.clone()), ..Default::default() };
        assert!(logout::logout(&app, &hint, Some(&session)).await.unwrap().ended);
        rig.as_function("oidc-clients");
        clients::remove(&app, OPERATOR, client.id.as_str()).await.unwrap();
    }

    // A complaint from an address (SES, through the mail events queue).
    rig.as_function("mail-events");
    let complaint = (learners::domain::MailRefusalKind::Complaint, address("bob"));
    learners::flows::mail_events::record(&app, vec![complaint]).await.unwrap();

    // Sign-in from a source IP (its failure quota) and from a known browser; the console's
    // check of an operator's session on every request.
    rig.as_function("sessions");
    let from = signin::Client { device: None, ip: Some("192.0.2.7"), session: None, user_agent: None };
    let _ = signin::sign_in_from(&app, &address("bob"), "wrong password", from).await;
    let signed_in = signin::sign_in_from(&app, &address("ada"), PASSWORD, from).await.unwrap().signed_in().unwrap();
    rig.as_function("operator-console");
    let (_, session) = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap();
    app.sessions.touch_session(&session.hash, app.clock.now(), session.created_at).await.unwrap();

    // Every function reads the site settings at the start of each request or batch (issue 25).
    app.settings.set_max_age(0);
    for function in granted().keys() {
        rig.as_function(function);
        app.refresh_settings().await;
    }

    // Operators: the support flows, bulk registration and deletions, and their jobs.
    for function in ["admin-users", "operator-console"] {
        rig.as_function(function);
        // The site settings: read, saved, their history, a version restored (issue 25).
        {
            use learners::flows::settings;
            let actor = learners::domain::Actor::Iam(OPERATOR.into());
            let current = settings::current(&app).await.unwrap();
            let mut values = current.settings.values();
            values.insert("max_failed_logins".into(), (current.settings.max_failed_logins % 50 + 1).to_string());
            // This stack resends at once (0), which a setting may not: never 0 (mail bombing).
            values.insert("resend_interval_seconds".into(), "60".into());
            settings::save(&app, &actor, current.version, &values).await.unwrap();
            settings::history(&app).await.unwrap();
            settings::restore(&app, &actor, current.version + 1, current.version.max(1)).await.unwrap();
        }
        if function == "admin-users" {
            // The support role: the admin API's alone; ada must be an operator to hold it.
            use learners::flows::settings;
            admin::set_operator_role(&app, OPERATOR, &address("ada"), true).await.unwrap();
            settings::set_support_role(&app, OPERATOR, &address("ada"), true).await.unwrap();
            settings::supporters(&app).await.unwrap();
            settings::set_support_role(&app, OPERATOR, &address("ada"), false).await.unwrap();
            admin::set_operator_role(&app, OPERATOR, &address("ada"), false).await.unwrap();
        }
        admin::user_by_email(&app, &address("bob")).await.unwrap();
        admin::unlock(&app, OPERATOR, &address("bob")).await.unwrap();
        admin::activate(&app, OPERATOR, &address("bob")).await.unwrap();
        admin::set_password(&app, OPERATOR, &address("bob"), "a third horse battery staple").await.unwrap();
        // An operator's actions on one learner (issue 26): the quota of operator mails too.
        learners::flows::operator_actions::send_reset_link(&app, OPERATOR, &address("bob")).await.unwrap();
        learners::flows::operator_actions::sign_out_everywhere(&app, OPERATOR, &address("bob")).await.unwrap();
        learners::flows::operator_actions::disable(&app, OPERATOR, &address("bob")).await.unwrap();
        learners::flows::operator_actions::enable(&app, OPERATOR, &address("bob")).await.unwrap();
        if function == "admin-users" {
            // The operator role: the admin API's alone (the console has no such action).
            admin::set_operator_role(&app, OPERATOR, &address("ada"), true).await.unwrap();
            admin::operators(&app).await.unwrap();
            admin::set_operator_role(&app, OPERATOR, &address("ada"), false).await.unwrap();
        }
        // Support removes bob's second factors (set up as the second-factor function would).
        let bob = app.store.user_by_email_key(&address("bob").to_lowercase()).await.unwrap().unwrap();
        rig.as_function("second-factor");
        let setup = totp::begin_setup(&app, &bob).await.unwrap();
        let code = learners::domain::second_factor::totp::code_at(&setup.secret, app.clock.now().unix()).unwrap();
        totp::confirm_setup(&app, &bob, &setup.token, &code).await.unwrap().unwrap();
        rig.as_function(function);
        admin::remove_second_factors(&app, OPERATOR, &address("bob")).await.unwrap();
        if function == "operator-console" {
            // A confirmation with a passkey's answer (to a challenge that is no longer there).
            let token = learners::domain::Token::generate();
            passkeys::verify_own_passkey(&app, &bob, token.as_str(), "{}").await.unwrap();
        }
        // Operators fix an address: bob moves away and back (the claims, the account, the mail).
        let moved = address("bob-moved");
        admin_email::change_email(&app, OPERATOR, &address("bob"), &moved).await.unwrap();
        admin_email::change_email(&app, OPERATOR, &moved, &address("bob")).await.unwrap();
        admin::audit_entries(&app, admin::AuditSubject::Email(address("bob"))).await.unwrap();
        rig.drain().await;
    }
    for (i, function) in ["bulk-registrations", "operator-console"].into_iter().enumerate() {
        rig.as_function(function);
        let t = &tag[tag.len() - 6..];
        let csv = format!(
            "email,username,name,password\nbulk{i}-{t}@example.com,bulk{i}_{t},One,{PASSWORD}\nnot-an-address,x{i}_{t},Two,\n{},dup{i}_{t},Three,\n",
            address("ada"),
        );
        bulk::dry_run(&app, csv.as_bytes()).await.unwrap();
        let job = bulk::upload(&app, OPERATOR, csv.as_bytes(), Some(&format!("key-{function}"))).await.unwrap();
        bulk::upload(&app, OPERATOR, csv.as_bytes(), Some(&format!("key-{function}"))).await.unwrap();
        rig.drain().await;
        rig.as_function(function);
        let progress = learners::jobs::progress(&app, &job.id).await.unwrap().unwrap();
        learners::jobs::problems_page(&app, &progress.job, 0, |_| true).await.unwrap();
        learners::jobs::report_page(&app, &progress.job, 0).await.unwrap();
    }
    for (function, who) in [("deletions", "ada"), ("operator-console", "bob")] {
        rig.as_function(function);
        let list = [(1, address(who)), (2, "nobody@example.com".to_owned()), (3, "bad".to_owned())];
        removal::matching_accounts(&app, &list).await.unwrap();
        let job = removal::request_deletions(&app, OPERATOR, &list, Some(("k", b"body"))).await.unwrap();
        rig.drain().await;
        rig.as_function(function);
        let progress = learners::jobs::progress(&app, &job.id).await.unwrap().unwrap();
        learners::jobs::problems_page(&app, &progress.job, 0, |_| true).await.unwrap();
    }

    // Files by upload: the API opens the job, the intake takes the file in.
    let t = &tag[tag.len() - 6..];
    let uploaded = [
        (
            "bulk-registrations",
            learners::domain::JobKind::BulkRegistration,
            format!("email,username,name\nup-{t}@example.com,up_{t},Up\n"),
        ),
        ("deletions", learners::domain::JobKind::Deletion, format!("{}\nnobody@example.com\n", address("ada"))),
    ];
    for (function, kind, file) in uploaded {
        rig.as_function(function);
        let job = learners::jobs::open_upload(&app, kind, OPERATOR, false, Some(&format!("upload-{function}")))
            .await
            .unwrap();
        let key = learners::jobs::object_key(kind, &job.id);
        let signed = app.uploads.presign_put(&key, std::time::Duration::from_secs(60)).await.unwrap();
        let query = signed.url.split_once('?').map_or("", |(_, query)| query);
        uploads.inner().accept_put(&key, query, file.into_bytes().into()).unwrap();
        rig.as_function("intake");
        let event = learners::handlers::intake::object_created("uploads", &key);
        learners::handlers::intake::handle(&app, event).await.unwrap();
        rig.drain().await;
    }

    let granted = granted();
    let seen = recorder.seen.lock().unwrap().clone();
    let mut missing = Vec::new();
    for (function, actions) in &seen {
        let allowed = granted.get(function).unwrap_or_else(|| panic!("no function {function} in the template"));
        for action in actions.difference(allowed) {
            missing.push(format!("{function} sends {action}, which its policy does not grant"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    for (function, actions) in &seen {
        let unused: Vec<&String> = granted[function].difference(actions).collect();
        if !unused.is_empty() {
            eprintln!("{function}: granted and not seen here: {unused:?}");
        }
    }
    assert!(seen.len() >= 11, "only {} functions ran: {:?}", seen.len(), seen.keys());

    // Each function's table grant is held to the partition keys it names (`dynamodb:LeadingKeys`).
    let leading = recorder.leading.lock().unwrap().clone();
    eprintln!("partition keys named, by function: {leading:#?}");
    let allowed = leading_keys();
    let mut outside = Vec::new();
    for (function, prefixes) in &leading {
        let patterns = allowed.get(function).unwrap_or_else(|| panic!("no function {function} in the template"));
        for prefix in prefixes {
            let pattern = if prefix.ends_with('#') { format!("{prefix}*") } else { prefix.clone() };
            if !patterns.contains(&pattern) {
                outside.push(format!("{function} names {pattern} keys, outside its dynamodb:LeadingKeys"));
            }
        }
        let named: BTreeSet<String> =
            prefixes.iter().map(|p| if p.ends_with('#') { format!("{p}*") } else { p.clone() }).collect();
        let unused: Vec<&String> = patterns.difference(&named).collect();
        if !unused.is_empty() {
            eprintln!("{function}: partition keys granted and not seen here: {unused:?}");
        }
    }
    assert!(outside.is_empty(), "{}", outside.join("\n"));

    // The operator role is written by the admin function alone (the template denies the others).
    let written = recorder.written.lock().unwrap().clone();
    let writers: Vec<&String> =
        written.iter().filter(|(_, names)| names.contains("operator")).map(|(f, _)| f).collect();
    assert_eq!(writers, ["admin-users"], "who writes the attribute operator");
    let writers: Vec<&String> = written.iter().filter(|(_, names)| names.contains("support")).map(|(f, _)| f).collect();
    assert_eq!(writers, ["admin-users"], "who writes the attribute support (issue 25)");
    let denied = operator_denied();
    for function in granted.keys() {
        assert_eq!(denied.contains(function), function != "admin-users", "{function}: a Deny on writing operator");
    }
}

/// The functions whose policy denies every write that names the attributes `operator` and `support` (puts,
/// updates, batch writes, on the table), by binary name.
fn operator_denied() -> BTreeSet<String> {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut denied = BTreeSet::new();
    for (_, resource) in doc["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let code = resource["Properties"]["CodeUri"].as_str().unwrap();
        let binary = code.trim_end_matches('/').rsplit('/').next().unwrap().to_owned();
        let denies = statements(&resource["Properties"]["Policies"]).into_iter().any(|statement| {
            let actions = strings(&statement["Action"]);
            statement["Effect"].as_str() == Some("Deny")
                && ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"]
                    .iter()
                    .all(|a| actions.iter().any(|b| b == a))
                && strings(&statement["Resource"]) == ["Table.Arn"]
                && strings(&statement["Condition"]["ForAnyValue:StringEquals"]["dynamodb:Attributes"])
                    == ["operator", "support"]
                && statement["Condition"].as_hash().map(|h| h.len()) == Some(1)
        });
        if denies {
            denied.insert(binary);
        }
    }
    denied
}

/// The `dynamodb:LeadingKeys` patterns of each function's grant on the table, by binary name;
/// every function that may touch the table has them, on every statement that grants it.
fn leading_keys() -> BTreeMap<String, BTreeSet<String>> {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut found = BTreeMap::new();
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let code = resource["Properties"]["CodeUri"].as_str().unwrap();
        let binary = code.trim_end_matches('/').rsplit('/').next().unwrap().to_owned();
        let mut patterns = BTreeSet::new();
        for statement in statements(&resource["Properties"]["Policies"]) {
            if statement["Effect"].as_str() != Some("Allow") || strings(&statement["Resource"]) != ["Table.Arn"] {
                continue;
            }
            let condition = &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
            let listed = strings(condition);
            assert!(!listed.is_empty(), "{name:?}: a grant on the table without dynamodb:LeadingKeys");
            assert_eq!(statement["Condition"].as_hash().map(|h| h.len()), Some(1), "{name:?}");
            assert!(!listed.iter().any(|p| p == "*"), "{name:?}: every partition key");
            patterns.extend(listed);
        }
        found.insert(binary, patterns);
    }
    found
}

/// The statements of a function's (or a resource policy's) policy documents.
fn statements(policies: &yaml_rust2::Yaml) -> Vec<&yaml_rust2::Yaml> {
    let documents: Vec<&yaml_rust2::Yaml> = match policies {
        yaml_rust2::Yaml::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    documents.into_iter().flat_map(|d| d["Statement"].as_vec().into_iter().flatten()).collect()
}

/// A YAML value that is one string or a list of them, as strings.
fn strings(value: &yaml_rust2::Yaml) -> Vec<String> {
    match value {
        yaml_rust2::Yaml::Array(items) => items.iter().filter_map(|i| i.as_str()).map(str::to_owned).collect(),
        other => other.as_str().into_iter().map(str::to_owned).collect(),
    }
}

/// SSM decrypts a function's secret parameters with `kms:Decrypt` under the caller's name: that
/// grant names the parameters it is for (their encryption context), never any key for anything.
#[test]
fn kms_decrypt_through_ssm_is_scoped_to_the_parameters_a_function_reads() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut scoped = 0;
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let all = statements(&resource["Properties"]["Policies"]);
        let readable: BTreeSet<String> = all
            .iter()
            .filter(|s| strings(&s["Action"]).contains(&"ssm:GetParameters".to_owned()))
            .flat_map(|s| strings(&s["Resource"]))
            .collect();
        for statement in all.iter().filter(|s| strings(&s["Action"]).iter().any(|a| a == "kms:Decrypt")) {
            let resources = strings(&statement["Resource"]);
            assert!(!resources.iter().any(|r| r == "*"), "{name}: kms:Decrypt on every key");
            let condition = &statement["Condition"]["StringEquals"];
            if condition["kms:EncryptionContext:purpose"].as_str() == Some(BULK_PASSWORD_PURPOSE) {
                continue; // the bulk passwords' key (below)
            }
            assert_eq!(
                condition["kms:ViaService"].as_str(),
                Some("ssm.${AWS::Region}.amazonaws.com"),
                "{name}: kms:Decrypt only through SSM"
            );
            let contexts: BTreeSet<String> =
                strings(&condition["kms:EncryptionContext:PARAMETER_ARN"]).into_iter().collect();
            let parameters: BTreeSet<String> = readable.clone();
            assert!(!contexts.is_empty(), "{name}: kms:Decrypt names no parameter");
            assert_eq!(contexts, parameters, "{name}: kms:Decrypt for exactly the parameters it reads");
            scoped += 1;
        }
    }
    assert!(scoped >= 6, "only {scoped} functions read a secret parameter");
}

/// Bounces and complaints silence an address: only SES, for this stack's configuration set,
/// may publish to the events topic, and only that topic may send to the events queue, whatever
/// an IAM policy of the account grants (explicit denies on `aws:SourceArn`).
#[test]
fn the_mail_events_topic_and_queue_refuse_everyone_but_their_source() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let resources = &doc["Resources"];
    let destination = &resources["MailConfigurationSetEvents"]["Properties"];
    assert_eq!(destination["ConfigurationSetName"].as_str(), Some("MailConfigurationSet"));
    assert_eq!(destination["EventDestination"]["SnsDestination"]["TopicARN"].as_str(), Some("MailEventsTopic"));
    assert_eq!(resources["MailEventsSubscription"]["Properties"]["Endpoint"].as_str(), Some("MailEventsQueue.Arn"));
    let configuration_set =
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${MailConfigurationSet}";
    for (policy, target, action, source, service) in [
        ("MailEventsTopicPolicy", "MailEventsTopic", "sns:Publish", configuration_set, "ses.amazonaws.com"),
        ("MailEventsQueuePolicy", "MailEventsQueue.Arn", "sqs:SendMessage", "MailEventsTopic", "sns.amazonaws.com"),
    ] {
        let all = statements(&resources[policy]["Properties"]["PolicyDocument"]);
        let denies: Vec<_> = all.iter().filter(|s| s["Effect"].as_str() == Some("Deny")).collect();
        assert!(
            denies.iter().any(|s| s["Principal"].as_str() == Some("*")
                && strings(&s["Action"]) == [action]
                && strings(&s["Resource"]) == [target]
                && strings(&s["Condition"]["ArnNotEquals"]["aws:SourceArn"]) == [source]
                // Besides, only the redrive's exception (deploy::every_dead_letter_queue_can_be_redriven_...).
                && s["Condition"].as_hash().is_some_and(|h| h.keys().all(|k| matches!(k.as_str(), Some("ArnNotEquals" | "ArnNotLike"))))),
            "{policy}: no explicit Deny of {action} to all but {source}"
        );
        let allows: Vec<_> = all.iter().filter(|s| s["Effect"].as_str() == Some("Allow")).collect();
        assert_eq!(allows.len(), 1, "{policy}: one grant");
        assert_eq!(allows[0]["Principal"]["Service"].as_str(), Some(service), "{policy}");
        assert_eq!(strings(&allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"]), [source], "{policy}");
    }
}

/// The encryption context's purpose of the bulk passwords' data keys (`KmsSealer`).
const BULK_PASSWORD_PURPOSE: &str = "learners-bulk-password";

/// Bulk rows' passwords wait in the table sealed under `BulkPasswordKey`: the intakes (the bulk
/// registration API, the console and the uploads' intake) alone make its data keys, the bulk worker alone opens
/// them, in the functions' policies and in the key's own policy (explicit denies, which no IAM
/// policy of the account overrides); nobody re-encrypts under it.
#[test]
fn bulk_passwords_are_sealed_by_the_intakes_and_opened_by_the_bulk_worker_alone() {
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let resources = &doc["Resources"];
    let intakes = ["BulkRegistrationsFunction", "IntakeFunction", "OperatorConsoleFunction"];
    let worker = "BulkWorkerFunction";
    let mut told = BTreeSet::new();
    let (mut sealers, mut openers) = (BTreeSet::new(), BTreeSet::new());
    for (name, resource) in resources.as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap().to_owned();
        let variable = &resource["Properties"]["Environment"]["Variables"]["LEARNERS_BULK_PASSWORD_KMS_KEY_ID"];
        if variable.as_str() == Some("BulkPasswordKey") {
            told.insert(name.clone());
        }
        for statement in statements(&resource["Properties"]["Policies"]) {
            let actions = strings(&statement["Action"]);
            let purpose = statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"].as_str();
            if actions.iter().any(|a| a.starts_with("kms:GenerateDataKey") || a == "kms:Encrypt") {
                assert_eq!(purpose, Some(BULK_PASSWORD_PURPOSE), "{name}: a data key for anything");
                sealers.insert(name.clone());
            }
            if actions.iter().any(|a| a == "kms:Decrypt") && purpose == Some(BULK_PASSWORD_PURPOSE) {
                openers.insert(name.clone());
            }
            assert!(!actions.iter().any(|a| a.starts_with("kms:ReEncrypt") || a == "kms:*"), "{name}: {actions:?}");
        }
    }
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<BTreeSet<String>>();
    assert_eq!(sealers, names(&intakes), "who may make the bulk passwords' data keys");
    assert_eq!(openers, names(&[worker]), "who may open them");
    assert_eq!(told, names(&[intakes[0], intakes[1], intakes[2], worker]), "who is told the key");

    let key = &resources["BulkPasswordKey"];
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    let policy = statements(&key["Properties"]["KeyPolicy"]);
    let denied_unless = |action: &str| -> BTreeSet<String> {
        let deny = policy
            .iter()
            .find(|s| {
                s["Effect"].as_str() == Some("Deny")
                    && s["Principal"].as_str() == Some("*")
                    && strings(&s["Action"]).iter().any(|a| a == action)
            })
            .unwrap_or_else(|| panic!("the key policy does not deny {action} to others"));
        assert_eq!(deny["Condition"].as_hash().map(|h| h.len()), Some(1), "{action}: one condition");
        strings(&deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"])
            .into_iter()
            .map(|role| role.trim_end_matches("Role.Arn").to_owned())
            .collect()
    };
    assert_eq!(denied_unless("kms:GenerateDataKey"), names(&intakes));
    assert_eq!(denied_unless("kms:Encrypt"), names(&intakes));
    assert_eq!(denied_unless("kms:Decrypt"), names(&[worker]));
    assert!(
        policy.iter().any(|s| s["Effect"].as_str() == Some("Deny")
            && strings(&s["Action"]).iter().any(|a| a == "kms:ReEncrypt*")
            && s["Condition"].is_badvalue()),
        "nobody re-encrypts under the key"
    );
}

/// Each function is wired (`wiring::functions`) to exactly the AWS services beyond DynamoDB and
/// SQS that its policy grants: a service it is not wired to is not linked into its binary (and
/// fails in the gateway's tests), a service it is wired to and not granted would fail in AWS.
/// Each function's `main` passes its own entry.
#[test]
fn each_function_is_wired_to_the_aws_services_its_policy_grants() {
    use learners::wiring::functions;
    let doc = &YamlLoader::load_from_str(TEMPLATE).unwrap()[0];
    let mut binaries = BTreeSet::new();
    for (name, resource) in doc["Resources"].as_hash().unwrap() {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let properties = &resource["Properties"];
        let binary = properties["CodeUri"].as_str().unwrap().trim_end_matches('/').rsplit('/').next().unwrap();
        binaries.insert(binary.to_owned());
        let services = functions::of(binary).unwrap_or_else(|| panic!("{binary} has no entry in wiring::functions"));
        let actions: BTreeSet<String> = statements(&properties["Policies"])
            .into_iter()
            .filter(|s| s["Effect"].as_str() == Some("Allow"))
            .flat_map(|s| strings(&s["Action"]))
            .collect();
        let grants = |wanted: &dyn Fn(&str) -> bool| actions.iter().any(|a| wanted(a));
        let told = |variable: &str| !properties["Environment"]["Variables"][variable].is_badvalue();
        let expected = [
            ("SSM", grants(&|a| a == "ssm:GetParameters")),
            ("SES", grants(&|a| a == "ses:SendEmail")),
            (
                "KMS (signing)",
                grants(&|a| a == "kms:Sign" || a == "kms:GetPublicKey") && told("LEARNERS_OIDC_KMS_KEY_ID"),
            ),
            ("KMS (sealing)", told("LEARNERS_BULK_PASSWORD_KMS_KEY_ID")),
            ("S3", grants(&|a| a.starts_with("s3:"))),
        ];
        let expected: Vec<&str> = expected.into_iter().filter_map(|(service, yes)| yes.then_some(service)).collect();
        assert_eq!(services.names(), expected, "{name} ({binary}): its wiring against its policy");

        let constant = binary.to_uppercase().replace('-', "_");
        let main = std::fs::read_to_string(format!("{}/../functions/{binary}/src/main.rs", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{binary}'s main: {e}"));
        assert!(
            main.contains(&format!("wiring::functions::{constant},")),
            "{binary}'s main passes functions::{constant}"
        );
    }
    let listed: BTreeSet<String> = functions::ALL.iter().map(|(binary, _)| binary.to_string()).collect();
    assert_eq!(listed, binaries, "wiring::functions lists the template's functions");
}
