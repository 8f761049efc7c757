//! The deploy engine: credentials per account, a pre-flight in every account, stacks
//! deployed through change sets in dependency order across accounts, deploy-time
//! parameters filled from producers' outputs, and destroy in reverse order.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, Parameter, StackStatus, Tag,
};
use hyperpod_core::{Manifest, StackManifest};
use tokio::sync::{Mutex, Semaphore};

/// How the engine reaches the accounts and how careful it is.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// The role assumed in each account the base identity is not in.
    pub role_name: String,
    /// A role ARN per account, instead of `role_name`.
    pub role_arns: BTreeMap<String, String>,
    /// A named profile per account (from the AWS config files), instead of a role.
    pub profiles: BTreeMap<String, String>,
    /// How many stacks deploy at once.
    pub concurrency: usize,
    /// Approves replacements, widened permissions and deletions without asking.
    pub yes: bool,
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
    /// Deploy only these stacks (`<stage>/<stack>` or `<stage>`); all when empty.
    pub select: Vec<String>,
    /// Writes every stack's outputs there as JSON after a deploy.
    pub outputs_file: Option<PathBuf>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            role_name: "OrganizationAccountAccessRole".into(),
            role_arns: BTreeMap::new(),
            profiles: BTreeMap::new(),
            concurrency: 4,
            yes: false,
            interactive: false,
            max_attempts: 3,
            operation_timeout: Duration::from_secs(60),
            stack_timeout: Duration::from_secs(3 * 60 * 60),
            poll_interval: Duration::from_secs(5),
            select: Vec::new(),
            outputs_file: None,
        }
    }
}

/// Why the engine stopped before deploying anything.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No base identity could be established.
    #[error(
        "cannot establish the base AWS identity; configure credentials (environment, profile or SSO) and try again"
    )]
    BaseIdentity(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An account could not be reached.
    #[error(
        "cannot reach account {account} through {role}; check that the role exists and trusts the base identity"
    )]
    Unreachable {
        /// The account.
        account: String,
        /// The role that was assumed.
        role: String,
        /// The AWS error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    /// Not attempted because a stack it depends on did not deploy.
    NotAttempted(String),
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
                Outcome::NotAttempted(reason) => format!("not attempted: {reason}"),
            };
            out.push_str(&format!(
                "  {} {} {}: {outcome}\n",
                stack.account, stack.region, stack.id
            ));
        }
        out
    }
}

/// The base configuration from the standard chain and `AWS_ENDPOINT_URL`, with bounded
/// retries and timeouts.
pub async fn base_config(options: &DeployOptions) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(options.max_attempts.max(1)),
        )
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(options.operation_timeout)
                .build(),
        )
        .load()
        .await
}

/// The credentials of every account, checked.
pub struct Accounts {
    configs: BTreeMap<String, SdkConfig>,
}

impl Accounts {
    /// Establishes the base identity, then for every account either uses it (when it is
    /// already in that account) or assumes the account's deploy role, and checks with
    /// `sts:GetCallerIdentity` that the credentials act in that account.
    pub async fn connect(
        base: &SdkConfig,
        accounts: &BTreeSet<String>,
        options: &DeployOptions,
    ) -> Result<Accounts, DeployError> {
        let identity = aws_sdk_sts::Client::new(base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| DeployError::BaseIdentity(Box::new(e)))?;
        let base_account = identity.account().unwrap_or_default().to_owned();
        let partition = identity
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .unwrap_or("aws")
            .to_owned();
        let mut configs = BTreeMap::new();
        for account in accounts {
            let overridden = options.role_arns.get(account);
            let config = if let Some(profile) = options.profiles.get(account) {
                let config =
                    aws_config::defaults(BehaviorVersion::latest())
                        .profile_name(profile)
                        .retry_config(
                            base.retry_config()
                                .cloned()
                                .unwrap_or_else(aws_config::retry::RetryConfig::standard),
                        )
                        .timeout_config(base.timeout_config().cloned().unwrap_or_else(|| {
                            aws_config::timeout::TimeoutConfig::builder().build()
                        }))
                        .load()
                        .await;
                verify_account(&config, account, &format!("profile {profile}")).await?;
                config
            } else if overridden.is_none() && *account == base_account {
                base.clone()
            } else {
                let role = overridden.cloned().unwrap_or_else(|| {
                    format!("arn:{partition}:iam::{account}:role/{}", options.role_name)
                });
                let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("hyperpod-deploy")
                    .configure(base)
                    .build()
                    .await;
                let config = base
                    .to_builder()
                    .credentials_provider(
                        aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
                    )
                    .build();
                verify_account(&config, account, &role).await?;
                config
            };
            configs.insert(account.clone(), config);
        }
        Ok(Accounts { configs })
    }

    /// The account's configuration in a region.
    fn config(&self, account: &str, region: &str) -> SdkConfig {
        self.configs[account]
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build()
    }

