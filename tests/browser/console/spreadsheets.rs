//! Files as spreadsheets write them, and deletion lists that forgive (issue 26, points 7 and
//! 8), in the browser: the console's deletion check folds `erin@` and `ERIN@` into one account
//! and flags the line that is no address before "Delete 1 account"; the bulk check reads a
//! file saved with a byte-order mark, with `;`, in UTF-16 and with an extra column, saying what
//! it did, and refuses an unclosed quote naming its row and column (the API and `learnerctl`
//! answer the same: tests/suite/bulk.rs, infra/learnerctl/tests/cli.rs).

use super::Journey;
use learners_tests::{email, unique, Backend};

async fn the_deletion_check_counts_accounts_not_spellings(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let erin = email("erin");
    j.site.active_account(&erin, &unique("erin")).await;
    j.open_console_as(&operator).await;
    b.follow("Deletions").await;
    b.fill("Emails (one per line)", &format!("{erin}\n{}\nnot-an-email\n", erin.to_uppercase())).await;
    b.press("Check list").await;
    let summary = b.text_of("#deletion-summary").await;
    assert!(summary.starts_with("3 lines: 1 address (1 repeated, in any case, counted once), 1 of them with an account; 1 line is not an email address."), "{summary}");
    let invalid = b.text_of("#invalid-lines").await;
    assert!(invalid.contains("not-an-email"), "{invalid}");
    assert!(b.has_button("Delete 1 account").await, "{}", b.text().await);
    assert_eq!(j.status_of(&erin).await.as_deref(), Some("active"), "checking deletes nothing");
    b.press("Delete 1 account").await;
    b.wait_for_text("#job-status", "completed").await;
    assert!(j.status_of(&erin).await.is_none(), "the one account is deleted");
    j.finish().await;
}

async fn the_bulk_check_reads_files_as_spreadsheets_write_them(backend: Backend) {
    let j = Journey::start(backend, &[]).await;
    let b = &j.browser;
    let operator = j.operator().await;
    let dir = std::env::temp_dir().join(unique("console-"));
    std::fs::create_dir_all(&dir).unwrap();
    let row = |sep: &str| format!("{}{sep}{}{sep}Ada Lovelace", email("ada"), unique("ada"));
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(format!("email\tusername\tname\r\n{}\r\n", row("\t")).encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bom.csv", format!("\u{FEFF}email,username,name\n{}\n", row(",")).into_bytes(), ""),
        ("semicolons.csv", format!("email;username;name\n{}\n", row(";")).into_bytes(), "separated by semicolons"),
        ("unicode.txt", utf16, "The file is UTF-16 text; it was read as such."),
        ("extra.csv", format!("email,username,name,cohort\n{},B\n", row(",")).into_bytes(), "This column was not read"),
    ];
    j.open_console_as(&operator).await;
    for (name, bytes, note) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        b.follow("Bulk registration").await;
        b.choose_file("CSV file", &file).await;
        b.press("Check file").await;
        let checked = b.text().await;
        assert!(checked.contains("The file has 1 rows: 1 can be registered, 0 cannot"), "{name}: {checked}");
        assert!(checked.contains(note), "{name}: {checked}");
        assert!(b.has_button("Register 1 learners").await, "{name}");
    }
    let file = dir.join("unclosed.csv");
    std::fs::write(&file, format!("email,username,name\n{}\n{},bob,\"Bob\n{}\n", row(","), email("bob"), row(",")))
        .unwrap();
    b.follow("Bulk registration").await;
    b.choose_file("CSV file", &file).await;
    b.press("Check file").await;
    assert_eq!(b.status().await, 400);
    let refused = b.text().await;
    assert!(refused.contains("Row 3: the quote (\") that opens the name cell is not closed"), "{refused}");
    let _ = std::fs::remove_dir_all(dir);
    j.finish().await;
}

in_the_browser! {
    the_deletion_check_counts_accounts_not_spellings: memory, moto;
    the_bulk_check_reads_files_as_spreadsheets_write_them: memory;
}
