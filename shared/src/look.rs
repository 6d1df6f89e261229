//! The site's look: one small stylesheet for every page and every HTML mail, with the site's
//! name, an optional logo and a brand colour. Built once from the configuration; the pages'
//! Content-Security-Policy allows exactly this stylesheet (by its hash), the logo's origin, and
//! scripts of the site's own origin (the one passkey script, and its requests back to the
//! site), nothing inline besides.

use crate::domain::settings::{contrast_with_white, parse_color};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The colour of the header, buttons and links unless `LEARNERS_BRAND_COLOR` says otherwise
/// (white text on it: contrast 6.7:1).
pub const DEFAULT_BRAND_COLOR: &str = "#1d4ed8";

/// The site's one script (passkey buttons), served by the `passkeys` function. Pages load it
/// from the site itself: the CSP allows scripts of the site's origin and nothing inline.
pub const SCRIPT_PATH: &str = "/assets/passkeys.js";

/// WCAG 2.x AA: normal text needs 4.5:1 against its background.
use crate::domain::settings::MIN_CONTRAST;

const BASE_CSS: &str = "*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#1f2937;background:#f3f4f6}\
.site{background:var(--brand);padding:.75rem 1rem}\
.site a{color:#fff;text-decoration:none;font-weight:700;font-size:1.125rem;display:inline-flex;align-items:center;gap:.5rem}\
.site img{height:2rem;width:auto}\
main{max-width:34rem;margin:1.5rem auto;padding:1.5rem;background:#fff;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.15)}\
@media (max-width:36rem){main{margin:0;border-radius:0;box-shadow:none}}\
h1{font-size:1.5rem;line-height:1.25;margin:0 0 1rem}\
h2{font-size:1.125rem;margin:0 0 .5rem}\
a{color:var(--brand)}\
label{display:block;margin-top:1rem;font-weight:600}\
input[type=text],input[type=email],input[type=password],textarea{display:block;width:100%;margin-top:.25rem;padding:.5rem;font:inherit;color:inherit;border:1px solid #6b7280;border-radius:.25rem}\
input[aria-invalid=true]{border:2px solid #b91c1c}\
.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400}\
.check input{margin-top:.35rem}\
.error{color:#b91c1c;margin:.25rem 0 0}\
.alert{color:#7f1d1d;background:#fef2f2;border-left:4px solid #b91c1c;padding:.5rem .75rem}\
button{display:inline-block;margin-top:1.25rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;color:#fff;background:var(--brand);border:0;border-radius:.25rem;cursor:pointer}\
button.quiet{color:var(--brand);background:#fff;border:1px solid var(--brand)}\
button.danger{background:#b91c1c}\
:focus-visible{outline:3px solid #b45309;outline-offset:2px}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}\
dt{font-weight:600}\
dd{margin:0;overflow-wrap:anywhere}\
section{border-top:1px solid #e5e7eb;margin-top:1.5rem;padding-top:1rem}\
.actions{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:center}\
nav.actions{gap:.25rem 1rem;margin-bottom:1rem}\
table{border-collapse:collapse;width:100%;margin-top:1rem;font-size:.9375rem}\
caption{text-align:left;font-weight:600}\
main.wide{max-width:64rem}\
th,td{text-align:left;vertical-align:top;padding:.25rem .75rem .25rem 0;border-bottom:1px solid #e5e7eb;overflow-wrap:break-word}\
code{font-size:.9375rem}\
[data-passkey-start],.passkey-only{display:none}\
.passkeys [data-passkey-start]{display:inline-block}\
.passkeys .passkey-only{display:block}\
.passkeys .no-passkeys{display:none}";

#[derive(Clone, Debug)]
pub struct Look {
    pub site_name: String,
    /// An absolute https URL (or http on this machine), checked at start-up.
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`.
    pub brand_color: String,
    /// The one stylesheet, brand colour included.
    pub css: String,
    /// `Content-Security-Policy` of every page.
    pub csp: String,
}

impl Look {
    /// Fails with a message naming the variable when the colour or the logo URL is not usable.
    pub fn new(site_name: &str, brand_color: Option<&str>, logo_url: Option<&str>) -> anyhow::Result<Self> {
        let brand_color = brand_color.map(str::trim).filter(|c| !c.is_empty()).unwrap_or(DEFAULT_BRAND_COLOR);
        let rgb = parse_color(brand_color).ok_or_else(|| {
            anyhow::anyhow!("LEARNERS_BRAND_COLOR must be a colour as #rgb or #rrggbb, got {brand_color:?}")
        })?;
        let contrast = contrast_with_white(rgb);
        if contrast < MIN_CONTRAST {
            anyhow::bail!(
                "LEARNERS_BRAND_COLOR {brand_color} is too light for white text on it (contrast {contrast:.1}:1, WCAG AA needs 4.5:1)"
            );
        }
        let logo = logo_url.map(str::trim).filter(|u| !u.is_empty()).map(parse_logo_url).transpose()?;
        let css = format!(":root{{--brand:{brand_color}}}{BASE_CSS}");
        let style_hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(css.as_bytes()));
        let img_src = logo.as_ref().map(|(_, origin)| format!("; img-src {origin}")).unwrap_or_default();
        let csp = format!(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'sha256-{style_hash}'{img_src}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        Ok(Self {
            site_name: site_name.to_owned(),
            logo_url: logo.map(|(url, _)| url),
            brand_color: brand_color.to_owned(),
            css,
            csp,
        })
    }
}

impl Look {
    /// A whole HTML document in the site's layout: its header (linking to `home`, with the
    /// logo when there is one), the page's heading if any, and `body` in `<main>` (wide for
    /// tables). `title` and `heading` are text.
    pub fn document(&self, title: &str, heading: Option<&str>, home: &str, body: &Html, wide: bool) -> String {
        self.layout(title, heading, home, body, wide, None)
    }

    /// A page of the site: `document`, with the site's one script (`SCRIPT_PATH`), which the
    /// CSP allows (`script-src 'self'`). Mail gets no script.
    pub fn page_document(&self, title: &str, heading: Option<&str>, home: &str, body: &Html, wide: bool) -> String {
        self.layout(title, heading, home, body, wide, Some(SCRIPT_PATH))
    }

    fn layout(
        &self,
        title: &str,
        heading: Option<&str>,
        home: &str,
        body: &Html,
        wide: bool,
        script: Option<&str>,
    ) -> String {
        let layout = Layout {
            title,
            css: &self.css,
            home: Href::new(home),
            logo: self.logo_url.as_deref().map(Href::new),
            site: &self.site_name,
            wide,
            heading,
            body,
            script: script.map(Href::new),
        };
        Html::render(&layout).0
    }
}

/// HTML that a template rendered, every value in it escaped by askama: nothing else makes one,
/// so a page's or a mail's body cannot be a string someone filled by hand.
#[derive(Clone, Debug)]
pub struct Html(String);

impl Html {
    /// Renders `template`. Ours interpolate strings and numbers only, which cannot fail to
    /// format; should one fail all the same, the body is empty (and the failure logged) rather
    /// than half written.
    pub fn render(template: &impl askama::Template) -> Self {
        match template.render() {
            Ok(html) => Self(html),
            Err(error) => {
                tracing::error!(error = %error, "a template failed to render");
                Self(String::new())
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Already escaped: a template that shows an `Html` writes it as it is.
impl askama::filters::HtmlSafe for Html {}

impl std::fmt::Display for Html {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A link target as a template writes it: a local path (`/...`, not `//host`), or an absolute
/// `https:`/`http:` URL. Anything else (`javascript:`, `data:`...) is written as
/// `about:invalid`, which goes nowhere: escaping alone would keep a script URL working.
#[derive(Clone, Debug)]
pub struct Href<'a>(&'a str);