    fn s3(&self, account: &str, region: &str) -> aws_sdk_s3::Client {
        let config = self.config(account, region);
        // A local endpoint (an emulator) has no per-bucket host names.
        let path_style = config.endpoint_url().is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        )
    }

    fn client(&self, account: &str, region: &str) -> CloudFormation {
        CloudFormation::new(&self.config(account, region))
    }
}

/// The accounts of the stacks, and of the producers whose outputs fill their deploy-time
/// parameters (read with the producers' own credentials).
fn accounts_involved(manifest: &Manifest, stacks: &[&StackManifest]) -> BTreeSet<String> {
    let producers = stacks
        .iter()
        .flat_map(|s| &s.parameters)
        .filter_map(|p| manifest.stacks.iter().find(|m| m.id == p.producer_stack));
    stacks
        .iter()
        .copied()
        .chain(producers)
        .map(|s| s.account.clone())
        .collect()
}

/// The pre-flight: the credentials reached `via` (a role or a profile) must act in
/// `account`, or nothing is touched.
async fn verify_account(config: &SdkConfig, account: &str, via: &str) -> Result<(), DeployError> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| DeployError::Unreachable {
            account: account.to_owned(),
            role: via.to_owned(),
            source: Box::new(e),
        })?;
    let actual = identity.account().unwrap_or_default();
    if actual != account {
        return Err(DeployError::WrongAccount {
            expected: account.to_owned(),
            actual: actual.to_owned(),
        });
    }
    Ok(())
}

/// The stacks selected (all of them when the selection is empty), in manifest order.
fn selected<'m>(
    manifest: &'m Manifest,
    options: &DeployOptions,
) -> Result<Vec<&'m StackManifest>, DeployError> {
    if options.select.is_empty() {
        return Ok(manifest.stacks.iter().collect());
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for selection in &options.select {
        let matching: Vec<&StackManifest> = manifest
            .stacks
            .iter()
            .filter(|s| s.id == *selection || s.stage == *selection)
            .collect();
        if matching.is_empty() {
            return Err(DeployError::UnknownSelection(selection.clone()));
        }
        wanted.extend(matching.iter().map(|s| s.id.clone()));
    }
    Ok(manifest
        .stacks
        .iter()
        .filter(|s| wanted.contains(&s.id))
        .collect())
}

/// Deploys the selected stacks of the assembly in `assembly_dir` (the folder holding
/// `manifest.json`), in dependency order across accounts.
pub async fn deploy(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Summary, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = selected(&manifest, options)?;
    let accounts = accounts_involved(&manifest, &stacks);
    let accounts = Arc::new(Accounts::connect(base, &accounts, options).await?);
    let mut templates = HashMap::new();
    for stack in &stacks {
        let path = assembly_dir.join(&stack.template);
        let body = std::fs::read_to_string(&path)
            .map_err(|source| DeployError::Assembly { path, source })?;
        templates.insert(stack.id.clone(), body);
    }

    let results: Arc<Mutex<BTreeMap<String, StackResult>>> = Arc::default();
    let semaphore = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let selected_ids: BTreeSet<String> = stacks.iter().map(|s| s.id.clone()).collect();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut running = tokio::task::JoinSet::new();
    loop {
        // Start every stack whose dependencies have deployed; a stack behind a failure is
        // not attempted, while unrelated stacks go on.
        let mut progressed = false;
        let settled = results.lock().await.clone();
        for stack in &stacks {
            if started.contains(&stack.id) {
                continue;
            }
            let dependencies: Vec<&String> = stack
                .dependencies
                .iter()
                .filter(|d| selected_ids.contains(*d))
                .collect();
            if let Some(failed) = dependencies.iter().find(|d| {
                settled
                    .get(**d)
                    .is_some_and(|r| !matches!(r.outcome, Outcome::Deployed | Outcome::Unchanged))
            }) {
                started.insert(stack.id.clone());
                results.lock().await.insert(
                    stack.id.clone(),
                    result(
                        stack,
                        Outcome::NotAttempted(format!("{failed} did not deploy")),
                    ),
                );
                progressed = true;
            } else if dependencies.iter().all(|d| settled.contains_key(*d)) {
                started.insert(stack.id.clone());
                progressed = true;
                let (stack, body, accounts, results, semaphore, options, manifest) = (
                    (*stack).clone(),
                    templates[&stack.id].clone(),
                    accounts.clone(),
                    results.clone(),
                    semaphore.clone(),
                    options.clone(),
                    manifest.clone(),
                );
                let assembly = assembly_dir.to_path_buf();
                running.spawn(async move {
                    let _permit = semaphore
                        .acquire_owned()
                        .await
                        .expect("the semaphore is never closed");
                    let (outcome, outputs, uploads) = deploy_stack(
                        &accounts, &manifest, &assembly, &stack, &body, &options, &results,
                    )
                    .await;
                    let mut done = result(&stack, outcome);
                    done.outputs = outputs;
                    done.uploads = uploads;
                    results.lock().await.insert(stack.id.clone(), done);
                });
            }
        }
        if running.join_next().await.is_none() && !progressed {
            break;
        }
    }
    let results = results.lock().await;
    // A stack without a result (its task died) is reported, never silently left out.
    let summary = Summary {
        stacks: stacks
            .iter()
            .map(|s| {
                results.get(&s.id).cloned().unwrap_or_else(|| {
                    result(
                        s,
                        Outcome::NotAttempted("the engine stopped before reaching it".into()),
                    )
                })
            })
            .collect(),
    };
    if let Some(path) = &options.outputs_file {
        let outputs: BTreeMap<&String, &BTreeMap<String, String>> =
            summary.stacks.iter().map(|s| (&s.id, &s.outputs)).collect();
        let json = serde_json::to_string_pretty(&outputs).expect("outputs serialize");
        std::fs::write(path, json + "\n").map_err(|source| DeployError::Assembly {
            path: path.clone(),
            source,
        })?;
    }
    Ok(summary)
}

