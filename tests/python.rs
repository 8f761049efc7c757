//! The code this project runs outside its own process, run here as it runs there: the
//! Kubernetes installer (Lambda) and the lifecycle scripts (HyperPod nodes), each with
//! real subprocesses for the tools it calls (fakes on `PATH` that record their arguments),
//! a local HTTP server for CloudFormation's response URL, and folders standing in for a
//! node's disks (`tests/python/`).

use std::process::Command;

use tests::{python_tools, workspace_root};

#[test]
fn the_installer_and_the_lifecycle_scripts_do_what_they_promise() {
    let Some(python) = python_tools() else {
        return;
    };
    let output = Command::new(python)
        .args([
            "-m",
            "unittest",
            "discover",
            "--start-directory",
            "tests/python",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the Python tests failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
