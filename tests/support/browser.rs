//! A real browser for the tests: headless Chromium (Debian's `chromium`) driven over WebDriver
//! by fantoccini, through a `chromedriver` of its own. Each step is one a person takes: open an
//! address, type into a labelled field, press a button, follow a link. Every page the browser
//! lands on is checked: it is HTML (a person never gets a JSON body), and axe-core finds no
//! serious or critical accessibility violation on it.
//!
//! `make test` installs the browser, its driver and axe-core (`make browsers`); without them
//! these tests fail and say how to install them. With `LEARNERS_SCREENSHOTS=<dir>` (what `make
//! screenshots` sets), `snap` writes the page at desktop and phone width into that folder.

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str =
    "run `make browsers` (apt-get install chromium chromium-driver; npm ci in tests/browser), or `make test`, which does it";

/// Desktop and phone widths of the screenshots (and of the accessibility checks).
pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (360, 780);

pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(path).unwrap_or_else(|_| panic!("axe-core is missing at {path}: {INSTALL_HINT}"))
    })
}

fn executable(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    assert!(Path::new(&path).exists(), "{path} is missing: {INSTALL_HINT}");
    path
}

impl Browser {
    /// A fresh browser with an empty profile (no cookies), at desktop size.
    pub async fn start() -> Self {
        let chromium = executable("CHROME_BIN", CHROMIUM);
        let chromedriver = executable("CHROMEDRIVER", CHROMEDRIVER);
        axe_source();
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {chromedriver}: {e}"));
        let profile = std::env::temp_dir().join(format!("learners-browser-{}", crate::unique("")));
        let mut browser = None;
        let deadline = Instant::now() + Duration::from_secs(30);
        let downloads = profile.join("downloads");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "prefs": {
                    "download.default_directory": downloads.to_string_lossy(),
                    "download.prompt_for_download": false,
                },
                // As the machine's notes say: without the networking flags Chromium keeps
                // calling hosts that this closed network refuses.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--password-store=basic", "--hide-scrollbars",
                    // Headless Chromium will not grow a window past its first size: start tall
                    // (for full-page screenshots), then take the desktop size.
                    "--window-size=1280,4000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let capabilities = capabilities.as_object().expect("an object").clone();
        while browser.is_none() {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => browser = Some(client),
                Err(error) => {
                    assert!(Instant::now() < deadline, "chromedriver did not start a browser within 30 s: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let client = browser.expect("connected");
        client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("resizing");
        Self { client, driver, profile }
    }

    /// Adds a virtual authenticator (WebDriver's WebAuthn extension): a platform authenticator
    /// (CTAP2, internal) that keeps passkeys (resident keys) and verifies its user, as a phone
    /// or a laptop with a fingerprint reader does. Returns its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        let answer = self
            .client
            .issue_cmd(WebAuthn { path: "webauthn/authenticator".into(), body: Some(options) })
            .await
            .expect("adding a virtual authenticator (Chromium's WebAuthn extension)");
        answer.as_str().expect("an authenticator id").to_owned()
    }

    /// The credentials the virtual authenticator holds.
    pub async fn authenticator_credentials(&self, authenticator: &str) -> Vec<Value> {
        let path = format!("webauthn/authenticator/{authenticator}/credentials");
        let answer =
            self.client.issue_cmd(WebAuthn { path, body: None }).await.expect("the authenticator's credentials");
        answer.as_array().cloned().unwrap_or_default()
    }

    /// Runs an asynchronous script in the page (it calls its last argument with the result).
    pub async fn run_async(&self, script: &str) -> Value {
        self.client.execute_async(script, vec![]).await.expect("running a script")
    }

    /// Ends the browser session (also done, less politely, on drop).
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }

    /// Types an address into the address bar.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("opening {url}: {e}"));
        self.check_page().await;
    }

    /// The input whose `<label>` reads `label`.
    async fn field(&self, label: &str) -> fantoccini::elements::Element {
        let xpath = format!(
            "//input[@id=//label[normalize-space()={0}]/@for] | //textarea[@id=//label[normalize-space()={0}]/@for]",
            xpath_string(label)
        );
        match self.client.find(Locator::XPath(&xpath)).await {
            Ok(field) => field,
            Err(_) => panic!("no field labelled {label:?} on this page:\n{}", self.text().await),
        }
    }