fn result(stack: &StackManifest, outcome: Outcome) -> StackResult {
    StackResult {
        id: stack.id.clone(),
        account: stack.account.clone(),
        region: stack.region.clone(),
        outcome,
        outputs: BTreeMap::new(),
        uploads: (0, 0),
    }
}

fn read_manifest(assembly_dir: &Path) -> Result<Manifest, DeployError> {
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

fn say(stack: &StackManifest, message: impl std::fmt::Display) {
    println!(
        "{} ({} {}): {message}",
        stack.id, stack.account, stack.region
    );
}

/// The error text of an SDK error: the service's code and message when it answered, the
/// whole chain of causes otherwise (moto's HTML errors have no code).
fn describe<E>(error: &aws_sdk_cloudformation::error::SdkError<E>) -> String
where
    E: std::error::Error + aws_sdk_cloudformation::error::ProvideErrorMetadata + 'static,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => aws_sdk_cloudformation::error::DisplayErrorContext(error).to_string(),
    }
}

/// Whether a change that needs approval may go ahead: `--yes`, or a yes typed at the
/// terminal. Questions are asked one at a time, whatever runs concurrently.
async fn approve(options: &DeployOptions, stack: &StackManifest, question: String) -> bool {
    static PROMPT: Mutex<()> = Mutex::const_new(());
    if options.yes {
        return true;
    }
    if !options.interactive {
        return false;
    }
    let _turn = PROMPT.lock().await;
    let prompt = format!(
        "{} ({} {}): {question} [y/N] ",
        stack.id, stack.account, stack.region
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        print!("{prompt}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    })
    .await
    .unwrap_or(false)
}

/// Prints a stack's new events as they happen.
struct EventStream {
    seen: std::collections::HashSet<String>,
    settled: usize,
    expected: usize,
}

impl EventStream {
    /// Remembers the events that exist already, so that only new ones are printed.
    async fn start(client: &CloudFormation, name: &str, expected: usize) -> EventStream {
        let mut stream = EventStream {
            seen: Default::default(),
            settled: 0,
            expected,
        };
        if let Ok(events) = client.describe_stack_events().stack_name(name).send().await {
            stream.seen.extend(
                events
                    .stack_events()
                    .iter()
                    .filter_map(|e| e.event_id().map(str::to_owned)),
            );
        }
        stream
    }

    async fn print_new(&mut self, client: &CloudFormation, stack: &StackManifest) {
        let Ok(events) = client
            .describe_stack_events()
            .stack_name(&stack.stack_name)
            .send()
            .await
        else {
            return;
        };
        // The newest come first.
        for event in events.stack_events().iter().rev() {
            let Some(id) = event.event_id() else { continue };
            if !self.seen.insert(id.to_owned()) {
                continue;
            }
            let status = event.resource_status().map(|s| s.as_str()).unwrap_or("?");
            let logical = event.logical_resource_id().unwrap_or("?");
            if logical != stack.stack_name && status.ends_with("_COMPLETE") {
                self.settled += 1;
            }
            let reason = event
                .resource_status_reason()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            say(
                stack,
                format!(
                    "[{}/{}] {logical} {status}{reason}",
                    self.settled.min(self.expected),
                    self.expected
                ),
            );
        }
    }
}

/// Deploys one stack; returns the outcome and the outputs.
#[allow(clippy::too_many_arguments)]
async fn deploy_stack(
    accounts: &Accounts,
    manifest: &Manifest,
    assembly_dir: &Path,
    stack: &StackManifest,
    body: &str,
    options: &DeployOptions,
    results: &Mutex<BTreeMap<String, StackResult>>,
) -> (Outcome, BTreeMap<String, String>, (usize, usize)) {
    let client = accounts.client(&stack.account, &stack.region);
    // Files the stack needs go up first, content-addressed: what is there is not sent again.
    let s3 = accounts.s3(&stack.account, &stack.region);
    let mut uploads = (0, 0);
    for asset in &stack.assets {
        match upload_asset(&s3, assembly_dir, asset).await {
            Ok((sent, present)) => {
                uploads.0 += sent;
                uploads.1 += present;
                say(
                    stack,
                    format!(
                        "asset {}: {sent} file(s) uploaded, {present} already in s3://{}/{}",
                        asset.id, asset.bucket_name, asset.object_key_prefix
                    ),
                );
            }
            Err(reason) => {
                return (
                    Outcome::Failed(format!("uploading asset {} failed: {reason}", asset.id)),
                    BTreeMap::new(),
                    uploads,
                );
            }
        }
    }
    // A template over the inline limit is deployed from the staging bucket.
    let template_url = if stack.template_requires_upload {
        match upload_template(&s3, stack, body).await {
            Ok(url) => Some(url),
            Err(reason) => return (Outcome::Failed(reason), BTreeMap::new(), uploads),
        }
    } else {
        None
    };
    let parameters = match resolve_parameters(accounts, manifest, stack, Some(results)).await {
        Ok(parameters) => parameters,
        Err(reason) => return (Outcome::Failed(reason), BTreeMap::new(), uploads),
    };
    match deploy_with_change_set(
        &client,
        stack,
        body,
        template_url.as_deref(),
        &parameters,
        options,
    )
    .await
    {
        Ok(outcome) => {
            let outputs = if matches!(outcome, Outcome::Deployed | Outcome::Unchanged) {
                stack_outputs(&client, &stack.stack_name)
                    .await
                    .unwrap_or_default()
            } else {
                BTreeMap::new()
            };
            if outcome == Outcome::Deployed {
                for (key, value) in &outputs {
                    say(stack, format!("output {key} = {value}"));
                }
            }
            (outcome, outputs, uploads)
        }
        Err(reason) => (Outcome::Failed(reason), BTreeMap::new(), uploads),
    }
}

async fn stack_outputs(
    client: &CloudFormation,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    let stacks = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(stacks
        .stacks()
        .first()
        .map(|s| {
            s.outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect()
        })
        .unwrap_or_default())
}

/// The deployed stack, `None` when it does not exist.
async fn current(
    client: &CloudFormation,
    name: &str,
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, String> {
    match client.describe_stacks().stack_name(name).send().await {
        Ok(output) => Ok(output.stacks().first().cloned()),
        Err(error) => {
            let text = describe(&error);
            if text.contains("does not exist") {
                Ok(None)
            } else {
                Err(text)
            }
        }
    }
}

async fn deploy_with_change_set(
    client: &CloudFormation,
    stack: &StackManifest,
    body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
) -> Result<Outcome, String> {
    let name = &stack.stack_name;
    let mut existing = current(client, name).await?;
    // A stack busy with another operation is waited for, within the stack timeout.
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    while let Some(status) = existing.as_ref().and_then(|s| s.stack_status().cloned()) {
        if !status.as_str().ends_with("_IN_PROGRESS") || status == StackStatus::ReviewInProgress {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the stack stayed in {} past the timeout; wait for the other operation or cancel it",
                status.as_str()
            ));
        }
        say(
            stack,
            format!(
                "waiting: another operation is running ({})",
                status.as_str()
            ),
        );
        tokio::time::sleep(options.poll_interval).await;
        existing = current(client, name).await?;
    }
    let status = existing.as_ref().and_then(|s| s.stack_status().cloned());
    let change_set_type = match &status {
        None | Some(StackStatus::ReviewInProgress) => ChangeSetType::Create,
        Some(StackStatus::RollbackComplete) => {
            if !approve(options, stack, "the stack is in ROLLBACK_COMPLETE after a failed first create; delete it and create it again?".into()).await {
                return Err("the stack is in ROLLBACK_COMPLETE after a failed first create and must be deleted and created again; run again with --yes to do so".into());
            }
            say(
                stack,
                "deleting the stack left in ROLLBACK_COMPLETE by a failed create",
            );
            client
                .delete_stack()
                .stack_name(name)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            wait_deleted(client, name, options).await?;
            ChangeSetType::Create
        }
        Some(StackStatus::UpdateRollbackFailed) => {
            return Err(format!(
                "the stack is in UPDATE_ROLLBACK_FAILED; continue the rollback with `aws cloudformation continue-update-rollback --stack-name {name}` (skipping the resources that cannot roll back), then deploy again"
            ));
        }
        Some(_) => ChangeSetType::Update,
    };
    let wanted: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the template is not JSON: {e}"))?;
    let deployed_template = if change_set_type == ChangeSetType::Update {
        Some(deployed_template(client, name).await?)
    } else {
        None
    };
    if let (Some(deployed), Some(template)) = (existing.as_ref(), deployed_template.as_ref())
        && unchanged(deployed, template, &wanted, parameters, &stack.tags)
    {
        say(stack, "unchanged");
        return Ok(Outcome::Unchanged);
    }
    let changes = crate::diff::diff(deployed_template.as_ref(), &wanted);

    let (change_set_id, described) = match create_change_set(
        client,
        stack,
        "hyperpod",
        change_set_type.clone(),
        body,
        template_url,
        parameters,
        options,
    )
    .await?
    {
        ChangeSet::Ready(id, described) => (id, described),
        ChangeSet::Failed(reason)
            if reason.contains("didn't contain changes") || reason.contains("No updates") =>
        {
            say(stack, "unchanged");
            return Ok(Outcome::Unchanged);
        }
        ChangeSet::Failed(reason) => return Err(format!("the change set failed: {reason}")),
    };
    for change in described.changes() {
        if let Some(resource) = change.resource_change() {
            let action = resource.action().map(|a| a.as_str()).unwrap_or("?");
            let replacement = resource
                .replacement()
                .map(|r| r.as_str())
                .unwrap_or("False");
            let note = if replacement == "False" {
                String::new()
            } else {
                format!(", replacement: {replacement}")
            };
            say(
                stack,
                format!(
                    "{action} {} ({}){note}",
                    resource.logical_resource_id().unwrap_or("?"),
                    resource.resource_type().unwrap_or("?")
                ),
            );
        }
    }
    let mut replacements = replaced_by(&described);
    for replaced in changes.replaced() {
        if !replacements.iter().any(|r| r == replaced) {
            replacements.push(replaced.to_owned());
        }
    }
    let mut concerns = Vec::new();
    if !replacements.is_empty() {
        concerns.push(format!(
            "replaces {} (their data and identity are lost unless retained)",
            replacements.join(", ")
        ));
    }
    if !changes.widened.is_empty() {
        for grant in &changes.widened {
            say(stack, format!("widens: {grant}"));
        }
        concerns.push(format!("widens {} permission(s)", changes.widened.len()));
    }
    if !concerns.is_empty()
        && !approve(
            options,
            stack,
            format!("this change {}; go ahead?", concerns.join(" and ")),
        )
        .await
    {
        let _ = client
            .delete_change_set()
            .change_set_name(&change_set_id)
            .stack_name(name)
            .send()
            .await;
        return Err(format!(
            "the change {} and was not approved; review it (`diff`) and run again with --yes, or answer yes at the prompt",
            concerns.join(" and ")
        ));
    }
    let mut events = EventStream::start(client, name, described.changes().len()).await;
    client
        .execute_change_set()
        .change_set_name(&change_set_id)
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let final_status = wait_settled(client, stack, options, &mut events).await?;
    if final_status == StackStatus::CreateComplete || final_status == StackStatus::UpdateComplete {
        if change_set_type == ChangeSetType::Create && stack.termination_protection {
            client
                .update_termination_protection()
                .stack_name(name)
                .enable_termination_protection(true)
                .send()
                .await
                .map_err(|e| describe(&e))?;
        }
        say(stack, format!("deployed ({})", final_status.as_str()));
        Ok(Outcome::Deployed)
    } else {
        let reasons = failure_reasons(client, name).await;
        Err(format!(
            "the stack ended in {}: {reasons}",
            final_status.as_str()
        ))
    }
}

/// The template a stack runs now.
async fn deployed_template(
    client: &CloudFormation,
    name: &str,
) -> Result<serde_json::Value, String> {
    let template = client
        .get_template()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    Ok(template
        .template_body()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(serde_json::Value::Null))
}

/// Whether the deployed template, parameters and tags equal the ones to deploy.
fn unchanged(
    deployed: &aws_sdk_cloudformation::types::Stack,
    template: &serde_json::Value,
    wanted: &serde_json::Value,
    parameters: &BTreeMap<String, String>,
    tags: &indexmap::IndexMap<String, String>,
) -> bool {
    let current_parameters: BTreeMap<String, String> = deployed
        .parameters()
        .iter()
        .filter_map(|p| {
            Some((
                p.parameter_key()?.to_owned(),
                p.parameter_value()?.to_owned(),
            ))
        })
        .collect();
    let current_tags: BTreeMap<String, String> = deployed
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
        .collect();
    let wanted_tags: BTreeMap<String, String> =
        tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    template == wanted && current_parameters == *parameters && current_tags == wanted_tags
}

async fn wait_settled(
    client: &CloudFormation,
    stack: &StackManifest,
    options: &DeployOptions,
    events: &mut EventStream,
) -> Result<StackStatus, String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    loop {
        events.print_new(client, stack).await;
        let status = current(client, &stack.stack_name)
            .await?
            .and_then(|s| s.stack_status().cloned())
            .ok_or("the stack disappeared while deploying")?;
        if !status.as_str().ends_with("_IN_PROGRESS") {
            return Ok(status);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the stack is still {} after the timeout; it goes on in CloudFormation",
                status.as_str()
            ));
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

async fn wait_deleted(
    client: &CloudFormation,
    name: &str,
    options: &DeployOptions,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    loop {
        match current(client, name).await? {
            None => return Ok(()),
            Some(stack) if stack.stack_status() == Some(&StackStatus::DeleteComplete) => {
                return Ok(());
            }
            Some(stack) if stack.stack_status() == Some(&StackStatus::DeleteFailed) => {
                return Err(format!(
                    "deleting failed: {}",
                    stack
                        .stack_status_reason()
                        .unwrap_or("see the stack's events")
                ));
            }
            Some(_) if tokio::time::Instant::now() > deadline => {
                return Err("the stack is still being deleted after the timeout".into());
            }
            Some(_) => tokio::time::sleep(options.poll_interval).await,
        }
    }
}

/// The reasons of the failed events of a stack.
async fn failure_reasons(client: &CloudFormation, name: &str) -> String {
    let Ok(events) = client.describe_stack_events().stack_name(name).send().await else {
        return "see the stack's events".into();
    };
    let reasons: Vec<String> = events
        .stack_events()
        .iter()
        .filter(|e| {
            e.resource_status()
                .is_some_and(|s| s.as_str().ends_with("_FAILED"))
        })
        .filter_map(|e| {
            Some(format!(
                "{}: {}",
                e.logical_resource_id()?,
                e.resource_status_reason()?
            ))
        })
        .collect();
    if reasons.is_empty() {
        "see the stack's events".into()
    } else {
        reasons.join("; ")
    }
}

/// Deletes the selected stacks in reverse dependency order, across accounts. Resources
/// kept by their deletion policy are listed afterwards.
pub async fn destroy(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Summary, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = selected(&manifest, options)?;
    let accounts: BTreeSet<String> = stacks.iter().map(|s| s.account.clone()).collect();
    let accounts = Accounts::connect(base, &accounts, options).await?;
    let mut order: Vec<&StackManifest> = Vec::new();
    let mut remaining = stacks.clone();
    // Reverse topological order: a stack goes once nothing remaining depends on it.
    while !remaining.is_empty() {
        let position = remaining
            .iter()
            .position(|s| {
                !remaining
                    .iter()
                    .any(|other| other.dependencies.contains(&s.id))
            })
            .unwrap_or(0);
        order.push(remaining.remove(position));
    }
    let mut summary = Summary::default();
    // A stack whose dependent could not be deleted still serves it: it stays.
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    for stack in order {
        let client = accounts.client(&stack.account, &stack.region);
        let outcome = if let Some(dependent) = kept.get(&stack.id) {
            Outcome::NotAttempted(format!("{dependent} still depends on it"))
        } else if !approve(
            options,
            stack,
            format!(
                "delete stack {} and every resource it does not retain?",
                stack.stack_name
            ),
        )
        .await
        {
            Outcome::Failed("destroying needs approval; run again with --yes".into())
        } else {
            match destroy_stack(&client, stack, assembly_dir, options).await {
                Ok(()) => Outcome::Destroyed,
                Err(reason) => Outcome::Failed(reason),
            }
        };
        if !matches!(outcome, Outcome::Destroyed) {
            for dependency in &stack.dependencies {
                kept.entry(dependency.clone())
                    .or_insert_with(|| stack.id.clone());
            }
        }
        summary.stacks.push(result(stack, outcome));
    }
    Ok(summary)
}

async fn destroy_stack(
    client: &CloudFormation,
    stack: &StackManifest,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<(), String> {
    let Some(deployed) = current(client, &stack.stack_name).await? else {
        say(stack, "not deployed");
        return Ok(());
    };
    if deployed.enable_termination_protection() == Some(true) {
        return Err(format!(
            "termination protection is on; turn it off with `aws cloudformation update-termination-protection --no-enable-termination-protection --stack-name {}` first",
            stack.stack_name
        ));
    }
    client
        .delete_stack()
        .stack_name(&stack.stack_name)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    wait_deleted(client, &stack.stack_name, options).await?;
    say(stack, "destroyed");
    let template: serde_json::Value = std::fs::read(assembly_dir.join(&stack.template))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(resources) = template["Resources"].as_object() {
        for (logical_id, resource) in resources {
            if resource["DeletionPolicy"] == "Retain" {
                say(
                    stack,
                    format!(
                        "retained: {logical_id} ({}) still exists and holds its data",
                        resource["Type"].as_str().unwrap_or("?")
                    ),
                );
            }
        }
    }
    Ok(())
}

/// The difference between what is deployed and the assembly, per selected stack.
pub async fn diff(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Vec<(String, crate::diff::StackDiff)>, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = selected(&manifest, options)?;
    let accounts = accounts_involved(&manifest, &stacks);
    let accounts = Accounts::connect(base, &accounts, options).await?;
    let mut out = Vec::new();
    for stack in stacks {
        let path = assembly_dir.join(&stack.template);
        let body = std::fs::read_to_string(&path).map_err(|source| DeployError::Assembly {
            path: path.clone(),
            source,
        })?;
        let wanted: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| DeployError::Assembly {
                path,
                source: std::io::Error::other(e),
            })?;
        let client = accounts.client(&stack.account, &stack.region);
        let deployed = match current(&client, &stack.stack_name).await {
            Ok(Some(_)) => deployed_template(&client, &stack.stack_name).await.ok(),
            _ => None,
        };
        let mut changes = crate::diff::diff(deployed.as_ref(), &wanted);
        // CloudFormation knows replacements the schemas cannot tell (a changed name that
        // another property derives from): ask it with a change set, inline templates only.
        if deployed.is_some() && changes.template_changed && !stack.template_requires_upload {
            let parameters = resolve_parameters(&accounts, &manifest, stack, None)
                .await
                .unwrap_or_default();
            if let Ok(replaced) =
                change_set_replacements(&client, stack, &body, &parameters, options).await
            {
                for id in replaced {
                    match changes
                        .modified
                        .iter_mut()
                        .find(|(logical_id, _, _)| *logical_id == id)
                    {
                        Some((_, _, paths)) if paths.is_empty() => {
                            paths.push("(per the change set)".into())
                        }
                        Some(_) => {}
                        None => changes.modified.push((
                            id,
                            "?".into(),
                            vec!["(per the change set)".into()],
                        )),
                    }
                }
            }
        }
        out.push((stack.id.clone(), changes));
    }
    Ok(out)
}

/// The values of a stack's deploy-time parameters, read from the producers' outputs with
/// the producers' credentials (from this run's results first, when there is a run).
async fn resolve_parameters(
    accounts: &Accounts,
    manifest: &Manifest,
    stack: &StackManifest,
    results: Option<&Mutex<BTreeMap<String, StackResult>>>,
) -> Result<BTreeMap<String, String>, String> {
    let mut parameters = BTreeMap::new();
    for parameter in &stack.parameters {
        let from_run = match results {
            Some(results) => results
                .lock()
                .await
                .get(&parameter.producer_stack)
                .and_then(|r| r.outputs.get(&parameter.output).cloned()),
            None => None,
        };
        let value = match from_run {
            Some(value) => Some(value),
            None => match manifest
                .stacks
                .iter()
                .find(|s| s.id == parameter.producer_stack)
            {
                Some(producer) => stack_outputs(
                    &accounts.client(&producer.account, &producer.region),
                    &producer.stack_name,
                )
                .await
                .ok()
                .and_then(|o| o.get(&parameter.output).cloned()),
                None => None,
            },
        };
        let value = value.ok_or_else(|| {
            format!(
                "output {} of {} is not available; deploy {} first",
                parameter.output, parameter.producer_stack, parameter.producer_stack
            )
        })?;
        parameters.insert(parameter.parameter.clone(), value);
    }
    Ok(parameters)
}

/// The resources a change set would replace, asked of CloudFormation without changing
/// anything: the change set is created, read and deleted.
async fn change_set_replacements(
    client: &CloudFormation,
    stack: &StackManifest,
    body: &str,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
) -> Result<Vec<String>, String> {
    match create_change_set(
        client,
        stack,
        "hyperpod-diff",
        ChangeSetType::Update,
        body,
        None,
        parameters,
        options,
    )
    .await?
    {
        ChangeSet::Ready(id, described) => {
            let _ = client
                .delete_change_set()
                .change_set_name(&id)
                .stack_name(&stack.stack_name)
                .send()
                .await;
            Ok(replaced_by(&described))
        }
        ChangeSet::Failed(_) => Ok(Vec::new()),
    }
}

/// A change set CloudFormation has computed, or why it could not.
enum ChangeSet {
    /// Its id and description.
    Ready(
        String,
        Box<aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput>,
    ),
    /// Why it failed (it has been deleted): no changes, an invalid template, or the timeout.
    Failed(String),
}

/// Creates a change set and waits, within the stack timeout, until CloudFormation has
/// computed it. A change set that fails is deleted.
#[allow(clippy::too_many_arguments)]
async fn create_change_set(
    client: &CloudFormation,
    stack: &StackManifest,
    prefix: &str,
    change_set_type: ChangeSetType,
    body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
) -> Result<ChangeSet, String> {
    let name = format!(
        "{prefix}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default()
    );
    let created = client
        .create_change_set()
        .stack_name(&stack.stack_name)
        .change_set_name(&name)
        .change_set_type(change_set_type)
        .set_template_body(template_url.is_none().then(|| body.to_owned()))
        .set_template_url(template_url.map(str::to_owned))
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .set_tags(Some(
            stack
                .tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .capabilities(Capability::CapabilityNamedIam)
        .capabilities(Capability::CapabilityAutoExpand)
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let id = created.id().unwrap_or(&name).to_owned();
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let reason = loop {
        let described = client
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(&stack.stack_name)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        match described.status() {
            Some(ChangeSetStatus::CreateComplete) => {
                return Ok(ChangeSet::Ready(id, Box::new(described)));
            }
            Some(ChangeSetStatus::Failed) => {
                break described.status_reason().unwrap_or_default().to_owned();
            }
            _ if tokio::time::Instant::now() > deadline => {
                break "CloudFormation did not compute the change set within the stack timeout"
                    .to_owned();
            }
            _ => tokio::time::sleep(options.poll_interval).await,
        }
    };
    let _ = client
        .delete_change_set()
        .change_set_name(&id)
        .stack_name(&stack.stack_name)
        .send()
        .await;
    Ok(ChangeSet::Failed(reason))
}

/// The resources a computed change set replaces, for sure or depending on values.
fn replaced_by(
    described: &aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput,
) -> Vec<String> {
    described
        .changes()
        .iter()
        .filter_map(|c| c.resource_change())
        .filter(|r| {
            r.replacement()
                .is_some_and(|x| x.as_str() == "True" || x.as_str() == "Conditional")
        })
        .filter_map(|r| r.logical_resource_id().map(str::to_owned))
        .collect()
}

/// The staging bucket `bootstrap` creates in an account and region, for large templates.
pub fn staging_bucket(account: &str, region: &str) -> String {
    format!("hyperpod-staging-{account}-{region}")
}

/// Uploads the files of an asset that are not in its bucket yet; returns how many were
/// sent and how many were already there.
async fn upload_asset(
    s3: &aws_sdk_s3::Client,
    assembly_dir: &Path,
    asset: &hyperpod_core::AssetManifest,
) -> Result<(usize, usize), String> {
    let (mut sent, mut present) = (0, 0);
    for file in &asset.files {
        let key = format!("{}{file}", asset.object_key_prefix);
        if s3
            .head_object()
            .bucket(&asset.bucket_name)
            .key(&key)
            .send()
            .await
            .is_ok()
        {
            present += 1;
            continue;
        }
        let bytes = std::fs::read(assembly_dir.join(&asset.source).join(file))
            .map_err(|e| format!("cannot read {file}: {e}"))?;
        s3.put_object()
            .bucket(&asset.bucket_name)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "s3://{}/{key}: {}",
                    asset.bucket_name,
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                )
            })?;
        sent += 1;
    }
    Ok((sent, present))
}

