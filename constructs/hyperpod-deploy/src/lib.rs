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
//!     hyperpod_deploy::run(&app)
//! }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use hyperpod_core::{App, CloudAssembly, SynthError};

pub mod diff;
pub mod engine;

/// The command line of an app.
#[derive(Debug, Parser)]
#[command(about = "Synthesize this app's CloudFormation templates")]
pub struct Cli {
    /// The command; `synth` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A command of the app's command line.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every stack's template and the manifest to `<output>/<app>/`.
    Synth {
        /// The folder that holds the assemblies of all apps.
        #[arg(long, default_value = "synth-out")]
        output: PathBuf,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
    /// List the stages and stacks with their accounts, regions and dependencies.
    List,
    /// Synthesize, then show per stack what would change, what would be replaced and which
    /// permissions would widen.
    Diff(DeployArgs),
    /// Synthesize, then deploy the stacks in dependency order across accounts.
    Deploy(DeployArgs),
    /// Delete the stacks in reverse dependency order across accounts.
    Destroy(DeployArgs),
    /// Create the staging bucket (for templates over the inline limit) in every account and
    /// region of the app.
    Bootstrap(DeployArgs),
}

/// The options of `diff`, `deploy`, `destroy` and `bootstrap`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Only these stacks (`<stage>/<stack>`) or stages (`<stage>`); all when none.
    pub stacks: Vec<String>,
    /// Approve the plan (replacements, widened permissions, deletions, the re-creation of
    /// failed stacks) without asking.
    #[arg(long)]
    pub yes: bool,
    /// What in the plan needs approval: `never`, `any-change`, or `broadening` (permissions
    /// and network rules granted, resources replaced or deleted, stacks re-created).
    #[arg(long, value_enum, default_value_t = ApprovalLevel::Broadening)]
    pub require_approval: ApprovalLevel,
    /// How many stacks deploy at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// The role assumed in each account the base credentials are not in.
    #[arg(long, default_value = "OrganizationAccountAccessRole")]
    pub role_name: String,
    /// The role to assume in one account, as `ACCOUNT=ROLE_ARN` (repeatable).
    #[arg(long = "role-arn", value_parser = parse_role_arn)]
    pub role_arns: Vec<(String, String)>,
    /// The named profile to use for one account, as `ACCOUNT=PROFILE` (repeatable).
    #[arg(long = "profile-for", value_parser = parse_profile)]
    pub profiles: Vec<(String, String)>,
    /// Attempts per AWS call.
    #[arg(long, default_value_t = 3)]
    pub max_attempts: u32,
    /// Seconds one AWS call may take.
    #[arg(long, default_value_t = 60)]
    pub call_timeout_secs: u64,
    /// Minutes one stack may take to deploy or delete.
    #[arg(long, default_value_t = 180)]
    pub stack_timeout_mins: u64,
    /// Write every stack's outputs to this JSON file.
    #[arg(long)]
    pub outputs_file: Option<PathBuf>,
    /// Take over stacks of the same name that no app of this tool deployed (they carry no
    /// `hyperpod:app` tag); without it they are refused.
    #[arg(long)]
    pub adopt: bool,
    /// The folder that holds the assemblies of all apps.
    #[arg(long, default_value = "synth-out")]
    pub output: PathBuf,
}

/// The levels of `--require-approval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ApprovalLevel {
    /// Nothing needs approval.
    Never,
    /// Every change needs approval.
    AnyChange,
    /// What widens access or destroys needs approval.
    Broadening,
}

impl From<ApprovalLevel> for engine::RequireApproval {
    fn from(level: ApprovalLevel) -> Self {
        match level {
            ApprovalLevel::Never => engine::RequireApproval::Never,
            ApprovalLevel::AnyChange => engine::RequireApproval::AnyChange,
            ApprovalLevel::Broadening => engine::RequireApproval::Broadening,
        }
    }
}

fn parse_profile(text: &str) -> Result<(String, String), String> {
    let (account, profile) = text.split_once('=').ok_or("write ACCOUNT=PROFILE")?;
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) || profile.is_empty() {
        return Err(format!(
            "`{text}` is not ACCOUNT=PROFILE with a 12-digit account"
        ));
    }
    Ok((account.to_owned(), profile.to_owned()))
}

fn parse_role_arn(text: &str) -> Result<(String, String), String> {
    let (account, arn) = text.split_once('=').ok_or("write ACCOUNT=ROLE_ARN")?;
    if account.len() != 12
        || !account.chars().all(|c| c.is_ascii_digit())
        || !arn.starts_with("arn:")
    {
        return Err(format!(
            "`{text}` is not ACCOUNT=ROLE_ARN with a 12-digit account"
        ));
    }
    Ok((account.to_owned(), arn.to_owned()))
}

