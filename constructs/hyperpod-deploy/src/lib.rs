//! The command line every app gets.
//!
//! An app's `main` builds its [`App`] and hands it to [`run`], which parses the command
//! line and runs the command: `synth` (write the cloud assembly), `list` (stages, stacks,
//! accounts, regions and dependencies), `deploy` and `destroy` (the [`engine`], through
//! the official AWS SDK, with the endpoint and credentials of the standard AWS settings).
//!
//! This crate may call AWS; the construct core it builds on must not.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let app = hyperpod_core::App::new("my-platform");
//!     // ... stages, stacks and constructs ...
//!     hyperpod_deploy::run(app)
//! }
//! ```

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use hyperpod_core::{App, CloudAssembly, Placement, SynthError};

pub mod cli;
mod create_only;
pub mod diff;
pub mod engine;
mod listing;
pub mod security;

pub use cli::{Cli, Command};

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Synthesis failed or its output could not be written.
    #[error(transparent)]
    Synth(#[from] SynthError),
    /// Writing to the terminal failed.
    #[error("could not write to standard output")]
    Output(#[source] std::io::Error),
    /// The engine stopped before changing anything.
    #[error(transparent)]
    Deploy(#[from] engine::DeployError),
    /// Some stacks did not deploy or were not destroyed; the summary says which.
    #[error("some stacks did not succeed (the summary above says which)")]
    Incomplete,
    /// `diff --fail` found differences.
    #[error("{0} stack(s) would change")]
    Differences(usize),
    /// The placement record of sharded stacks could not be read.
    #[error("{0}")]
    Placement(String),
}

/// Synthesizes `app`, keeping every unit of a sharded stack in the shard that the
/// placement record of the assembly in `output` gives it.
fn synthesize(app: &App, output: &std::path::Path) -> Result<CloudAssembly, CliError> {
    let record = output.join(app.name()).join(Placement::FILE);
    match std::fs::read(&record) {
        Ok(bytes) => app.set_placement(
            Placement::from_json(&bytes)
                .map_err(|error| CliError::Placement(format!("{}: {error}", record.display())))?,
        ),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            return Err(CliError::Placement(format!(
                "could not read {}: {error}",
                record.display()
            )));
        }
    }
    Ok(app.synth()?)
}

/// Parses the process's arguments, runs the command against `app`, prints any error and
/// returns the exit code. The app is the program's last use of its tree: it is left to
/// the operating system, which frees a large app at exit far faster than dropping it node
/// by node (7 % of a thousand-team synthesis).
pub fn run(app: App) -> ExitCode {
    let cli = Cli::parse();
    let app = std::mem::ManuallyDrop::new(app);
    match execute(
        &app,
        cli.command.unwrap_or(Command::Synth(Default::default())),
        cli.verbose,
        &mut std::io::stdout(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // The causes (an I/O error) say what exactly went wrong.
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                eprintln!("  caused by: {inner}");
                cause = inner.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs one command against `app`, writing what it reports to `out`.
pub fn execute(
    app: &App,
    command: Command,
    verbose: bool,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        Command::Synth(args) => {
            let assembly = synthesize(app, &args.output)?;
            // Read before the new assembly replaces the previous one.
            let renames = renames_since(&args.output.join(assembly.app()), &assembly);
            let folder = assembly.write_to(&args.output)?;
            if !args.quiet {
                report_synth(&assembly, &folder, out).map_err(CliError::Output)?;
                for note in renames {
                    writeln!(out, "  note: {note}").map_err(CliError::Output)?;
                }
            }
            if !args.stacks.is_empty() {
                let stacks = engine::select(
                    &assembly.manifest,
                    &args.stacks,
                    true,
                    engine::Pull::Nothing,
                )?;
                for stack in stacks {
                    let template = std::fs::read_to_string(folder.join(&stack.template))
                        .map_err(CliError::Output)?;
                    write!(out, "{template}").map_err(CliError::Output)?;
                }
            }
        }
        Command::List(args) => {
            let assembly = synthesize(app, &args.output)?;
            listing::list(&assembly.manifest, &args, out).map_err(CliError::Output)?;
        }
        Command::Diff(args) => {
            let assembly = synthesize(app, &args.connection.output)?;
            let options = args.connection.options(&args.selection, verbose);
            let plan = match &args.against {
                // Against an earlier assembly: the templates only, no AWS call.
                Some(previous) => {
                    let staging =
                        std::env::temp_dir().join(format!("hyperpod-diff-{}", std::process::id()));
                    let folder = assembly.write_to(&staging)?;
                    let plan =
                        engine::diff_against(&previous.join(assembly.app()), &folder, &options);
                    let _ = std::fs::remove_dir_all(&staging);
                    plan?
                }
                None => {
                    let folder = assembly.write_to(&args.connection.output)?;
                    block_on(async {
                        engine::diff(&engine::base_config(&options).await, &folder, &options).await
                    })?
                }
            };
            if args.json {
                let json = serde_json::to_string_pretty(&plan).expect("a plan serializes");
                writeln!(out, "{json}").map_err(CliError::Output)?;
            } else {
                write!(out, "{}", plan.render()).map_err(CliError::Output)?;
            }
            let changing = plan.stacks.iter().filter(|s| s.changes_anything()).count();
            if args.fail && changing > 0 {
                return Err(CliError::Differences(changing));
            }
        }
        Command::Deploy(args) => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                engine::progress::use_live_view();
            }
            let assembly = synthesize(app, &args.connection.output)?;
            let folder = assembly.write_to(&args.connection.output)?;
            let options = args.options(verbose);
            let summary = block_on(async {
                engine::deploy(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
        Command::Bootstrap(args) => {
            let assembly = synthesize(app, &args.connection.output)?;
            let folder = assembly.write_to(&args.connection.output)?;
            let options = args.connection.options(&args.selection, verbose);
            let summary = block_on(async {
                engine::bootstrap(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
        Command::Destroy(args) => {
            let assembly = synthesize(app, &args.connection.output)?;
            let folder = assembly.write_to(&args.connection.output)?;
            let options = args.options(verbose);
            let summary = block_on(async {
                engine::destroy(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
    }
    Ok(())
}

/// Runs `work` to its end on a runtime of its own, then leaves without waiting for a
/// question nobody will answer any more (a blocked read of the terminal).
fn block_on<F: std::future::Future>(work: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let output = runtime.block_on(work);
    runtime.shutdown_background();
    output
}

/// Prints the summary once; a run where not every stack succeeded fails.
fn finish(summary: engine::Summary, out: &mut impl Write) -> Result<(), CliError> {
    engine::progress::finish();
    write!(out, "{}", summary.render()).map_err(CliError::Output)?;
    if summary
        .stacks
        .iter()
        .any(|s| matches!(s.outcome, engine::Outcome::Interrupted(_)))
    {
        // The same command picks up where this run stopped.
        let command: Vec<String> = std::env::args().collect();
        writeln!(out, "resume with: {}", command.join(" ")).map_err(CliError::Output)?;
    }
    if summary.succeeded() {
        Ok(())
    } else {
        Err(CliError::Incomplete)
    }
}

/// The resources that left a stack under one logical id and came back, alike, under
/// another since the assembly in `previous` (the app's folder of the last synthesis), each
/// with the override that keeps it. Empty when there is no previous assembly.
fn renames_since(previous: &Path, assembly: &CloudAssembly) -> Vec<String> {
    let Ok(bytes) = std::fs::read(previous.join("manifest.json")) else {
        return Vec::new();
    };
    let Ok(manifest) = serde_json::from_slice::<hyperpod_core::Manifest>(&bytes) else {
        return Vec::new();
    };
    let mut notes = Vec::new();
    for stack in &assembly.manifest.stacks {
        let Some(before) = manifest.stacks.iter().find(|s| s.id == stack.id) else {
            continue;
        };
        if before.template_sha256 == stack.template_sha256 {
            continue;
        }
        let old: Option<serde_json::Value> = std::fs::read(previous.join(&before.template))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (Some(old), Some(new)) = (old, assembly.template(&stack.id)) else {
            continue;
        };
        for (old_id, new_id, kind) in diff::diff(Some(&old), &new).renamed {
            let path = stack
                .construct_paths
                .get(&new_id)
                .map_or(new_id.clone(), Clone::clone);
            notes.push(format!(
                "{}: {old_id} ({kind}) is now {new_id}: deploying deletes it and creates it again; keep it with `.override_logical_id(\"{old_id}\")` on {path}, or move it with CloudFormation's stack refactoring (create-stack-refactor, mapping {old_id} to {new_id} in stack {})",
                stack.id, stack.stack_name
            ));
        }
    }
    notes
}

fn report_synth(
    assembly: &CloudAssembly,
    folder: &Path,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let stacks = &assembly.manifest.stacks;
    writeln!(
        out,
        "synthesized {} stack(s) of `{}` into {}",
        stacks.len(),
        assembly.app(),
        folder.display()
    )?;
    let uploaded: Vec<&str> = stacks
        .iter()
        .filter(|stack| stack.template_requires_upload)
        .map(|stack| stack.id.as_str())
        .collect();
    match uploaded.as_slice() {
        [] => {}
        [one] => writeln!(
            out,
            "  note: {one} is over the 51,200-byte inline limit; it deploys through an S3 upload"
        )?,
        many => writeln!(
            out,
            "  note: {} templates are over the 51,200-byte inline limit and deploy through an S3 upload: {}",
            many.len(),
            many.join(", ")
        )?,
    }
    for (stack, shards) in &assembly.placement.stacks {
        let units: usize = shards.values().map(Vec::len).sum();
        writeln!(
            out,
            "  sharded: {stack}: {units} unit(s) in {} shard(s) ({})",
            shards.len(),
            Placement::FILE
        )?;
    }
    // Every accepted finding, each time: a reviewer reads the exceptions with the output.
    for finding in &assembly.suppressed {
        writeln!(
            out,
            "  accepted: {} [{}] {}\n    reason: {}",
            finding.path, finding.rule, finding.detail, finding.reason
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hyperpod_core::{CfnResource, Environment, Scope, Stack, StackProps, Stage, TagFormat};

    use super::*;
    use crate::cli::{ListArgs, SynthArgs};

    fn two_stage_app() -> App {
        let app = App::new("cli-test");
        let data = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
        let cluster = Stage::new(
            &app,
            "cluster",
            Environment::new("111111111111", "eu-west-1"),
        );
        let topic = CfnResource::raw(
            &Stack::new(&data, "Storage", StackProps::default()),
            "Topic",
            "AWS::SNS::Topic",
            TagFormat::KeyValueList,
            serde_json::json!({}),
        );
        let reader = CfnResource::raw(
            &Stack::new(&cluster, "Access", StackProps::default()),
            "Arn",
            "AWS::SSM::Parameter",
            TagFormat::Map,
            serde_json::json!({ "Type": "String" }),
        );
        reader.set_property("Value", topic.get_att::<String>("TopicArn"));
        app
    }

    fn listed(args: ListArgs) -> String {
        let mut out = Vec::new();
        execute(&two_stage_app(), Command::List(args), false, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn list_shows_the_stacks_in_deploy_order_with_accounts_and_regions() {
        assert_eq!(
            listed(ListArgs::default()),
            "data/Storage (account 333333333333, us-east-1)\ncluster/Access (account 111111111111, eu-west-1) after data/Storage\n"
        );
        let long = listed(ListArgs {
            long: true,
            ..ListArgs::default()
        });
        assert!(
            long.contains("  stack name: cli-test-data-Storage\n  termination protection: off\n"),
            "{long}"
        );
        let json: serde_json::Value = serde_json::from_str(&listed(ListArgs {
            json: true,
            ..ListArgs::default()
        }))
        .unwrap();
        assert_eq!(json[1]["id"], "cluster/Access");
        assert_eq!(json[1]["dependencies"], serde_json::json!(["data/Storage"]));
    }

    #[test]
    fn list_draws_the_accounts_and_dependencies_as_mermaid_or_dot() {
        let mermaid = listed(ListArgs {
            graph: Some(cli::GraphFormat::Mermaid),
            ..ListArgs::default()
        });
        assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
        assert!(
            mermaid.contains("  subgraph account_333333333333[\"account 333333333333\"]\n    data_Storage[\"data/Storage<br/>us-east-1\"]\n  end\n"),
            "{mermaid}"
        );
        assert!(
            mermaid.contains("  data_Storage --> cluster_Access\n"),
            "{mermaid}"
        );
        let dot = listed(ListArgs {
            graph: Some(cli::GraphFormat::Dot),
            ..ListArgs::default()
        });
        assert!(dot.contains("  data_Storage -> cluster_Access;\n"), "{dot}");
    }

    #[test]
    fn synth_writes_the_assembly_reports_where_and_prints_the_templates_asked_for() {
        let dir = std::env::temp_dir().join(format!("hyperpod-deploy-test-{}", std::process::id()));
        let mut out = Vec::new();
        execute(
            &two_stage_app(),
            Command::Synth(SynthArgs {
                output: dir.clone(),
                stacks: vec!["cluster/*".into()],
                quiet: false,
            }),
            false,
            &mut out,
        )
        .unwrap();
        assert!(dir.join("cli-test/manifest.json").is_file());
        assert!(dir.join("cli-test/cluster/Access.template.json").is_file());
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.starts_with("synthesized 2 stack(s) of `cli-test`"),
            "{printed}"
        );
        assert!(printed.contains("\"AWS::SSM::Parameter\""), "{printed}");
        assert!(!printed.contains("\"AWS::SNS::Topic\""), "{printed}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// An app with one parameter under `id`.
    fn one_parameter(id: &str) -> App {
        let app = App::new("cli-rename");
        let stack = Stack::new(
            &Stage::new(&app, "a", Environment::new("111111111111", "us-east-1")),
            "Main",
            StackProps::default(),
        );
        CfnResource::raw(
            &stack,
            id,
            "AWS::SSM::Parameter",
            TagFormat::Map,
            serde_json::json!({ "Type": "String", "Value": "kept" }),
        );
        app
    }

    #[test]
    fn a_rename_is_announced_at_synthesis_and_in_a_diff_against_the_previous_assembly() {
        let dir =
            std::env::temp_dir().join(format!("hyperpod-deploy-rename-{}", std::process::id()));
        let synth = |app: &App| {
            let mut out = Vec::new();
            execute(
                app,
                Command::Synth(SynthArgs {
                    output: dir.clone(),
                    ..SynthArgs::default()
                }),
                false,
                &mut out,
            )
            .unwrap();
            String::from_utf8(out).unwrap()
        };
        synth(&one_parameter("Setting"));
        let previous =
            std::env::temp_dir().join(format!("hyperpod-deploy-previous-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&previous);
        std::fs::create_dir_all(previous.join("cli-rename/a")).unwrap();
        for file in ["manifest.json", "a/Main.template.json"] {
            std::fs::copy(
                dir.join("cli-rename").join(file),
                previous.join("cli-rename").join(file),
            )
            .unwrap();
        }
        let renamed = one_parameter("Config");
        let printed = synth(&renamed);
        assert!(
            printed.contains("note: a/Main: Setting (AWS::SSM::Parameter) is now Config: deploying deletes it and creates it again; keep it with `.override_logical_id(\"Setting\")` on a/Main/Config"),
            "{printed}"
        );
        let cli = Cli::try_parse_from([
            "app",
            "diff",
            "--fail",
            "--against",
            previous.to_str().unwrap(),
        ])
        .unwrap();
        let mut out = Vec::new();
        let result = execute(&renamed, cli.command.unwrap(), false, &mut out);
        let shown = String::from_utf8(out).unwrap();
        assert!(matches!(result, Err(CliError::Differences(1))), "{shown}");
        assert!(
            shown.contains("~ Setting -> Config (AWS::SSM::Parameter) RENAMED"),
            "{shown}"
        );
        std::fs::remove_dir_all(dir).unwrap();
        std::fs::remove_dir_all(previous).unwrap();
    }

    #[test]
    fn synth_lists_the_accepted_findings_with_their_reasons() {
        let app = App::new("cli-test");
        let stack = Stack::new(
            &Stage::new(&app, "a", Environment::new("111111111111", "us-east-1")),
            "Logs",
            StackProps::default(),
        );
        let logs = CfnResource::raw(
            &stack,
            "Logs",
            "AWS::Logs::LogGroup",
            TagFormat::KeyValueList,
            serde_json::json!({ "RetentionInDays": 30 }),
        );
        logs.set_deletion_policy(hyperpod_core::DeletionPolicy::Delete);
        logs.node()
            .suppress("LOG_GROUP_KMS", "operational logs without user data");
        let dir =
            std::env::temp_dir().join(format!("hyperpod-deploy-accepted-{}", std::process::id()));
        let mut out = Vec::new();
        execute(
            &app,
            Command::Synth(SynthArgs {
                output: dir.clone(),
                ..SynthArgs::default()
            }),
            false,
            &mut out,
        )
        .unwrap();
        let printed = String::from_utf8(out).unwrap();
        assert!(
            printed.contains(
                "  accepted: a/Logs/Logs [LOG_GROUP_KMS] the log group is encrypted with CloudWatch Logs' own keys\n    reason: operational logs without user data\n"
            ),
            "{printed}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_selection_pulls_dependencies_or_dependents_unless_exclusive() {
        let manifest = two_stage_app().synth().unwrap().manifest;
        let ids = |patterns: &[&str], exclusively, pull| -> Vec<String> {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            engine::select(&manifest, &patterns, exclusively, pull)
                .unwrap()
                .into_iter()
                .map(|s| s.id.clone())
                .collect()
        };
        assert_eq!(
            ids(&["cluster/Access"], false, engine::Pull::Dependencies),
            ["data/Storage", "cluster/Access"]
        );
        assert_eq!(
            ids(&["cluster/Access"], true, engine::Pull::Dependencies),
            ["cluster/Access"]
        );
        assert_eq!(
            ids(&["data"], false, engine::Pull::Dependents),
            ["data/Storage", "cluster/Access"]
        );
        // By stack name, with a pattern.
        assert_eq!(
            ids(&["cli-test-*-Storage"], false, engine::Pull::Nothing),
            ["data/Storage"]
        );
        let unknown = engine::select(&manifest, &["nope/*".into()], false, engine::Pull::Nothing)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("`nope/*` names no stack"), "{unknown}");
    }

    #[test]
    fn deploy_options_parse_from_the_command_line() {
        let cli = Cli::try_parse_from([
            "app",
            "deploy",
            "cluster",
            "-v",
            "--yes",
            "--exclusively",
            "--profile",
            "platform",
            "--require-approval",
            "any-change",
            "--no-rollback",
            "--concurrency",
            "2",
            "--account-concurrency",
            "1",
            "--role-arn",
            "222222222222=arn:aws:iam::222222222222:role/deployer",
            "--profile-for",
            "333333333333=data-admin",
            "--outputs-file",
            "out.json",
            "--stack-timeout-mins",
            "30",
        ])
        .unwrap();
        let Some(Command::Deploy(args)) = cli.command else {
            panic!("a deploy command")
        };
        let options = args.options(cli.verbose);
        assert!(options.yes && !options.interactive && options.verbose);
        assert!(options.exclusively && options.no_rollback);
        assert_eq!(options.require_approval, engine::RequireApproval::AnyChange);
        assert_eq!(options.profile.as_deref(), Some("platform"));
        assert_eq!(options.select, ["cluster"]);
        assert_eq!(options.concurrency, 2);
        assert_eq!(options.account_concurrency, 1);
        assert_eq!(
            options.role_arns["222222222222"],
            "arn:aws:iam::222222222222:role/deployer"
        );
        assert_eq!(options.profiles["333333333333"], "data-admin");
        assert_eq!(options.stack_timeout, std::time::Duration::from_secs(1800));
        assert_eq!(
            options.outputs_file.as_deref(),
            Some(std::path::Path::new("out.json"))
        );
    }

    #[test]
    fn options_that_mean_nothing_for_a_command_are_refused() {
        for args in [
            ["app", "diff", "--outputs-file", "x.json"].as_slice(),
            &["app", "destroy", "--concurrency", "2"],
            &["app", "list", "--yes"],
            &["app", "bootstrap", "--require-approval", "never"],
            &["app", "deploy", "--all", "cluster"],
            &["app", "deploy", "--require-approval", "sometimes"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?} was accepted");
        }
        assert!(
            Cli::try_parse_from(["app", "--version"])
                .is_err_and(|e| e.kind() == clap::error::ErrorKind::DisplayVersion)
        );
    }

    #[test]
    fn malformed_account_overrides_are_refused() {
        assert!(
            Cli::try_parse_from([
                "app",
                "deploy",
                "--role-arn",
                "2222=arn:aws:iam::2222:role/x"
            ])
            .is_err()
        );
        assert!(Cli::try_parse_from(["app", "deploy", "--role-arn", "222222222222"]).is_err());
        assert!(Cli::try_parse_from(["app", "deploy", "--profile-for", "222222222222="]).is_err());
    }

    #[test]
    fn synth_of_an_invalid_app_fails_with_every_problem() {
        let app = App::new("cli-test");
        Stage::new(&app, "bad", Environment::new("12", "moon-1"));
        let error = execute(
            &app,
            Command::Synth(SynthArgs {
                output: "unused".into(),
                quiet: true,
                ..SynthArgs::default()
            }),
            false,
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("[invalid_account]") && error.contains("[invalid_region]"),
            "{error}"
        );
    }
}
