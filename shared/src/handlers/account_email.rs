//! Function `account-email`: "Change my email" for the signed-in learner. `GET /account/email`
//! (the form) and `POST /account/email` (the request: a link to the new address), `GET`/`POST
//! /account/email/confirm/{token}` (the link's page, and its button "Confirm my new email"), and
//! `GET`/`POST /account/email/not-me/{token}` ("This was not me", from the old address). Opening
//! a link spends nothing; only its button's post, from the site's own page, does.

use super::signed_in;
use crate::domain::{TokenPurpose, User};
use crate::flows::email_change::{
    confirm_change, request_change, revert_change, takes_code, usable_link, ChangeRequest, EmailChangeError,
    LinkOutcome, REQUESTS_PER_DAY,
};
use crate::http::error::ErrorCode;
use crate::http::origin::from_site;
use crate::http::pages::{self, EmailChangeNotice};
use crate::http::response::{self, Reply};
use crate::http::session::with_cleared_cookie;
use crate::http::{path_param, route_key, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /account/email" => form(app, &req).await,
        "POST /account/email" => request(app, &req).await,
        "GET /account/email/confirm/{token}" => open_link(app, &req, TokenPurpose::EmailChange).await,
        "GET /account/email/not-me/{token}" => open_link(app, &req, TokenPurpose::EmailRevert).await,
        "POST /account/email/confirm/{token}" => press(app, &req, TokenPurpose::EmailChange).await,
        "POST /account/email/not-me/{token}" => press(app, &req, TokenPurpose::EmailRevert).await,
        _ => ApiError::not_found().into(),
    }
}

async fn form(app: &App, req: &Request) -> Reply {
    match signed_in(app, req).await {
        Ok(Some((user, _))) => match page(app, &user, "", &FieldErrors::new(), EmailChangeNotice::None).await {
            Ok(page) => response::page(200, page),
            Err(e) => ApiError::unexpected(&e).into(),
        },
        Ok(None) => response::see_other("/login"),
        Err(e) => ApiError::unexpected(&e).into(),
    }
}

async fn page(
    app: &App,
    user: &User,
    new_email: &str,
    errors: &FieldErrors,
    notice: EmailChangeNotice<'_>,
) -> anyhow::Result<pages::Page> {
    let takes_code = takes_code(app, user).await?;
    Ok(pages::email_change_form(user.email.as_ref(), new_email, takes_code, errors, notice))
}

/// The one place the request's body becomes its fields: `new_email`, and `password` and
/// `code` (either may be left out or empty).
struct Form {
    new_email: String,
    password: String,
    code: String,
}

fn read_form(req: &Request) -> Result<Form, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let new_email = fields.string("new_email", &mut errors);
    let password = fields.optional_string("password", &mut errors).unwrap_or_default();
    let code = fields.optional_string("code", &mut errors).unwrap_or_default();
    fields.finish(&mut errors);
    match new_email {
        Some(new_email) if errors.is_empty() => Ok(Form { new_email, password, code }),
        _ => Err(ApiError::validation(errors)),
    }
}

