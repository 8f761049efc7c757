//! Stacks deployed as service-managed StackSets: the StackSet created or updated in the
//! administrator account, its instances created in the organizational units the manifest
//! names (and deleted from those it no longer names, once approved), every operation
//! followed to its end, and the accounts it failed in named. CloudFormation fans out to the
//! accounts; the engine never reaches into them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_cloudformation::types::{
    AutoDeployment, CallAs, Capability, ConcurrencyMode, DeploymentTargets, PermissionModels,
    RegionConcurrencyType, StackInstanceStatus, StackSetOperationPreferences,
    StackSetOperationStatus, StackSetStatus, Tag,
};
use hyperpod_core::{StackManifest, StackSetManifest};

use super::errors::{CallFailure, FailureKind, failure};
use super::ownership::{check_owner_tags, tag_map};
use super::plan::PlannedAction;
use super::progress;
use super::stack::Approved;
use super::{DeployOptions, Outcome, say};
use crate::diff::StackDiff;

/// The type shown for a StackSet's instances in one organizational unit, when a plan
/// removes them.
const INSTANCES: &str = "StackSet instances";

/// What is deployed of a StackSet.
pub(super) struct DeployedStackSet {
    /// Its template.
    pub(super) template: serde_json::Value,
    tags: BTreeMap<String, String>,
    /// Enabled and retain-on-removal, when CloudFormation tells.
    auto_deployment: Option<(bool, bool)>,
    /// The organizational units it targets or has instances in.
    organizational_units: BTreeSet<String>,
    /// The regions it has instances in.
    regions: BTreeSet<String>,
    /// The accounts it has instances in.
    accounts: BTreeSet<String>,
    /// How many instances it has.
    instances: usize,
    /// Its instances that are not current: "account region: status (reason)".
    not_current: Vec<String>,
}

/// The manifest's StackSet options of a stack deployed as a StackSet.
fn options_of(stack: &StackManifest) -> &StackSetManifest {
    stack
        .stack_set
        .as_ref()
        .expect("only stacks deployed as StackSets come here")
}

fn call_as(set: &StackSetManifest) -> CallAs {
    if set.call_as == "DELEGATED_ADMIN" {
        CallAs::DelegatedAdmin
    } else {
        CallAs::SelfValue
    }
}

