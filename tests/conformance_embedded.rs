// Test and bench code: panicking on a broken fixture is the point (clippy.toml covers only #[test] fns).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The conformance suite on the embedded SQLite store.

#[macro_use]
mod conformance;

use quell::adapters::embedded::EmbeddedStore;
use quell::ports::Stores;

fn fresh() -> Stores {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir").keep();
    EmbeddedStore::open(&dir.join("quell.db")).expect("open store").stores()
}

session_suite!(fresh);
control_suite!(fresh);
approval_suite!(fresh);
audit_suite!(fresh);