    /// Types into the field labelled `label` (after clearing it).
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clearing a field");
        field.send_keys(value).await.expect("typing");
    }

    /// What the field labelled `label` holds.
    pub async fn value_of(&self, label: &str) -> String {
        self.field(label).await.prop("value").await.expect("a value").unwrap_or_default()
    }

    /// An attribute of the field labelled `label`.
    pub async fn field_attr(&self, label: &str, name: &str) -> Option<String> {
        self.field(label).await.attr(name).await.expect("an attribute")
    }

    /// Is the checkbox labelled `label` ticked?
    pub async fn is_checked(&self, label: &str) -> bool {
        self.field(label).await.is_selected().await.expect("a checkbox")
    }

    /// Ticks the checkbox labelled `label` (clicking it only if it is not ticked yet).
    pub async fn tick(&self, label: &str) {
        let field = self.field(label).await;
        if !field.is_selected().await.expect("a checkbox") {
            field.click().await.expect("ticking");
        }
    }

    /// Unticks the checkbox labelled `label` (clicking it only if it is ticked).
    pub async fn untick(&self, label: &str) {
        let field = self.field(label).await;
        if field.is_selected().await.expect("a checkbox") {
            field.click().await.expect("unticking");
        }
    }

    /// Presses the button that reads `label`, and waits for the page it leads to.
    pub async fn press(&self, label: &str) {
        let xpath = format!("//button[normalize-space()={}]", xpath_string(label));
        let button = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(button) => button,
            Err(_) => panic!("no button {label:?} on this page:\n{}", self.text().await),
        };
        self.navigate_by(button).await;
    }

    /// Presses the button that reads `label` and does not wait for a page (a button that
    /// stays on this one).
    pub async fn click_only(&self, label: &str) {
        let xpath = format!("//button[normalize-space()={}]", xpath_string(label));
        match self.client.find(Locator::XPath(&xpath)).await {
            Ok(button) => button.click().await.expect("clicking"),
            Err(_) => panic!("no button {label:?} on this page:\n{}", self.text().await),
        }
    }

    /// Waits (30 s at most) for an element matching `css` with some text, and returns the text.
    pub async fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                let text = element.text().await.unwrap_or_default();
                if !text.is_empty() {
                    return text;
                }
            }
            assert!(Instant::now() < deadline, "nothing matches {css:?} with text after 30 s:\n{}", self.text().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Follows the link that reads `text`, and waits for the page.
    pub async fn follow(&self, text: &str) {
        let xpath = format!("//a[normalize-space()={}]", xpath_string(text));
        let link = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(link) => link,
            Err(_) => panic!("no link {text:?} on this page:\n{}", self.text().await),
        };
        self.navigate_by(link).await;
    }

    /// Clicks the link that reads `text`, which downloads a file, and returns the file's
    /// contents once the download is complete (30 s at most).
    pub async fn download(&self, text: &str) -> String {
        let xpath = format!("//a[normalize-space()={}]", xpath_string(text));
        let link = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(link) => link,
            Err(_) => panic!("no link {text:?} on this page:\n{}", self.text().await),
        };
        let folder = self.profile.join("downloads");
        let before: Vec<PathBuf> = files_in(&folder);
        link.click().await.expect("clicking");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let done: Vec<PathBuf> = files_in(&folder)
                .into_iter()
                .filter(|f| !before.contains(f) && !f.to_string_lossy().ends_with(".crdownload"))
                .collect();
            if let Some(file) = done.first() {
                return std::fs::read_to_string(file).expect("the downloaded file");
            }
            assert!(Instant::now() < deadline, "no download within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Chooses `path` in the file field labelled `label`.
    pub async fn choose_file(&self, label: &str, path: &Path) {
        self.field(label).await.send_keys(&path.to_string_lossy()).await.expect("choosing a file");
    }

    /// Waits (30 s at most) until the element matching `css` reads `expected`, across the
    /// page's own reloads (a job page refreshes itself).
    pub async fn wait_for_text(&self, css: &str, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if found == expected {
                self.check_page().await;
                return;
            }
            if Instant::now() >= deadline {
                panic!("{css} still reads {found:?}, not {expected:?}, after 30 s, on:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Does the page have a button that reads `label`?
    pub async fn has_button(&self, label: &str) -> bool {
        let xpath = format!("//button[normalize-space()={}]", xpath_string(label));
        !self.client.find_all(Locator::XPath(&xpath)).await.expect("searching").is_empty()
    }

    /// Does the page have an element matching the CSS selector?
    pub async fn has(&self, css: &str) -> bool {
        !self.client.find_all(Locator::Css(css)).await.expect("searching").is_empty()
    }

    async fn navigate_by(&self, element: fantoccini::elements::Element) {
        self.client.execute("window.__learnersOldPage = true; return true;", vec![]).await.expect("marking the page");
        element.click().await.expect("clicking");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = self
                .client
                .execute("return window.__learnersOldPage === undefined && document.readyState === 'complete';", vec![])
                .await;
            if matches!(state, Ok(Value::Bool(true))) {
                break;
            }
            assert!(Instant::now() < deadline, "no new page within 30 s after the click");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.check_page().await;
    }

    /// The visible text of the page.
    pub async fn text(&self) -> String {
        match self.client.execute("return document.body ? document.body.innerText : '';", vec![]).await {
            Ok(Value::String(text)) => text,
            other => panic!("reading the page: {other:?}"),
        }
    }

    /// The page's `<h1>`.
    pub async fn heading(&self) -> String {
        self.client.find(Locator::Css("h1")).await.expect("a heading").text().await.expect("its text")
    }

    /// The text of the element matching the CSS selector.
    pub async fn text_of(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.expect("its text"),
            Err(_) => panic!("nothing matches {css:?} on this page:\n{}", self.text().await),
        }
    }

    /// The whole current address (an application's redirect, with its query).
    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("the current URL").to_string()
    }

    /// The path of the current address.
    pub async fn path(&self) -> String {
        self.client.current_url().await.expect("the current URL").path().to_owned()
    }

    /// The HTTP status the current page came with (Navigation Timing's `responseStatus`).
    pub async fn status(&self) -> u16 {
        let script = "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : 0;";
        let status = self.client.execute(script, vec![]).await.expect("navigation timing");
        status.as_u64().unwrap_or(0) as u16
    }

    /// The checks every page gets: HTML, not JSON; no serious or critical axe violation.
    async fn check_page(&self) {
        let content_type = self.client.execute("return document.contentType;", vec![]).await.expect("content type");
        assert_eq!(
            content_type.as_str(),
            Some("text/html"),
            "the browser shows a {content_type} document at {}:\n{}",
            self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default(),
            self.text().await
        );
        let violations = self.accessibility_violations().await;
        assert!(
            violations.is_empty(),
            "axe-core: serious or critical violations on {}:\n{}",
            self.path().await,
            violations.join("\n")
        );
    }

    /// axe-core's serious and critical violations on the current page, one line each.
    pub async fn accessibility_violations(&self) -> Vec<String> {
        let loaded = self.client.execute("return typeof window.axe === 'object';", vec![]).await.expect("axe check");
        if loaded != Value::Bool(true) {
            self.client.execute(&format!("{}\n;return true;", axe_source()), vec![]).await.expect("injecting axe-core");
        }
        let script = r#"
            const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']})
              .then(r => done(r.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' [' + v.nodes.map(n => n.target.join(' ')).join(', ') + ']')))
              .catch(e => done(['axe failed: ' + e]));
        "#;
        let result = self.client.execute_async(script, vec![]).await.expect("running axe-core");
        result.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    }

    /// With `LEARNERS_SCREENSHOTS` set: the whole page at desktop and at phone width, as
    /// `<name>-desktop.png` and `<name>-phone.png`. At phone width the page is checked again.
    pub async fn snap(&self, name: &str) {
        let Ok(dir) = std::env::var("LEARNERS_SCREENSHOTS") else {
            return;
        };
        std::fs::create_dir_all(&dir).expect("the screenshots folder");
        for (label, (width, height)) in [("desktop", DESKTOP), ("phone", PHONE)] {
            // Grow the window to the page's height (the window includes the browser's frame);
            // the page lays itself out again after each resize, so measure until it holds.
            let mut size = height;
            for _ in 0..5 {
                self.client.set_window_size(width, size).await.expect("resizing");
                tokio::time::sleep(Duration::from_millis(150)).await;
                let script = "return Math.ceil(document.documentElement.scrollHeight + window.outerHeight - window.innerHeight);";
                let wanted =
                    self.client.execute(script, vec![]).await.expect("page height").as_u64().unwrap_or(0) as u32;
                if wanted <= size {
                    break;
                }
                size = wanted;
            }
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(Path::new(&dir).join(format!("{name}-{label}.png")), png).expect("writing a screenshot");
            if label == "phone" {
                let violations = self.accessibility_violations().await;
                assert!(violations.is_empty(), "axe-core at phone width on {name}:\n{}", violations.join("\n"));
            }
        }
        self.client.set_window_size(DESKTOP.0, DESKTOP.1).await.expect("resizing");
    }
}

