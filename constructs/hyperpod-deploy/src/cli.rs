//! The arguments of the command line: one set per command, so that an option that means
//! nothing for a command is refused by it, with the groups several commands share.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::engine;

/// The command line of an app.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Synthesize this app's CloudFormation templates, and deploy them across accounts"
)]
pub struct Cli {
    /// Say more: every change of a change set and every asset upload.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// The command; `synth` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A command of the app's command line.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every stack's template and the manifest to `<output>/<app>/`; with stacks
    /// named, print their templates too.
    Synth(SynthArgs),
    /// List the stacks in the order they deploy, with their accounts and regions.
    List(ListArgs),
    /// Synthesize, then show the plan: per stack what would change, be replaced, be
    /// deleted and which permissions would widen. Nothing is changed.
    Diff(DiffArgs),
    /// Synthesize, show the plan for every account, ask once, then deploy the stacks in
    /// dependency order across accounts.
    Deploy(DeployArgs),
    /// Delete the stacks (and the ones that depend on them) in reverse dependency order,
    /// after one confirmation naming each with its account and region.
    Destroy(DestroyArgs),
    /// Create the staging bucket (for templates over the inline limit) in every account and
    /// region of the selected stacks.
    Bootstrap(BootstrapArgs),
}

/// The options of `synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Print these stacks' templates (ids `<stage>/<stack>`, stages or stack names; `*` and
    /// `?` match).
    pub stacks: Vec<String>,
    /// The folder that holds the assemblies of all apps.
    #[arg(long, default_value = "synth-out")]
    pub output: PathBuf,
    /// Print nothing but errors (and the templates asked for).
    #[arg(long)]
    pub quiet: bool,
}

impl Default for SynthArgs {
    fn default() -> Self {
        SynthArgs {
            stacks: Vec::new(),
            output: "synth-out".into(),
            quiet: false,
        }
    }
}

/// The options of `list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Also the stack names, termination protection, template sizes and assets.
    #[arg(long, short)]
    pub long: bool,
    /// As JSON, in deploy order.
    #[arg(long, conflicts_with = "graph")]
    pub json: bool,
    /// The stacks grouped by account with their dependencies, as Mermaid (renders where
    /// the README is read) or DOT.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "mermaid")]
    pub graph: Option<GraphFormat>,
    /// The folder that holds the assemblies of all apps (its `placement.json` is kept to).
    #[arg(long, default_value = "synth-out")]
    pub output: PathBuf,
}

impl Default for ListArgs {
    fn default() -> Self {
        ListArgs {
            long: false,
            json: false,
            graph: None,
            output: "synth-out".into(),
        }
    }
}

/// The formats of `list --graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// Which stacks a command acts on.
#[derive(Debug, Args, Clone, Default)]
pub struct Selection {
    /// The stacks: ids `<stage>/<stack>`, stages or stack names, `*` and `?` matching;
    /// every stack when none is given.
    pub stacks: Vec<String>,
    /// Every stack of the app (the same as naming none).
    #[arg(long, conflicts_with = "stacks")]
    pub all: bool,
    /// Only the stacks named: not their dependencies (deploy, diff) or dependents
    /// (destroy).
    #[arg(long, short = 'e')]
    pub exclusively: bool,
}

/// How the engine reaches the accounts.
#[derive(Debug, Args, Clone)]
pub struct Connection {
    /// The named profile of the base identity (the AWS config files).
    #[arg(long)]
    pub profile: Option<String>,
    /// The role assumed in each account the base identity is not in.
    #[arg(long, default_value = "OrganizationAccountAccessRole")]
    pub role_name: String,
    /// The role to assume in one account, as `ACCOUNT=ROLE_ARN` (repeatable).
    #[arg(long = "role-arn", value_parser = parse_role_arn)]
    pub role_arns: Vec<(String, String)>,
    /// The named profile to use for one account, as `ACCOUNT=PROFILE` (repeatable).
    #[arg(long = "profile-for", value_parser = parse_profile)]
    pub profiles: Vec<(String, String)>,
    /// Attempts per AWS call (throttling and transient failures are retried with
    /// backoff).
    #[arg(long, default_value_t = 12)]
    pub max_attempts: u32,
    /// Seconds one AWS call may take, its retries included (each attempt at most 60).
    #[arg(long, default_value_t = 300)]
    pub call_timeout_secs: u64,
    /// Minutes one stack may take to deploy or delete.
    #[arg(long, default_value_t = 180)]
    pub stack_timeout_mins: u64,
    /// The folder that holds the assemblies of all apps.
    #[arg(long, default_value = "synth-out")]
    pub output: PathBuf,
}

