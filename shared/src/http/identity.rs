//! Who is calling an operator route. In AWS the `/admin/v1/` routes are `AWS_IAM`-authorised by
//! API Gateway, which puts the caller in the request context; the handlers refuse a request
//! without one all the same (defence in depth, and the local gateway fills in the same field).

use super::error::ErrorCode;
use super::ApiError;
use crate::App;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The IAM caller's ARN (or the local gateway's operator name).
    pub id: String,
}

/// The operator of an admin request: 401 without an IAM identity, 403 for an identity that
/// `LEARNERS_OPERATOR_PRINCIPALS` does not name (an assumed role matches its role's pattern:
/// `config::is_operator_principal`; any principal allowed to invoke the API is not
/// thereby an operator).
pub fn operator(app: &App, req: &Request) -> Result<Operator, ApiError> {
    let caller = caller(req).ok_or_else(ApiError::unauthorized)?;
    if crate::config::is_operator_principal(&app.config.operator_principals, &caller.id) {
        Ok(caller)
    } else {
        tracing::warn!(principal = %caller.id, "admin request from an IAM principal that is not an operator");
        Err(ApiError::new(ErrorCode::NotAnOperator, "This IAM principal is not one of the site's operators."))
    }
}

/// The IAM caller in the request context, if any.
fn caller(req: &Request) -> Option<Operator> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let iam = ctx.authorizer.as_ref()?.iam.as_ref()?;
    let id = iam.user_arn.clone().or_else(|| iam.caller_id.clone())?;
    (!id.is_empty()).then_some(Operator { id })
}
