//! API errors: one table maps each code to its HTTP status and stable string, so that the
//! API, the CLI and the docs agree.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use rota_model::api::ErrorBody;
use rota_store::{MembershipError, Refusal, StoreError, SubmitError};

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal)),* $(,)?) => {
        /// Every kind of error the API answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $(
            #[doc = $code]
            $variant,
        )* }

        impl ErrorCode {
            /// Its HTTP status.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status,)* }
            }

            /// Its stable machine-readable name.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }
        }
    };
}

error_codes! {
    BadJson => (BAD_REQUEST, "bad_json"),
    InvalidApp => (BAD_REQUEST, "invalid_app"),
    InvalidRequest => (BAD_REQUEST, "invalid_request"),
    BodyTooLarge => (PAYLOAD_TOO_LARGE, "body_too_large"),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
    AppNotFound => (NOT_FOUND, "app_not_found"),
    RunNotFound => (NOT_FOUND, "run_not_found"),
    RouteNotFound => (NOT_FOUND, "route_not_found"),
    NotFound => (NOT_FOUND, "not_found"),
    MemberNotFound => (NOT_FOUND, "member_not_found"),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed"),
    AppExists => (CONFLICT, "app_exists"),
    RunExists => (CONFLICT, "run_exists"),
    Conflict => (CONFLICT, "conflict"),
    MemberExists => (CONFLICT, "member_exists"),
    MembershipRefused => (CONFLICT, "membership_refused"),
    NotReplicated => (CONFLICT, "not_replicated"),
    Unavailable => (SERVICE_UNAVAILABLE, "unavailable"),
    NotLeader => (MISDIRECTED_REQUEST, "not_leader"),
    Internal => (INTERNAL_SERVER_ERROR, "internal"),
}

/// An error answer: a code and a message that names what is wrong.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
    /// With [`ErrorCode::NotLeader`]: where the leader is.
    pub leader: Option<String>,
}

impl ApiError {
    /// An error of `code` saying `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            leader: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.as_str().to_string(),
            message: self.message,
            leader: self.leader,
        };
        (self.code.status(), Json(body)).into_response()
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match &refusal {
            Refusal::AppExists(_) => ErrorCode::AppExists,
            Refusal::AppNotFound(_) => ErrorCode::AppNotFound,
            Refusal::RunNotFound(_) => ErrorCode::RunNotFound,
            Refusal::RunExists { .. } => ErrorCode::RunExists,
            Refusal::BadRange { .. } | Refusal::Depend(_) => ErrorCode::InvalidRequest,
            Refusal::UpstreamNotFound { .. } | Refusal::DependNotFound { .. } => {
                ErrorCode::NotFound
            }
            Refusal::HasDependents { .. } => ErrorCode::Conflict,
            Refusal::BadQueue { .. } | Refusal::BadNode { .. } => ErrorCode::InvalidRequest,
            Refusal::NodeNotFound(_) => ErrorCode::NotFound,
            Refusal::NoCron(_)
            | Refusal::EventDriven(_)
            | Refusal::NotWaiting { .. }
            | Refusal::StaleReport { .. }
            | Refusal::Transition(_) => ErrorCode::Conflict,
        };
        ApiError::new(code, refusal.to_string())
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Refused(refusal) => refusal.into(),
            SubmitError::NotLeader { leader } => ApiError {
                code: ErrorCode::NotLeader,
                message: e_message(&leader),
                leader,
            },
            SubmitError::Unavailable(why) => ApiError::new(ErrorCode::Unavailable, why),
            SubmitError::Store(StoreError::Closed) => {
                ApiError::new(ErrorCode::Unavailable, "the server is shutting down")
            }
            SubmitError::Store(e) => {
                tracing::error!(error = %e, "store write failed");
                ApiError::new(ErrorCode::Internal, format!("the store failed: {e}"))
            }
        }
    }
}

impl From<MembershipError> for ApiError {
    fn from(e: MembershipError) -> Self {
        match e {
            MembershipError::NotLeader { leader } => SubmitError::NotLeader {
                leader: leader.map(|l| l.addr),
            }
            .into(),
            e @ MembershipError::Refused(_) => {
                ApiError::new(ErrorCode::MembershipRefused, e.to_string())
            }
            e @ MembershipError::Stopped(_) => ApiError::new(ErrorCode::Unavailable, e.to_string()),
        }
    }
}

fn e_message(leader: &Option<String>) -> String {
    match leader {
        Some(leader) => format!("this server is not the leader; send writes to {leader}"),
        None => "this server is not the leader and no leader is known yet; retry".into(),
    }
}
