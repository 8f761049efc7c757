//! Workspace automation, run as `cargo xtask <command>`:
//!
//! - `run`: the main job: `synth`, then every app deployed twice into a local emulator.
//! - `synth`: synthesize every app under `apps/` into `synth-out/`.
//! - `codegen`: generate the typed resources of `hyperpod-cfn` from the pinned schemas
//!   (`--check` compares instead of writing).
//! - `bench`: time the synthesis of every app (release build, whole process, 20 runs),
//!   print each stack's resource count and template size; synthesize `hyperpod-org` with
//!   2, 90 and 1,000 teams (wall time, peak memory, stacks, the largest template); time a
//!   first and a no-op deploy of `hyperpod-platform` and of the 1,000-team `hyperpod-org`
//!   to a local moto server, counting API calls. `--clean-build` also times a clean build
//!   of `hyperpod-platform` in a fresh target folder.
//! - `test`: install the pinned Python tools when missing (cfn-lint and moto into `.venv/`,
//!   checkov into `.venv-checkov/`), then run the whole test suite with them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod codegen;

/// The Python tools the tests drive, pinned with their dependencies.
const PYTHON_REQUIREMENTS: &str = "tests/python-requirements.txt";
/// The version of cfn-lint the templates must pass; `PYTHON_REQUIREMENTS` pins the same.
const CFN_LINT_VERSION: &str = "1.58.0";
/// The version of moto the deploy engine's tests run against; pinned there too.
const MOTO_VERSION: &str = "5.2.5";
/// checkov, pinned with its dependencies in a virtual environment of its own: its pins of
/// boto3 and PyYAML conflict with moto's.
const CHECKOV_REQUIREMENTS: &str = "tests/checkov-requirements.txt";
/// The version of checkov the templates must pass; `CHECKOV_REQUIREMENTS` pins the same.
const CHECKOV_VERSION: &str = "3.3.30";

const USAGE: &str = "usage: cargo xtask <command>

  run                the main job: synthesize every app, then deploy each across its
                     accounts into a local AWS emulator (moto, on 127.0.0.1) and once more
  synth              synthesize every app under apps/ into synth-out/
  test [-- ARGS]     install the pinned Python tools when missing, then run every test
  bench [--clean-build]
                     time synthesis (the apps, and 2, 90 and 1,000 teams), the edit-then-
                     synth loop, deploys to the local emulator (and a clean build)
  codegen [--check]  generate the typed resources (or compare with what is committed)";

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = workspace_root().and_then(|root| match args.first().map(String::as_str) {
        Some("run") => main_job(&root),
        Some("synth") => synth(&root),
        Some("test") => test(&root, &args[1..]),
        Some("bench") => bench(&root, args.get(1).is_some_and(|a| a == "--clean-build")),
        Some("codegen") => codegen::codegen(&root, args.get(1).is_some_and(|a| a == "--check")),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(anyhow::anyhow!(
            "{}{USAGE}",
            other.map_or(String::new(), |command| format!(
                "`{command}` is not a command\n\n"
            ))
        )),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // The message and its causes, without a backtrace: these are a user's errors.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest_dir
        .parent()
        .context("xtask lives in the workspace")?
        .to_path_buf())
}

fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// The packages under `apps/`, by name, from `cargo metadata`.
fn apps(root: &Path) -> Result<Vec<String>> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("could not run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")?;
    let apps_dir = root.join("apps");
    let mut names: Vec<String> = metadata["packages"]
        .as_array()
        .context("cargo metadata lists packages")?
        .iter()
        .filter(|package| {
            package["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path).starts_with(&apps_dir))
        })
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

fn synth(root: &Path) -> Result<()> {
    let apps = apps(root)?;
    let mut build = Command::new(env!("CARGO"));
    build.arg("build").arg("--quiet").current_dir(root);
    for app in &apps {
        build.args(["--package", app]);
    }
    run(&mut build)?;
    for app in &apps {
        run(Command::new(env!("CARGO"))
            .args([
                "run",
                "--quiet",
                "--package",
                app,
                "--",
                "synth",
                "--output",
            ])
            .arg(root.join("synth-out"))
            .current_dir(root))?;
    }
    Ok(())
}

/// The main job on a machine without AWS accounts: every app synthesized, then deployed
/// across its example accounts into the pinned emulator the tests use (started here, on
/// 127.0.0.1, and stopped at the end), showing the plan, the progress and the outputs,
/// then deployed again, which changes nothing. Real accounts are `cargo run -p <app> --
/// deploy`, with credentials.
fn main_job(root: &Path) -> Result<()> {
    synth(root)?;
    let (tools, _) = python_tools(root)?;
    let server = tests::MotoServer::start(&tools.join("python3"), &std::env::temp_dir())
        .map_err(anyhow::Error::msg)?;
    let out = std::env::temp_dir().join(format!("hyperpod-run-{}", std::process::id()));
    let result = (|| -> Result<()> {
        for app in apps(root)? {
            let step = |verb: &str| -> Result<()> {
                run(Command::new(env!("CARGO"))
                    .args(["run", "--quiet", "--package", &app, "--", verb])
                    // The emulator is local and throwaway: the plan is approved here.
                    .args(if verb == "deploy" {
                        &["--yes"][..]
                    } else {
                        &[]
                    })
                    .arg("--output")
                    .arg(&out)
                    .envs(tests::local_aws_env(&server.endpoint()))
                    .current_dir(root))
            };
            println!(
                "\n== {app}: deploying into the local emulator at {} ==",
                server.endpoint()
            );
            step("bootstrap")?;
            step("deploy")?;
            println!("\n== {app}: deploying again, which changes nothing ==");
            step("deploy")?;
        }
        Ok(())
    })();
    std::fs::remove_dir_all(&out).ok();
    result
}

/// Makes sure `.venv/` holds cfn-lint and moto and `.venv-checkov/` holds checkov, each at
/// its pinned version, installing what is missing. Returns the two `bin/` folders.
fn python_tools(root: &Path) -> Result<(PathBuf, PathBuf)> {
    let tools = root.join(".venv/bin");
    let tools_installed = version_of(&tools.join("cfn-lint"), CFN_LINT_VERSION)
        && Command::new(tools.join("python3"))
            .args([
                "-c",
                &format!("import moto.server; assert moto.__version__ == '{MOTO_VERSION}'"),
            ])
            .output()
            .is_ok_and(|output| output.status.success());
    if !tools_installed {
        install_venv(root, ".venv", PYTHON_REQUIREMENTS)?;
    }
    let checkov = root.join(".venv-checkov/bin");
    if !version_of(&checkov.join("checkov"), CHECKOV_VERSION) {
        install_venv(root, ".venv-checkov", CHECKOV_REQUIREMENTS)?;
    }
    Ok((tools, checkov))
}

/// Whether `tool --version` runs and names `version`.
fn version_of(tool: &Path, version: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains(version))
}

/// Creates the virtual environment `venv` (a folder of the workspace) and installs the
/// pinned `requirements` into it.
fn install_venv(root: &Path, venv: &str, requirements: &str) -> Result<()> {
    let venv = root.join(venv);
    eprintln!("installing {requirements} into {}", venv.display());
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    run(Command::new(python).args(["-m", "venv"]).arg(&venv))?;
    run(Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--requirement",
        ])
        .arg(root.join(requirements)))
}

fn test(root: &Path, extra: &[String]) -> Result<()> {
    let (tools, checkov) = python_tools(root)?;
    run(Command::new(env!("CARGO"))
        .args(["test", "--workspace"])
        .args(extra)
        .env("CFN_LINT", tools.join("cfn-lint"))
        .env("CHECKOV", checkov.join("checkov"))
        .current_dir(root))
}