/// Whether `failure` is the service's error `code`.
fn is(failure: &CallFailure, code: &str) -> bool {
    failure
        .text
        .strip_prefix(code)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// The StackSet of `stack` as deployed, `None` when there is none (or it was deleted).
pub(super) async fn read(
    client: &CloudFormation,
    stack: &StackManifest,
) -> Result<Option<DeployedStackSet>, String> {
    let set = options_of(stack);
    let described = match client
        .describe_stack_set()
        .stack_set_name(&stack.stack_name)
        .call_as(call_as(set))
        .send()
        .await
    {
        Ok(described) => described,
        Err(error) => {
            let failure = failure("DescribeStackSet", &error);
            if is(&failure, "StackSetNotFoundException") {
                return Ok(None);
            }
            return Err(failure.to_string());
        }
    };
    let Some(deployed) = described.stack_set() else {
        return Ok(None);
    };
    if deployed.status() == Some(&StackSetStatus::Deleted) {
        return Ok(None);
    }
    let template = serde_json::from_str(deployed.template_body().unwrap_or("{}"))
        .unwrap_or(serde_json::Value::Null);
    let mut found = DeployedStackSet {
        template,
        tags: tag_map(deployed.tags()),
        auto_deployment: deployed
            .auto_deployment()
            .and_then(|auto| Some((auto.enabled()?, auto.retain_stacks_on_account_removal()?))),
        organizational_units: deployed.organizational_unit_ids().iter().cloned().collect(),
        regions: BTreeSet::new(),
        accounts: BTreeSet::new(),
        instances: 0,
        not_current: Vec::new(),
    };
    let mut next_token = None;
    loop {
        let page = client
            .list_stack_instances()
            .stack_set_name(&stack.stack_name)
            .call_as(call_as(set))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| failure("ListStackInstances", &e).to_string())?;
        for instance in page.summaries() {
            let account = instance.account().unwrap_or("?");
            let region = instance.region().unwrap_or("?");
            if let Some(unit) = instance.organizational_unit_id() {
                found.organizational_units.insert(unit.to_owned());
            }
            found.regions.insert(region.to_owned());
            found.accounts.insert(account.to_owned());
            found.instances += 1;
            let status = instance.status().cloned();
            if status
                .as_ref()
                .is_some_and(|s| *s != StackInstanceStatus::Current)
            {
                found.not_current.push(format!(
                    "{account} {region}: {}{}",
                    status.as_ref().map_or("?", StackInstanceStatus::as_str),
                    instance
                        .status_reason()
                        .map(|reason| format!(" ({reason})"))
                        .unwrap_or_default()
                ));
            }
        }
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    Ok(Some(found))
}

/// What differs between the deployed StackSet and the manifest's, one phrase each; empty
/// when nothing does.
fn differences(
    deployed: &DeployedStackSet,
    wanted: &serde_json::Value,
    stack: &StackManifest,
) -> Vec<String> {
    let set = options_of(stack);
    let mut out = Vec::new();
    if deployed.template != *wanted {
        out.push("the template".to_owned());
    }
    let wanted_tags: BTreeMap<String, String> = stack
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if deployed.tags != wanted_tags {
        out.push("the tags".to_owned());
    }
    if deployed
        .auto_deployment
        .is_some_and(|auto| auto != (set.auto_deployment, set.retain_stacks_on_account_removal))
    {
        out.push("automatic deployment".to_owned());
    }
    let missing_units: Vec<&String> = set
        .organizational_units
        .iter()
        .filter(|unit| !deployed.organizational_units.contains(*unit))
        .collect();
    if !missing_units.is_empty() {
        out.push(format!("instances in {}", join(&missing_units)));
    }
    let missing_regions: Vec<&String> = set
        .regions
        .iter()
        .filter(|region| !deployed.regions.contains(*region))
        .collect();
    if !deployed.accounts.is_empty() && !missing_regions.is_empty() {
        out.push(format!("instances in region(s) {}", join(&missing_regions)));
    }
    if !deployed.not_current.is_empty() {
        out.push(format!(
            "{} instance(s) not current ({})",
            deployed.not_current.len(),
            deployed.not_current.join("; ")
        ));
    }
    out
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The organizational units the StackSet has instances in that the manifest no longer
/// names.
fn units_left(deployed: &DeployedStackSet, set: &StackSetManifest) -> Vec<String> {
    deployed
        .organizational_units
        .iter()
        .filter(|unit| !set.organizational_units.contains(*unit))
        .cloned()
        .collect()
}

/// The plan of a stack deployed as a StackSet, read from the administrator account:
/// created, updated (template, tags, automatic deployment, instances missing, left or not
/// current) or unchanged. Instances in units the manifest no longer names are shown as
/// removed, so that deleting them needs approval.
pub(super) async fn plan_stack_set(
    client: &CloudFormation,
    stack: &StackManifest,
    wanted: &serde_json::Value,
    options: &DeployOptions,
) -> Result<(PlannedAction, StackDiff, Vec<String>), String> {
    let set = options_of(stack);
    let Some(deployed) = read(client, stack).await? else {
        return Ok((
            PlannedAction::Create,
            crate::diff::diff(None, wanted),
            Vec::new(),
        ));
    };
    if let Err(reason) = check_owner_tags(&deployed.tags, "StackSet", stack, options.adopt) {
        return Ok((
            PlannedAction::Refused(reason),
            StackDiff::default(),
            Vec::new(),
        ));
    }
    let mut changes = crate::diff::diff(Some(&deployed.template), wanted);
    for unit in units_left(&deployed, set) {
        changes
            .removed
            .push((format!("instances in {unit}"), INSTANCES.to_owned()));
    }
    if differences(&deployed, wanted, stack).is_empty() && changes.removed.is_empty() {
        return Ok((PlannedAction::Unchanged, StackDiff::default(), Vec::new()));
    }
    let retained = super::plan::retained(&changes, &deployed.template);
    Ok((PlannedAction::Update, changes, retained))
}

/// What the plan says of every StackSet: where it reaches, and who gets what.
pub(super) fn plan_note(stack: &StackManifest) -> String {
    let set = options_of(stack);
    format!(
        "deployed as a StackSet to the accounts of {} in {}, {} at a time; resources confined to {} exist there only, other accounts get a placeholder",
        join(&set.organizational_units),
        join(&set.regions),
        match (
            set.operation_preferences.max_concurrent_count,
            set.operation_preferences.max_concurrent_percentage
        ) {
            (Some(count), _) => format!("{count} account(s)"),
            (_, Some(percentage)) => format!("{percentage} % of the accounts"),
            _ => "one account".to_owned(),
        },
        if set.accounts.is_empty() {
            "no account".to_owned()
        } else {
            format!("account(s) {}", join(&set.accounts))
        }
    )
}

/// One StackSet operation the engine starts.
enum Operation<'a> {
    /// The StackSet's template, tags and automatic deployment, applied to every instance;
    /// with the instances that were not current before it (an update of the same content
    /// that retries them is another operation than the one that left them so).
    Update(&'a str),
    /// Instances in these units and regions.
    CreateInstances(&'a [String], &'a [String]),
    /// The instances in these units and regions, deleted.
    DeleteInstances(&'a [String], &'a [String]),
}

impl Operation<'_> {
    fn action(&self) -> &'static str {
        match self {
            Operation::Update(_) => "update",
            Operation::CreateInstances(..) => "create-instances",
            Operation::DeleteInstances(..) => "delete-instances",
        }
    }

    fn describe(&self) -> String {
        match self {
            Operation::Update(_) => "updating every instance".to_owned(),
            Operation::CreateInstances(units, regions) => {
                format!("creating instances in {} ({})", join(units), join(regions))
            }
            Operation::DeleteInstances(units, regions) => {
                format!(
                    "deleting the instances in {} ({})",
                    join(units),
                    join(regions)
                )
            }
        }
    }
}