/// Puts a template over CloudFormation's inline limit into the staging bucket, once per
/// content, and returns its URL.
async fn upload_template(
    s3: &aws_sdk_s3::Client,
    stack: &StackManifest,
    body: &str,
) -> Result<String, String> {
    let bucket = staging_bucket(&stack.account, &stack.region);
    let key = format!("templates/{}.json", stack.template_sha256);
    if s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .is_err()
    {
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| format!("the template is {} bytes, over the inline limit, and could not be staged in s3://{bucket}: {}; run `bootstrap` for account {} in {} first", stack.template_bytes, aws_sdk_s3::error::DisplayErrorContext(&e), stack.account, stack.region))?;
    }
    Ok(format!(
        "https://{bucket}.s3.{}.amazonaws.com/{key}",
        stack.region
    ))
}

/// The template of the staging stack: a private, encrypted, retained bucket.
fn bootstrap_template(bucket: &str) -> String {
    let template = serde_json::json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Staging bucket of the HyperPod deploy engine: large templates",
        "Resources": {
            "StagingBucket": {
                "Type": "AWS::S3::Bucket",
                "Properties": {
                    "BucketName": bucket,
                    "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }] },
                    "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
                    "VersioningConfiguration": { "Status": "Enabled" }
                },
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain"
            }
        },
        "Outputs": { "BucketName": { "Value": { "Ref": "StagingBucket" } } }
    });
    serde_json::to_string_pretty(&template).expect("a template serializes")
}