/// The options of `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The stacks.
    #[command(flatten)]
    pub selection: Selection,
    /// The accounts.
    #[command(flatten)]
    pub connection: Connection,
    /// Exit with status 1 when anything would change.
    #[arg(long)]
    pub fail: bool,
    /// The plan as JSON, for tools.
    #[arg(long)]
    pub json: bool,
    /// Compare with an earlier assembly folder (a previous `synth-out/`) instead of what is
    /// deployed: the templates only, no AWS call, for code review.
    #[arg(long)]
    pub against: Option<PathBuf>,
}

/// The options of `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The stacks.
    #[command(flatten)]
    pub selection: Selection,
    /// The accounts.
    #[command(flatten)]
    pub connection: Connection,
    /// Approve the plan without asking.
    #[arg(long)]
    pub yes: bool,
    /// What in the plan needs approval: `never`, `any-change`, or `broadening`
    /// (permissions and network rules granted, resources replaced or deleted, stacks
    /// re-created).
    #[arg(long, value_enum, default_value_t = ApprovalLevel::Broadening)]
    pub require_approval: ApprovalLevel,
    /// How many stacks deploy at once in the whole run.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How many stacks deploy at once in one account and region (CloudFormation's request
    /// rates are per account and region).
    #[arg(long, default_value_t = 4)]
    pub account_concurrency: usize,
    /// Write every stack's outputs to this JSON file.
    #[arg(long)]
    pub outputs_file: Option<PathBuf>,
    /// Leave a failed stack as it failed, for inspection, instead of rolling it back; the
    /// summary says how to go on or roll back.
    #[arg(long)]
    pub no_rollback: bool,
    /// Take over stacks of the same name that no app of this tool deployed (they carry no
    /// `hyperpod:app` tag); without it they are refused.
    #[arg(long)]
    pub adopt: bool,
}

/// The options of `destroy`.
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The stacks.
    #[command(flatten)]
    pub selection: Selection,
    /// The accounts.
    #[command(flatten)]
    pub connection: Connection,
    /// Confirm without asking.
    #[arg(long)]
    pub yes: bool,
    /// Turn off the termination protection of the stacks that have it, after the
    /// confirmation, and delete them too.
    #[arg(long)]
    pub lift_termination_protection: bool,
    /// Delete stacks of the same name that no app of this tool deployed.
    #[arg(long)]
    pub adopt: bool,
}

/// The options of `bootstrap`.
#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// The stacks.
    #[command(flatten)]
    pub selection: Selection,
    /// The accounts.
    #[command(flatten)]
    pub connection: Connection,
    /// Take over a staging stack made before stacks carried the `hyperpod:app` tag.
    #[arg(long)]
    pub adopt: bool,
}

/// The levels of `--require-approval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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

/// Whether a person can answer questions: standard input is a terminal.
fn at_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdin())
}

impl Connection {
    /// The engine's options for this connection and selection; the command's own options
    /// are added by the caller.
    pub fn options(&self, selection: &Selection, verbose: bool) -> engine::DeployOptions {
        engine::DeployOptions {
            profile: self.profile.clone(),
            role_name: self.role_name.clone(),
            role_arns: self.role_arns.iter().cloned().collect(),
            profiles: self.profiles.iter().cloned().collect(),
            operation_timeout: std::time::Duration::from_secs(self.call_timeout_secs.max(1)),
            stack_timeout: std::time::Duration::from_secs(
                self.stack_timeout_mins.clamp(1, 7 * 24 * 60) * 60,
            ),
            max_attempts: self.max_attempts,
            select: selection.stacks.clone(),
            exclusively: selection.exclusively,
            verbose,
            ..engine::DeployOptions::default()
        }
    }
}

impl DeployArgs {
    /// The engine's options.
    pub fn options(&self, verbose: bool) -> engine::DeployOptions {
        engine::DeployOptions {
            concurrency: self.concurrency,
            account_concurrency: self.account_concurrency,
            yes: self.yes,
            require_approval: self.require_approval.into(),
            interactive: !self.yes && at_terminal(),
            outputs_file: self.outputs_file.clone(),
            no_rollback: self.no_rollback,
            adopt: self.adopt,
            handle_signals: true,
            ..self.connection.options(&self.selection, verbose)
        }
    }
}

impl DestroyArgs {
    /// The engine's options.
    pub fn options(&self, verbose: bool) -> engine::DeployOptions {
        engine::DeployOptions {
            yes: self.yes,
            interactive: !self.yes && at_terminal(),
            lift_termination_protection: self.lift_termination_protection,
            adopt: self.adopt,
            ..self.connection.options(&self.selection, verbose)
        }
    }
}
