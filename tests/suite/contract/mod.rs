//! One contract, two adapters: every store test here runs against the embedded store and
//! against DynamoDB on moto (`on_both_backends!`), and both must behave the same (atomicity
//! and uniqueness included). One file per port; this one holds the shared helpers and
//! `COVERAGE`, which names the tests that pin each port method: a test holds it to
//! `shared/src/ports.rs` and to the adapters, so a port method without a test on either
//! store fails the suite.

mod audit;
mod breached;
mod capacity;
mod clock_and_passwords;
mod directory;
mod lockout;
mod mail;
mod queue;
mod row_jobs;
mod second_factors;
mod secrets;
mod sessions;
mod settings;
pub mod uploads;
mod users;

pub use learners::adapters::aws::{provision, AwsClients, DynamoStore};
pub use learners::adapters::memory::MemoryStore;
pub use learners::domain::{
    block_of, email_hmac, AuditEntry, AuthMethod, Counts, DeviceRecord, Idempotency, JobKind, JobStatus, LockoutPolicy,
    LockoutState, MailRefusal, MailRefusalKind, PasswordHash, Reservation, Retirement, RowJob, RowOutcome, RowResult,
    SessionRecord, Timestamp, Token, TokenHash, TokenPurpose, TokenRecord, User, UserId, UserStatus,
    OPERATOR_IDLE_SECONDS,
};
pub use learners::ports::{
    AuditLog, BulkCreate, CreateUserError, DeleteRequest, Deleted, EmailChange, EmailChanged, JobCreated,
    LoginAttempts, RowJobs, SessionStore, SettingsStore, TokenUse, UserStore,
};
use learners_tests::{moto, unique, Backend};
pub use std::sync::Arc;

/// Every store port: both adapters implement them all on one table (or one lock).
pub trait Store: UserStore + SessionStore + AuditLog + LoginAttempts + RowJobs + SettingsStore {}
impl<T: UserStore + SessionStore + AuditLog + LoginAttempts + RowJobs + SettingsStore> Store for T {}

/// A fresh store: the embedded one (under its fault and conflict model, as the service runs
/// it), or the DynamoDB adapter on a table of its own on moto.
pub async fn store_on(backend: Backend) -> Arc<dyn Store> {
    match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Moto => Arc::new(dynamo_store(unique("contract-")).await),
    }
}

/// The DynamoDB adapter on a new table `table` on moto.
pub async fn dynamo_store(table: String) -> DynamoStore {
    let clients = AwsClients::for_endpoint(moto::url()).await;
    provision::create_table(&clients.dynamodb, &table).await.expect("table on moto");
    DynamoStore::new(clients.dynamodb, table)
}

pub const NOW: Timestamp = Timestamp::from_unix(1_800_000_000);

pub fn user(email: &str, username: &str) -> User {
    User { created_at: NOW, terms_accepted_at: Some(NOW), ..learners_tests::stored_user(email, username) }
}

pub fn activation_token(user: &User, ttl: i64) -> (Token, TokenRecord) {
    let token = Token::generate();
    let record = TokenRecord::new(&token, TokenPurpose::Activation, user, NOW, ttl);
    (token, record)
}

pub async fn futures_count(tasks: impl Iterator<Item = tokio::task::JoinHandle<bool>>) -> usize {
    let mut count = 0;
    for task in tasks.collect::<Vec<_>>() {
        count += usize::from(task.await.unwrap());
    }
    count
}

/// A stored password hash; the store keeps it as given (hashing is the `Passwords` port's).
pub fn password_hash(label: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=19456,t=2,p=1$test${label}"))
}

pub fn reset_token(user: &User, ttl: i64) -> TokenRecord {
    TokenRecord::mint(TokenPurpose::PasswordReset, user, NOW, ttl).1
}

