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
        MotoServer::start_with(python, log_dir, &[])
    }

    /// [`MotoServer::start`] with environment variables for the patch layer (such as
    /// `HYPERPOD_MOTO_ORGANIZATION`, an organization to start with).
    pub fn start_with(
        python: &Path,
        log_dir: &Path,
        env: &[(&str, String)],
    ) -> Result<MotoServer, String> {
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
            .envs(env.iter().map(|(key, value)| (*key, value)))
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

    /// The file the server logs its requests and errors to.
    pub fn log(&self) -> &Path {
        &self.log
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

/// What the fault proxy does to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and return the answer.
    None,
    /// Answer, without forwarding, that the caller is throttled (as CloudFormation and STS
    /// do: HTTP 400 `Throttling`; S3: HTTP 503 `SlowDown`).
    Throttle,
    /// Answer, without forwarding, a gateway's HTTP 503 page.
    Unavailable,
    /// Forward it, then throw the answer away and answer HTTP 500: the call was applied,
    /// the caller does not know.
    AppliedThenFail,
    /// Close the connection without an answer.
    Drop,
    /// Forward it after waiting.
    Slow(std::time::Duration),
    /// Forward it and replace, in the answer, the first text by the second (a stack shown
    /// busy with another operation, for one).
    Rewrite(&'static str, &'static str),
}

/// When the proxy injects which fault: a rule per request, from the request's API action
/// (`CreateChangeSet`; S3 requests are `S3`), its text and its sequence number.
pub type FaultPlan = std::sync::Arc<dyn Fn(&str, &str, u64) -> Fault + Send + Sync>;

/// A proxy on 127.0.0.1 in front of a local endpoint (moto's server), which injects the
/// faults its plan says; stopped when dropped.
pub struct FaultProxy {
    address: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Requests seen, and faults injected.
    pub counts: std::sync::Arc<std::sync::Mutex<(u64, u64)>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let upstream: std::net::SocketAddr = upstream
            .trim_start_matches("http://")
            .parse()
            .expect("an upstream of the form http://127.0.0.1:PORT");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let address = listener.local_addr().expect("an address");
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let counts = std::sync::Arc::new(std::sync::Mutex::new((0, 0)));
        let sequence = std::sync::Arc::new(AtomicU64::new(0));
        {
            let (stop, counts) = (stop.clone(), counts.clone());
            std::thread::spawn(move || {
                for connection in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(connection) = connection else { continue };
                    let (plan, counts, sequence) = (plan.clone(), counts.clone(), sequence.clone());
                    std::thread::spawn(move || {
                        let _ = serve(connection, upstream, &plan, &counts, &sequence);
                    });
                }
            });
        }
        FaultProxy {
            address,
            stop,
            counts,
        }
    }

    /// The proxy's endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = std::net::TcpStream::connect(self.address);
    }
}

/// Reads one HTTP/1.1 request (head and body by Content-Length) from `stream`.
fn read_request(stream: &mut std::net::TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut data = Vec::new();
    let mut buffer = [0u8; 65536];
    let head_end = loop {
        if let Some(position) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break position + 4;
        }
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        data.extend_from_slice(&buffer[..read]);
    }
    Ok(Some(data))
}

/// The API action of a request: the `Action=` of the query protocols, `S3` otherwise.
fn action_of(request: &[u8]) -> String {
    let text = String::from_utf8_lossy(request);
    text.split(['&', '?', '\n', ' '])
        .find_map(|part| part.trim().strip_prefix("Action="))
        .map(str::to_owned)
        .unwrap_or_else(|| "S3".to_owned())
}

fn answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves the request of one connection.
fn serve(
    mut client: std::net::TcpStream,
    upstream: std::net::SocketAddr,
    plan: &FaultPlan,
    counts: &std::sync::Mutex<(u64, u64)>,
    sequence: &std::sync::atomic::AtomicU64,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    // One request per connection: every answer says `Connection: close`.
    if let Some(request) = read_request(&mut client)? {
        let number = sequence.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let action = action_of(&request);
        let fault = plan(&action, &String::from_utf8_lossy(&request), number);
        {
            let mut counts = counts.lock().unwrap_or_else(|p| p.into_inner());
            counts.0 += 1;
            if fault != Fault::None {
                counts.1 += 1;
            }
        }
        let forward = |request: &[u8]| -> std::io::Result<Vec<u8>> {
            let mut server = std::net::TcpStream::connect(upstream)?;
            // One request per upstream connection: it closes after its answer.
            let text = String::from_utf8_lossy(request);
            let head_end = text.find("\r\n\r\n").map_or(request.len(), |p| p + 4);
            let head: String = text[..head_end]
                .lines()
                .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
                .filter(|line| !line.is_empty())
                .map(|line| format!("{line}\r\n"))
                .collect();
            server.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())?;
            server.write_all(&request[head_end..])?;
            let mut response = Vec::new();
            server.read_to_end(&mut response)?;
            // Tell the caller the connection ends here, as it does.
            let text = String::from_utf8_lossy(&response).into_owned();
            let end = text.find("\r\n\r\n").map_or(response.len(), |p| p + 4);
            let head: String = text[..end]
                .lines()
                .filter(|line| !line.to_ascii_lowercase().starts_with("connection:"))
                .filter(|line| !line.is_empty())
                .map(|line| format!("{line}\r\n"))
                .collect();
            let mut rewritten = format!("{head}Connection: close\r\n\r\n").into_bytes();
            rewritten.extend_from_slice(&response[end..]);
            Ok(rewritten)
        };
        let response = match fault {
            Fault::None => forward(&request)?,
            Fault::Slow(delay) => {
                std::thread::sleep(delay);
                forward(&request)?
            }
            Fault::Rewrite(from, to) => {
                let answer = String::from_utf8_lossy(&forward(&request)?).replace(from, to);
                // The length of the body changes with the text.
                let end = answer.find("\r\n\r\n").map_or(answer.len(), |p| p + 4);
                let body = &answer[end..];
                let head: String = answer[..end]
                    .lines()
                    .filter(|line| !line.to_ascii_lowercase().starts_with("content-length:"))
                    .filter(|line| !line.is_empty())
                    .map(|line| format!("{line}\r\n"))
                    .collect();
                format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
            }
            Fault::Throttle if action == "S3" => answer(
                "503 Slow Down",
                "application/xml",
                "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            ),
            Fault::Throttle => answer(
                "400 Bad Request",
                "text/xml",
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>",
            ),
            Fault::Unavailable => answer(
                "503 Service Unavailable",
                "text/html",
                "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
            ),
            Fault::AppliedThenFail => {
                forward(&request)?;
                answer(
                    "500 Internal Server Error",
                    "text/xml",
                    "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>We encountered an internal error. Please try again.</Message></Error><RequestId>fault</RequestId></ErrorResponse>",
                )
            }
            Fault::Drop => return Ok(()),
        };
        client.write_all(&response)?;
    }
    Ok(())
}

/// A deterministic stream of numbers in [0, 1) from a seed, for fault plans that must
/// behave the same on every run.
pub fn chance(seed: u64, n: u64) -> f64 {
    // SplitMix64.
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