impl<'a> Href<'a> {
    pub fn new(url: &'a str) -> Self {
        Self(url)
    }

    pub fn as_str(&self) -> &'a str {
        let url = self.0;
        // Browsers drop tabs and line breaks from URLs: "/\t/evil.example" would be "//evil...".
        if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return "about:invalid";
        }
        let local = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        if local || lower.starts_with("https://") || lower.starts_with("http://") {
            url
        } else {
            "about:invalid"
        }
    }
}

impl std::fmt::Display for Href<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one layout of every page and HTML mail.
#[derive(askama::Template)]
#[template(path = "layout.html")]
struct Layout<'a> {
    title: &'a str,
    /// Built from a constant and a checked colour (`Look::new`); its hash is in the CSP.
    css: &'a str,
    home: Href<'a>,
    logo: Option<Href<'a>>,
    site: &'a str,
    wide: bool,
    heading: Option<&'a str>,
    body: &'a Html,
    /// The site's script, on pages (not in mail).
    script: Option<Href<'a>>,
}

/// The logo URL and its origin (for `img-src`).
fn parse_logo_url(raw: &str) -> anyhow::Result<(String, String)> {
    let url =
        url::Url::parse(raw).map_err(|e| anyhow::anyhow!("LEARNERS_SITE_LOGO_URL is not a URL ({e}): {raw:?}"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && local)) || url.host_str().is_none() {
        anyhow::bail!("LEARNERS_SITE_LOGO_URL must be an https:// URL, got {raw:?}");
    }
    if !url.username().is_empty() || url.password().is_some() {
        anyhow::bail!("LEARNERS_SITE_LOGO_URL must not carry credentials");
    }
    Ok((url.to_string(), url.origin().ascii_serialization()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_look_allows_its_own_stylesheet_only() {
        let look = Look::new("Site", None, None).unwrap();
        assert!(look.css.starts_with(":root{--brand:#1d4ed8}"));
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(look.css.as_bytes()));
        assert!(look.csp.contains(&format!("style-src 'sha256-{hash}'")));
        assert!(!look.csp.contains("unsafe-inline"));
        assert!(look.csp.contains("script-src 'self';"), "{}", look.csp);
        assert!(!look.csp.contains("unsafe-eval"));
        assert!(!look.csp.contains("img-src"));
    }

    #[test]
    fn colours_are_checked_for_form_and_contrast() {
        assert!(Look::new("S", Some("#123"), None).is_ok());
        assert!(Look::new("S", Some("#0b5394"), None).is_ok());
        for bad in ["blue", "#12345", "#gggggg", "1d4ed8", "#1d4ed8;}body{display:none"] {
            let err = Look::new("S", Some(bad), None).unwrap_err().to_string();
            assert!(err.contains("LEARNERS_BRAND_COLOR"), "{bad}: {err}");
        }
        let err = Look::new("S", Some("#ffff00"), None).unwrap_err().to_string();
        assert!(err.contains("too light"), "{err}");
    }

    #[test]
    fn the_logo_must_be_https_and_its_origin_is_allowed_for_images() {
        let look = Look::new("S", None, Some("https://cdn.example.org/logo.svg")).unwrap();
        assert_eq!(look.logo_url.as_deref(), Some("https://cdn.example.org/logo.svg"));
        assert!(look.csp.contains("img-src https://cdn.example.org;"), "{}", look.csp);
        for bad in ["http://cdn.example.org/logo.png", "javascript:alert(1)", "logo.png", "https://u:p@x.org/l.png"] {
            let err = Look::new("S", None, Some(bad)).unwrap_err().to_string();
            assert!(err.contains("LEARNERS_SITE_LOGO_URL"), "{bad}: {err}");
        }
    }
}