/// The operation id (CloudFormation's idempotency token) of an operation: derived from what
/// it does, so that a call applied whose answer was lost, made again by the SDK or the next
/// run, meets the operation it started instead of starting a second.
fn operation_id(stack: &StackManifest, operation: &Operation<'_>, attempt: u32) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let targets = match operation {
        Operation::Update(retried) => (*retried).to_owned(),
        Operation::CreateInstances(units, regions) | Operation::DeleteInstances(units, regions) => {
            format!("{}|{}", units.join(","), regions.join(","))
        }
    };
    for part in [
        stack.stack_name.as_str(),
        operation.action(),
        stack.template_sha256.as_str(),
        &serde_json::to_string(&stack.tags).expect("tags serialize"),
        &serde_json::to_string(options_of(stack)).expect("StackSet options serialize"),
        &targets,
    ] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    let digest: String = hash.finalize()[..10]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let id = format!("hyperpod-{}-{digest}", operation.action());
    if attempt > 1 {
        format!("{id}-{attempt}")
    } else {
        id
    }
}

fn preferences(set: &StackSetManifest) -> StackSetOperationPreferences {
    let wanted = &set.operation_preferences;
    StackSetOperationPreferences::builder()
        .set_max_concurrent_count(wanted.max_concurrent_count.map(|n| n as i32))
        .set_max_concurrent_percentage(wanted.max_concurrent_percentage.map(|n| n as i32))
        .set_failure_tolerance_count(wanted.failure_tolerance_count.map(|n| n as i32))
        .set_failure_tolerance_percentage(wanted.failure_tolerance_percentage.map(|n| n as i32))
        .concurrency_mode(ConcurrencyMode::from(wanted.concurrency_mode.as_str()))
        .region_concurrency_type(RegionConcurrencyType::from(
            wanted.region_concurrency.as_str(),
        ))
        .build()
}

fn auto_deployment(set: &StackSetManifest) -> AutoDeployment {
    AutoDeployment::builder()
        .enabled(set.auto_deployment)
        .set_retain_stacks_on_account_removal(
            set.auto_deployment
                .then_some(set.retain_stacks_on_account_removal),
        )
        .build()
}

