//! Helpers shared by the workspace-level tests: where the workspace is, which apps it
//! has, and how to run the pinned tools.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of the workspace.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Every file below `dir`, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("below dir").to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// The pinned cfn-lint, from `CFN_LINT` (set by `cargo xtask test`) or `.venv/`. `None`
/// when it is not installed; under CI that is a failure, not a skip.
pub fn cfn_lint() -> Option<PathBuf> {
    let path = std::env::var_os("CFN_LINT")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/cfn-lint"));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "cfn-lint is not installed at {} and CI must not skip; run the tests with `cargo xtask test`",
        path.display()
    );
    eprintln!(
        "SKIPPED: cfn-lint is not installed at {}; run `cargo xtask test` to install it and run this test",
        path.display()
    );
    None
}

/// The pinned checkov, from `CHECKOV` (set by `cargo xtask test`) or `.venv-checkov/`.
/// `None` when it is not installed; under CI that is a failure, not a skip.
pub fn checkov() -> Option<PathBuf> {
    let path = std::env::var_os("CHECKOV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv-checkov/bin/checkov"));
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "checkov is not installed at {} and CI must not skip; run the tests with `cargo xtask test`",
        path.display()
    );
    eprintln!(
        "SKIPPED: checkov is not installed at {}; run `cargo xtask test` to install it and run this test",
        path.display()
    );
    None
}

/// The checks checkov fails in the CloudFormation templates below `folder`, one line each
/// (check, file, resource); checks skipped by a template's `checkov.skip` metadata are not
/// failures.
pub fn checkov_failures(checkov: &Path, folder: &Path) -> Vec<String> {
    let output = Command::new(checkov)
        .arg("--directory")
        .arg(folder)
        .args([
            "--framework",
            "cloudformation",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ])
        .output()
        .expect("checkov runs");
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "checkov printed no JSON report ({error}):\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
    // One report per framework: a list when several ran, an object when one did.
    let reports = match report {
        serde_json::Value::Array(reports) => reports,
        report => vec![report],
    };
    let mut failures = Vec::new();
    for report in &reports {
        assert_eq!(
            report["summary"]["parsing_errors"], 0,
            "checkov could not parse a template: {report}"
        );
        for check in report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            failures.push(format!(
                "{} {} {} ({})",
                check["check_id"].as_str().unwrap_or("?"),
                check["file_path"].as_str().unwrap_or("?"),
                check["resource"].as_str().unwrap_or("?"),
                check["check_name"].as_str().unwrap_or("?"),
            ));
        }
    }
    failures
}

/// The Python of `.venv/` (next to `CFN_LINT` when set) with the pinned tools, moto among
/// them. `None` when it is not installed; under CI that is a failure, not a skip.
pub fn python_tools() -> Option<PathBuf> {
    let python = std::env::var_os("CFN_LINT")
        .map(|p| PathBuf::from(p).with_file_name("python3"))
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python3"));
    let installed = Command::new(&python)
        .args(["-c", "import moto.server"])
        .output()
        .is_ok_and(|output| output.status.success());
    if installed {
        return Some(python);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "the pinned Python tools are not installed in .venv and CI must not skip; run the tests with `cargo xtask test`"
    );
    eprintln!(
        "SKIPPED: the pinned Python tools are not installed in .venv; run `cargo xtask test` to install them and run this test"
    );
    None
}

/// Runs cfn-lint over the given templates and returns its report, or `None` when they
/// pass with no error and no warning (informational findings are allowed).
pub fn lint(cfn_lint: &Path, templates: &[PathBuf]) -> Option<String> {
    let output = Command::new(cfn_lint)
        .args(["--format", "parseable", "--"])
        .args(templates)
        .output()
        .expect("cfn-lint runs");
    // cfn-lint's exit code is a bit set: 1 fatal, 2 error, 4 warning, 8 informational.
    let code = output.status.code().unwrap_or(1);
    if code & 0b0111 == 0 {
        None
    } else {
        Some(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A moto server started with the project's patch layer (`tests/moto/server.py`) on a free
/// port of 127.0.0.1, logging to `log`; stopped when dropped.
pub struct MotoServer {
    child: std::process::Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts the server with `python` and waits, at most 30 s, until it listens.
    pub fn start(python: &Path, log_dir: &Path) -> Result<MotoServer, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let log = log_dir.join(format!("moto-{port}.log"));
        let file = std::fs::File::create(&log)
            .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let child = Command::new(python)
            .arg(workspace_root().join("tests/moto/server.py"))
            .arg(port.to_string())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let mut server = MotoServer { child, port, log };
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > std::time::Duration::from_secs(30) {
                let _ = server.child.kill();
                return Err(format!(
                    "moto did not listen on port {port} within 30 s; see {}",
                    server.log.display()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Ok(server)
    }

    /// The endpoint URL of the server.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many AWS API calls the server has answered so far, from its request log.
    pub fn api_calls(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(" HTTP/1.1\" "))
            .count()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The debug binary of an app under `apps/`, built once per test process (`cargo build`,
/// which the workspace's test build has mostly done already).
pub fn app_binary(app: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.iter().any(|name| name == app) {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--package", app])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building {app} failed");
        built.push(app.to_owned());
    }
    workspace_root().join("target/debug").join(app)
}

/// The environment a binary needs to act against a local endpoint: static keys, a region,
/// no instance metadata.
pub fn local_aws_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
}
