//! Function `register`: `GET /register` (the form), `POST /register` (the form's post, so that
//! a refused form leaves the browser at the page's own address) and `POST /api/v1/registrations`
//! (the same, for programs).

use crate::domain::human_duration;
use crate::flows::registration::{register_from, RegistrationError, RegistrationForm};
use crate::http::error::ErrorCode;
use crate::http::pages::{self, RegistrationValues};
use crate::http::response::Reply;
use crate::http::{response, route_key, source_ip, ApiError, FieldErrors, Fields};
use crate::App;
use lambda_http::Request;
use serde_json::json;

pub async fn handle(app: &App, req: Request) -> Reply {
    match route_key(&req).as_str() {
        "GET /register" => response::page(
            200,
            pages::register_page(
                &RegistrationValues::default(),
                &FieldErrors::new(),
                None,
                app.password_policy(crate::domain::Factors::PasswordOnly),
                terms_links(app),
            ),
        ),
        "POST /register" | "POST /api/v1/registrations" => create(app, req).await,
        _ => ApiError::not_found().into(),
    }
}

/// The one place a registration body becomes a `RegistrationForm`: exactly these fields.
fn read_form(req: &Request) -> Result<RegistrationForm, ApiError> {
    let mut fields = Fields::from_request(req)?;
    let mut errors = FieldErrors::new();
    let form = RegistrationForm {
        email: fields.string("email", &mut errors).unwrap_or_default(),
        username: fields.string("username", &mut errors).unwrap_or_default(),
        name: fields.string("name", &mut errors).unwrap_or_default(),
        password: fields.string("password", &mut errors).unwrap_or_default(),
        terms_accepted: fields.boolean("terms_accepted", &mut errors),
    };
    fields.finish(&mut errors);
    if errors.is_empty() {
        Ok(form)
    } else {
        Err(ApiError::validation(errors))
    }
}

impl From<RegistrationError> for ApiError {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Invalid(fields) => ApiError::validation(fields),
            RegistrationError::UsernameTaken => {
                ApiError::new(ErrorCode::UsernameTaken, "This username is taken; choose another.")
            }
            RegistrationError::Unexpected(e) => ApiError::unexpected(&e),
        }
    }
}

async fn create(app: &App, req: Request) -> Reply {
    let form = match read_form(&req) {
        Ok(form) => form,
        Err(error) => {
            let page = form_page(app, None, &error, None);
            return response::error_with_page(error, page);
        }
    };
    match register_from(app, &form, source_ip(&req)).await {
        Ok(_) => {
            let valid_for = human_duration(app.site().activation_ttl_seconds);
            response::either(
                response::page(202, pages::check_your_inbox(&valid_for)),
                response::json(202, &json!({"status": "pending_activation"})),
            )
        }
        Err(error) => {
            // On the form, a taken username is the username field's problem.
            let field = matches!(error, RegistrationError::UsernameTaken).then_some("username");
            let error = ApiError::from(error);
            let page = form_page(app, Some(&form), &error, field);
            response::error_with_page(error, page)
        }
    }
}

/// The form again, filled in with what was typed (never the password) and the problems: the
/// error's fields, its message at `field` if given, else its message as the notice.
fn form_page(app: &App, form: Option<&RegistrationForm>, error: &ApiError, field: Option<&str>) -> pages::Page {
    let values = form
        .map(|f| RegistrationValues {
            email: f.email.clone(),
            username: f.username.clone(),
            name: f.name.clone(),
            terms_accepted: f.terms_accepted,
        })
        .unwrap_or_default();
    let mut fields = error.fields.clone().unwrap_or_default();
    if let Some(field) = field {
        fields.insert(field.into(), error.message.clone());
    }
    let notice = (fields.is_empty()).then_some(error.message.as_str());
    let policy = app.password_policy(crate::domain::Factors::PasswordOnly);
    pages::register_page(&values, &fields, notice, policy, terms_links(app))
}

/// The configured terms of service and privacy policy, linked beside the checkbox.
fn terms_links(app: &App) -> pages::TermsLinks<'_> {
    pages::TermsLinks { terms: app.config.terms_url.as_deref(), privacy: app.config.privacy_url.as_deref() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_errors_answer_422_409_username_taken_or_an_opaque_500() {
        let fields = FieldErrors::from([("email".to_owned(), "Not an email address.".to_owned())]);
        assert_eq!(ApiError::from(RegistrationError::Invalid(fields.clone())), ApiError::validation(fields));
        assert_eq!(
            ApiError::from(RegistrationError::UsernameTaken),
            ApiError::new(ErrorCode::UsernameTaken, "This username is taken; choose another.")
        );
        let failed = ApiError::from(RegistrationError::Unexpected(anyhow::anyhow!("table gone")));
        assert_eq!(failed, ApiError::unexpected(&anyhow::anyhow!("another cause")));
    }
}
