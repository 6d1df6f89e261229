//! The coarse name of a browser ("Firefox on Linux"), from its `User-Agent`, for the learner's
//! list of where they are signed in. Coarse on purpose: the name and system families only, no
//! version, so the stored label tells a learner which of their devices it is and nothing that
//! fingerprints it. A dozen ordered matches, not a crate: the maintained parsers carry a
//! regular-expression database (ua-parser's) far heavier than this label needs, and the light
//! ones are not maintained.

/// What a browser sending no (or an unknown) `User-Agent` is called.
pub const UNKNOWN_BROWSER: &str = "Unknown browser";

/// The longest `User-Agent` read (a longer one is cut there before matching).
const MAX_AGENT_BYTES: usize = 512;

/// "Firefox on Linux", "Chrome on Android", "Safari on iPhone", or `UNKNOWN_BROWSER`.
pub fn browser_label(user_agent: &str) -> String {
    let agent = match user_agent.char_indices().nth(MAX_AGENT_BYTES) {
        Some((at, _)) => &user_agent[..at],
        None => user_agent,
    };
    // Order matters: Edge and Opera say "Chrome", Chrome says "Safari", Android says "Linux".
    let browser = [
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    let system = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(mark, _)| agent.contains(mark))
    .map(|(_, name)| name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => UNKNOWN_BROWSER.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_get_their_coarse_names() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            ("curl/8.5.0", UNKNOWN_BROWSER),
            ("", UNKNOWN_BROWSER),
        ];
        for (agent, label) in cases {
            assert_eq!(browser_label(agent), label, "{agent}");
        }
    }

    #[test]
    fn any_input_gives_a_short_label() {
        let long = "é".repeat(10_000) + "Firefox/1";
        assert_eq!(browser_label(&long), UNKNOWN_BROWSER, "past the limit nothing is read");
        assert!(browser_label(&"Linux ".repeat(1000)).len() < 40);
    }
}
