//! `Uploads`: a file sent by a signed request is stored, read back as a stream (in pieces) and
//! deleted, the same on the memory backend (`UploadObjects`, under the fault model, behind the
//! local gateway's `/_dev/uploads`) and on S3 (`S3Uploads`, on moto); without a bucket
//! (`NoUploads`) every call fails, naming the variable to set.

use super::*;
use futures::StreamExt;
use learners::adapters::aws::{NoUploads, S3Uploads};
use learners::ports::{ObjectStream, SignedUpload, Uploads};
use learners_tests::{on_both_backends, Backend, TestApp};
use std::time::Duration;

on_both_backends!(
    a_signed_put_stores_the_file_and_it_reads_back_in_pieces_until_deleted,
    a_signed_form_post_stores_the_file_and_sends_the_browser_on,
);

/// The uploads of `app`: the memory backend's `UploadObjects` (what the gateway serves), or
/// an `S3Uploads` on the test's bucket on moto.
fn uploads_of(app: &TestApp) -> Arc<dyn Uploads> {
    match (&app.aws, &app.app.config.upload_bucket) {
        (Some(clients), Some(bucket)) => Arc::new(S3Uploads::new(&clients.sdk, bucket)),
        _ => app.app.uploads.clone(),
    }
}

pub async fn read_all(mut stream: ObjectStream) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(piece) = stream.next().await {
        bytes.extend_from_slice(&piece.expect("a piece of the object"));
    }
    bytes
}

/// Sends `body` as the signed `PUT` says.
pub async fn put(client: &reqwest::Client, signed: &SignedUpload, body: Vec<u8>) -> reqwest::Response {
    let mut request = client.put(&signed.url).body(body);
    for (name, value) in &signed.headers {
        request = request.header(name, value);
    }
    request.send().await.expect("PUT to the signed URL")
}

/// Posts a form as a browser would: the signed fields, then the file.
pub async fn post_form(client: &reqwest::Client, signed: &SignedUpload, file: Vec<u8>) -> reqwest::Response {
    let boundary = "----learners-test-boundary-7f3a";
    let mut body = Vec::new();
    for (name, value) in &signed.fields {
        body.extend(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\ncontent-type: text/csv\r\n\r\n"
        )
        .bytes(),
    );
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    client
        .post(&signed.url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .expect("POST of the form")
}

async fn a_signed_put_stores_the_file_and_it_reads_back_in_pieces_until_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // `UploadObjects` (memory) or `S3Uploads` (moto).
    let uploads = uploads_of(&app);
    let key = format!("contract/{}.csv", unique("put-"));
    assert!(uploads.open(&key).await.unwrap().is_none(), "no object before the upload");
    // 300 KB: more than one piece of a stream on either store.
    let file: Vec<u8> = (0..300_000usize).map(|i| b"ada,bob,cyd\n"[i % 12]).collect();
    let signed = uploads.presign_put(&key, Duration::from_secs(600)).await.unwrap();
    assert_eq!(signed.method, "PUT");
    let response = put(&app.client, &signed, file.clone()).await;
    assert!(response.status().is_success(), "{}", response.status());

    let mut stream = uploads.open(&key).await.unwrap().expect("the stored object");
    let first = stream.next().await.expect("a first piece").unwrap();
    assert!(!first.is_empty() && first.len() < file.len(), "read in pieces, not whole: {}", first.len());
    let mut read = first.to_vec();
    read.extend(read_all(stream).await);
    assert_eq!(read, file);

    uploads.delete(&key).await.unwrap();
    assert!(uploads.open(&key).await.unwrap().is_none(), "gone once deleted");
    uploads.delete(&key).await.unwrap();
}

async fn a_signed_form_post_stores_the_file_and_sends_the_browser_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // `UploadObjects` (memory) or `S3Uploads` (moto).
    let uploads = uploads_of(&app);
    let key = format!("contract/{}.csv", unique("post-"));
    let redirect = "http://127.0.0.1:9/operator/jobs/after-upload";
    let signed = uploads.presign_post(&key, redirect, 1024 * 1024, Duration::from_secs(600)).await.unwrap();
    assert_eq!(signed.method, "POST");
    assert!(signed.fields.iter().any(|(name, value)| name == "key" && value == &key), "{:?}", signed.fields);
    let response = post_form(&app.client, &signed, b"email\nada@example.com\n".to_vec()).await;
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(redirect), "{location}");
    let stored = read_all(uploads.open(&key).await.unwrap().expect("the stored object")).await;
    assert_eq!(stored, b"email\nada@example.com\n");
    uploads.delete(&key).await.unwrap();
}

#[tokio::test]
async fn without_a_bucket_every_upload_fails_saying_so() {
    let uploads: &dyn Uploads = &NoUploads;
    let wait = Duration::from_secs(60);
    let errors = [
        uploads.presign_put("uploads/x.csv", wait).await.err(),
        uploads.presign_post("uploads/x.csv", "/", 1, wait).await.err(),
        uploads.open("uploads/x.csv").await.err().map(|e| anyhow::anyhow!("{e}")),
        uploads.delete("uploads/x.csv").await.err(),
    ];
    for error in errors {
        assert!(error.expect("an error").to_string().contains("LEARNERS_UPLOAD_BUCKET"));
    }
}