/// Times `synth` of every app as a user runs it (the release binary, start to exit) and
/// reports what each synthesized.
fn bench(root: &Path, clean_build: bool) -> Result<()> {
    const RUNS: usize = 20;
    let apps = apps(root)?;
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "--release"])
        .current_dir(root);
    for app in &apps {
        build.args(["--package", app]);
    }
    run(&mut build)?;
    let out = std::env::temp_dir().join(format!("hyperpod-bench-{}", std::process::id()));
    println!("synthesis, {RUNS} runs of the release binary each (wall time, whole process):");
    for app in &apps {
        let binary = root.join("target/release").join(app);
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let start = std::time::Instant::now();
            run(Command::new(&binary)
                .args(["synth", "--quiet", "--output"])
                .arg(&out))?;
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "  {app}: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            ms(times[0]),
            ms(times[RUNS / 2]),
            ms(times[RUNS - 1])
        );
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(app).join("manifest.json"))?)?;
        for stack in manifest["stacks"].as_array().context("stacks")? {
            let template: serde_json::Value = serde_json::from_slice(&std::fs::read(
                out.join(app)
                    .join(stack["template"].as_str().context("template")?),
            )?)?;
            let resources = template["Resources"]
                .as_object()
                .map_or(0, serde_json::Map::len);
            println!(
                "    {}: {resources} resources, {} bytes",
                stack["id"].as_str().unwrap_or_default(),
                stack["templateBytes"]
            );
        }
    }
    std::fs::remove_dir_all(&out).ok();
    bench_teams(root)?;
    bench_edit_loop(root)?;
    if clean_build {
        bench_clean_build(root)?;
    }
    bench_deploy(root)?;
    bench_deploy_teams(root)?;
    bench_deploy_stack_sets(root)
}