impl From<EmailChangeError> for ApiError {
    fn from(error: EmailChangeError) -> Self {
        let field = |code, message: &str, field: &str, says: &str| ApiError {
            fields: Some(FieldErrors::from([(field.to_owned(), says.to_owned())])),
            ..ApiError::new(code, message)
        };
        match error {
            EmailChangeError::InvalidEmail(why) => {
                ApiError::validation(FieldErrors::from([("new_email".to_owned(), why)]))
            }
            EmailChangeError::SameAddress => ApiError::validation(FieldErrors::from([(
                "new_email".to_owned(),
                "This is your email already.".to_owned(),
            )])),
            EmailChangeError::NoProof => ApiError::validation(FieldErrors::from([(
                "password".to_owned(),
                "Type your current password.".to_owned(),
            )])),
            EmailChangeError::InvalidPassword => field(
                ErrorCode::InvalidPassword,
                "The password is not right.",
                "password",
                "The password is not right.",
            ),
            EmailChangeError::InvalidCode => {
                field(ErrorCode::InvalidPassword, "The code is not right.", "code", "The code is not right.")
            }
            EmailChangeError::TooManyRequests => ApiError::new(
                ErrorCode::TooManyAttempts,
                format!(
                    "You have asked to change your email {REQUESTS_PER_DAY} times today. Please try again tomorrow."
                ),
            ),
            EmailChangeError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn request(app: &App, req: &Request) -> Reply {
    let user = match signed_in(app, req).await {
        Ok(Some((user, _))) => user,
        Ok(None) => return ApiError::not_signed_in().into(),
        Err(e) => return ApiError::unexpected(&e).into(),
    };
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let outcome = match read_form(req) {
        Ok(form) => {
            let asked = ChangeRequest { new_email: &form.new_email, password: &form.password, code: &form.code };
            request_change(app, &user, &asked).await.map_err(|error| (ApiError::from(error), form.new_email))
        }
        Err(error) => Err((error, String::new())),
    };
    let (error, typed) = match outcome {
        Ok(new_email) => {
            let notice = EmailChangeNotice::Sent { new: new_email.as_ref(), old: user.email.as_ref() };
            return match page(app, &user, "", &FieldErrors::new(), notice).await {
                Ok(page) => response::either(
                    response::page(202, page),
                    response::json(202, &json!({"status": "link_sent_if_free", "new_email": new_email.as_ref()})),
                ),
                Err(e) => ApiError::unexpected(&e).into(),
            };
        }
        Err(refused) => refused,
    };
    if error.code == ErrorCode::InternalError {
        return error.into();
    }
    // The form again, with the reason beside its field (or above the form).
    let errors = error.fields.clone().unwrap_or_default();
    let notice = match error.code {
        ErrorCode::TooManyAttempts => EmailChangeNotice::Problem(&error.message),
        _ => EmailChangeNotice::None,
    };
    match page(app, &user, &typed, &errors, notice).await {
        Ok(page) => response::error_with_page(error.clone(), page),
        Err(e) => ApiError::unexpected(&e).into(),
    }
}

fn link_invalid() -> Reply {
    let error = ApiError::new(ErrorCode::InvalidToken, "This link was used or has expired.");
    response::error_with_page(error, pages::email_link_invalid())
}

/// A link's page: what pressing its button will do. Opening it (what mail scanners do) spends
/// nothing.
async fn open_link(app: &App, req: &Request, purpose: TokenPurpose) -> Reply {
    let token = path_param(req, "token").unwrap_or_default();
    match usable_link(app, &token, purpose).await {
        Ok(Some(link)) => {
            let address = link.address.as_ref();
            let page = match purpose {
                TokenPurpose::EmailRevert => pages::email_change_revert(&token, address),
                _ => pages::email_change_confirm(&token, address),
            };
            response::page(200, page)
        }
        Ok(None) => link_invalid(),
        Err(e) => ApiError::unexpected(&e).into(),
    }
}

/// A link's button: the change (or its revert), spending the link.
async fn press(app: &App, req: &Request, purpose: TokenPurpose) -> Reply {
    if !from_site(app, req) {
        return ApiError::cross_origin().into();
    }
    let token = path_param(req, "token").unwrap_or_default();
    let revert = purpose == TokenPurpose::EmailRevert;
    let outcome = if revert { revert_change(app, &token).await } else { confirm_change(app, &token).await };
    match outcome {
        Ok(LinkOutcome::Done(address)) if revert => {
            with_cleared_cookie(response::page(200, pages::email_reverted(address.as_ref())))
        }
        Ok(LinkOutcome::Done(address)) => response::page(200, pages::email_changed(address.as_ref())),
        Ok(LinkOutcome::Taken(address)) if revert => response::page(409, pages::email_revert_taken(address.as_ref())),
        Ok(LinkOutcome::Taken(address)) => response::page(409, pages::email_change_taken(address.as_ref())),
        Ok(LinkOutcome::Invalid) => link_invalid(),
        Err(e) => ApiError::unexpected(&e).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_at_their_field_and_failures_are_opaque() {
        let wrong = ApiError::from(EmailChangeError::InvalidPassword);
        assert_eq!((wrong.status, wrong.code), (403, ErrorCode::InvalidPassword));
        assert!(wrong.fields.unwrap().contains_key("password"));
        let code = ApiError::from(EmailChangeError::InvalidCode);
        assert!(code.fields.unwrap().contains_key("code"));
        assert_eq!(ApiError::from(EmailChangeError::SameAddress).status, 422);
        assert_eq!(ApiError::from(EmailChangeError::TooManyRequests).status, 429);
        let failed = ApiError::from(EmailChangeError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
