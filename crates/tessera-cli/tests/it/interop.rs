//! Real Microsoft client libraries against a real `tessera serve`: the pytest suite in
//! tests/interop (MSAL Python, azure-identity, PyJWT) run in the venv `scripts/test`
//! prepares. Set TESSERA_PYTHON to use another interpreter.

use std::path::PathBuf;
use std::process::Command;

use crate::support::Running;

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub(crate) fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TESSERA_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the interop tests need the Python venv with MSAL: run scripts/test (it creates .venv from tests/interop/requirements.txt), or set TESSERA_PYTHON"
    );
    venv
}

#[test]
fn msal_python_and_azure_identity_accept_tessera() {
    let py = python();
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Running::start(&dir.path().join("data"), &[]);
    let ca = server.str("/ca_cert");
    let out = Command::new(&py)
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/interop",
        ])
        .current_dir(repo_root())
        .env("TESSERA_DEMO_JSON", dir.path().join("data/demo.json"))
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env("TESSERA_BASE_URL", server.base())
        .env(
            "TESSERA_BROWSER_DRIVER",
            repo_root().join("tests/browser/drive.mjs"),
        )
        .env("NODE_EXTRA_CA_CERTS", &ca)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains("passed") || l.contains("failed") || l.contains("error"))
        .unwrap_or("");
    assert!(out.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    assert!(
        summary.contains("passed") && !summary.contains("failed"),
        "unexpected summary: {summary}"
    );
    server.stop();
}
