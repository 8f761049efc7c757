//! The command line run as a user runs it: an app's binary against moto's server, without
//! a terminal and at a real pseudo-terminal.

use std::process::{Command, Stdio};

use tests::{MotoServer, app_binary, local_aws_env, python_tools, workspace_root};

/// What a run printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn finished(output: std::process::Output) -> Run {
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs the example app's binary with `args` against `endpoint`, without a terminal.
fn example(endpoint: &str, output: &std::path::Path, args: &[&str]) -> Run {
    finished(
        Command::new(app_binary("example-shared-bucket"))
            .args(args)
            .arg("--output")
            .arg(output)
            .envs(local_aws_env(endpoint))
            .stdin(Stdio::null())
            .output()
            .expect("the app runs"),
    )
}

fn moto() -> Option<MotoServer> {
    let python = python_tools()?;
    Some(
        MotoServer::start(&python, &workspace_root().join("target"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

#[test]
fn diff_fail_exits_1_while_anything_would_change_and_a_plan_needing_approval_is_refused_without_a_terminal()
 {
    let Some(server) = moto() else {
        return;
    };
    let endpoint = server.endpoint();
    let out = tempfile::tempdir().unwrap();
    let diff = example(&endpoint, out.path(), &["diff", "--fail"]);
    assert_eq!(diff.code, 1, "{}{}", diff.stdout, diff.stderr);
    assert!(
        diff.stdout.contains("data/Storage (stack example-shared-bucket-data-Storage, 111111111111 us-east-1): create"),
        "{}",
        diff.stdout
    );
    assert!(
        diff.stderr.contains("3 stack(s) would change"),
        "{}",
        diff.stderr
    );

    // No terminal, no --yes: the plan widens permissions, so nothing happens at all.
    let refused = example(&endpoint, out.path(), &["deploy"]);
    assert_eq!(refused.code, 1, "{}{}", refused.stdout, refused.stderr);
    assert!(
        refused.stdout.contains("needs approval: ")
            && refused.stdout.contains("refused: the plan needs approval"),
        "{}",
        refused.stdout
    );
    assert!(!refused.stdout.contains("FAILED"), "{}", refused.stdout);
    let still = example(&endpoint, out.path(), &["diff", "--fail"]);
    assert_eq!(still.code, 1, "nothing was deployed: {}", still.stdout);

    let deployed = example(&endpoint, out.path(), &["deploy", "--yes"]);
    assert_eq!(deployed.code, 0, "{}{}", deployed.stdout, deployed.stderr);
    // Without a terminal: plain lines, each naming its stack, and no control characters.
    assert!(!deployed.stdout.contains('\u{1b}'), "{}", deployed.stdout);
    assert!(
        deployed
            .stdout
            .contains("data/Storage (111111111111 us-east-1): deployed (CREATE_COMPLETE)"),
        "{}",
        deployed.stdout
    );
    assert_eq!(
        deployed.stdout.matches("summary:").count(),
        1,
        "the summary is printed once: {}",
        deployed.stdout
    );
    let clean = example(&endpoint, out.path(), &["diff", "--fail"]);
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    let json = example(&endpoint, out.path(), &["diff", "--json"]);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["stacks"][0]["action"], "unchanged", "{}", json.stdout);
}

/// Runs the example app's binary in a pseudo-terminal and types `answer` at its question.
fn at_terminal(endpoint: &str, output: &std::path::Path, answer: &str, args: &[&str]) -> Run {
    let python = python_tools().expect("moto runs, so Python does");
    finished(
        Command::new(python)
            .arg(workspace_root().join("tests/python/pty_run.py"))
            .args(["[y/N]", answer])
            .arg(app_binary("example-shared-bucket"))
            .args(args)
            .arg("--output")
            .arg(output)
            .envs(local_aws_env(endpoint))
            .output()
            .expect("the pseudo-terminal runs"),
    )
}

#[test]
fn at_a_terminal_the_whole_plan_is_asked_once_and_a_no_changes_nothing() {
    let Some(server) = moto() else {
        return;
    };
    let endpoint = server.endpoint();
    let out = tempfile::tempdir().unwrap();
    let declined = at_terminal(&endpoint, out.path(), "n", &["deploy"]);
    assert_eq!(declined.code, 1, "{}", declined.stdout);
    assert_eq!(
        declined.stdout.matches("[y/N]").count(),
        1,
        "{}",
        declined.stdout
    );
    assert!(
        declined.stdout.contains("refused: the plan needs approval"),
        "{}",
        declined.stdout
    );

    let accepted = at_terminal(&endpoint, out.path(), "y", &["deploy"]);
    assert_eq!(accepted.code, 0, "{}", accepted.stdout);
    assert_eq!(
        accepted.stdout.matches("[y/N]").count(),
        1,
        "one question for three stacks in two accounts: {}",
        accepted.stdout
    );
    assert!(
        accepted.stdout.contains("analytics/Access: deployed"),
        "{}",
        accepted.stdout
    );
    // At a terminal, the live view draws a line per stack and ends it with the outcome.
    assert!(accepted.stdout.contains('\u{1b}'), "{}", accepted.stdout);
    assert!(
        accepted
            .stdout
            .contains("data/Storage (111111111111 us-east-1) deployed"),
        "{}",
        accepted.stdout
    );
}

#[test]
fn a_deploy_killed_half_way_is_finished_by_the_next_run() {
    use std::io::BufRead;
    let Some(server) = moto() else {
        return;
    };
    let endpoint = server.endpoint();
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(app_binary("example-shared-bucket"))
        .args(["deploy", "--yes", "--concurrency", "1", "--output"])
        .arg(out.path())
        .envs(local_aws_env(&endpoint))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        let first_done = line.ends_with("deployed (CREATE_COMPLETE)");
        seen.push(line);
        if first_done {
            // SIGKILL: no chance to clean up, as when a machine goes away.
            child.kill().unwrap();
            break;
        }
    }
    child.wait().unwrap();
    assert!(
        seen.iter()
            .any(|l| l.ends_with("deployed (CREATE_COMPLETE)")),
        "{seen:#?}"
    );
    let rerun = example(&endpoint, out.path(), &["deploy", "--yes"]);
    assert_eq!(rerun.code, 0, "{}{}", rerun.stdout, rerun.stderr);
    assert!(!rerun.stdout.contains("FAILED"), "{}", rerun.stdout);
    let clean = example(&endpoint, out.path(), &["diff", "--fail"]);
    assert_eq!(clean.code, 0, "the rerun converged: {}", clean.stdout);
}

/// Sends SIGINT to a process, as Ctrl-C at its terminal does.
fn interrupt(pid: u32) {
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn ctrl_c_stops_starting_stacks_reports_what_was_in_flight_and_how_to_resume() {
    use std::io::BufRead;
    let Some(server) = moto() else {
        return;
    };
    // Slow answers, so that the run is still going when it is interrupted.
    let proxy = tests::FaultProxy::start(
        &server.endpoint(),
        std::sync::Arc::new(|_, _, _| tests::Fault::Slow(std::time::Duration::from_millis(150))),
    );
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(app_binary("example-shared-bucket"))
        .args(["deploy", "--yes", "--concurrency", "1", "--output"])
        .arg(out.path())
        .envs(local_aws_env(&proxy.endpoint()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut sent = false;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if !sent && line.ends_with("deployed (CREATE_COMPLETE)") {
            interrupt(child.id());
            sent = true;
        }
        seen.push(line);
    }
    let status = child.wait().unwrap();
    let printed = seen.join("\n");
    assert_eq!(status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("stopping: no new stack starts"),
        "{printed}"
    );
    assert!(
        printed.contains("not attempted: the run was stopped before it started")
            || printed.contains("interrupted: stopped while deploying"),
        "{printed}"
    );
    assert!(printed.contains("resume with: "), "{printed}");
    // Resuming converges.
    let resumed = example(&server.endpoint(), out.path(), &["deploy", "--yes"]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    let clean = example(&server.endpoint(), out.path(), &["diff", "--fail"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
}

#[test]
fn sigterm_stops_a_run_as_ctrl_c_does() {
    use std::io::BufRead;
    let Some(server) = moto() else {
        return;
    };
    let proxy = tests::FaultProxy::start(
        &server.endpoint(),
        std::sync::Arc::new(|_, _, _| tests::Fault::Slow(std::time::Duration::from_millis(300))),
    );
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(app_binary("example-shared-bucket"))
        .args(["deploy", "--yes", "--output"])
        .arg(out.path())
        .envs(local_aws_env(&proxy.endpoint()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    let mut sent = false;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // Once the plan is shown, the run is under way.
        if !sent && line.starts_with("  needs approval:") {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            sent = true;
        }
        printed.push(line);
    }
    let status = child.wait().unwrap();
    let printed = printed.join("\n");
    assert_eq!(status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("stopping: no new stack starts"),
        "{printed}"
    );
    assert!(printed.contains("summary:"), "{printed}");
}
