//! Where a state-changing request comes from: the site's own pages, another site, or a client
//! that does not say (not a browser).
//!
//! Every current browser sends Fetch Metadata (`Sec-Fetch-Site`), which a page cannot forge;
//! it is decisive when present. Without it, `Origin`, then `Referer`, must name the site. The
//! site's own form posts pass however the browser sends them: under `Referrer-Policy:
//! no-referrer` Chromium sends `Origin: null` on a same-origin form post, but still
//! `Sec-Fetch-Site: same-origin`.

use crate::App;
use lambda_http::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// A page of the site itself.
    Site,
    /// Another origin, same-site siblings (another port or subdomain) included.
    Elsewhere,
    /// Nothing tells: a program, not a browser (browsers send `Origin` on every POST).
    Unknown,
}

pub fn provenance(app: &App, req: &Request) -> Provenance {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let site = app.config.site_url.as_str();
    if let Some(fetch_site) = header("sec-fetch-site") {
        return if fetch_site.eq_ignore_ascii_case("same-origin") { Provenance::Site } else { Provenance::Elsewhere };
    }
    // `Origin: null` (a sandboxed frame, a `no-referrer` page, a redirect chain) is never
    // taken for the site, whatever `Referer` says.
    let from = |yes: bool| if yes { Provenance::Site } else { Provenance::Elsewhere };
    match (header("origin"), header("referer")) {
        (Some(origin), _) => from(origin == site_origin(site)),
        (None, Some(referer)) => from(referer == site || referer.starts_with(&format!("{site}/"))),
        (None, None) => Provenance::Unknown,
    }
}

/// For requests a session cookie authenticates: only the site's own pages may send them.
pub fn from_site(app: &App, req: &Request) -> bool {
    provenance(app, req) == Provenance::Site
}

/// For sign-in (login CSRF): a browser on another site may not sign its visitor in; programs
/// that send no browser headers may.
pub fn not_from_elsewhere(app: &App, req: &Request) -> bool {
    provenance(app, req) != Provenance::Elsewhere
}

/// `scheme://host[:port]` of the site URL.
fn site_origin(site_url: &str) -> &str {
    let after_scheme = site_url.find("://").map(|i| i + 3).unwrap_or(0);
    match site_url[after_scheme..].find('/') {
        Some(slash) => &site_url[..after_scheme + slash],
        None => site_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::clock::ManualClock;
    use crate::Config;
    use std::sync::Arc;

    fn app() -> App {
        let config = Config::from_pairs(&[("LEARNERS_SITE_URL", "https://learn.example.org")]).unwrap();
        crate::wiring::in_memory(config, Arc::new(ManualClock::new())).0
    }

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/api/v1/sessions");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn the_origin_is_scheme_host_and_port() {
        assert_eq!(site_origin("https://learn.example.org"), "https://learn.example.org");
        assert_eq!(site_origin("http://127.0.0.1:3000/lms"), "http://127.0.0.1:3000");
    }

    #[test]
    fn fetch_metadata_decides_then_origin_then_referer() {
        let app = app();
        let cases: &[(&[(&str, &str)], Provenance)] = &[
            (&[("sec-fetch-site", "same-origin"), ("origin", "null")], Provenance::Site),
            (&[("sec-fetch-site", "same-site"), ("origin", "https://learn.example.org")], Provenance::Elsewhere),
            (&[("sec-fetch-site", "cross-site")], Provenance::Elsewhere),
            (&[("sec-fetch-site", "none")], Provenance::Elsewhere),
            (&[("origin", "https://learn.example.org")], Provenance::Site),
            (&[("origin", "https://evil.example")], Provenance::Elsewhere),
            (&[("origin", "https://learn.example.org.evil.example")], Provenance::Elsewhere),
            (&[("origin", "null")], Provenance::Elsewhere),
            (&[("origin", "null"), ("referer", "https://learn.example.org/account/settings")], Provenance::Elsewhere),
            (&[("referer", "https://learn.example.org/login")], Provenance::Site),
            (&[("referer", "https://learn.example.org.evil.example/")], Provenance::Elsewhere),
            (&[], Provenance::Unknown),
        ];
        for (headers, expected) in cases {
            assert_eq!(provenance(&app, &request(headers)), *expected, "{headers:?}");
        }
    }
}
