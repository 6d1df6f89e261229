//! `multipart/form-data` bodies (the operator console's forms that carry files or long lists),
//! parsed by `multer` into parts that a handler takes by name, like `Fields`: a part nobody
//! takes is an error.

use super::body::content_type;
use super::error::ErrorCode;
use super::{ApiError, FieldErrors};
use lambda_http::Request;

pub struct Parts {
    entries: Vec<(String, Vec<u8>)>,
}

impl Parts {
    /// Reads every part: 413 past `max_bytes`, 400 when the body is not multipart or is
    /// malformed, or names a part twice.
    pub async fn from_request(req: &Request, max_bytes: usize) -> Result<Self, ApiError> {
        let body: &[u8] = req.body().as_ref();
        if body.len() > max_bytes {
            return Err(ApiError::new(ErrorCode::PayloadTooLarge, "The form is larger than 10 MB; split the file."));
        }
        let raw_type = req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if content_type(req).as_deref() != Some("multipart/form-data") {
            return Err(ApiError::bad_request("Send the form as multipart/form-data."));
        }
        let boundary =
            multer::parse_boundary(raw_type).map_err(|_| ApiError::bad_request("The form has no boundary."))?;
        let bytes = bytes::Bytes::copy_from_slice(body);
        let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
        let malformed = |_| ApiError::bad_request("The form body is malformed.");
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            let data = field.bytes().await.map_err(malformed)?;
            if entries.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad_request("The body has the same key twice."));
            }
            entries.push((name, data.to_vec()));
        }
        Ok(Self { entries })
    }

    /// A part's bytes (empty when it was sent empty, as an unchosen file is), or None.
    pub fn bytes(&mut self, name: &str) -> Option<Vec<u8>> {
        let index = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(index).1)
    }

    /// A part as text; records an error when it is not UTF-8.
    pub fn text(&mut self, name: &str, errors: &mut FieldErrors) -> Option<String> {
        let bytes = self.bytes(name)?;
        match String::from_utf8(bytes) {
            Ok(text) => Some(text),
            Err(_) => {
                errors.insert(name.to_owned(), "Must be UTF-8 text.".to_owned());
                None
            }
        }
    }

    /// Every part nobody took is an error.
    pub fn finish(self, errors: &mut FieldErrors) {
        for (name, _) in self.entries {
            let name: String = name.chars().take(64).collect();
            errors.insert(name, "Unknown field.".to_owned());
        }
    }
}
