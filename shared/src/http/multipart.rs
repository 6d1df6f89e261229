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
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                "The form is larger than 5.9 MB; send a larger file with learnerctl or the API's upload.",
            ));
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
        // A set of the names seen: linear in the number of parts (comparing each new name with
        // every earlier one is quadratic, 10^10 comparisons for a 10 MB body of tiny parts).
        let mut seen = std::collections::HashSet::new();
        let malformed = |_| ApiError::bad_request("The form body is malformed.");
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let name = field.name().unwrap_or_default().to_owned();
            let data = field.bytes().await.map_err(malformed)?;
            if !seen.insert(name.clone()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(parts: &[(String, &str)]) -> Request {
        let mut body = String::new();
        for (name, value) in parts {
            body.push_str(&format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
        }
        body.push_str("--b--\r\n");
        let mut req = Request::new(lambda_http::Body::Text(body));
        req.headers_mut()
            .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("multipart/form-data; boundary=b"));
        req
    }

    /// 30,000 parts: each new name compared with every earlier one would be 4.5 * 10^8
    /// comparisons. Asserts what the form yields: every part, and a repeat refused wherever it is.
    #[tokio::test]
    async fn a_form_of_many_parts_is_read_and_a_repeated_name_refused() {
        let mut parts: Vec<(String, &str)> = (0..30_000).map(|i| (format!("p{i}"), "x")).collect();
        let mut read = Parts::from_request(&request(&parts), 10_000_000).await.map_err(|e| e.message).unwrap();
        assert_eq!(read.bytes("p29999").as_deref(), Some(&b"x"[..]));
        assert_eq!(read.bytes("p0").as_deref(), Some(&b"x"[..]));
        let mut errors = FieldErrors::new();
        read.finish(&mut errors);
        assert_eq!(errors.len(), 29_998, "every part nobody took is named");

        parts.push(("p17".into(), "again"));
        let refused = Parts::from_request(&request(&parts), 10_000_000).await.err().map(|e| e.message);
        assert_eq!(refused.as_deref(), Some("The body has the same key twice."));
    }
}