impl DeployArgs {
    fn options(&self) -> engine::DeployOptions {
        engine::DeployOptions {
            role_name: self.role_name.clone(),
            role_arns: self.role_arns.iter().cloned().collect(),
            profiles: self.profiles.iter().cloned().collect(),
            operation_timeout: std::time::Duration::from_secs(self.call_timeout_secs.max(1)),
            stack_timeout: std::time::Duration::from_secs(self.stack_timeout_mins.max(1) * 60),
            concurrency: self.concurrency,
            yes: self.yes,
            require_approval: self.require_approval.into(),
            interactive: !self.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()),
            max_attempts: self.max_attempts,
            select: self.stacks.clone(),
            outputs_file: self.outputs_file.clone(),
            adopt: self.adopt,
            ..engine::DeployOptions::default()
        }
    }
}

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
    #[error("some stacks did not succeed:\n{0}")]
    Incomplete(String),
}

/// Parses the process's arguments, runs the command against `app`, prints any error and
/// returns the exit code.
pub fn run(app: &App) -> ExitCode {
    let cli = Cli::parse();
    match execute(
        app,
        cli.command.unwrap_or(Command::Synth {
            output: "synth-out".into(),
            quiet: false,
        }),
        &mut std::io::stdout(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // The causes (an AWS error, an I/O error) say what exactly went wrong.
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
pub fn execute(app: &App, command: Command, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        Command::Synth { output, quiet } => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&output)?;
            if !quiet {
                report_synth(&assembly, &folder, out).map_err(CliError::Output)?;
            }
        }
        Command::List => {
            let assembly = app.synth()?;
            list(&assembly, out).map_err(CliError::Output)?;
        }
        Command::Diff(args) => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&args.output)?;
            let options = args.options();
            let plan = runtime().block_on(async {
                engine::diff(&engine::base_config(&options).await, &folder, &options).await
            })?;
            write!(out, "{}", plan.render()).map_err(CliError::Output)?;
        }
        Command::Deploy(args) => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&args.output)?;
            let options = args.options();
            let summary = runtime().block_on(async {
                engine::deploy(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
        Command::Bootstrap(args) => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&args.output)?;
            let options = args.options();
            let summary = runtime().block_on(async {
                engine::bootstrap(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
        Command::Destroy(args) => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&args.output)?;
            let options = args.options();
            let summary = runtime().block_on(async {
                engine::destroy(&engine::base_config(&options).await, &folder, &options).await
            })?;
            finish(summary, out)?;
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

fn finish(summary: engine::Summary, out: &mut impl Write) -> Result<(), CliError> {
    write!(out, "{}", summary.render()).map_err(CliError::Output)?;
    if summary.succeeded() {
        Ok(())
    } else {
        Err(CliError::Incomplete(summary.render()))
    }
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
    for stack in stacks.iter().filter(|stack| stack.template_requires_upload) {
        writeln!(
            out,
            "  note: {} is {} bytes, over the 51,200-byte inline limit; it deploys through an S3 upload",
            stack.id, stack.template_bytes
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

fn list(assembly: &CloudAssembly, out: &mut impl Write) -> std::io::Result<()> {
    for stage in &assembly.manifest.stages {
        writeln!(
            out,
            "{} (account {}, {})",
            stage.id, stage.account, stage.region
        )?;
        for stack in assembly
            .manifest
            .stacks
            .iter()
            .filter(|stack| stack.stage == stage.id)
        {
            let after = if stack.dependencies.is_empty() {
                String::new()
            } else {
                format!(" after {}", stack.dependencies.join(", "))
            };
            writeln!(out, "  {} as stack {}{after}", stack.id, stack.stack_name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hyperpod_core::{CfnResource, Environment, Scope, Stack, StackProps, Stage, TagFormat};

    use super::*;

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

    #[test]
    fn list_shows_accounts_regions_and_deploy_order() {
        let mut out = Vec::new();
        execute(&two_stage_app(), Command::List, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data (account 333333333333, us-east-1)\n  data/Storage as stack cli-test-data-Storage\ncluster (account 111111111111, eu-west-1)\n  cluster/Access as stack cli-test-cluster-Access after data/Storage\n"
        );
    }

    #[test]
    fn synth_writes_the_assembly_and_reports_where() {
        let dir = std::env::temp_dir().join(format!("hyperpod-deploy-test-{}", std::process::id()));
        let mut out = Vec::new();
        execute(
            &two_stage_app(),
            Command::Synth {
                output: dir.clone(),
                quiet: false,
            },
            &mut out,
        )
        .unwrap();
        assert!(dir.join("cli-test/manifest.json").is_file());
        assert!(dir.join("cli-test/cluster/Access.template.json").is_file());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("synthesized 2 stack(s) of `cli-test`")
        );
        std::fs::remove_dir_all(dir).unwrap();
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
            Command::Synth {
                output: dir.clone(),
                quiet: false,
            },
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
    fn deploy_options_parse_from_the_command_line() {
        let cli = Cli::try_parse_from([
            "app",
            "deploy",
            "cluster",
            "--yes",
            "--concurrency",
            "2",
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
        let options = args.options();
        assert!(options.yes && !options.interactive);
        assert_eq!(options.select, ["cluster"]);
        assert_eq!(options.concurrency, 2);
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
            Command::Synth {
                output: "unused".into(),
                quiet: true,
            },
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