pub fn retirement_of(user: &User, requested_by: &str) -> Retirement {
    Retirement {
        email_hmac: email_hmac("contract-test-secret", &user.email),
        user_id: user.id.clone(),
        retired_at: NOW,
        requested_by: requested_by.to_owned(),
    }
}

/// The sign-in counter's policy in these tests (`LoginAttempts`).
pub const POLICY: LockoutPolicy = LockoutPolicy { max_failures: 3, lockout_seconds: 600 };

pub fn row_job(kind: JobKind, total: u64, key: Option<&str>) -> RowJob {
    RowJob {
        id: unique("job-"),
        kind,
        operator: "arn:aws:iam::1:user/op".into(),
        created_at: NOW,
        status: JobStatus::Receiving,
        total,
        final_counts: None,
        idempotency: key.map(|key| Idempotency { key: key.to_owned(), body_sha256: "b0dy".into() }),
        invite: false,
    }
}

pub fn outcome(row: u64, result: RowResult, code: &str) -> RowOutcome {
    RowOutcome::new(row, &format!("r{row}@example.org"), result, code, "")
}

/// Every port method and the tests that pin it, for a reviewer to check. The store ports'
/// tests run on both backends (`on_both_backends!`); `Mailer` and `JobQueue` have a test per
/// adapter; `Clock` and `Passwords` one implementation each. `every_port_method_is_under_contract`
/// holds this table to `shared/src/ports.rs`, to the adapters and to the tests themselves.
const COVERAGE: &[(&str, &[&str])] = &[
    (
        "RowJobs::create_job",
        &[
            "a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward",
            "an_idempotency_key_is_free_again_once_its_job_expired",
        ],
    ),
    ("RowJobs::job", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    ("RowJobs::recent_jobs", &["jobs_are_listed_newest_first_page_by_page"]),
    (
        "UserStore::find_users",
        &[
            "learners_are_found_by_the_start_of_an_address_or_a_username",
            "the_list_runs_newest_first_with_filters_and_pages_without_repeats",
        ],
    ),
    ("LoginAttempts::mark_locked", &["locked_accounts_are_listed_while_their_lock_lasts"]),
    ("LoginAttempts::locked_now", &["locked_accounts_are_listed_while_their_lock_lasts"]),
    ("RowJobs::mark_queued", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    ("RowJobs::mark_completed", &["a_job_is_recorded_once_per_idempotency_key_and_only_moves_forward"]),
    (
        "RowJobs::settle_at_intake",
        &[
            "rows_settle_once_and_read_back_in_row_order_across_shards",
            "settling_at_intake_leaves_rows_settled_before_as_they_are",
        ],
    ),
    (
        "RowJobs::settle_row",
        &[
            "rows_settle_once_and_read_back_in_row_order_across_shards",
            "concurrent_settlements_of_one_row_settle_it_once",
        ],
    ),
    ("RowJobs::block_rows", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::rows", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::problems", &["rows_settle_once_and_read_back_in_row_order_across_shards"]),
    ("RowJobs::rows_of_user", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    ("RowJobs::record_tally", &["tallies_only_grow_and_sum_up"]),
    (
        "Uploads::presign_put",
        &[
            "a_signed_put_stores_the_file_and_it_reads_back_in_pieces_until_deleted",
            "without_a_bucket_every_upload_fails_saying_so",
        ],
    ),
    (
        "Uploads::presign_post",
        &[
            "a_signed_form_post_stores_the_file_and_sends_the_browser_on",
            "without_a_bucket_every_upload_fails_saying_so",
        ],
    ),
    (
        "Uploads::open",
        &[
            "a_signed_put_stores_the_file_and_it_reads_back_in_pieces_until_deleted",
            "without_a_bucket_every_upload_fails_saying_so",
        ],
    ),
    (
        "Uploads::delete",
        &[
            "a_signed_put_stores_the_file_and_it_reads_back_in_pieces_until_deleted",
            "without_a_bucket_every_upload_fails_saying_so",
        ],
    ),
    ("RowJobs::tallied", &["tallies_only_grow_and_sum_up"]),
    ("RowJobs::keep_passwords", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    ("RowJobs::kept_password", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    ("RowJobs::create_bulk_user", &["a_bulk_row_creates_its_account_once_and_forgets_its_password"]),
    (
        "UserStore::create_user",
        &[
            "created_users_read_back",
            "email_and_username_are_unique_case_insensitively",
            "a_refused_user_leaves_nothing_behind",
            "concurrent_creations_of_one_email_store_one_user",
        ],
    ),
    (
        "UserStore::replace_registration",
        &[
            "a_pending_registration_is_replaced_in_the_next_epoch_and_moves_its_username",
            "concurrent_replacements_of_one_registration_apply_once",
        ],
    ),
    (
        "UserStore::user_by_email_key",
        &["created_users_read_back", "a_deleted_account_leaves_only_its_retirement_record"],
    ),
    (
        "UserStore::username_taken",
        &["email_and_username_are_unique_case_insensitively", "a_deleted_account_leaves_only_its_retirement_record"],
    ),
    ("UserStore::claims_held", &["claims_are_looked_up_in_batches_past_a_hundred_keys"]),
    ("UserStore::user_by_id", &["created_users_read_back", "a_deleted_account_leaves_only_its_retirement_record"]),
    (
        "UserStore::put_token",
        &["emailed_tokens_are_stored_and_read_back_used_or_not", "a_reset_link_sets_the_password_once"],
    ),
    (
        "UserStore::replace_activation_token",
        &["a_new_activation_token_ends_the_older_ones", "concurrent_new_activation_tokens_replace_once"],
    ),
    (
        "UserStore::consume_activation_token",
        &[
            "an_activation_token_is_consumed_once_under_concurrency",
            "expired_and_unknown_tokens_activate_nothing",
            "a_new_activation_token_ends_the_older_ones",
        ],
    ),
    ("UserStore::token", &["emailed_tokens_are_stored_and_read_back_used_or_not"]),
    (
        "UserStore::complete_password_reset",
        &["a_reset_link_sets_the_password_once", "a_reset_link_is_used_once_under_concurrency"],
    ),
    (
        "UserStore::change_email",
        &[
            "an_email_change_moves_the_claim_and_spends_its_link_once",
            "an_email_change_to_a_taken_address_or_from_a_stale_read_changes_nothing",
            "concurrent_email_changes_to_one_address_move_one_account",
            "an_email_revert_ends_every_session",
        ],
    ),
    ("UserStore::set_password", &["an_operator_sets_a_password_and_ends_every_session"]),
    ("UserStore::set_name", &["a_learner_changes_their_name"]),
    ("UserStore::raise_auth_epoch", &["raising_the_epoch_applies_once_from_the_epoch_read"]),
    ("UserStore::set_disabled", &["disabling_ends_the_epoch_and_enabling_restores_once"]),
    ("UserStore::activate_user", &["an_operator_activates_an_account_once_and_for_all"]),
    (
        "UserStore::delete_user",
        &[
            "a_deleted_account_leaves_only_its_retirement_record",
            "concurrent_deletions_of_one_account_delete_it_once",
            "a_refused_last_write_leaves_the_account_without_what_it_owned",
        ],
    ),
    ("UserStore::retirement", &["a_deleted_account_leaves_only_its_retirement_record"]),
    ("UserStore::set_operator", &["the_operator_role_is_granted_listed_and_revoked"]),
    ("UserStore::set_support", &["the_support_role_is_held_by_active_operators_only"]),
    (
        "SettingsStore::save_settings",
        &["settings_are_replaced_on_the_version_read_only", "concurrent_saves_of_one_version_write_one"],
    ),
    ("SettingsStore::current_settings", &["settings_are_replaced_on_the_version_read_only"]),
    ("SettingsStore::settings_version", &["settings_are_replaced_on_the_version_read_only"]),
    ("SettingsStore::settings_history", &["settings_are_replaced_on_the_version_read_only"]),
    ("UserStore::mark_mail_refused", &["a_refusal_of_mail_is_recorded_on_the_account"]),
    ("UserStore::clear_mail_refusal", &["an_operator_clears_a_refusal_of_mail"]),
    ("UserStore::operators", &["the_operator_role_is_granted_listed_and_revoked"]),
    ("UserStore::request_removal", &["removal_requests_raise_the_auth_epoch"]),
    ("UserStore::take_quota", &["quotas_allow_their_limit_per_window"]),
    ("UserStore::quota_used", &["quotas_report_their_uses_in_the_current_window"]),
    (
        "Mailer::send",
        &["the_memory_mailer_captures_what_it_sends", "ses_delivers_from_a_verified_sender_and_refuses_otherwise"],
    ),
    ("JobQueue::enqueue", &["the_in_process_queue_delivers_batches_of_ten", "sqs_receives_every_enqueued_body"]),
    ("Clock::now", &["the_system_clock_tells_the_time_and_the_manual_one_moves_when_told"]),
    ("SessionStore::create_session", &["sessions_are_stored_read_until_expiry_and_deleted"]),
    (
        "SessionStore::session",
        &[
            "sessions_are_stored_read_until_expiry_and_deleted",
            "operator_sessions_end_when_idle_and_record_the_password",
        ],
    ),
    ("SessionStore::delete_session", &["sessions_are_stored_read_until_expiry_and_deleted"]),
    ("SessionStore::create_device", &["devices_are_remembered_listed_and_expire"]),
    ("SessionStore::delete_device", &["a_device_is_forgotten_by_its_account_only"]),
    (
        "SessionStore::known_devices",
        &["devices_are_remembered_listed_and_expire", "a_device_is_forgotten_by_its_account_only"],
    ),
    ("SessionStore::device", &["devices_are_remembered_listed_and_expire"]),
    ("SessionStore::sessions_of", &["an_accounts_sessions_are_listed_oldest_first"]),
    ("SessionStore::touch_session", &["operator_sessions_end_when_idle_and_record_the_password"]),
    (
        "LoginAttempts::reserve",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "concurrent_reservations_grant_exactly_the_limit"],
    ),
    (
        "LoginAttempts::record_failure",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "concurrent_reservations_grant_exactly_the_limit"],
    ),
    ("LoginAttempts::clear", &["a_lock_ends_by_itself_and_clear_forgets"]),
    ("LoginAttempts::release", &["a_released_attempt_is_given_back_unless_locked"]),
    (
        "LoginAttempts::state",
        &["reservations_stop_at_the_limit_and_one_failure_locks", "a_lock_ends_by_itself_and_clear_forgets"],
    ),
    ("SecondFactorStore::second_factors", &["factors_are_replaced_on_the_version_read_only"]),
    ("SecondFactorStore::save_second_factors", &["factors_are_replaced_on_the_version_read_only"]),
    ("SecondFactorStore::put_challenge", &["a_challenge_is_taken_once_and_not_after_expiry"]),
    ("SecondFactorStore::challenge", &["a_challenge_is_taken_once_and_not_after_expiry"]),
    ("SecondFactorStore::take_challenge", &["a_challenge_is_taken_once_and_not_after_expiry"]),
    ("AuditLog::record", &["audit_entries_are_listed_per_account_newest_first"]),
    ("AuditLog::entries_for", &["audit_entries_are_listed_per_account_newest_first"]),
    (
        "AuditLog::find_entries",
        &[
            "the_log_pages_across_accounts_shards_and_days_without_repeats_or_gaps",
            "the_log_is_filtered_by_operator_action_learner_and_dates",
        ],
    ),
    ("Sealer::seal", &["sealed_secrets_open_for_their_scope_and_number_only"]),
    ("Sealer::open", &["sealed_secrets_open_for_their_scope_and_number_only"]),
    ("Passwords::hash", &["argon2id_hashes_are_salted_and_verify_the_password_exactly"]),
    ("Passwords::verify", &["argon2id_hashes_are_salted_and_verify_the_password_exactly"]),
    (
        "BreachedPasswords::is_breached",
        &[
            "the_range_api_is_asked_by_prefix_with_padding_and_a_padded_entry_is_no_hit",
            "an_outage_or_a_slow_answer_is_an_error_not_a_verdict",
            "the_in_memory_twin_knows_what_it_was_told_in_nfkc",
        ],
    ),
];

/// The files of this suite, by name.
/// Ports under contract in `tests/suite/contract_oidc.rs`, whose own coverage check
/// (`every_oidc_port_method_is_under_contract_on_both_adapters`) holds them to `ports.rs`.
const ELSEWHERE: &[&str] = &["OidcStore", "Signer"];

#[test]
fn the_ports_under_contract_elsewhere_have_their_own_coverage_check() {
    let oidc = include_str!("../contract_oidc.rs");
    assert!(oidc.contains("fn every_oidc_port_method_is_under_contract_on_both_adapters()"));
    for port in ELSEWHERE {
        assert!(oidc.contains(&format!("{port} ")) || oidc.contains(&format!("{port}>")), "{port}");
    }
}

const FILES: &[(&str, &str)] = &[
    ("mod.rs", include_str!("mod.rs")),
    ("users.rs", include_str!("users.rs")),
    ("sessions.rs", include_str!("sessions.rs")),
    ("lockout.rs", include_str!("lockout.rs")),
    ("audit.rs", include_str!("audit.rs")),
    ("row_jobs.rs", include_str!("row_jobs.rs")),
    ("mail.rs", include_str!("mail.rs")),
    ("queue.rs", include_str!("queue.rs")),
    ("clock_and_passwords.rs", include_str!("clock_and_passwords.rs")),
    ("breached.rs", include_str!("breached.rs")),
    ("capacity.rs", include_str!("capacity.rs")),
    ("secrets.rs", include_str!("secrets.rs")),
    ("second_factors.rs", include_str!("second_factors.rs")),
    ("uploads.rs", include_str!("uploads.rs")),
    ("settings.rs", include_str!("settings.rs")),
    ("directory.rs", include_str!("directory.rs")),
];

/// The adapters' sources, where each port's implementations are found.
const ADAPTERS: &[&str] = &[
    include_str!("../../../shared/src/adapters/memory/mailer.rs"),
    include_str!("../../../shared/src/adapters/memory/queue.rs"),
    include_str!("../../../shared/src/adapters/aws/ses.rs"),
    include_str!("../../../shared/src/adapters/aws/sqs.rs"),
    include_str!("../../../shared/src/adapters/clock.rs"),
    include_str!("../../../shared/src/adapters/passwords.rs"),
    include_str!("../../../shared/src/adapters/sealing.rs"),
    include_str!("../../../shared/src/adapters/aws/kms_sealer.rs"),
    include_str!("../../../shared/src/adapters/breached.rs"),
    include_str!("../../../shared/src/adapters/memory/uploads.rs"),
    include_str!("../../../shared/src/adapters/aws/s3.rs"),
];

/// Every method of every port is in `COVERAGE`, with tests that exist and call it; a store
/// port's tests run on both stores (`on_both_backends!`, whose expansion makes a `memory` and
/// a `moto` test), every other port's tests together name each of its implementations; and
/// `COVERAGE` names no method that is gone.
#[test]
fn every_port_method_is_under_contract() {
    let ports = port_methods(include_str!("../../../shared/src/ports.rs"));
    let both_backends: Vec<&str> = FILES.iter().flat_map(|(_, source)| both_backends_list(source)).collect();
    let store_ports = store_ports(include_str!("mod.rs"));
    let mut problems = Vec::new();
    let support = include_str!("../../support/mod.rs");
    let expansion = support.split("macro_rules! on_both_backends").nth(1).unwrap_or_default();
    for backend in ["Backend::Memory", "Backend::Moto"] {
        if !expansion.contains(backend) {
            problems.push(format!("on_both_backends! does not run its tests on {backend}"));
        }
    }
    for (port, method) in ports.iter().filter(|(port, _)| !ELSEWHERE.contains(&port.as_str())) {
        let name = format!("{port}::{method}");
        if !COVERAGE.iter().any(|(covered, tests)| *covered == name && !tests.is_empty()) {
            problems.push(format!("{name} has no test in COVERAGE"));
        }
    }
    for (name, tests) in COVERAGE {
        let (port, method) = name.split_once("::").expect("COVERAGE names Port::method");
        if !ports.iter().any(|(p, m)| p == port && m == method) {
            problems.push(format!("{port}::{method} is in COVERAGE but not in ports.rs"));
        }
        let mut bodies = Vec::new();
        for test in *tests {
            match FILES.iter().find_map(|(_, source)| body_of(source, test)) {
                None => problems.push(format!("{port}::{method}: there is no test {test}")),
                Some(body) if !body.contains(&format!(".{method}(")) => {
                    problems.push(format!("{port}::{method}: {test} never calls it"))
                }
                Some(body) => bodies.push(body),
            }
            if store_ports.contains(&port) && !both_backends.contains(test) {
                problems.push(format!("{port}::{method}: {test} is not in on_both_backends! (both stores)"));
            }
        }
        if !store_ports.contains(&port) {
            for implementation in implementations(port) {
                if !bodies.iter().any(|body| body.contains(&implementation)) {
                    problems.push(format!("{port}::{method}: no test runs it on {implementation}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// (trait, method) for every method of every trait in `ports.rs`.
fn port_methods(ports: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut current = None;
    for line in ports.lines() {
        if let Some(rest) = line.strip_prefix("pub trait ") {
            current = Some(ident(rest));
        } else if line == "}" {
            current = None;
        } else if let Some(port) = &current {
            let line = line.trim_start();
            if let Some(rest) = line.strip_prefix("async ").unwrap_or(line).strip_prefix("fn ") {
                found.push((port.clone(), ident(rest)));
            }
        }
    }
    found
}

fn ident(text: &str) -> String {
    text.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()
}

/// The types that implement `port` in the adapters (`impl Port for Type`).
fn implementations(port: &str) -> Vec<String> {
    let prefix = format!("impl {port} for ");
    let lines = ADAPTERS.iter().flat_map(|source| source.lines());
    lines.filter_map(|line| line.strip_prefix(&prefix)).map(ident).collect()
}

/// The tests that `on_both_backends!` runs on both stores in `source`.
fn both_backends_list(source: &str) -> Vec<&str> {
    let Some(start) = source.find("\non_both_backends!(") else {
        return Vec::new();
    };
    let start = start + "\non_both_backends!(".len();
    let end = start + source[start..].find(");").expect("the end of on_both_backends!");
    source[start..end].split(',').map(str::trim).filter(|name| !name.is_empty()).collect()
}

/// The ports that `Store` gathers (the ones both stores implement).
fn store_ports(source: &str) -> Vec<&str> {
    let line = source.lines().find(|line| line.starts_with("pub trait Store: ")).expect("the Store trait");
    line["pub trait Store: ".len()..].trim_end_matches(" {}").split('+').map(str::trim).collect()
}

/// The body of `fn name(..)` in `source`, up to its matching brace.
fn body_of<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let start = source.find(&format!("fn {name}("))?;
    let open = start + source[start..].find('{')?;
    let mut depth = 0;
    for (i, c) in source[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 1 => return Some(&source[open..=open + i]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}