/// The loop of a platform engineer: one line of the app changed, then `cargo run -- synth`
/// (the dev profile, as `cargo run` builds). The change is a touch of the app's source,
/// which rebuilds the app crate and links it again.
fn bench_edit_loop(root: &Path) -> Result<()> {
    const RUNS: usize = 5;
    let out = std::env::temp_dir().join(format!("hyperpod-bench-edit-{}", std::process::id()));
    let synth = || {
        let mut command = Command::new(env!("CARGO"));
        command
            .args([
                "run",
                "--quiet",
                "--package",
                "hyperpod-platform",
                "--",
                "synth",
            ])
            .args(["--quiet", "--output"])
            .arg(&out)
            .current_dir(root);
        command
    };
    run(&mut synth())?;
    let source = root.join("apps/hyperpod-platform/src/lib.rs");
    let mut times = Vec::new();
    for _ in 0..RUNS {
        std::fs::File::options()
            .append(true)
            .open(&source)?
            .set_modified(std::time::SystemTime::now())?;
        let start = std::time::Instant::now();
        run(&mut synth())?;
        times.push(start.elapsed());
    }
    times.sort();
    println!(
        "edit then synth (`cargo run -p hyperpod-platform -- synth` after a change to the app's source, dev profile): median {:.2} s (min {:.2}, max {:.2})",
        times[RUNS / 2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[RUNS - 1].as_secs_f64()
    );
    std::fs::remove_dir_all(&out).ok();
    Ok(())
}

/// A clean build of one app, `cargo build -p hyperpod-platform` (dev profile) in a fresh
/// target folder; the registry's downloads are not counted when they are cached.
fn bench_clean_build(root: &Path) -> Result<()> {
    let target = std::env::temp_dir().join(format!("hyperpod-bench-build-{}", std::process::id()));
    let start = std::time::Instant::now();
    run(Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--package", "hyperpod-platform"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(root))?;
    let elapsed = start.elapsed();
    std::fs::remove_dir_all(&target).ok();
    println!(
        "clean build of hyperpod-platform (dev profile, fresh target folder, {} cores): {:.0} s",
        std::thread::available_parallelism().map_or(1, usize::from),
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// The team counts of the sharding benchmark.
const TEAM_COUNTS: [usize; 3] = [2, 90, 1000];

/// Synthesizes `hyperpod-org` (every team-holding stack sharded) with 2, 90 and 1,000
/// teams: the release binary, whole process, into a fresh folder each run (no placement
/// record, so every unit is placed). Reports wall time, peak memory, the number of stacks
/// and the largest template.
fn bench_teams(root: &Path) -> Result<()> {
    const RUNS: usize = 5;
    let binary = root.join("target/release/hyperpod-org");
    println!(
        "synthesis of hyperpod-org by team count, {RUNS} runs each, fresh output (wall time and peak resident memory of the whole process):"
    );
    for teams in TEAM_COUNTS {
        let out = std::env::temp_dir().join(format!("hyperpod-bench-teams-{}", std::process::id()));
        let mut times = Vec::new();
        let mut peak_kib = 0;
        for _ in 0..RUNS {
            std::fs::remove_dir_all(&out).ok();
            let (elapsed, kib) = measured(
                Command::new(&binary)
                    .args(["synth", "--quiet", "--output"])
                    .arg(&out)
                    .env("HYPERPOD_TEAMS", teams.to_string()),
            )?;
            times.push(elapsed);
            peak_kib = peak_kib.max(kib);
        }
        times.sort();
        let folder = out.join("hyperpod-org");
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(folder.join("manifest.json"))?)?;
        let stacks = manifest["stacks"].as_array().context("stacks")?;
        let mut largest = (0, 0, String::new());
        for stack in stacks {
            let template: serde_json::Value = serde_json::from_slice(&std::fs::read(
                folder.join(stack["template"].as_str().context("template")?),
            )?)?;
            let resources = template["Resources"]
                .as_object()
                .map_or(0, serde_json::Map::len);
            let bytes = stack["templateBytes"].as_u64().unwrap_or_default();
            if (resources, bytes) > (largest.0, largest.1) {
                largest = (
                    resources,
                    bytes,
                    stack["id"].as_str().unwrap_or_default().to_owned(),
                );
            }
        }
        println!(
            "  {teams} teams: median {:.0} ms (min {:.0}, max {:.0}), peak {:.1} MiB, {} stacks, largest {} with {} resources and {} bytes",
            ms(times[RUNS / 2]),
            ms(times[0]),
            ms(times[RUNS - 1]),
            peak_kib as f64 / 1024.0,
            stacks.len(),
            largest.2,
            largest.0,
            largest.1
        );
        std::fs::remove_dir_all(&out).ok();
    }
    Ok(())
}

/// Runs `command` to its end under a small Python wrapper that times it and reads its peak
/// resident memory (`getrusage`), so that Python's own start is not counted; returns the
/// wall time and the peak in KiB.
fn measured(command: &mut Command) -> Result<(std::time::Duration, u64)> {
    const WRAPPER: &str = "import resource, subprocess, sys, time\n\
start = time.perf_counter_ns()\n\
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n\
elapsed = time.perf_counter_ns() - start\n\
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)";
    let mut wrapped = Command::new("python3");
    wrapped
        .args(["-c", WRAPPER])
        .arg(command.get_program())
        .args(command.get_args());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    let output = wrapped.output().context("could not run python3")?;
    if !output.status.success() {
        bail!(
            "{:?} failed: {}",
            command.get_program(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let printed = String::from_utf8_lossy(&output.stdout);
    let mut numbers = printed.split_whitespace().map(str::parse::<u64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(nanos)), Some(Ok(kib))) => Ok((std::time::Duration::from_nanos(nanos), kib)),
        _ => bail!("the measuring wrapper printed `{}`", printed.trim()),
    }
}

/// What a first deploy and a no-op redeploy of an app to moto took.
struct DeployTwice {
    stacks: usize,
    first: std::time::Duration,
    first_calls: usize,
    second: std::time::Duration,
    second_calls: usize,
}

impl DeployTwice {
    /// Both deploys, a line each.
    fn print(&self) {
        println!(
            "  first deploy: {:.1} s, {} API calls",
            self.first.as_secs_f64(),
            self.first_calls
        );
        println!(
            "  no-op redeploy: {:.2} s, {} API calls ({:.1} per stack)",
            self.second.as_secs_f64(),
            self.second_calls,
            self.second_calls as f64 / self.stacks.max(1) as f64
        );
    }
}

/// Bootstraps, deploys and deploys again `app` to a fresh local moto server through its own
/// command line (the release binary, `AWS_ENDPOINT_URL` set, `env` added), counting the API
/// calls moto served. `None` when moto is not installed.
fn deploy_twice(
    root: &Path,
    app: &str,
    env: &[(&str, String)],
    moto_env: &[(&str, String)],
) -> Result<Option<DeployTwice>> {
    let python = root.join(".venv/bin/python3");
    if !python.is_file() {
        println!(
            "deploy of {app}: skipped, moto is not installed in .venv (run `cargo xtask test` once)"
        );
        return Ok(None);
    }
    let server = tests::MotoServer::start_with(&python, &std::env::temp_dir(), moto_env)
        .map_err(anyhow::Error::msg)?;
    let out = std::env::temp_dir().join(format!(
        "hyperpod-bench-deploy-{app}-{}",
        std::process::id()
    ));
    let command = |verb: &str| -> Result<()> {
        let mut command = Command::new(root.join("target/release").join(app));
        command
            .arg(verb)
            // Only deploy asks; the emulator is local and throwaway.
            .args(if verb == "deploy" {
                &["--yes"][..]
            } else {
                &[]
            })
            .args(["--max-attempts", "1", "--output"])
            .arg(&out)
            .envs(env.iter().map(|(key, value)| (*key, value.as_str())))
            .envs(tests::local_aws_env(&server.endpoint()));
        let output = command
            .output()
            .with_context(|| format!("could not start {command:?}"))?;
        if !output.status.success() {
            // What the run reported is why it failed; the emulator's log is beside it.
            std::io::stdout().write_all(&output.stdout)?;
            bail!(
                "{command:?} failed with {}; moto's log: {}",
                output.status,
                server.log().display()
            );
        }
        Ok(())
    };
    let timed_deploy = || -> Result<(std::time::Duration, usize)> {
        let before = server.api_calls();
        let start = std::time::Instant::now();
        command("deploy")?;
        Ok((start.elapsed(), server.api_calls() - before))
    };
    let result = (|| -> Result<DeployTwice> {
        // Templates over the inline limit deploy from the staging bucket.
        command("bootstrap")?;
        let (first, first_calls) = timed_deploy()?;
        let (second, second_calls) = timed_deploy()?;
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(app).join("manifest.json"))?)?;
        Ok(DeployTwice {
            stacks: manifest["stacks"].as_array().map_or(0, Vec::len),
            first,
            first_calls,
            second,
            second_calls,
        })
    })();
    std::fs::remove_dir_all(&out).ok();
    result.map(Some)
}

/// Deploys `hyperpod-platform` across its three accounts, then with nothing changed.
fn bench_deploy(root: &Path) -> Result<()> {
    let Some(run) = deploy_twice(root, "hyperpod-platform", &[], &[])? else {
        return Ok(());
    };
    println!(
        "deploy of hyperpod-platform to moto through its command line (release binary, whole process):"
    );
    println!(
        "  first deploy, three accounts: {:.2} s, {} API calls",
        run.first.as_secs_f64(),
        run.first_calls
    );
    println!(
        "  no-op redeploy: {:.2} s, {} API calls",
        run.second.as_secs_f64(),
        run.second_calls
    );
    Ok(())
}

/// Deploys `hyperpod-org` with 1,000 teams, then with nothing changed.
fn bench_deploy_teams(root: &Path) -> Result<()> {
    let teams = TEAM_COUNTS[TEAM_COUNTS.len() - 1];
    let env = [("HYPERPOD_TEAMS", teams.to_string())];
    let Some(run) = deploy_twice(root, "hyperpod-org", &env, &[])? else {
        return Ok(());
    };
    println!(
        "deploy of hyperpod-org with {teams} teams ({} stacks, five accounts) to moto through its command line:",
        run.stacks
    );
    run.print();
    Ok(())
}

/// Deploys `hyperpod-org` with 1,000 teams whose roles are a StackSet reaching the three
/// business units' accounts through their organizational unit (an organization seeded in
/// the emulator), then with nothing changed.
fn bench_deploy_stack_sets(root: &Path) -> Result<()> {
    const MANAGEMENT: &str = "666666666666";
    const UNIT: &str = "ou-ab12-units001";
    let teams = TEAM_COUNTS[TEAM_COUNTS.len() - 1];
    let env = [
        ("HYPERPOD_TEAMS", teams.to_string()),
        ("HYPERPOD_ROLES_STACK_SET", format!("{MANAGEMENT}:{UNIT}")),
    ];
    let organization = serde_json::json!({
        "management": MANAGEMENT,
        "units": [{ "id": UNIT, "accounts": hyperpod_org_unit_accounts() }],
    });
    let moto_env = [("HYPERPOD_MOTO_ORGANIZATION", organization.to_string())];
    let Some(run) = deploy_twice(root, "hyperpod-org", &env, &moto_env)? else {
        return Ok(());
    };
    println!(
        "deploy of hyperpod-org with {teams} teams, the roles as StackSets ({} stacks and StackSets) to moto:",
        run.stacks
    );
    run.print();
    Ok(())
}

/// The business units' accounts of `hyperpod-org` (its `BUSINESS_UNIT_ACCOUNTS`; xtask
/// does not link the app).
fn hyperpod_org_unit_accounts() -> [&'static str; 3] {
    ["222222222222", "444444444444", "555555555555"]
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
