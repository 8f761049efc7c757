//! The deploy engine: credentials per account, a pre-flight in every account, stacks
//! deployed through change sets in dependency order across accounts, deploy-time
//! parameters filled from producers' outputs, and destroy in reverse order.

mod accounts;
mod assets;
mod bootstrap;
mod change_set;
mod destroy;
mod errors;
mod events;
mod interrupt;
mod ownership;
mod parameters;
mod plan;
pub mod progress;
mod schedule;
mod selection;
mod stack;
mod stack_set;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyperpod_core::{Manifest, StackManifest};

pub use accounts::{Accounts, base_config, retry_config, timeout_config};
pub use assets::staging_bucket;
pub use bootstrap::bootstrap;
pub use destroy::destroy;
pub use errors::{CallFailure, FailureKind};
pub use plan::{Plan, PlannedAction, StackPlan, diff, diff_against};
pub use schedule::deploy;
pub use selection::{Pull, deploy_order, glob_matches, select};

/// How the engine reaches the accounts and how careful it is.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// The role assumed in each account the base identity is not in.
    pub role_name: String,
    /// A role ARN per account, instead of `role_name`.
    pub role_arns: BTreeMap<String, String>,
    /// A named profile per account (from the AWS config files), instead of a role.
    pub profiles: BTreeMap<String, String>,
    /// How many stacks deploy at once in the whole run.
    pub concurrency: usize,
    /// How many stacks deploy at once in one account and region, where CloudFormation's
    /// request rates apply.
    pub account_concurrency: usize,
    /// Approves the plan (replacements, widened permissions, deletions) without asking.
    pub yes: bool,
    /// What in a plan needs approval before anything changes.
    pub require_approval: RequireApproval,
    /// Asks on the terminal for what needs approval (never when no terminal is attached:
    /// then what needs approval is refused unless `yes`).
    pub interactive: bool,
    /// Attempts per AWS call (retries are never infinite).
    pub max_attempts: u32,
    /// Timeout of one AWS call.
    pub operation_timeout: Duration,
    /// How long one stack may take to deploy or delete.
    pub stack_timeout: Duration,
    /// How often stack and change-set states are polled.
    pub poll_interval: Duration,
    /// Act only on the stacks these patterns name (ids `<stage>/<stack>`, stages or stack
    /// names, with `*` and `?`); all when empty. A deploy takes their dependencies along, a
    /// destroy their dependents, unless `exclusively`.
    pub select: Vec<String>,
    /// Only the stacks `select` names.
    pub exclusively: bool,
    /// The named profile of the base identity (from the AWS config files).
    pub profile: Option<String>,
    /// Leaves a failed stack as it failed, for inspection, instead of rolling it back.
    pub no_rollback: bool,
    /// Lets destroy turn off termination protection (after the confirmation).
    pub lift_termination_protection: bool,
    /// Prints every change of a change set and every asset upload.
    pub verbose: bool,
    /// Stops on SIGINT (Ctrl-C) or SIGTERM: no new stack starts, what is in flight is
    /// reported, and a second signal ends the process at once (the command line sets it).
    pub handle_signals: bool,
    /// Writes every stack's outputs there as JSON after a deploy.
    pub outputs_file: Option<PathBuf>,
    /// Takes over stacks of the same name that no app of this tool deployed (they have no
    /// ownership tags); without it they are refused.
    pub adopt: bool,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            role_name: "OrganizationAccountAccessRole".into(),
            role_arns: BTreeMap::new(),
            profiles: BTreeMap::new(),
            concurrency: 8,
            account_concurrency: 4,
            yes: false,
            require_approval: RequireApproval::default(),
            interactive: false,
            max_attempts: 12,
            operation_timeout: Duration::from_secs(300),
            stack_timeout: Duration::from_secs(3 * 60 * 60),
            poll_interval: Duration::from_secs(5),
            select: Vec::new(),
            exclusively: false,
            profile: None,
            no_rollback: false,
            lift_termination_protection: false,
            verbose: false,
            handle_signals: false,
            outputs_file: None,
            adopt: false,
        }
    }
}

/// What in a plan needs approval (`--require-approval`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequireApproval {
    /// Nothing: the plan is shown and carried out.
    Never,
    /// Any change to any stack.
    AnyChange,
    /// What widens access or destroys: permissions and network rules granted, resources
    /// replaced or removed (unless retained), stacks re-created (the default).
    #[default]
    Broadening,
}

