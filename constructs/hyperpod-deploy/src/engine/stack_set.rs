//! Stacks deployed as service-managed StackSets: the StackSet created or updated in the
//! administrator account, its instances created in the organizational units the manifest
//! names (and deleted from those it no longer names, once approved), every operation
//! followed to its end, and the accounts it failed in named. CloudFormation fans out to the
//! accounts; the engine never reaches into them.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_cloudformation::types::{
    AccountFilterType, AutoDeployment, CallAs, Capability, ConcurrencyMode, DeploymentTargets,
    PermissionModels, RegionConcurrencyType, StackInstanceStatus, StackSetOperationPreferences,
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
    /// Its instances that are out of date, which an update retries: "account region:
    /// status (reason)".
    not_current: Vec<String>,
    /// Its instances no update can fix (inoperable, or in a suspended account), each with
    /// what to do.
    stuck: Vec<String>,
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
        // CloudFormation may leave the retention out when it is off.
        auto_deployment: deployed.auto_deployment().and_then(|auto| {
            Some((
                auto.enabled()?,
                auto.retain_stacks_on_account_removal().unwrap_or(false),
            ))
        }),
        organizational_units: deployed.organizational_unit_ids().iter().cloned().collect(),
        regions: BTreeSet::new(),
        accounts: BTreeSet::new(),
        instances: 0,
        not_current: Vec::new(),
        stuck: Vec::new(),
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
            let detailed = instance
                .stack_instance_status()
                .and_then(|status| status.detailed_status())
                .map(|status| status.as_str().to_owned())
                .unwrap_or_default();
            let reason = instance
                .status_reason()
                .map(|reason| format!(" ({reason})"))
                .unwrap_or_default();
            if status == Some(StackInstanceStatus::Inoperable) {
                found.stuck.push(format!(
                    "{account} {region}: INOPERABLE{reason}; an earlier deletion that kept its stack failed there: delete the instance with `aws cloudformation delete-stack-instances --stack-set-name {} --accounts {account} --regions {region} --retain-stacks`, delete the stack left in that account, and deploy again",
                    stack.stack_name
                ));
            } else if detailed == "SKIPPED_SUSPENDED_ACCOUNT" {
                found.stuck.push(format!(
                    "{account} {region}: the account is suspended and StackSets skip it{reason}; reinstate it or move it out of the unit"
                ));
            } else if status
                .as_ref()
                .is_some_and(|s| *s != StackInstanceStatus::Current)
            {
                found.not_current.push(format!(
                    "{account} {region}: {}{reason}",
                    status.as_ref().map_or("?", StackInstanceStatus::as_str),
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

/// One operation of a StackSet, as listed.
struct OperationSummary {
    id: String,
    status: Option<StackSetOperationStatus>,
    /// When it was created, in seconds since the epoch (0 when not told).
    created: i64,
}

/// Every operation of the StackSet of `stack`, all pages.
async fn operations(
    client: &CloudFormation,
    stack: &StackManifest,
) -> Result<Vec<OperationSummary>, String> {
    let mut out = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .list_stack_set_operations()
            .stack_set_name(&stack.stack_name)
            .call_as(call_as(options_of(stack)))
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| failure("ListStackSetOperations", &e).to_string())?;
        out.extend(page.summaries().iter().map(|summary| OperationSummary {
            id: summary.operation_id().unwrap_or_default().to_owned(),
            status: summary.status().cloned(),
            created: summary.creation_timestamp().map_or(0, |time| time.secs()),
        }));
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(out);
        }
    }
}

/// What a deploy changes in a deployed StackSet besides its template's resources.
#[derive(Debug, Default, PartialEq, Eq)]
struct SettingChanges {
    /// The template differs.
    template: bool,
    /// The tags differ.
    tags: bool,
    /// Automatic deployment differs.
    auto_deployment: bool,
    /// Units the manifest names that have no instance yet.
    units_added: Vec<String>,
    /// Regions the manifest names that have no instance yet.
    regions_added: Vec<String>,
    /// Units with instances that the manifest no longer names.
    units_left: Vec<String>,
    /// Regions with instances that the manifest no longer names.
    regions_left: Vec<String>,
    /// Instances out of date, which an update retries.
    not_current: Vec<String>,
}