fn tags(stack: &StackManifest) -> Vec<Tag> {
    stack
        .tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Starts `operation` under `id`; returns the id CloudFormation gives it.
async fn start(
    client: &CloudFormation,
    stack: &StackManifest,
    operation: &Operation<'_>,
    template: &Template<'_>,
    id: &str,
) -> Result<String, CallFailure> {
    let set = options_of(stack);
    let answered = match operation {
        Operation::Update(_) => client
            .update_stack_set()
            .stack_set_name(&stack.stack_name)
            .set_template_body(template.body())
            .set_template_url(template.url())
            .capabilities(Capability::CapabilityIam)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(tags(stack)))
            .auto_deployment(auto_deployment(set))
            .permission_model(PermissionModels::ServiceManaged)
            .operation_preferences(preferences(set))
            .operation_id(id)
            .call_as(call_as(set))
            .send()
            .await
            .map(|out| out.operation_id().map(str::to_owned))
            .map_err(|e| failure("UpdateStackSet", &e)),
        Operation::CreateInstances(units, regions) => client
            .create_stack_instances()
            .stack_set_name(&stack.stack_name)
            .deployment_targets(
                DeploymentTargets::builder()
                    .set_organizational_unit_ids(Some(units.to_vec()))
                    .build(),
            )
            .set_regions(Some(regions.to_vec()))
            .operation_preferences(preferences(set))
            .operation_id(id)
            .call_as(call_as(set))
            .send()
            .await
            .map(|out| out.operation_id().map(str::to_owned))
            .map_err(|e| failure("CreateStackInstances", &e)),
        Operation::DeleteInstances(units, regions) => client
            .delete_stack_instances()
            .stack_set_name(&stack.stack_name)
            .deployment_targets(
                DeploymentTargets::builder()
                    .set_organizational_unit_ids(Some(units.to_vec()))
                    .build(),
            )
            .set_regions(Some(regions.to_vec()))
            .retain_stacks(false)
            .operation_preferences(preferences(set))
            .operation_id(id)
            .call_as(call_as(set))
            .send()
            .await
            .map(|out| out.operation_id().map(str::to_owned))
            .map_err(|e| failure("DeleteStackInstances", &e)),
    }?;
    Ok(answered.unwrap_or_else(|| id.to_owned()))
}

/// The template as the StackSet takes it: inline, or staged in S3.
pub(super) struct Template<'a> {
    /// The template's text.
    pub(super) body: &'a str,
    /// Its staged copy, for a template over the inline limit.
    pub(super) url: Option<&'a str>,
}

impl Template<'_> {
    fn body(&self) -> Option<String> {
        self.url.is_none().then(|| self.body.to_owned())
    }

    fn url(&self) -> Option<String> {
        self.url.map(str::to_owned)
    }
}

/// Runs `operation` to its end. An operation another run or person started is waited for
/// first (a StackSet runs one at a time); an operation id already used is the same
/// operation, started by an attempt whose answer was lost: it is followed, or, when it
/// ended in failure, started again under a new id (which retries the accounts it failed
/// in).
async fn run(
    client: &CloudFormation,
    stack: &StackManifest,
    operation: Operation<'_>,
    template: &Template<'_>,
    options: &DeployOptions,
) -> Result<(), String> {
    let mut attempt = 1;
    let mut waits = 0;
    loop {
        let id = operation_id(stack, &operation, attempt);
        match start(client, stack, &operation, template, &id).await {
            Ok(started) => {
                say(
                    stack,
                    format!("StackSet operation {started}: {}", operation.describe()),
                );
                return follow(client, stack, &started, options).await;
            }
            Err(failure) if is(&failure, "OperationIdAlreadyExistsException") => {
                match operation_status(client, stack, &id).await? {
                    StackSetOperationStatus::Succeeded => return Ok(()),
                    StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped => {
                        attempt += 1;
                    }
                    _ => {
                        say(
                            stack,
                            format!(
                                "an earlier attempt of this operation ({id}) is under way; following it"
                            ),
                        );
                        return follow(client, stack, &id, options).await;
                    }
                }
            }
            Err(failure) if is(&failure, "OperationInProgressException") && waits < 3 => {
                waits += 1;
                wait_for_other_operations(client, stack, options).await?;
            }
            Err(failure) => return Err(failure.to_string()),
        }
    }
}

async fn operation_status(
    client: &CloudFormation,
    stack: &StackManifest,
    id: &str,
) -> Result<StackSetOperationStatus, String> {
    client
        .describe_stack_set_operation()
        .stack_set_name(&stack.stack_name)
        .operation_id(id)
        .call_as(call_as(options_of(stack)))
        .send()
        .await
        .map_err(|e| failure("DescribeStackSetOperation", &e).to_string())?
        .stack_set_operation()
        .and_then(|operation| operation.status().cloned())
        .ok_or_else(|| format!("DescribeStackSetOperation: operation {id} has no status"))
}