/// Why the engine stopped before deploying anything.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No base identity could be established.
    #[error("establishing the base AWS identity failed, nothing was changed: {}", base_advice(.0))]
    BaseIdentity(CallFailure),
    /// An account could not be reached.
    #[error("reaching account {account} through {via} failed, nothing was changed: {}", account_advice(.failure, .via))]
    Unreachable {
        /// The account.
        account: String,
        /// The role or profile that was used.
        via: String,
        /// What failed.
        failure: CallFailure,
    },
    /// Credentials meant for one account act in another.
    #[error(
        "the credentials for account {expected} act in account {actual}; fix the role ARN of account {expected}, nothing was changed"
    )]
    WrongAccount {
        /// The account the stacks belong to.
        expected: String,
        /// The account the credentials act in.
        actual: String,
    },
    /// The selection names no stack.
    #[error("`{0}` names no stack of this app; run `list` to see them")]
    UnknownSelection(String),
    /// A template could not be read from the assembly.
    #[error("cannot read {}", path.display())]
    Assembly {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// What to do about a failed pre-flight of the base identity, by its cause.
fn base_advice(failure: &CallFailure) -> String {
    let advice = match failure.kind {
        FailureKind::NoCredentials => {
            "configure credentials (environment, a profile with --profile, or `aws sso login`)"
        }
        FailureKind::NoRegion => "set a region (AWS_REGION, or the profile's region)",
        FailureKind::Denied => "the credentials were refused; refresh them or use others",
        FailureKind::Throttled => "AWS throttled the call; wait a moment and run again",
        FailureKind::Unreachable | FailureKind::TimedOut => {
            "AWS could not be reached; check the network, the region and AWS_ENDPOINT_URL"
        }
        FailureKind::Service | FailureKind::Other => {
            "AWS answered with an error; if it persists, check the region and AWS_ENDPOINT_URL"
        }
    };
    format!("{failure}; {advice}")
}

/// What to do about a failed pre-flight of one account, by its cause.
fn account_advice(failure: &CallFailure, via: &str) -> String {
    let advice = match failure.kind {
        FailureKind::NoCredentials | FailureKind::Denied => format!(
            "{via} could not be assumed or used; check that it exists in the account and trusts the base identity (or give --role-arn / --profile-for)"
        ),
        FailureKind::Throttled => "AWS throttled the call; wait a moment and run again".into(),
        FailureKind::Unreachable | FailureKind::TimedOut => {
            "AWS could not be reached; check the network, the region and AWS_ENDPOINT_URL".into()
        }
        FailureKind::NoRegion => "set a region (AWS_REGION, or the profile's region)".into(),
        FailureKind::Service | FailureKind::Other => {
            "AWS answered with an error; if it persists, check the region and AWS_ENDPOINT_URL"
                .into()
        }
    };
    format!("{failure}; {advice}")
}

/// What happened to one stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Created or updated.
    Deployed,
    /// Template, parameters and tags already deployed: no change set was created.
    Unchanged,
    /// Deleted.
    Destroyed,
    /// It failed, with the reason.
    Failed(String),
    /// Left as it was because what it needed was not approved or is not allowed (another
    /// app's stack), with the reason.
    Refused(String),
    /// Not attempted because a stack it depends on did not deploy.
    NotAttempted(String),
    /// The run was stopped (Ctrl-C) while the stack was deploying.
    Interrupted(String),
}

/// The result of one stack.
#[derive(Clone, Debug)]
pub struct StackResult {
    /// The stack's id (`<stage>/<stack>`).
    pub id: String,
    /// Its account.
    pub account: String,
    /// Its region.
    pub region: String,
    /// What happened.
    pub outcome: Outcome,
    /// Its outputs after a deploy.
    pub outputs: BTreeMap<String, String>,
    /// Asset files uploaded for this stack, and the ones already there.
    pub uploads: (usize, usize),
}

/// The result of a whole run.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Per stack, in the order they were planned.
    pub stacks: Vec<StackResult>,
}

impl Summary {
    /// Whether every stack deployed, was unchanged or was destroyed.
    pub fn succeeded(&self) -> bool {
        self.stacks.iter().all(|s| {
            matches!(
                s.outcome,
                Outcome::Deployed | Outcome::Unchanged | Outcome::Destroyed
            )
        })
    }

    /// The outcome of one stack.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.stacks.iter().find(|s| s.id == id).map(|s| &s.outcome)
    }

    /// A table per account and stack.
    pub fn render(&self) -> String {
        let mut out = String::from("summary:\n");
        for stack in &self.stacks {
            let outcome = match &stack.outcome {
                Outcome::Deployed => "deployed".to_owned(),
                Outcome::Unchanged => "unchanged".to_owned(),
                Outcome::Destroyed => "destroyed".to_owned(),
                Outcome::Failed(reason) => format!("FAILED: {reason}"),
                Outcome::Refused(reason) => format!("refused: {reason}"),
                Outcome::NotAttempted(reason) => format!("not attempted: {reason}"),
                Outcome::Interrupted(reason) => format!("interrupted: {reason}"),
            };
            out.push_str(&format!(
                "  {} {} {}: {outcome}\n",
                stack.account, stack.region, stack.id
            ));
        }
        let unchanged = self
            .stacks
            .iter()
            .filter(|s| s.outcome == Outcome::Unchanged)
            .count();
        if unchanged > 0 && unchanged < self.stacks.len() {
            // What a rerun after a stop skips: it starts where the last run stopped.
            out.push_str(&format!(
                "  {unchanged} stack(s) were already deployed as they are and were left alone\n"
            ));
        }
        out
    }
}

pub(super) fn result(stack: &StackManifest, outcome: Outcome) -> StackResult {
    StackResult {
        id: stack.id.clone(),
        account: stack.account.clone(),
        region: stack.region.clone(),
        outcome,
        outputs: BTreeMap::new(),
        uploads: (0, 0),
    }
}

pub(super) fn read_manifest(assembly_dir: &Path) -> Result<Manifest, DeployError> {
    let path = assembly_dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|source| DeployError::Assembly {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| DeployError::Assembly {
        path,
        source: std::io::Error::other(e),
    })
}

pub(super) fn say(stack: &StackManifest, message: impl std::fmt::Display) {
    progress::say(stack, message);
}

/// Whether what needs approval may go ahead: `--yes`, or a yes typed at the terminal
/// (never without one).
pub(super) async fn approve(options: &DeployOptions, question: String) -> bool {
    if options.yes {
        return true;
    }
    if !options.interactive {
        return false;
    }
    let prompt = format!("{question} [y/N] ");
    let answer = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    });
    // Ctrl-C at the question is a no.
    tokio::select! {
        answer = answer => answer.unwrap_or(false),
        _ = tokio::signal::ctrl_c() => {
            println!();
            false
        }
    }
}