/// Creates (or updates) the staging stack `HyperPodBootstrap` in every account and region
/// of the selected stacks.
pub async fn bootstrap(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Summary, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = selected(&manifest, options)?;
    let environments: BTreeSet<(String, String)> = stacks
        .iter()
        .map(|s| (s.account.clone(), s.region.clone()))
        .collect();
    let accounts: BTreeSet<String> = environments
        .iter()
        .map(|(account, _)| account.clone())
        .collect();
    let accounts = Accounts::connect(base, &accounts, options).await?;
    let mut summary = Summary::default();
    for (account, region) in environments {
        let body = bootstrap_template(&staging_bucket(&account, &region));
        let stack = StackManifest {
            id: format!("bootstrap/{account}/{region}"),
            stack_name: "HyperPodBootstrap".into(),
            stage: "bootstrap".into(),
            account: account.clone(),
            region: region.clone(),
            template: String::new(),
            template_sha256: String::new(),
            template_bytes: body.len() as u64,
            template_requires_upload: false,
            dependencies: Vec::new(),
            parameters: Vec::new(),
            termination_protection: false,
            tags: Default::default(),
            construct_paths: Default::default(),
            assets: Vec::new(),
        };
        let client = accounts.client(&account, &region);
        let outcome =
            match deploy_with_change_set(&client, &stack, &body, None, &BTreeMap::new(), options)
                .await
            {
                Ok(outcome) => outcome,
                Err(reason) => Outcome::Failed(reason),
            };
        summary.stacks.push(result(&stack, outcome));
    }
    Ok(summary)
}
