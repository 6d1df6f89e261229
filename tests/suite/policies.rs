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
use learners::flows::{activation, admin, bulk, recovery, registration, removal, signin};
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
        let current = self.current.lock().unwrap().clone();
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
    let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap();
    let session = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap().1;
    signin::sign_out(&app, &session).await.unwrap();
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
    let signed_in = signin::sign_in(&app, &address("cy"), "another horse battery staple").await.unwrap();
    rig.as_function("account");
    let (user, session) = signin::current_user(&app, signed_in.token.as_str()).await.unwrap().unwrap();
    removal::request_self_removal(&app, &user, &session, "another horse battery staple").await.unwrap();
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
        let signed_in = signin::sign_in(&app, &address("ada"), PASSWORD).await.unwrap();
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

    // Operators: the support flows, bulk registration and deletions, and their jobs.
    for function in ["admin-users", "operator-console"] {
        rig.as_function(function);
        admin::user_by_email(&app, &address("bob")).await.unwrap();
        admin::unlock(&app, OPERATOR, &address("bob")).await.unwrap();
        admin::activate(&app, OPERATOR, &address("bob")).await.unwrap();
        admin::set_password(&app, OPERATOR, &address("bob"), "a third horse battery staple", true).await.unwrap();
        admin::set_operator_role(&app, OPERATOR, &address("ada"), true).await.unwrap();
        admin::operators(&app).await.unwrap();
        admin::set_operator_role(&app, OPERATOR, &address("ada"), false).await.unwrap();
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
}