/// A command of WebDriver's WebAuthn extension, under `/session/{id}/`: a POST with `body`, or
/// a GET without.
#[derive(Debug)]
struct WebAuthn {
    path: String,
    body: Option<Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(&self, base_url: &url::Url, session_id: Option<&str>) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (lambda_http::http::Method, Option<String>) {
        match &self.body {
            Some(body) => (lambda_http::http::Method::POST, Some(body.to_string())),
            None => (lambda_http::http::Method::GET, None),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Chromium outlives a killed chromedriver: end the processes of this profile too.
        let _ = Command::new("pkill").arg("-f").arg(self.profile.to_string_lossy().as_ref()).status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn files_in(folder: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(folder).map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

/// A string literal for XPath 1.0 (which has no escapes).
fn xpath_string(value: &str) -> String {
    if !value.contains('\'') {
        format!("'{value}'")
    } else if !value.contains('"') {
        format!("\"{value}\"")
    } else {
        let parts: Vec<String> = value.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Another site on this machine, serving one page at `/` (an attacker's, in the tests).
/// `host` is `127.0.0.1` (same site as the gateway, another origin) or `localhost` (another
/// site). Serves until the returned task is dropped or aborted.
pub async fn serve_page(host: &str, html: String) -> (String, tokio::task::JoinHandle<()>) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let url = format!("http://{host}:{}/", listener.local_addr().expect("bound").port());
    let html = std::sync::Arc::new(html);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let html = html.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let html = html.clone();
                    async move {
                        let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(
                            html.as_str().to_owned(),
                        )));
                        response.headers_mut().insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
                        );
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
    (url, task)
}
