//! Input a route does not take is refused, not ignored: a query string on a route without
//! query parameters, a body on a route without a request body (`POST /v1/keys/rotate` with
//! `{"kid": "…"}` would otherwise rotate as if the caller had been understood). What each
//! route takes is read from the OpenAPI document, the contract itself, so the two cannot
//! disagree. Routes that do take a query or a body refuse unknown members through their types.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{Error, ResponseError};
use utoipa::OpenApi;
use utoipa::openapi::RefOr;
use utoipa::openapi::path::ParameterIn;

use super::openapi::ApiDoc;
use super::problem::Problem;

/// What one operation takes besides its path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Takes {
    query: bool,
    body: bool,
}

/// (OpenAPI path, lower-case method) → what the operation takes.
static ROUTES: LazyLock<BTreeMap<(String, String), Takes>> = LazyLock::new(|| {
    let mut routes = BTreeMap::new();
    for (path, item) in ApiDoc::openapi().paths.paths {
        let operations = [
            ("get", &item.get),
            ("put", &item.put),
            ("post", &item.post),
            ("delete", &item.delete),
            ("patch", &item.patch),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let query =
                operation.parameters.iter().flatten().any(
                    |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)),
                );
            let body = operation.request_body.is_some();
            routes.insert((path.clone(), method.to_owned()), Takes { query, body });
        }
    }
    routes
});

/// actix's pattern as the OpenAPI document writes it (`{key:.+}` → `{key}`).
fn openapi_path(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    // Inside `{name:regex}`, after the colon: left out.
    let mut in_regex = false;
    for c in pattern.chars() {
        match c {
            ':' if out.rfind('{') > out.rfind('}') => in_regex = true,
            '}' => {
                in_regex = false;
                out.push(c);
            }
            _ if !in_regex => out.push(c),
            _ => {}
        }
    }
    out
}

fn takes(req: &ServiceRequest) -> Option<Takes> {
    let pattern = req.match_pattern()?;
    let method = req.method().as_str().to_ascii_lowercase();
    ROUTES.get(&(openapi_path(&pattern), method)).copied()
}

fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    length.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}

pub async fn refuse_unexpected_input(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // A method the resource does not serve is answered by its 405 handler.
    if let Some(takes) = takes(&req) {
        let refusal = if !takes.query && !req.query_string().is_empty() {
            Some("This route takes no query parameters.")
        } else if !takes.body && has_body(&req) {
            Some("This route takes no request body.")
        } else {
            None
        };
        if let Some(detail) = refusal {
            let response = Problem::invalid_parameter(detail).error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actix_patterns_read_as_openapi_paths() {
        assert_eq!(
            openapi_path("/v1/oidc-providers/{key:.+}"),
            "/v1/oidc-providers/{key}"
        );
        assert_eq!(
            openapi_path("/v1/identity-pools/{pool_id}/principal-tags/{provider:.+}"),
            "/v1/identity-pools/{pool_id}/principal-tags/{provider}"
        );
        assert_eq!(openapi_path("/v1/audit"), "/v1/audit");
    }

    #[test]
    fn the_table_knows_which_routes_take_what() {
        let get = |path: &str, method: &str| {
            ROUTES
                .get(&(path.to_owned(), method.to_owned()))
                .copied()
                .unwrap_or_else(|| panic!("{method} {path} is in the document"))
        };
        assert_eq!(
            get("/v1/identity-pools", "get"),
            Takes {
                query: true,
                body: false
            }
        );
        assert_eq!(
            get("/v1/identity-pools", "post"),
            Takes {
                query: false,
                body: true
            }
        );
        assert_eq!(get("/v1/keys/rotate", "post"), Takes::default());
        assert_eq!(get("/v1/oidc-providers/{key}", "delete"), Takes::default());
    }
}
