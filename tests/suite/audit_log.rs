//! The audit log and the exports through the admin API (issue 26, points 5 and 6): look-ups on
//! record, pages without a repeat or a gap, the filters, and CSV exports that are formula-safe,
//! audited and for operators only.

use learners::domain::{AuditEntry, UserId};
use learners_tests::{on_both_backends, unique, urlencode, Backend, TestApp};
use serde_json::Value;
use std::collections::HashSet;

on_both_backends!(
    the_audit_api_pages_and_filters_and_records_look_ups,
    exports_are_formula_safe_audited_and_for_operators
);

/// Every page of `/admin/v1/audit?{query}`: the entries, and how many pages.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let (mut seen, mut pages, mut cursor) = (Vec::new(), 0, String::new());
    loop {
        let response = app.admin_get(&format!("/admin/v1/audit?{query}{cursor}")).await;
        assert_eq!(response.status(), 200, "{query}{cursor}");
        let page: Value = response.json().await.unwrap();
        pages += 1;
        let entries = page["entries"].as_array().unwrap();
        assert!(entries.len() <= 50);
        seen.extend(entries.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return (seen, pages),
        }
        assert!(pages < 50, "paging does not end");
    }
}

async fn the_audit_api_pages_and_filters_and_records_look_ups(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = app.app.clock.now();
    let grace = app.activated_learner("grace-", "Grace Hopper").await;
    let grace_id = app.user(&grace).await.unwrap()["user_id"].as_str().unwrap().to_owned();

    // A look-up through the API is on record, once, by the caller, with nothing else.
    let looked = app.admin_get(&format!("/admin/v1/users?email={}", urlencode(&grace))).await;
    assert_eq!(looked.status(), 200);
    let (views, _) = all_pages(&app, &format!("action=view&learner={}", urlencode(&grace))).await;
    assert_eq!(views.len(), 1, "{views:?}");
    assert_eq!(views[0]["user_id"], grace_id.as_str());
    assert_eq!(views[0]["outcome"], "done");
    let caller = views[0]["operator"].as_str().unwrap().to_owned();

    // 130 more entries over two days, across learners: three pages and more, newest first.
    // Whatever the time of day the test runs at, they reach back past midnight and no further
    // than yesterday: from now to halfway between midnight and this time yesterday.
    let others: Vec<UserId> = (0..5).map(|_| UserId::generate()).collect();
    let since_midnight = now.unix().rem_euclid(86_400);
    let span = (86_400 + since_midnight) / 2;
    for i in 0..130_i64 {
        let entry = AuditEntry::new(
            now.plus_seconds(-i * span / 129),
            "arn:aws:iam::1:user/bulk",
            "unlock",
            &others[i as usize % 5],
            "done",
        );
        app.app.audit.record(&entry).await.unwrap();
    }
    let (every, pages) = all_pages(&app, "").await;
    assert!(pages >= 3, "{pages} pages");
    let ids: HashSet<&str> = every.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), every.len(), "no entry twice");
    assert!(every.len() >= 131, "none missing: {}", every.len());
    let times: Vec<&str> = every.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // The filters: operator, action, learner (by email, by id), dates.
    assert_eq!(all_pages(&app, "operator=user%2Fbulk").await.0.len(), 130);
    let by_caller = all_pages(&app, &format!("operator={}&action=view", urlencode(&caller))).await.0;
    assert_eq!(by_caller.len(), 1);
    assert_eq!(all_pages(&app, &format!("learner={}", others[0])).await.0.len(), 26);
    assert_eq!(all_pages(&app, &format!("user_id={grace_id}&action=view")).await.0.len(), 1);
    let today = learners::flows::directory::day_of(now);
    let yesterday = learners::flows::directory::day_of(now.plus_seconds(-86_400));
    let (of_today, _) = all_pages(&app, &format!("from={today}&to={today}&operator=user%2Fbulk")).await;
    assert!(of_today.iter().all(|e| e["at"].as_str().unwrap().starts_with(&today)), "{of_today:?}");
    let (of_yesterday, _) = all_pages(&app, &format!("from={yesterday}&to={yesterday}&operator=user%2Fbulk")).await;
    assert_eq!(of_today.len() + of_yesterday.len(), 130, "two days hold them all");
    assert!(of_yesterday.iter().all(|e| e["at"].as_str().unwrap().starts_with(&yesterday)));

    // What is not a filter is said, never a 500.
    for bad in [
        "action=Not%20One",
        "from=2026-13-01",
        "cursor=abc!",
        "learner=nobody",
        "format=xml",
        "from=2026-02-02&to=2026-02-01",
    ] {
        assert_eq!(app.admin_get(&format!("/admin/v1/audit?{bad}")).await.status(), 422, "{bad}");
    }
}

async fn exports_are_formula_safe_audited_and_for_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let prefix = unique("exp");
    let trap = "=cmd|' /C calc'!A0";
    let learner = app.activated_learner(&format!("{prefix}-"), trap).await;
    let plain = app.activated_learner(&format!("{prefix}-"), "Plain Person").await;
    let learner_id = app.user(&learner).await.unwrap()["user_id"].as_str().unwrap().to_owned();
    let entry = AuditEntry::new(app.app.clock.now(), "arn:op", "unlock", &UserId::parse(&learner_id).unwrap(), "-1+1");
    app.app.audit.record(&entry).await.unwrap();

    // The learners the filter names, formula cells defused, every field quoted.
    let response = app.admin_get(&format!("/admin/v1/users/search?q={prefix}&format=csv")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header[..4], ["user_id", "email", "username", "name"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let emails: HashSet<&str> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(emails, HashSet::from([learner.as_str(), plain.as_str()]));
    let trapped = rows.iter().find(|r| &r[1] == learner.as_str()).unwrap();
    assert_eq!(&trapped[3], format!("'{trap}"), "the formula is neutralised");
    assert!(csv.lines().all(|line| line.starts_with('"')), "every field quoted:\n{csv}");

    // The audit as CSV: the outcome that reads as a formula is defused too.
    let response = app.admin_get(&format!("/admin/v1/audit?learner={learner_id}&format=csv")).await;
    assert_eq!(response.status(), 200);
    let csv = response.text().await.unwrap();
    assert!(csv.starts_with("\"at\",\"operator\",\"action\",\"user_id\",\"learner\",\"outcome\""), "{csv}");
    assert!(csv.contains(&format!("\"unlock\",\"{learner_id}\",\"{learner}\",\"'-1+1\"")), "{csv}");

    // Both exports are on record: who exported what filter.
    let response = app.admin_get("/admin/v1/audit?action=export_learners").await;
    let exports = response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone();
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0]["outcome"], format!("2 learners; q={prefix}"));
    let response = app.admin_get("/admin/v1/audit?action=export_audit").await;
    let exports = response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().clone();
    assert!(exports[0]["outcome"].as_str().unwrap().contains(&learner_id), "{exports:?}");

    // Without the operator's credential: nothing, and nothing on record.
    for path in [format!("/admin/v1/users/search?q={prefix}&format=csv"), "/admin/v1/audit?format=csv".to_owned()] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 401, "{path}");
        assert!(!response.text().await.unwrap().contains(&learner), "{path}");
    }
    let response = app.admin_get("/admin/v1/audit?action=export_learners").await;
    assert_eq!(response.json::<Value>().await.unwrap()["entries"].as_array().unwrap().len(), 1);
}
