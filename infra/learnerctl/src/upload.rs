//! A file of any size, sent in one piece. The API opens a job for it (`POST .../uploads`) and
//! answers a signed request for the uploads' bucket (S3 in AWS, the local gateway's
//! `/_dev/uploads` on `make dev`); the file goes there by that request, read from disk as it is
//! sent (a million rows are about 50 MB: never held whole), and its arrival starts the job. No
//! request to the API carries the file, so the 6 MB a Lambda invocation takes is no limit.
//!
//! Sent once: the request for the upload carries an `Idempotency-Key` made from the file's
//! content, the job's kind and the invitation choice. The same command on the same file names
//! the same job: while that job still waits for its file the API signs a new request for it
//! (an upload cut off is sent again, to the same job); once the file has come, it answers the
//! job with nothing to upload, and no second job is made.

use crate::api::Api;
use crate::commands::UsageError;
use crate::jobs::Kind;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// A file sent (or found already sent).
pub struct Sent {
    pub job_id: String,
    pub bytes: u64,
    /// The API had the file already: the same command ran before on the same file.
    pub already: bool,
}

/// Opens the job and sends `file` to it.
pub async fn send(api: &Api, kind: Kind, file: &Path, invite: bool) -> anyhow::Result<Sent> {
    let cannot = |e: std::io::Error| UsageError(format!("cannot read {}: {e}", file.display()));
    let opened = std::fs::File::open(file).map_err(cannot)?;
    let bytes = opened.metadata().map_err(cannot)?.len();
    let key = {
        let (path, kind_name) = (file.to_owned(), key_kind(kind, invite));
        tokio::task::spawn_blocking(move || idempotency_key(kind_name, &path)).await??
    };
    let path = format!("{}/uploads", kind.collection());
    let headers = [("idempotency-key", key.as_str())];
    let opened_job = match kind {
        Kind::BulkRegistration => {
            let body = serde_json::json!({ "invite": invite }).to_string().into_bytes();
            api.send_with("POST", &path, Some("application/json"), &headers, body).await?
        }
        Kind::Deletion => api.send_with("POST", &path, None, &headers, Vec::new()).await?,
    };
    let answer = opened_job.ok()?.json()?;
    let job_id = answer["job_id"].as_str().ok_or_else(|| anyhow::anyhow!("the API gave no job id"))?.to_owned();
    let upload = &answer["upload"];
    if upload.is_null() {
        return Ok(Sent { job_id, bytes, already: true });
    }
    let (Some(method), Some(url)) = (upload["method"].as_str(), upload["url"].as_str()) else {
        anyhow::bail!("the API gave no upload request: {answer}");
    };
    let signed_headers: Vec<(String, String)> = upload["headers"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
        .collect();
    // On a terminal, the bytes as they go; elsewhere (a script, a test) nothing.
    let bar = ProgressBar::new(bytes);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} sent ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let shown = bar.clone();
    api.upload_file(method, url, &signed_headers, opened, bytes, move |n| shown.set_position(n)).await?;
    bar.finish_and_clear();
    Ok(Sent { job_id, bytes, already: false })
}

/// What the key says the file is for: another kind, or an invitation, is another request.
fn key_kind(kind: Kind, invite: bool) -> &'static str {
    match (kind, invite) {
        (Kind::BulkRegistration, false) => "bulk-registration-upload",
        (Kind::BulkRegistration, true) => "bulk-registration-invite-upload",
        (Kind::Deletion, _) => "deletion-upload",
    }
}

/// The `Idempotency-Key` of a file: a UUID (version 8, RFC 9562) from a SHA-256 of what it is
/// for and of the file's bytes, read from disk a piece at a time.
fn idempotency_key(kind: &str, file: &Path) -> Result<String, UsageError> {
    let cannot = |e: std::io::Error| UsageError(format!("cannot read {}: {e}", file.display()));
    let mut reader = std::fs::File::open(file).map_err(cannot)?;
    let mut content = Sha256::new();
    let mut piece = vec![0; 1024 * 1024];
    loop {
        let n = reader.read(&mut piece).map_err(cannot)?;
        if n == 0 {
            break;
        }
        content.update(&piece[..n]);
    }
    Ok(key_of(kind, &content.finalize()))
}

fn key_of(kind: &str, content_sha256: &[u8]) -> String {
    let mut hash = Sha256::new();
    for piece in [kind.as_bytes(), content_sha256] {
        hash.update((piece.len() as u64).to_be_bytes());
        hash.update(piece);
    }
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash.finalize()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_same_for_the_same_file_and_differ_by_purpose() {
        let dir = std::env::temp_dir().join(format!("learnerctl-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (one, two) = (dir.join("one.csv"), dir.join("two.csv"));
        std::fs::write(&one, "email,username,name\na@x.org,a,A\n").unwrap();
        std::fs::write(&two, "email,username,name\na@x.org,a,B\n").unwrap();
        let key = idempotency_key("bulk-registration-upload", &one).unwrap();
        assert_eq!(key, idempotency_key("bulk-registration-upload", &one).unwrap());
        assert_ne!(key, idempotency_key("bulk-registration-upload", &two).unwrap());
        assert_ne!(key, idempotency_key(key_kind(Kind::BulkRegistration, true), &one).unwrap());
        assert_ne!(key, idempotency_key(key_kind(Kind::Deletion, false), &one).unwrap());
        assert_eq!((key.len(), &key[14..15]), (36, "8"), "{key}");
        assert!(matches!(&key[19..20], "8" | "9" | "a" | "b"), "{key}");
        assert!(idempotency_key("x", &dir.join("none.csv")).unwrap_err().0.starts_with("cannot read"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