/// Waits, within the stack timeout, until the StackSet runs no operation: StackSets run
/// one at a time, so a change waits for what another run or person started.
async fn wait_for_other_operations(
    client: &CloudFormation,
    stack: &StackManifest,
    options: &DeployOptions,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let mut said = false;
    loop {
        let running: Vec<String> = client
            .list_stack_set_operations()
            .stack_set_name(&stack.stack_name)
            .call_as(call_as(options_of(stack)))
            .send()
            .await
            .map_err(|e| failure("ListStackSetOperations", &e).to_string())?
            .summaries()
            .iter()
            .filter(|summary| {
                matches!(
                    summary.status(),
                    Some(
                        StackSetOperationStatus::Running
                            | StackSetOperationStatus::Queued
                            | StackSetOperationStatus::Stopping
                    )
                )
            })
            .filter_map(|summary| summary.operation_id().map(str::to_owned))
            .collect();
        if running.is_empty() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the StackSet was still running operation(s) {} past the timeout; wait for them or stop them (`aws cloudformation stop-stack-set-operation`), then deploy again",
                running.join(", ")
            ));
        }
        if !said {
            said = true;
            say(
                stack,
                format!(
                    "waiting: the StackSet is running another operation ({})",
                    running.join(", ")
                ),
            );
        }
        heartbeat.beat(
            stack,
            "the StackSet's other operation is still running",
            options.stack_timeout,
        );
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// Follows operation `id` to its end, within the stack timeout, saying how it goes. A read
/// that fails for a passing reason is tried again at the next poll. A failed or stopped
/// operation is an error naming the accounts it failed in.
async fn follow(
    client: &CloudFormation,
    stack: &StackManifest,
    id: &str,
    options: &DeployOptions,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let mut last: Option<StackSetOperationStatus> = None;
    let mut said_failure = false;
    loop {
        let read = client
            .describe_stack_set_operation()
            .stack_set_name(&stack.stack_name)
            .operation_id(id)
            .call_as(call_as(options_of(stack)))
            .send()
            .await;
        match read {
            Ok(described) => {
                said_failure = false;
                let status = described
                    .stack_set_operation()
                    .and_then(|operation| operation.status().cloned());
                if status != last {
                    if let Some(status) = &status {
                        progress::status(
                            stack,
                            &format!("StackSet operation {id}: {}", status.as_str()),
                            false,
                        );
                        heartbeat.heard();
                    }
                    last = status.clone();
                }
                match status {
                    Some(StackSetOperationStatus::Succeeded) => return Ok(()),
                    Some(
                        ended
                        @ (StackSetOperationStatus::Failed | StackSetOperationStatus::Stopped),
                    ) => {
                        let reason = described
                            .stack_set_operation()
                            .and_then(|operation| operation.status_reason())
                            .map(|reason| format!(" ({reason})"))
                            .unwrap_or_default();
                        let accounts = failed_accounts(client, stack, id).await;
                        return Err(format!(
                            "StackSet operation {id} ended {}{reason}{accounts}; the StackSet keeps its new template, and the next deploy retries the accounts that are not current",
                            ended.as_str()
                        ));
                    }
                    _ => {}
                }
            }
            Err(error) => {
                let failure = failure("DescribeStackSetOperation", &error);
                let passing = matches!(
                    failure.kind,
                    FailureKind::Throttled
                        | FailureKind::Unreachable
                        | FailureKind::TimedOut
                        | FailureKind::Service
                ) && !failure.text.starts_with("ValidationError")
                    && !is(&failure, "OperationNotFoundException");
                if !passing {
                    return Err(failure.to_string());
                }
                if !said_failure {
                    said_failure = true;
                    say(stack, format!("{failure}; reading again at the next poll"));
                }
            }
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "StackSet operation {id} was still running past the timeout; it goes on in CloudFormation, and the next deploy follows it"
            ));
        }
        heartbeat.beat(
            stack,
            &format!("StackSet operation {id} is still running"),
            options.stack_timeout,
        );
        tokio::time::sleep(options.poll_interval).await;
    }
}

