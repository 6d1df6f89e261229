//! The mail worker's part of a learner's own change of email (`flows::email_change`): the
//! confirmation link goes to the new address only if no other account holds it (else its
//! owner gets a notice), and either within the daily cap of mails to one address
//! (`LEARNERS_MAILS_PER_ADDRESS_PER_DAY`), however many accounts ask; once confirmed, the old
//! address gets the notice with "This was not me". The page answered the same in every case.

use super::{deliver, messages, send_with_retries, within_daily_caps, DAY_SECONDS};
use crate::domain::{Email, TokenPurpose, TokenRecord, UserId, UserStatus};
use crate::metrics::Metric;
use crate::App;
use sha2::{Digest, Sha256};

/// How long a confirmation link to the new address works (NIST SP 800-63B-4: emailed secrets
/// at most 24 h).
pub const CHANGE_LINK_TTL_SECONDS: i64 = 86_400;
/// How long "This was not me" works for the old address.
pub const REVERT_LINK_TTL_SECONDS: i64 = 7 * 86_400;

/// A request to move `user_id` to `raw_new`: a link to a free address (or to the account's own,
/// in another case), a notice to the owner of a taken one.
pub(super) async fn requested(app: &App, user_id: &str, raw_new: &str) -> anyhow::Result<()> {
    let (Some(id), Ok(new_email)) = (UserId::parse(user_id), Email::parse(raw_new)) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&id).await?.filter(|u| u.may_sign_in()) else {
        return Ok(());
    };
    match app.store.user_by_email_key(&new_email.key()).await? {
        Some(owner) if owner.id != user.id => {
            if owner.status != UserStatus::RemovalRequested && within_daily_caps(app, &owner, None).await? {
                let notice = messages::email_change_taken(&app.site(), &owner);
                deliver(app, &owner, &notice, "email_change_taken").await;
            }
            tracing::info!(user_id = %user.id, "email change asked for an address with an account: no link");
            Ok(())
        }
        _ => {
            let now = app.clock.now();
            // However many accounts ask, one address gets at most the daily cap of links: the
            // slot names the address by its SHA-256, never as is.
            let digest: String =
                Sha256::digest(new_email.key().as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
            let cap = app.config.mails_per_address_per_day;
            if !app.store.take_quota(&format!("email-change-mail#{digest}"), now, DAY_SECONDS, cap).await? {
                tracing::info!(user_id = %user.id, "email change link not sent: the daily limit for its address is reached");
                app.metrics.count(Metric::MailsSuppressed);
                return Ok(());
            }
            let (token, record) = TokenRecord::mint(TokenPurpose::EmailChange, &user, now, CHANGE_LINK_TTL_SECONDS);
            app.store.put_token(&record.about(&new_email)).await?;
            let link = format!("{}/account/email/confirm/{}", app.config.site_url, token.as_str());
            let mail = messages::email_change_link(&app.site(), &new_email, &link, CHANGE_LINK_TTL_SECONDS);
            if !send_with_retries(app, &mail, "email_change_link").await {
                anyhow::bail!("the email change link could not be delivered");
            }
            tracing::info!(user_id = %user.id, "email change link mailed to the new address");
            Ok(())
        }
    }
}

/// A confirmed move from `raw_old`: the old address is told, with "This was not me" (unless
/// the account is back at it already).
pub(super) async fn confirmed(app: &App, user_id: &str, raw_old: &str) -> anyhow::Result<()> {
    let (Some(id), Ok(old_email)) = (UserId::parse(user_id), Email::parse(raw_old)) else {
        return Ok(());
    };
    let Some(user) = app.store.user_by_id(&id).await? else {
        return Ok(());
    };
    if user.email.key() == old_email.key() || user.status == UserStatus::RemovalRequested || user.is_disabled() {
        return Ok(());
    }
    let now = app.clock.now();
    let (token, record) = TokenRecord::mint(TokenPurpose::EmailRevert, &user, now, REVERT_LINK_TTL_SECONDS);
    app.store.put_token(&record.about(&old_email)).await?;
    let link = format!("{}/account/email/not-me/{}", app.config.site_url, token.as_str());
    let notice = messages::email_changed(&app.site(), &user, &old_email, &link, REVERT_LINK_TTL_SECONDS);
    if !send_with_retries(app, &notice, "email_changed").await {
        anyhow::bail!("the email change notice could not be delivered");
    }
    tracing::info!(user_id = %user.id, "the old address was told of the email change");
    Ok(())
}
