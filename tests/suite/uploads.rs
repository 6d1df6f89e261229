//! Files of any size through the uploads' bucket: `POST .../uploads` answers a job and a signed
//! request, the file goes straight to storage, and its arrival starts the intake, which reads
//! it as a stream (on moto the test sends the event S3 would; on the memory backend the local
//! gateway starts it as the bucket's notification does). Also: the bucket in the template, and
//! the local gateway refusing what Lambda would.

use crate::contract::uploads::{post_form, put};
use learners::domain::JobKind;
use learners::ports::SignedUpload;
use learners_tests::{on_both_backends, unique, Backend, TestApp, ADMIN_TOKEN};
use serde_json::{json, Value};
use yaml_rust2::{Yaml, YamlLoader};

on_both_backends!(
    an_uploaded_file_becomes_a_job_that_completes_with_exact_counts,
    an_uploaded_list_of_addresses_deletes_them
);

/// `POST <path>` as the operator, with a JSON body: the answer's status and body.
async fn admin_post_json(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    let response = app.client.post(app.url(path)).bearer_auth(ADMIN_TOKEN).json(body).send().await.expect("POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The signed request of an `.../uploads` answer.
fn signed(answer: &Value) -> SignedUpload {
    let upload = &answer["upload"];
    SignedUpload {
        method: "PUT",
        url: upload["url"].as_str().expect("an upload URL").to_owned(),
        headers: upload["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect(),
        fields: Vec::new(),
    }
}

/// What S3 does once the object is stored: on moto the test is the notification (the
/// memory backend's gateway started the intake already); then the queues drain.
async fn file_arrived(app: &TestApp, kind: JobKind, job_id: &str) {
    if let Some(bucket) = app.app.config.upload_bucket.as_deref().filter(|_| app.aws.is_some()) {
        let key = learners::jobs::object_key(kind, job_id);
        let event = learners::handlers::intake::object_created(bucket, &key);
        learners::handlers::intake::handle(&app.app, event).await.expect("the intake");
    }
    app.settle().await;
    // On moto a queue may look empty while its last messages are still being worked.
    let path = match kind {
        JobKind::BulkRegistration => format!("/admin/v1/bulk-registrations/{job_id}"),
        JobKind::Deletion => format!("/admin/v1/deletions/{job_id}"),
    };
    for _ in 0..100 {
        let status: Value = app.admin_get(&path).await.json().await.unwrap_or(Value::Null);
        if status["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn an_uploaded_file_becomes_a_job_that_completes_with_exact_counts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tag = unique("up");
    app.active_account(&format!("taken-{tag}@example.com"), &format!("taken-{tag}")).await;
    let (status, answer) = admin_post_json(&app, "/admin/v1/bulk-registrations/uploads", &json!({})).await;
    assert_eq!(status, 201, "{answer}");
    let job_id = answer["job_id"].as_str().unwrap().to_owned();
    assert_eq!(answer["upload"]["method"], "PUT");

    // Before the file: the job is waiting for it, not completed with no rows.
    let before: Value = app.admin_get(&format!("/admin/v1/bulk-registrations/{job_id}")).await.json().await.unwrap();
    assert_eq!(before["status"], "receiving", "{before}");

    // 60 rows over three blocks: one invalid, one duplicate (case aside), one already registered.
    let mut file = String::from("email,username,name\n");
    for i in 0..60 {
        let line = match i {
            3 => "not-an-address,bad-{tag},Bad Row\n".replace("{tag}", &tag),
            8 => format!("LEARNER0-{tag}@Example.com,other8-{tag},Twice\n"),
            18 => format!("taken-{tag}@example.com,fresh18-{tag},Already There\n"),
            _ => format!("learner{i}-{tag}@example.com,learner{i}-{tag},Learner {i}\n"),
        };
        file.push_str(&line);
    }
    let response = put(&app.client, &signed(&answer), file.into_bytes()).await;
    assert!(response.status().is_success(), "{}", response.status());
    file_arrived(&app, JobKind::BulkRegistration, &job_id).await;

    let status: Value = app.admin_get(&format!("/admin/v1/bulk-registrations/{job_id}")).await.json().await.unwrap();
    assert_eq!((status["status"].as_str(), status["total"].as_u64()), (Some("completed"), Some(60)), "{status}");
    assert_eq!(
        (status["created"].as_u64(), status["skipped"].as_u64(), status["failed"].as_u64()),
        (Some(57), Some(2), Some(1))
    );
    let problems: Vec<(u64, &str)> = status["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(problems, [(5, "invalid_email"), (10, "duplicate_in_file"), (20, "already_registered")]);
    let learner = app.user(&format!("learner59-{tag}@example.com")).await.expect("the last row's account");
    assert_eq!(learner["source"], "bulk");

    // The file is gone once taken in; the same event again changes nothing.
    let key = learners::jobs::object_key(JobKind::BulkRegistration, &job_id);
    assert!(app.app.uploads.open(&key).await.unwrap().is_none(), "the uploaded file is deleted");
    let again = learners::handlers::intake::object_created("bucket", &key);
    learners::handlers::intake::handle(&app.app, again).await.unwrap();
    app.settle().await;
    let after: Value = app.admin_get(&format!("/admin/v1/bulk-registrations/{job_id}")).await.json().await.unwrap();
    assert_eq!((after["total"].as_u64(), after["created"].as_u64()), (Some(60), Some(57)));
}

async fn an_uploaded_list_of_addresses_deletes_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tag = unique("del");
    let (ada, bob) = (format!("ada-{tag}@example.com"), format!("bob-{tag}@example.com"));
    app.active_account(&ada, &format!("ada-{tag}")).await;
    app.active_account(&bob, &format!("bob-{tag}")).await;
    let (status, answer) = admin_post_json(&app, "/admin/v1/deletions/uploads", &json!({})).await;
    assert_eq!(status, 201, "{answer}");
    let job_id = answer["job_id"].as_str().unwrap().to_owned();
    let list = format!("{ada}\n\nnobody-{tag}@example.com\nnot an address\n{bob}\n");
    assert!(put(&app.client, &signed(&answer), list.into_bytes()).await.status().is_success());
    file_arrived(&app, JobKind::Deletion, &job_id).await;
    let status: Value = app.admin_get(&format!("/admin/v1/deletions/{job_id}")).await.json().await.unwrap();
    assert_eq!(
        (status["status"].as_str(), status["total"].as_u64(), status["deleted"].as_u64()),
        (Some("completed"), Some(4), Some(2)),
        "{status}"
    );
    assert_eq!((status["not_found"].as_u64(), status["failed"].as_u64()), (Some(1), Some(1)));
    assert!(app.user(&ada).await.is_none() && app.user(&bob).await.is_none());
}

/// A file refused as a whole (its header) is the job's row 1, failed, with the reason: the
/// operator sees why on the job's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_with_wrong_columns_ends_its_job_with_the_reason() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (_, answer) = admin_post_json(&app, "/admin/v1/bulk-registrations/uploads", &json!({"invite": false})).await;
    let job_id = answer["job_id"].as_str().unwrap().to_owned();
    put(&app.client, &signed(&answer), b"mail,username\na@example.com,a\n".to_vec()).await;
    file_arrived(&app, JobKind::BulkRegistration, &job_id).await;
    let status: Value = app.admin_get(&format!("/admin/v1/bulk-registrations/{job_id}")).await.json().await.unwrap();
    assert_eq!((status["status"].as_str(), status["failed"].as_u64()), (Some("completed"), Some(1)), "{status}");
    let error = &status["errors"][0];
    assert_eq!((error["row"].as_u64(), error["code"].as_str()), (Some(1), Some("bad_columns")));
    assert!(error["message"].as_str().unwrap().contains("it has no email and name column"), "{error}");
}

/// The choice to invite is the job's, made when the upload is asked for; a field the route
/// does not know is refused; the same Idempotency-Key gives the same job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_upload_request_carries_the_invite_choice_and_its_idempotency_key() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (_, answer) = admin_post_json(&app, "/admin/v1/bulk-registrations/uploads", &json!({"invite": true})).await;
    let job = app.app.jobs.job(answer["job_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert!(job.invite);
    let (status, refused) = admin_post_json(&app, "/admin/v1/bulk-registrations/uploads", &json!({"inv": true})).await;
    assert_eq!(status, 422, "{refused}");
    let (status, _) = admin_post_json(&app, "/admin/v1/deletions/uploads", &json!({"invite": true})).await;
    assert_eq!(status, 422, "deletions take no invitation");

    let key = unique("key-");
    let ask = || async {
        let response = app
            .client
            .post(app.url("/admin/v1/deletions/uploads"))
            .bearer_auth(ADMIN_TOKEN)
            .header("idempotency-key", &key)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json::<Value>().await.unwrap())
    };
    let (first, again) = (ask().await, ask().await);
    assert_eq!((first.0, again.0), (201, 201));
    assert_eq!(first.1["job_id"], again.1["job_id"]);
}

/// The memory backend's uploads are S3's contract: a URL altered, or used for another object,
/// is refused (403) and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_altered_signed_url_is_refused() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (_, answer) = admin_post_json(&app, "/admin/v1/deletions/uploads", &json!({})).await;
    let mut upload = signed(&answer);
    let other = upload.url.replace("/uploads/deletion/", "/uploads/bulk_registration/");
    let forged = SignedUpload { url: other, ..upload.clone() };
    assert_eq!(put(&app.client, &forged, b"a@example.com\n".to_vec()).await.status(), 403);
    upload.url = upload.url.replace("signature=", "signature=0");
    assert_eq!(put(&app.client, &upload, b"a@example.com\n".to_vec()).await.status(), 403);
    let job_id = answer["job_id"].as_str().unwrap();
    for kind in [JobKind::Deletion, JobKind::BulkRegistration] {
        let key = learners::jobs::object_key(kind, job_id);
        assert!(app.app.uploads.open(&key).await.unwrap().is_none(), "{key} is not stored");
    }
}

/// A form post's file over the policy's size is refused (S3: `EntityTooLarge`, a 400).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_form_post_over_its_size_is_refused() {
    let app = TestApp::spawn(Backend::Memory).await;
    let signed = app
        .app
        .uploads
        .presign_post("uploads/deletion/x.csv", "/operator", 10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(post_form(&app.client, &signed, b"a@example.com\n".to_vec()).await.status(), 400);
}

/// An intake cut off half-way (a store call failed) is finished by the retried event: every
/// row settled once, the counts exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_intake_cut_off_half_way_is_finished_by_the_retried_event() {
    use learners::adapters::memory::Fault;
    let app = TestApp::spawn(Backend::Memory).await;
    let job = learners::jobs::open_upload(&app.app, JobKind::Deletion, "op", false, None).await.unwrap();
    let key = learners::jobs::object_key(JobKind::Deletion, &job.id);
    let list: String = (0..3000).map(|i| format!("nobody{i}@example.com\n")).collect();
    let signed = app.app.uploads.presign_put(&key, std::time::Duration::from_secs(60)).await.unwrap();
    let store = &app.memory.as_ref().unwrap().0;
    // The gateway's intake runs first and fails part-way; its retries finish it.
    store.inject_fault(40, Fault::After);
    assert!(put(&app.client, &signed, list.into_bytes()).await.status().is_success());
    app.settle().await;
    let status: Value = app.admin_get(&format!("/admin/v1/deletions/{}", job.id)).await.json().await.unwrap();
    assert_eq!(
        (status["status"].as_str(), status["total"].as_u64(), status["not_found"].as_u64()),
        (Some("completed"), Some(3000), Some(3000)),
        "{status}"
    );
}

/// A body Lambda would refuse (over 6 MB as the event carries it) never reaches the function:
/// 413, as API Gateway answers; a body under it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_refuses_a_body_lambda_would_refuse() {
    let app = TestApp::spawn(Backend::Memory).await;
    let list = |bytes: usize| {
        let count = bytes / 29 + 10;
        let emails: Vec<String> = (0..count).map(|i| format!("n{i:013}@example.com")).collect();
        serde_json::to_vec(&json!({ "emails": emails })).unwrap()
    };
    let six_mb = list(6 * 1024 * 1024);
    assert!(six_mb.len() > 6 * 1024 * 1024 && six_mb.len() < 6_400_000, "{}", six_mb.len());
    let response = app
        .client
        .post(app.url("/admin/v1/deletions"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(six_mb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(response.text().await.unwrap(), r#"{"message":"Request Entity Too Large"}"#);
    // 5.5 MB of CSV goes through to the function, which answers for itself.
    let csv: String =
        std::iter::once("email\n".to_owned()).chain((0..200_000).map(|i| format!("n{i:013}@example.com\n"))).collect();
    assert!(csv.len() > 5_400_000 && csv.len() < 5_900_000, "{}", csv.len());
    let response = app.admin_post_csv("/admin/v1/deletions", csv).await;
    assert_ne!(response.status(), 413, "{:?}", response.text().await);
}

fn template() -> Yaml {
    YamlLoader::load_from_str(learners_gateway::routes::TEMPLATE).unwrap().remove(0)
}

/// The uploads' bucket: no public access of any kind, encrypted at rest, reachable over TLS
/// only, objects gone after a day; and the intake subscribed to what arrives under `uploads/`.
#[test]
fn the_uploads_bucket_is_private_encrypted_tls_only_and_forgets_after_a_day() {
    let doc = template();
    let resources = &doc["Resources"];
    let bucket = &resources["UploadBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[setting].as_bool(), Some(true), "{setting}");
    }
    let encryption =
        &bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"];
    assert!(matches!(encryption["SSEAlgorithm"].as_str(), Some("AES256" | "aws:kms")), "{encryption:?}");
    let rule = &bucket["LifecycleConfiguration"]["Rules"][0];
    assert_eq!((rule["Status"].as_str(), rule["ExpirationInDays"].as_i64()), (Some("Enabled"), Some(1)));
    assert!(rule["Prefix"].is_badvalue() && rule["Filter"].is_badvalue(), "the rule covers every object");

    let policy = &resources["UploadBucketPolicy"]["Properties"];
    let statements = policy["PolicyDocument"]["Statement"].as_vec().unwrap();
    let tls_only = statements.iter().any(|s| {
        s["Effect"].as_str() == Some("Deny")
            && s["Principal"].as_str() == Some("*")
            && s["Action"].as_str() == Some("s3:*")
            && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
            && s["Resource"].as_vec().is_some_and(|r| r.len() == 2)
    });
    assert!(tls_only, "a Deny of every request not over TLS, on the bucket and its objects: {statements:?}");

    let event = &resources["IntakeFunction"]["Properties"]["Events"]["Uploaded"];
    assert_eq!(event["Type"].as_str(), Some("S3"));
    assert_eq!(event["Properties"]["Events"].as_str(), Some("s3:ObjectCreated:*"));
    let rule = &event["Properties"]["Filter"]["S3Key"]["Rules"][0];
    assert_eq!((rule["Name"].as_str(), rule["Value"].as_str()), (Some("prefix"), Some(learners::jobs::UPLOAD_PREFIX)));
}

/// Who may do what with the bucket's objects: the functions that sign uploads may put (a
/// pre-signed request acts as its signer), the intake alone reads and deletes; each under
/// `uploads/` only.
#[test]
fn only_the_signers_put_and_only_the_intake_reads_and_deletes_uploads() {
    let doc = template();
    let resources = doc["Resources"].as_hash().unwrap();
    let mut grants: Vec<(String, String)> = Vec::new();
    for (name, resource) in resources {
        let Some(policies) = resource["Properties"]["Policies"].as_vec() else { continue };
        for statement in policies.iter().flat_map(|p| p["Statement"].as_vec().cloned().unwrap_or_default()) {
            let actions: Vec<String> = match &statement["Action"] {
                Yaml::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
                Yaml::String(one) => vec![one.clone()],
                _ => Vec::new(),
            };
            for action in actions.into_iter().filter(|a| a.starts_with("s3:")) {
                let resource = format!("{:?}", statement["Resource"]);
                assert!(resource.contains("/uploads/*"), "{name:?} {action} is on uploads/ only: {resource}");
                grants.push((name.as_str().unwrap().to_owned(), action));
            }
        }
    }
    grants.sort();
    let expected = [
        ("BulkRegistrationsFunction", "s3:PutObject"),
        ("DeletionsFunction", "s3:PutObject"),
        ("IntakeFunction", "s3:DeleteObject"),
        ("IntakeFunction", "s3:GetObject"),
        ("OperatorConsoleFunction", "s3:PutObject"),
    ];
    let found: Vec<(&str, &str)> = grants.iter().map(|(f, a)| (f.as_str(), a.as_str())).collect();
    assert_eq!(found, expected);
}

/// `make dev-moto`: the gateway on the AWS adapters takes in a file uploaded to moto's bucket by
/// itself, as S3's notification starts the intake in AWS (no event sent by the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_on_moto_takes_in_an_uploaded_file_by_itself() {
    let app = TestApp::spawn(Backend::Moto).await;
    let clients = app.aws.as_ref().expect("moto clients");
    let bucket = app.app.config.upload_bucket.clone().expect("the uploads' bucket");
    let uploads = learners::adapters::aws::S3Uploads::new(&clients.sdk, &bucket);
    learners_gateway::workers::spawn_upload_poller(app.app.clone(), uploads, bucket);
    let tag = unique("poll");
    let (status, answer) = admin_post_json(&app, "/admin/v1/bulk-registrations/uploads", &json!({})).await;
    assert_eq!(status, 201, "{answer}");
    let job_id = answer["job_id"].as_str().unwrap().to_owned();
    let file = format!("email,username,name\nada-{tag}@example.com,ada-{tag},Ada\nbo-{tag}@example.com,bo-{tag},Bo\n");
    assert!(put(&app.client, &signed(&answer), file.into_bytes()).await.status().is_success());
    let path = format!("/admin/v1/bulk-registrations/{job_id}");
    let mut status = Value::Null;
    for _ in 0..150 {
        status = app.admin_get(&path).await.json().await.unwrap_or(Value::Null);
        if status["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!((status["status"].as_str(), status["created"].as_u64()), (Some("completed"), Some(2)), "{status}");
    assert!(app.user(&format!("bo-{tag}@example.com")).await.is_some());
}