/// The accounts operation `id` failed in, with CloudFormation's reasons: at most ten, then
/// how many more.
async fn failed_accounts(client: &CloudFormation, stack: &StackManifest, id: &str) -> String {
    let Ok(results) = client
        .list_stack_set_operation_results()
        .stack_set_name(&stack.stack_name)
        .operation_id(id)
        .call_as(call_as(options_of(stack)))
        .send()
        .await
    else {
        return String::new();
    };
    let failed: Vec<String> = results
        .summaries()
        .iter()
        .filter(|result| {
            result
                .status()
                .is_some_and(|status| status.as_str() != "SUCCEEDED")
        })
        .map(|result| {
            format!(
                "{} {}: {}{}",
                result.account().unwrap_or("?"),
                result.region().unwrap_or("?"),
                result.status().map_or("?", |status| status.as_str()),
                result
                    .status_reason()
                    .map(|reason| format!(" ({reason})"))
                    .unwrap_or_default()
            )
        })
        .collect();
    if failed.is_empty() {
        return String::new();
    }
    let shown = failed
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    let more = failed.len().saturating_sub(10);
    if more > 0 {
        format!(" in: {shown}; and {more} more")
    } else {
        format!(" in: {shown}")
    }
}

/// Deploys a stack deployed as a StackSet: creates the StackSet (or updates it), creates
/// its instances in the units they are missing from, deletes those in units the manifest
/// no longer names (when the plan showed it and it was approved), and checks at the end
/// that every instance is current and every account the template confines resources to
/// has one.
pub(super) async fn deploy_stack_set(
    client: &CloudFormation,
    stack: &StackManifest,
    template: &Template<'_>,
    options: &DeployOptions,
    approved: &Approved,
) -> Result<Outcome, String> {
    let set = options_of(stack);
    let wanted: serde_json::Value = serde_json::from_str(template.body)
        .map_err(|e| format!("the template is not JSON: {e}"))?;
    let mut deployed = read(client, stack).await?;
    if let Some(found) = &deployed {
        check_owner_tags(&found.tags, "StackSet", stack, options.adopt)?;
        wait_for_other_operations(client, stack, options).await?;
        deployed = read(client, stack).await?;
    }
    let mut changed = false;
    match &deployed {
        None => {
            let created = client
                .create_stack_set()
                .stack_set_name(&stack.stack_name)
                .set_template_body(template.body())
                .set_template_url(template.url())
                .capabilities(Capability::CapabilityIam)
                .capabilities(Capability::CapabilityNamedIam)
                .set_tags(Some(tags(stack)))
                .permission_model(PermissionModels::ServiceManaged)
                .auto_deployment(auto_deployment(set))
                .call_as(call_as(set))
                .client_request_token(operation_id(stack, &Operation::Update(""), 1))
                .send()
                .await;
            match created {
                Ok(_) => say(stack, "StackSet created"),
                // Made by an attempt whose answer was lost: it is this run's, and is
                // brought to the template below.
                Err(error) => {
                    let failure = failure("CreateStackSet", &error);
                    if !is(&failure, "NameAlreadyExistsException") {
                        return Err(failure.to_string());
                    }
                }
            }
            changed = true;
            deployed = read(client, stack).await?;
            if let Some(found) = &deployed
                && found.template != wanted
            {
                run(client, stack, Operation::Update(""), template, options).await?;
            }
        }
        Some(found) => {
            let unapproved = unapproved(found, &wanted, approved);
            if !unapproved.is_empty() {
                return Ok(Outcome::Refused(format!(
                    "the StackSet {}, which the approved plan did not show (it changed since the plan); nothing was changed; run again to review the new plan",
                    unapproved.join(" and ")
                )));
            }
            let template_or_settings = differences(found, &wanted, stack)
                .iter()
                .any(|what| !what.starts_with("instances in"));
            if template_or_settings {
                let retried = found.not_current.join("; ");
                run(
                    client,
                    stack,
                    Operation::Update(&retried),
                    template,
                    options,
                )
                .await?;
                changed = true;
            }
        }
    }
    let Some(found) = deployed else {
        return Err(
            "the StackSet was created but cannot be read back; deploy again to follow it".into(),
        );
    };
    let missing_units: Vec<String> = set
        .organizational_units
        .iter()
        .filter(|unit| !found.organizational_units.contains(*unit))
        .cloned()
        .collect();
    if !missing_units.is_empty() {
        run(
            client,
            stack,
            Operation::CreateInstances(&missing_units, &set.regions),
            template,
            options,
        )
        .await?;
        changed = true;
    }
    let missing_regions: Vec<String> = set
        .regions
        .iter()
        .filter(|region| !found.regions.contains(*region))
        .cloned()
        .collect();
    let present_units: Vec<String> = set
        .organizational_units
        .iter()
        .filter(|unit| found.organizational_units.contains(*unit))
        .cloned()
        .collect();
    if !found.accounts.is_empty() && !missing_regions.is_empty() && !present_units.is_empty() {
        run(
            client,
            stack,
            Operation::CreateInstances(&present_units, &missing_regions),
            template,
            options,
        )
        .await?;
        changed = true;
    }
    let left = units_left(&found, set);
    if !left.is_empty() {
        let approved_removals = approved.all
            || left
                .iter()
                .all(|unit| approved.removals.contains(&format!("instances in {unit}")));
        if !approved_removals {
            return Ok(Outcome::Refused(format!(
                "deleting the StackSet's instances in {} was not in the approved plan; nothing more was changed; run again to review the new plan",
                join(&left)
            )));
        }
        let regions: Vec<String> = found.regions.iter().cloned().collect();
        run(
            client,
            stack,
            Operation::DeleteInstances(&left, &regions),
            template,
            options,
        )
        .await?;
        changed = true;
    }
    verify(client, stack).await?;
    if changed {
        say(stack, "StackSet deployed");
        Ok(Outcome::Deployed)
    } else {
        say(stack, "unchanged");
        Ok(Outcome::Unchanged)
    }
}