impl SettingChanges {
    fn of(deployed: &DeployedStackSet, wanted: &serde_json::Value, stack: &StackManifest) -> Self {
        let set = options_of(stack);
        let wanted_tags: BTreeMap<String, String> = stack
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let missing = |wanted: &[String], present: &BTreeSet<String>| -> Vec<String> {
            wanted
                .iter()
                .filter(|item| !present.contains(*item))
                .cloned()
                .collect()
        };
        let left = |present: &BTreeSet<String>, wanted: &[String]| -> Vec<String> {
            present
                .iter()
                .filter(|item| !wanted.contains(item))
                .cloned()
                .collect()
        };
        SettingChanges {
            template: deployed.template != *wanted,
            tags: deployed.tags != wanted_tags,
            auto_deployment: deployed.auto_deployment.is_some_and(|auto| {
                auto != (set.auto_deployment, set.retain_stacks_on_account_removal)
            }),
            units_added: missing(&set.organizational_units, &deployed.organizational_units),
            // A StackSet without instances has no regions yet: they come with its units.
            regions_added: if deployed.instances == 0 {
                Vec::new()
            } else {
                missing(&set.regions, &deployed.regions)
            },
            units_left: left(&deployed.organizational_units, &set.organizational_units),
            regions_left: left(&deployed.regions, &set.regions),
            not_current: deployed.not_current.clone(),
        }
    }

    /// Whether an update of the StackSet itself (template, tags, automatic deployment, or
    /// to retry out-of-date instances) is needed.
    fn needs_update(&self) -> bool {
        self.template || self.tags || self.auto_deployment || !self.not_current.is_empty()
    }

    fn any(&self) -> bool {
        *self != SettingChanges::default()
    }

    /// The removals a plan shows (and the approval must cover).
    fn removals(&self) -> Vec<String> {
        self.units_left
            .iter()
            .map(|unit| format!("instances in {unit}"))
            .chain(
                self.regions_left
                    .iter()
                    .map(|region| format!("instances in region {region}")),
            )
            .collect()
    }

    /// The widenings a plan shows (and the approval must cover): new accounts receive the
    /// template, and every resource of it that is not confined to an account.
    fn widenings(&self) -> Vec<String> {
        self.units_added
            .iter()
            .map(|unit| format!("deploys to the accounts of {unit}"))
            .chain(
                self.regions_added
                    .iter()
                    .map(|region| format!("deploys to region {region} of every account")),
            )
            .collect()
    }

    /// The rest, one phrase each, for the plan's notes.
    fn notes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.tags {
            out.push("the StackSet's tags change".to_owned());
        }
        if self.auto_deployment {
            out.push("automatic deployment changes".to_owned());
        }
        if !self.not_current.is_empty() {
            out.push(format!(
                "retries {} instance(s) not current: {}",
                self.not_current.len(),
                self.not_current.join("; ")
            ));
        }
        out
    }
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plan of a stack deployed as a StackSet, read from the administrator account:
/// created, updated or unchanged. Instances in units or regions the manifest no longer
/// names are shown as removed, and new units and regions as widening, so that both need
/// approval; the rest is in the notes.
pub(super) async fn plan_stack_set(
    client: &CloudFormation,
    stack: &StackManifest,
    wanted: &serde_json::Value,
    options: &DeployOptions,
) -> Result<(PlannedAction, StackDiff, Vec<String>, Vec<String>), String> {
    let Some(deployed) = read(client, stack).await? else {
        return Ok((
            PlannedAction::Create,
            crate::diff::diff(None, wanted),
            Vec::new(),
            Vec::new(),
        ));
    };
    if let Err(reason) = check_owner_tags(&deployed.tags, "StackSet", stack, options.adopt) {
        return Ok((
            PlannedAction::Refused(reason),
            StackDiff::default(),
            Vec::new(),
            Vec::new(),
        ));
    }
    if !deployed.stuck.is_empty() {
        return Ok((
            PlannedAction::Failed(format!(
                "instances of the StackSet no update can fix: {}",
                deployed.stuck.join("; ")
            )),
            StackDiff::default(),
            Vec::new(),
            Vec::new(),
        ));
    }
    let settings = SettingChanges::of(&deployed, wanted, stack);
    if !settings.any() {
        return Ok((
            PlannedAction::Unchanged,
            StackDiff::default(),
            Vec::new(),
            Vec::new(),
        ));
    }
    let mut changes = crate::diff::diff(Some(&deployed.template), wanted);
    for removal in settings.removals() {
        changes.removed.push((removal, INSTANCES.to_owned()));
    }
    changes.widened.extend(settings.widenings());
    let retained = super::plan::retained(&changes, &deployed.template);
    Ok((PlannedAction::Update, changes, retained, settings.notes()))
}

