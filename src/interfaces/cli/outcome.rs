//! How a command ends: the documented exit codes, the one-line [`Failure`] every error becomes,
//! and the stderr lines for an action that took effect (a notice, a missing audit record).

use crate::ports::cluster::ClusterError;
use crate::ports::StoreError;
use crate::services::cluster as cluster_service;
use std::io::Write;

/// Documented exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    pub const INTERNAL: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const NOT_FOUND: i32 = 3;
    pub const CONFLICT: i32 = 4;
    pub const INTEGRITY: i32 = 5;
    pub const UNAVAILABLE: i32 = 6;
    pub const NOT_ACKNOWLEDGED: i32 = 7;
    /// A missing Kubernetes permission (RBAC): nothing was changed.
    pub const FORBIDDEN: i32 = 8;
}

/// An action took effect but the operator's audit record could not be written: one warning
/// line on stderr and exit 6, so a runbook notices; otherwise `code`.
pub fn unrecorded(what: &str, audit_error: Option<&str>, code: i32) -> i32 {
    match audit_error {
        Some(e) => {
            let _ = writeln!(std::io::stderr(), "{}", crate::shown!("quell: warning: {what} took effect, but {e}"));
            exit::UNAVAILABLE
        }
        None => code,
    }
}

/// One line on stderr about an action that was carried out (the exit code says how it went),
/// neutralised: it can quote reasons and names from the store.
pub fn notice(line: &str) {
    let line = crate::model::untrusted::neutralize(line, crate::model::untrusted::Lines::Escape);
    let _ = writeln!(std::io::stderr(), "quell: {line}");
}

/// A failure: one line for stderr and the exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Self {
        Failure { code: exit::USAGE, message: message.into() }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match &e {
            StoreError::NotFound(_) => exit::NOT_FOUND,
            StoreError::Conflict(_) | StoreError::Decide(_) => exit::CONFLICT,
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => exit::UNAVAILABLE,
            StoreError::Invalid(_) => exit::USAGE,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure {
            code: if e.kind() == std::io::ErrorKind::BrokenPipe { exit::OK } else { exit::INTERNAL },
            message: e.to_string(),
        }
    }
}

pub type CliResult = Result<i32, Failure>;

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Self {
        let code = match &e {
            ClusterError::Forbidden(_) => exit::FORBIDDEN,
            ClusterError::NotFound(_) => exit::NOT_FOUND,
            ClusterError::Conflict(_) => exit::CONFLICT,
            ClusterError::Invalid(_) | ClusterError::Config(_) => exit::USAGE,
            ClusterError::Unavailable(_) => exit::UNAVAILABLE,
        };
        Failure { code, message: e.to_string() }
    }
}

impl From<cluster_service::Error> for Failure {
    fn from(e: cluster_service::Error) -> Self {
        match e {
            cluster_service::Error::Store(e) => e.into(),
            cluster_service::Error::Cluster(e) => e.into(),
        }
    }
}

/// Why an action cannot say who took it.
pub const NO_IDENTITY: &str =
    "no operator identity to record ($USER is unset and this uid has no account name); name yourself with --as NAME";