/// What `deployed` → `wanted` does that the approved plan did not show.
fn unapproved(
    deployed: &DeployedStackSet,
    wanted: &serde_json::Value,
    approved: &Approved,
) -> Vec<String> {
    if approved.all {
        return Vec::new();
    }
    let changes = crate::diff::diff(Some(&deployed.template), wanted);
    let mut out = Vec::new();
    let replaced: Vec<&str> = changes
        .replaced()
        .into_iter()
        .filter(|id| !approved.replacements.contains(*id))
        .collect();
    if !replaced.is_empty() {
        out.push(format!("replaces {}", replaced.join(", ")));
    }
    let widened = changes
        .widened
        .iter()
        .filter(|grant| !approved.widened.contains(*grant))
        .count();
    if widened > 0 {
        out.push(format!("widens {widened} permission(s)"));
    }
    let removed: Vec<&str> = changes
        .removed
        .iter()
        .map(|(id, _)| id.as_str())
        .filter(|id| !approved.removals.contains(*id))
        .collect();
    if !removed.is_empty() {
        out.push(format!("deletes {}", removed.join(", ")));
    }
    out
}

/// After a deploy: every instance current, and an instance in every account the template
/// confines resources to (an account outside the units would silently lack them).
async fn verify(client: &CloudFormation, stack: &StackManifest) -> Result<(), String> {
    let set = options_of(stack);
    let Some(found) = read(client, stack).await? else {
        return Err("the StackSet disappeared during the deploy; deploy again".into());
    };
    if !found.not_current.is_empty() {
        return Err(format!(
            "the StackSet's operations ended, but {} instance(s) are not current: {}; fix the cause in those accounts and deploy again, which retries them",
            found.not_current.len(),
            found.not_current.join("; ")
        ));
    }
    let unreached: Vec<&String> = set
        .accounts
        .iter()
        .filter(|account| !found.accounts.contains(*account))
        .collect();
    if !unreached.is_empty() {
        return Err(format!(
            "account(s) {} have resources in the template but no instance of the StackSet: they are not in {} (or are the management account, which StackSets never deploy to); move them into one of those units, or give the StackSet their unit",
            join(&unreached),
            join(&set.organizational_units)
        ));
    }
    Ok(())
}