/// What the plan says of every StackSet: where it reaches, and who gets what.
pub(super) fn plan_note(stack: &StackManifest) -> String {
    let set = options_of(stack);
    let confined = if set.accounts.is_empty() {
        String::new()
    } else {
        format!(
            "; resources confined to account(s) {} exist there only",
            join(&set.accounts)
        )
    };
    let everywhere = if set.unconfined_resources {
        "; its other resources go to every account of the units"
    } else {
        "; other accounts of the units get a placeholder"
    };
    format!(
        "deployed as a StackSet to the accounts of {} in {}, {} at a time{confined}{everywhere}",
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
    )
}

/// One StackSet operation the engine starts.
enum Operation<'a> {
    /// The StackSet's template, tags and automatic deployment, applied to every instance
    /// (out-of-date ones included).
    Update,
    /// Instances in these units and regions.
    CreateInstances(&'a [String], &'a [String]),
    /// The instances in these units and regions, deleted.
    DeleteInstances(&'a [String], &'a [String]),
}

impl Operation<'_> {
    fn action(&self) -> &'static str {
        match self {
            Operation::Update => "update",
            Operation::CreateInstances(..) => "create-instances",
            Operation::DeleteInstances(..) => "delete-instances",
        }
    }

    fn describe(&self) -> String {
        match self {
            Operation::Update => "updating every instance".to_owned(),
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
/// it does and from the StackSet's latest operation (`after`). Repeated by the SDK or by a
/// run that lost the answer, it meets the operation it started; an operation of the same
/// content later (a change undone and made again) follows another latest operation, so it
/// is a new one.
fn operation_id(
    stack: &StackManifest,
    operation: &Operation<'_>,
    after: &str,
    attempt: u32,
) -> String {
    let targets = match operation {
        Operation::Update => String::new(),
        Operation::CreateInstances(units, regions) | Operation::DeleteInstances(units, regions) => {
            format!("{}|{}", units.join(","), regions.join(","))
        }
    };
    let digest = super::change_set::content_digest(&[
        stack.stack_name.as_str(),
        operation.action(),
        stack.template_sha256.as_str(),
        &serde_json::to_string(&stack.tags).expect("tags serialize"),
        &serde_json::to_string(options_of(stack)).expect("StackSet options serialize"),
        &targets,
        after,
    ]);
    let id = format!("hyperpod-{}-{digest}", operation.action());
    if attempt > 1 {
        format!("{id}-{attempt}")
    } else {
        id
    }
}

/// A count or percentage as the API takes it.
fn api_number(value: Option<u32>) -> Option<i32> {
    value.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
}

fn preferences(set: &StackSetManifest) -> StackSetOperationPreferences {
    let wanted = &set.operation_preferences;
    StackSetOperationPreferences::builder()
        .set_max_concurrent_count(api_number(wanted.max_concurrent_count))
        .set_max_concurrent_percentage(api_number(wanted.max_concurrent_percentage))
        .set_failure_tolerance_count(api_number(wanted.failure_tolerance_count))
        .set_failure_tolerance_percentage(api_number(wanted.failure_tolerance_percentage))
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

/// The units of an instance operation, every account in them (no account filter).
fn unit_targets(units: &[String]) -> DeploymentTargets {
    DeploymentTargets::builder()
        .set_organizational_unit_ids(Some(units.to_vec()))
        .account_filter_type(AccountFilterType::None)
        .build()
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
        // Automatic deployment is given, so no targets: every instance is updated.
        Operation::Update => client
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
            .deployment_targets(unit_targets(units))
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
            .deployment_targets(unit_targets(units))
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

/// Runs `operation` to its end, `after` being the StackSet's latest operation, and returns
/// the id of the operation it followed (the StackSet's latest now). An operation another
/// run or person started is waited for first (a StackSet runs one at a time); an operation
/// id already used is this very operation, started by an attempt whose answer was lost: it
/// is followed, or, when it ended in failure, started again under a new id (which retries
/// the accounts it failed in).
async fn run(
    client: &CloudFormation,
    stack: &StackManifest,
    operation: Operation<'_>,
    after: &str,
    template: &Template<'_>,
    options: &DeployOptions,
) -> Result<String, String> {
    let mut attempt = 1;
    let mut waits = 0;
    loop {
        let id = operation_id(stack, &operation, after, attempt);
        match start(client, stack, &operation, template, &id).await {
            Ok(started) => {
                say(
                    stack,
                    format!("StackSet operation {started}: {}", operation.describe()),
                );
                follow(client, stack, &started, options).await?;
                return Ok(started);
            }
            Err(failure) if is(&failure, "OperationIdAlreadyExistsException") => {
                match operation_status(client, stack, &id).await? {
                    StackSetOperationStatus::Succeeded => return Ok(id),
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
                        follow(client, stack, &id, options).await?;
                        return Ok(id);
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

/// What [`wait_for_other_operations`] found.
struct Waited {
    /// The id of the StackSet's latest operation, empty when it has none.
    latest: String,
    /// Whether another operation was running, so that the StackSet may have changed.
    waited: bool,
}

/// Waits, within the stack timeout, until the StackSet runs no operation (StackSets run
/// one at a time, so a change waits for what another run or person started); returns the
/// id of its latest operation, empty when it has none, which the id of the next one is
/// derived from.
async fn wait_for_other_operations(
    client: &CloudFormation,
    stack: &StackManifest,
    options: &DeployOptions,
) -> Result<Waited, String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let mut said = false;
    loop {
        let listed = operations(client, stack).await?;
        let latest = listed
            .iter()
            .max_by_key(|operation| operation.created)
            .map(|operation| operation.id.clone())
            .unwrap_or_default();
        let running: Vec<String> = listed
            .into_iter()
            .filter(|operation| {
                matches!(
                    operation.status,
                    Some(
                        StackSetOperationStatus::Running
                            | StackSetOperationStatus::Queued
                            | StackSetOperationStatus::Stopping
                    )
                )
            })
            .map(|operation| operation.id)
            .collect();
        if running.is_empty() {
            return Ok(Waited {
                latest,
                waited: said,
            });
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
                    && !is(&failure, "OperationNotFoundException")
                    && !is(&failure, "StackSetNotFoundException");
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
    let mut summaries = Vec::new();
    let mut next_token = None;
    loop {
        let Ok(page) = client
            .list_stack_set_operation_results()
            .stack_set_name(&stack.stack_name)
            .operation_id(id)
            .call_as(call_as(options_of(stack)))
            .set_next_token(next_token)
            .send()
            .await
        else {
            break;
        };
        summaries.extend(page.summaries().iter().cloned());
        next_token = page.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    let failed: Vec<String> = summaries
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

/// Deploys a stack deployed as a StackSet: creates the StackSet or updates it (template,
/// tags, automatic deployment, out-of-date instances), creates instances in the units and
/// regions that lack them, deletes those in units and regions the manifest no longer names,
/// each within what the approved plan showed, and checks at the end that the StackSet holds
/// the template, that every instance is current, and that every account the template
/// confines resources to has one.
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
    let mut created = false;
    let mut found = match read(client, stack).await? {
        Some(found) => found,
        None => {
            let answered = client
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
                .send()
                .await;
            match answered {
                Ok(_) => {
                    say(stack, "StackSet created");
                    created = true;
                }
                // Made meanwhile (by an attempt whose answer was lost, or by someone
                // else): checked below like any deployed StackSet.
                Err(error) => {
                    let failure = failure("CreateStackSet", &error);
                    if !is(&failure, "NameAlreadyExistsException") {
                        return Err(failure.to_string());
                    }
                }
            }
            read(client, stack).await?.ok_or(
                "the StackSet was created but cannot be read back; deploy again to follow it",
            )?
        }
    };
    check_owner_tags(&found.tags, "StackSet", stack, options.adopt)?;
    if !found.stuck.is_empty() {
        return Err(format!(
            "instances of the StackSet no update can fix: {}",
            found.stuck.join("; ")
        ));
    }
    let waited = wait_for_other_operations(client, stack, options).await?;
    if waited.waited {
        found = read(client, stack)
            .await?
            .ok_or("the StackSet was deleted while this run waited for it")?;
    }
    let mut after = waited.latest;
    let settings = SettingChanges::of(&found, &wanted, stack);
    // A StackSet this run just made shows the plan's creation; any other is held to what
    // the plan showed of it.
    if !created {
        let unapproved = unapproved(&found, &wanted, &settings, approved);
        if !unapproved.is_empty() {
            return Ok(Outcome::Refused(format!(
                "the StackSet {}, which the approved plan did not show (it changed since the plan); nothing was changed; run again to review the new plan",
                unapproved.join(" and ")
            )));
        }
    }
    let mut changed = created;

    if settings.needs_update() {
        after = run(client, stack, Operation::Update, &after, template, options).await?;
        changed = true;
    }
    if !settings.units_added.is_empty() {
        let regions = &set.regions;
        after = run(
            client,
            stack,
            Operation::CreateInstances(&settings.units_added, regions),
            &after,
            template,
            options,
        )
        .await?;
        changed = true;
    }
    let present_units: Vec<String> = set
        .organizational_units
        .iter()
        .filter(|unit| found.organizational_units.contains(*unit))
        .cloned()
        .collect();
    if !settings.regions_added.is_empty() && !present_units.is_empty() {
        after = run(
            client,
            stack,
            Operation::CreateInstances(&present_units, &settings.regions_added),
            &after,
            template,
            options,
        )
        .await?;
        changed = true;
    }
    if !settings.units_left.is_empty() {
        let regions: Vec<String> = found.regions.iter().cloned().collect();
        after = run(
            client,
            stack,
            Operation::DeleteInstances(&settings.units_left, &regions),
            &after,
            template,
            options,
        )
        .await?;
        changed = true;
    }
    if !settings.regions_left.is_empty() {
        let units: Vec<String> = found.organizational_units.iter().cloned().collect();
        run(
            client,
            stack,
            Operation::DeleteInstances(&units, &settings.regions_left),
            &after,
            template,
            options,
        )
        .await?;
        changed = true;
    }
    if changed {
        let Some(now) = read(client, stack).await? else {
            return Err("the StackSet disappeared during the deploy; deploy again".into());
        };
        found = now;
    }
    verify(&found, stack, &wanted)?;
    if changed {
        say(stack, "StackSet deployed");
        Ok(Outcome::Deployed)
    } else {
        say(stack, "unchanged");
        Ok(Outcome::Unchanged)
    }
}

/// What deploying `wanted` over `deployed` does that the approved plan did not show.
fn unapproved(
    deployed: &DeployedStackSet,
    wanted: &serde_json::Value,
    settings: &SettingChanges,
    approved: &Approved,
) -> Vec<String> {
    if approved.all {
        return Vec::new();
    }
    let changes = crate::diff::diff(Some(&deployed.template), wanted);
    let (widenings, removals) = (settings.widenings(), settings.removals());
    let mut out = approved.exceeded_by(
        changes.replaced(),
        changes.widened.iter().chain(&widenings).map(String::as_str),
        changes
            .removed
            .iter()
            .map(|(id, _)| id)
            .chain(&removals)
            .map(String::as_str),
    );
    if !approved.changes_expected && settings.any() {
        out.push("changes, where the plan showed it unchanged".to_owned());
    }
    out
}

/// After a deploy: the StackSet holds the template, every instance is current, and every
/// account the template confines resources to has an instance (an account outside the
/// units would silently lack them).
fn verify(
    found: &DeployedStackSet,
    stack: &StackManifest,
    wanted: &serde_json::Value,
) -> Result<(), String> {
    let set = options_of(stack);
    if found.template != *wanted {
        return Err(
            "the StackSet's operations ended, but it does not hold the template of this assembly (another run or person changed it meanwhile); deploy again".into(),
        );
    }
    if !found.stuck.is_empty() {
        return Err(format!(
            "instances of the StackSet no update can fix: {}",
            found.stuck.join("; ")
        ));
    }
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
    let after = wait_for_other_operations(client, stack, options)
        .await?
        .latest;
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
            &after,
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
                "accounts": ["222222222222"], "unconfinedResources": false
            }
        }))
        .unwrap()
    }

    /// An operation id is CloudFormation's idempotency token: the same operation after the
    /// same latest operation gets the same id; another operation, a later one of the same
    /// content or a new attempt another id, always in the API's format.
    #[test]
    fn operation_ids_follow_what_the_operation_does_and_what_came_before() {
        let stack = stack();
        let units = ["ou-ab12-units001".to_owned()];
        let regions = ["us-east-1".to_owned()];
        let update = operation_id(&stack, &Operation::Update, "", 1);
        assert_eq!(update, operation_id(&stack, &Operation::Update, "", 1));
        let ids = [
            update.clone(),
            operation_id(
                &stack,
                &Operation::Update,
                "hyperpod-update-0123456789abcdef0123",
                1,
            ),
            operation_id(&stack, &Operation::Update, "", 2),
            operation_id(&stack, &Operation::CreateInstances(&units, &regions), "", 1),
            operation_id(&stack, &Operation::DeleteInstances(&units, &regions), "", 1),
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
        assert_ne!(update, operation_id(&changed, &Operation::Update, "", 1));
    }

    fn deployed(units: &[&str], regions: &[&str]) -> DeployedStackSet {
        DeployedStackSet {
            template: serde_json::json!({ "Resources": {} }),
            tags: BTreeMap::new(),
            auto_deployment: Some((true, false)),
            organizational_units: units.iter().map(|u| (*u).to_owned()).collect(),
            regions: regions.iter().map(|r| (*r).to_owned()).collect(),
            accounts: ["222222222222".to_owned()].into(),
            instances: units.len() * regions.len(),
            not_current: Vec::new(),
            stuck: Vec::new(),
        }
    }

    /// Units and regions the options gain widen what the StackSet reaches; those they lose
    /// are removals; both are what the plan shows and the approval must cover.
    #[test]
    fn units_and_regions_gained_widen_and_lost_remove() {
        let stack = stack();
        let wanted = serde_json::json!({ "Resources": {} });
        let same = SettingChanges::of(
            &deployed(&["ou-ab12-units001"], &["us-east-1"]),
            &wanted,
            &stack,
        );
        assert!(!same.any(), "{same:?}");

        let moved = SettingChanges::of(
            &deployed(&["ou-ab12-other001"], &["us-east-1", "eu-west-1"]),
            &wanted,
            &stack,
        );
        assert_eq!(moved.units_added, ["ou-ab12-units001"]);
        assert_eq!(moved.units_left, ["ou-ab12-other001"]);
        assert_eq!(moved.regions_left, ["eu-west-1"]);
        assert!(!moved.needs_update());
        assert_eq!(
            moved.removals(),
            [
                "instances in ou-ab12-other001",
                "instances in region eu-west-1"
            ]
        );
        assert_eq!(
            moved.widenings(),
            ["deploys to the accounts of ou-ab12-units001"]
        );

        let mut retry = deployed(&["ou-ab12-units001"], &["us-east-1"]);
        retry
            .not_current
            .push("222222222222 us-east-1: OUTDATED".into());
        retry.auto_deployment = Some((false, false));
        let retried = SettingChanges::of(&retry, &wanted, &stack);
        assert!(retried.needs_update() && retried.auto_deployment);
        assert_eq!(retried.notes().len(), 2, "{:?}", retried.notes());

        // A region gained by a StackSet with instances; none without (they come with units).
        let mut wider = stack.clone();
        wider
            .stack_set
            .as_mut()
            .unwrap()
            .regions
            .push("eu-west-1".into());
        let gained = SettingChanges::of(
            &deployed(&["ou-ab12-units001"], &["us-east-1"]),
            &wanted,
            &wider,
        );
        assert_eq!(gained.regions_added, ["eu-west-1"]);
        let empty = SettingChanges::of(&deployed(&[], &[]), &wanted, &wider);
        assert!(empty.regions_added.is_empty());
        assert_eq!(empty.units_added, ["ou-ab12-units001"]);
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
