#![allow(dead_code)]

use quell::adapters::embedded::EmbeddedStore;
use quell::ports::Stores;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn temp_store() -> (PathBuf, Stores) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    let path = dir.join("quell.db");
    let stores = EmbeddedStore::open(&path).expect("open store").stores();
    (path, stores)
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

pub fn quell_cmd(store: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quell"));
    c.env_remove("QUELL_STORE")
        .env_remove("QUELL_AS")
        .env("XDG_CONFIG_HOME", store.parent().unwrap_or(store))
        .env("USER", "tester")
        .arg("--store")
        .arg(store);
    c
}

pub fn from_output(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn quell(store: &Path, args: &[&str]) -> Run {
    from_output(quell_cmd(store).args(args).output().expect("run quell"))
}

/// A pending one-approver request for `send_email`, expiring in ten minutes.
pub fn pending_approval(id: &str, session_id: &str) -> quell::model::approval::Approval {
    use quell::model::approval::{Approval, ApprovalStatus, Risk};
    use quell::model::untrusted::{Untrusted, UntrustedJson};
    let now = quell::model::time::now();
    Approval {
        id: id.into(),
        session_id: session_id.into(),
        step: 1,
        tool: Untrusted::new("send_email"),
        arguments: UntrustedJson::new(serde_json::json!({"to": "x@example.com"})),
        risk: Risk::High,
        requested_at: now,
        expires_at: now + chrono::Duration::seconds(600),
        required_approvers: 1,
        decisions: vec![],
        status: ApprovalStatus::Pending,
        unreadable: None,
    }
}