/// Deletes a StackSet: its instances in every unit and region (an operation followed to
/// its end), then the StackSet.
pub(super) async fn destroy_stack_set(
    client: &CloudFormation,
    stack: &StackManifest,
    options: &DeployOptions,
) -> Result<Outcome, String> {
    let set = options_of(stack);
    let Some(found) = read(client, stack).await? else {
        say(stack, "not deployed");
        return Ok(Outcome::Destroyed);
    };
    if let Err(reason) = check_owner_tags(&found.tags, "StackSet", stack, options.adopt) {
        return Ok(Outcome::Refused(reason));
    }
    wait_for_other_operations(client, stack, options).await?;
    if !found.accounts.is_empty() {
        let units: Vec<String> = found
            .organizational_units
            .iter()
            .chain(&set.organizational_units)
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let regions: Vec<String> = found.regions.iter().cloned().collect();
        let body = String::new();
        run(
            client,
            stack,
            Operation::DeleteInstances(&units, &regions),
            &Template {
                body: &body,
                url: None,
            },
            options,
        )
        .await?;
    }
    match client
        .delete_stack_set()
        .stack_set_name(&stack.stack_name)
        .call_as(call_as(set))
        .send()
        .await
    {
        Ok(_) => {}
        Err(error) => {
            let failure = failure("DeleteStackSet", &error);
            if !is(&failure, "StackSetNotFoundException") {
                return Err(failure.to_string());
            }
        }
    }
    say(stack, "destroyed");
    Ok(Outcome::Destroyed)
}

/// How `destroy` shows a StackSet before it asks.
pub(super) async fn destroy_state(client: &CloudFormation, stack: &StackManifest) -> String {
    match read(client, stack).await {
        Ok(None) => "not deployed".to_owned(),
        Ok(Some(found)) => format!(
            "a StackSet with {} instance(s) in account(s) {}; they are deleted with it",
            found.instances,
            join(&found.accounts.iter().collect::<Vec<_>>())
        ),
        Err(reason) => format!("cannot be read: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> StackManifest {
        serde_json::from_value(serde_json::json!({
            "id": "units/Roles", "stackName": "org-units-Roles", "stage": "units",
            "account": "666666666666", "region": "us-east-1", "template": "t.json",
            "templateSha256": "ab", "templateBytes": 2, "templateRequiresUpload": false,
            "dependencies": [], "parameters": [], "terminationProtection": false,
            "tags": {}, "constructPaths": {}, "assets": [],
            "stackSet": {
                "organizationalUnits": ["ou-ab12-units001"], "regions": ["us-east-1"],
                "callAs": "SELF", "autoDeployment": true,
                "retainStacksOnAccountRemoval": false,
                "operationPreferences": {
                    "maxConcurrentPercentage": 25, "failureToleranceCount": 0,
                    "concurrencyMode": "SOFT_FAILURE_TOLERANCE", "regionConcurrency": "SEQUENTIAL"
                },
                "accounts": ["222222222222"]
            }
        }))
        .unwrap()
    }

    /// An operation id is CloudFormation's idempotency token: the same operation gets the
    /// same id, a retry of failed accounts or a new attempt another, always in its format.
    #[test]
    fn operation_ids_follow_what_the_operation_does() {
        let stack = stack();
        let units = ["ou-ab12-units001".to_owned()];
        let regions = ["us-east-1".to_owned()];
        let update = operation_id(&stack, &Operation::Update(""), 1);
        assert_eq!(update, operation_id(&stack, &Operation::Update(""), 1));
        let ids = [
            update.clone(),
            operation_id(
                &stack,
                &Operation::Update("222222222222 us-east-1: OUTDATED"),
                1,
            ),
            operation_id(&stack, &Operation::Update(""), 2),
            operation_id(&stack, &Operation::CreateInstances(&units, &regions), 1),
            operation_id(&stack, &Operation::DeleteInstances(&units, &regions), 1),
        ];
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        for id in &ids {
            assert!(id.len() <= 128, "{id}");
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{id}"
            );
        }
        let mut changed = stack.clone();
        changed.template_sha256 = "cd".into();
        assert_ne!(update, operation_id(&changed, &Operation::Update(""), 1));
    }

    #[test]
    fn service_codes_are_told_apart() {
        let failure = CallFailure {
            operation: "UpdateStackSet",
            kind: FailureKind::Service,
            text: "OperationIdAlreadyExistsException: The specified operation ID already exists."
                .into(),
        };
        assert!(is(&failure, "OperationIdAlreadyExistsException"));
        assert!(!is(&failure, "OperationIdAlreadyExists"));
        assert!(!is(&failure, "OperationInProgressException"));
    }
}
