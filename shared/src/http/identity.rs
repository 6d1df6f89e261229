//! Who is calling an operator route. In AWS the `/admin/v1/` routes are `AWS_IAM`-authorised by
//! API Gateway, which puts the caller in the request context; the handlers refuse a request
//! without one all the same (defence in depth, and the local gateway fills in the same field).

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    /// The IAM caller's ARN (or the local gateway's operator name).
    pub id: String,
}

pub fn operator(req: &Request) -> Option<Operator> {
    let Some(RequestContext::ApiGatewayV2(ctx)) = req.request_context_ref() else {
        return None;
    };
    let iam = ctx.authorizer.as_ref()?.iam.as_ref()?;
    let id = iam.user_arn.clone().or_else(|| iam.caller_id.clone())?;
    (!id.is_empty()).then_some(Operator { id })
}
