//! One stack through a change set: waiting for other operations, the skip when nothing changed, approval, execution and the wait for the end.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_cloudformation::types::{ChangeSetType, StackStatus};
use hyperpod_core::{Manifest, StackManifest};
use tokio::sync::Mutex;

use super::accounts::Accounts;
use super::assets::{upload_asset, upload_template};
use super::change_set::{ChangeSet, create_change_set, replaced_by};
use super::errors::{CallFailure, FailureKind, describe, failure};
use super::events::EventStream;
use super::ownership::check_owner;
use super::parameters::resolve_parameters;
use super::progress;
use super::{DeployOptions, Outcome, RequireApproval, StackResult, approve, say};

/// What the run's approval covers in one stack: what its plan showed, or everything.
#[derive(Clone, Debug, Default)]
pub(super) struct Approved {
    /// Everything the change set shows (`--yes`, `--require-approval never`, bootstrap).
    pub(super) all: bool,
    /// The resources the plan showed replaced.
    pub(super) replacements: BTreeSet<String>,
    /// The grants the plan showed widened.
    pub(super) widened: BTreeSet<String>,
    /// Whether the plan re-creates the stack.
    pub(super) recreate: bool,
    /// The resources the plan showed deleted.
    pub(super) removals: BTreeSet<String>,
    /// Whether the plan showed the stack changing at all.
    pub(super) changes_expected: bool,
}

impl Approved {
    /// Everything, whatever the change set shows.
    pub(super) fn everything() -> Approved {
        Approved {
            all: true,
            ..Approved::default()
        }
    }

    /// What a change does beyond this approval, one phrase each: the replacements, the
    /// widened grants and the deletions among those given that the plan did not show.
    pub(super) fn exceeded_by<'a>(
        &self,
        replaced: impl IntoIterator<Item = &'a str>,
        widened: impl IntoIterator<Item = &'a str>,
        removed: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let unshown = |items: Vec<&'a str>, approved: &BTreeSet<String>| -> Vec<&'a str> {
            items
                .into_iter()
                .filter(|item| !approved.contains(*item))
                .collect()
        };
        let replaced = unshown(replaced.into_iter().collect(), &self.replacements);
        let widened = unshown(widened.into_iter().collect(), &self.widened);
        let removed = unshown(removed.into_iter().collect(), &self.removals);
        let mut out = Vec::new();
        if !replaced.is_empty() {
            out.push(format!("replaces {}", replaced.join(", ")));
        }
        if !widened.is_empty() {
            out.push(format!("widens {} permission(s)", widened.len()));
        }
        if !removed.is_empty() {
            out.push(format!("deletes {}", removed.join(", ")));
        }
        out
    }
}

/// Deploys one stack; returns the outcome and the outputs.
#[allow(clippy::too_many_arguments)]
pub(super) async fn deploy_stack(
    accounts: &Accounts,
    manifest: &Manifest,
    assembly_dir: &Path,
    stack: &StackManifest,
    body: &str,
    options: &DeployOptions,
    results: &Mutex<BTreeMap<String, StackResult>>,
    approved: &Approved,
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
                if options.verbose {
                    say(
                        stack,
                        format!(
                            "asset {}: {sent} file(s) uploaded, {present} already in s3://{}/{}",
                            asset.id, asset.bucket_name, asset.object_key_prefix
                        ),
                    );
                }
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
    if stack.stack_set.is_some() {
        let template = super::stack_set::Template {
            body,
            url: template_url.as_deref(),
        };
        let outcome =
            super::stack_set::deploy_stack_set(&client, stack, &template, options, approved)
                .await
                .unwrap_or_else(Outcome::Failed);
        return (outcome, BTreeMap::new(), uploads);
    }
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
        approved,
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

pub(super) async fn stack_outputs(
    client: &CloudFormation,
    name: &str,
) -> Result<BTreeMap<String, String>, String> {
    let stacks = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe("DescribeStacks", &e))?;
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
pub(super) async fn current(
    client: &CloudFormation,
    name: &str,
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, String> {
    read_stack(client, name).await.map_err(|f| f.to_string())
}

/// The deployed stack, `None` when it does not exist; a failed read with its kind.
async fn read_stack(
    client: &CloudFormation,
    name: &str,
) -> Result<Option<aws_sdk_cloudformation::types::Stack>, CallFailure> {
    match client.describe_stacks().stack_name(name).send().await {
        Ok(output) => Ok(output.stacks().first().cloned()),
        Err(error) => {
            let failure = failure("DescribeStacks", &error);
            if failure.text.contains("does not exist") {
                Ok(None)
            } else {
                Err(failure)
            }
        }
    }
}

/// Reads a stack while waiting for it. A read that fails for a passing reason (throttled,
/// unreachable, timed out, the service failing) is tried again at the next poll, within the
/// wait's deadline, and said once; `Ok(None)` then means "no news".
async fn poll_stack(
    client: &CloudFormation,
    id: &str,
    stack: &StackManifest,
    said: &mut bool,
) -> Result<Option<Option<aws_sdk_cloudformation::types::Stack>>, String> {
    match read_stack(client, id).await {
        Ok(found) => {
            *said = false;
            Ok(Some(found))
        }
        Err(failure)
            if matches!(
                failure.kind,
                FailureKind::Throttled
                    | FailureKind::Unreachable
                    | FailureKind::TimedOut
                    | FailureKind::Service
            ) && !failure.text.starts_with("ValidationError") =>
        {
            if !*said {
                *said = true;
                say(stack, format!("{failure}; reading again at the next poll"));
            }
            Ok(None)
        }
        Err(failure) => Err(failure.to_string()),
    }
}

pub(super) async fn deploy_with_change_set(
    client: &CloudFormation,
    stack: &StackManifest,
    body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
    approved: &Approved,
) -> Result<Outcome, String> {
    let name = &stack.stack_name;
    let mut existing = current(client, name).await?;
    if let Some(deployed) = &existing {
        check_owner(deployed, stack, options.adopt)?;
    }
    // A stack busy with another operation is waited for, within the stack timeout.
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let mut waited_for_other = false;
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
        if !waited_for_other {
            waited_for_other = true;
            say(
                stack,
                format!(
                    "waiting: another operation is running ({})",
                    status.as_str()
                ),
            );
        }
        heartbeat.beat(
            stack,
            &format!("another operation is still running ({})", status.as_str()),
            options.stack_timeout,
        );
        tokio::time::sleep(options.poll_interval).await;
        existing = current(client, name).await?;
    }
    let status = existing.as_ref().and_then(|s| s.stack_status().cloned());
    let change_set_type = match &status {
        None | Some(StackStatus::ReviewInProgress) => ChangeSetType::Create,
        Some(StackStatus::RollbackComplete) => {
            if !(approved.all || approved.recreate) {
                return Ok(Outcome::Refused("the stack is in ROLLBACK_COMPLETE after a failed first create and must be deleted and created again, which the approved plan did not show; nothing was changed; run again to review the new plan".into()));
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
                .map_err(|e| describe("DeleteStack", &e))?;
            wait_deleted(client, stack, options).await?;
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
    // Termination protection as it is now: on a stack just created, off.
    let protected = change_set_type == ChangeSetType::Update
        && existing
            .as_ref()
            .and_then(|s| s.enable_termination_protection())
            == Some(true);
    if let (Some(deployed), Some(template)) = (existing.as_ref(), deployed_template.as_ref())
        && unchanged(deployed, template, &wanted, parameters, &stack.tags)
    {
        reconcile_protection(client, stack, protected).await?;
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
        ChangeSet::Executing { id, stack_id } => {
            // An earlier attempt of this very change (its answer lost, or its run stopped)
            // is executing or has executed: it is followed, not made again.
            say(
                stack,
                "an earlier attempt of this change is under way; following it",
            );
            let mut events = EventStream::start(client, name, 0).await;
            let final_status =
                wait_settled(client, stack, &stack_id, &id, options, &mut events).await?;
            return finished(client, stack, final_status, protected, options).await;
        }
        ChangeSet::Failed(reason)
            if reason.contains("didn't contain changes") || reason.contains("No updates") =>
        {
            reconcile_protection(client, stack, protected).await?;
            say(stack, "unchanged");
            return Ok(Outcome::Unchanged);
        }
        ChangeSet::Failed(reason) => return Err(format!("the change set failed: {reason}")),
    };
    for change in described.changes().iter().filter(|_| options.verbose) {
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
    // What the change set shows beyond the approved plan: a replacement only
    // CloudFormation could tell, or a parameter a producer changed in this run.
    let mut unapproved = approved.exceeded_by(
        replacements.iter().map(String::as_str),
        changes.widened.iter().map(String::as_str),
        described
            .changes()
            .iter()
            .filter_map(|c| c.resource_change())
            .filter(|r| r.action().is_some_and(|a| a.as_str() == "Remove"))
            .filter_map(|r| r.logical_resource_id()),
    );
    if !approved.changes_expected && options.require_approval == RequireApproval::AnyChange {
        unapproved.push("changes, where the plan showed it unchanged".to_owned());
    }
    // At a terminal, the person decides; without one, nothing unapproved happens.
    if !approved.all
        && !unapproved.is_empty()
        && options.interactive
        && approve(
            options,
            format!(
                "{} ({} {}): CloudFormation's change set {}, which the plan did not show (a value taken from a stack deployed earlier in this run can do that); go ahead?",
                stack.id,
                stack.account,
                stack.region,
                unapproved.join(" and ")
            ),
        )
        .await
    {
        unapproved.clear();
    }
    if !approved.all && !unapproved.is_empty() {
        let _ = client
            .delete_change_set()
            .change_set_name(&change_set_id)
            .stack_name(name)
            .send()
            .await;
        return Ok(Outcome::Refused(format!(
            "the change set {}, which the approved plan did not show (values taken from stacks deployed earlier in this run can do that); nothing was changed in this stack; run again to review the new plan, which reads them",
            unapproved.join(" and ")
        )));
    }
    let mut events = EventStream::start(client, name, described.changes().len()).await;
    let stack_id = described.stack_id().unwrap_or(name).to_owned();
    let token = described.change_set_name().unwrap_or("hyperpod").to_owned();
    let executed = client
        .execute_change_set()
        .change_set_name(&change_set_id)
        .stack_name(name)
        .client_request_token(&token)
        .disable_rollback(options.no_rollback)
        .send()
        .await;
    if let Err(error) = executed {
        // Executed already, by an attempt whose answer was lost: follow it.
        let code = error
            .as_service_error()
            .and_then(|e| aws_sdk_cloudformation::error::ProvideErrorMetadata::code(e));
        let ran = matches!(
            code,
            Some("InvalidChangeSetStatus" | "ChangeSetNotFound" | "ChangeSetNotFoundException")
        ) && matches!(
            execution_status(client, &change_set_id, name)
                .await
                .as_deref(),
            // Gone: CloudFormation removes a stack's change sets once it is updated.
            None | Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE" | "EXECUTE_FAILED")
        );
        if !ran {
            return Err(describe("ExecuteChangeSet", &error));
        }
    }
    let final_status = wait_settled(
        client,
        stack,
        &stack_id,
        &change_set_id,
        options,
        &mut events,
    )
    .await?;
    finished(client, stack, final_status, protected, options).await
}

/// The execution status of a change set; `None` when it cannot be read (gone).
async fn execution_status(
    client: &CloudFormation,
    change_set: &str,
    stack: &str,
) -> Option<String> {
    client
        .describe_change_set()
        .change_set_name(change_set)
        .stack_name(stack)
        .send()
        .await
        .ok()?
        .execution_status()
        .map(|status| status.as_str().to_owned())
}

/// What a stack's final status means: deployed (with its protection reconciled), or the
/// reasons it failed and the way on.
async fn finished(
    client: &CloudFormation,
    stack: &StackManifest,
    final_status: StackStatus,
    protected: bool,
    options: &DeployOptions,
) -> Result<Outcome, String> {
    let name = &stack.stack_name;
    if final_status == StackStatus::CreateComplete || final_status == StackStatus::UpdateComplete {
        reconcile_protection(client, stack, protected)
            .await
            .map_err(|reason| {
                format!(
                    "the stack deployed ({}), but {reason}",
                    final_status.as_str()
                )
            })?;
        say(stack, format!("deployed ({})", final_status.as_str()));
        Ok(Outcome::Deployed)
    } else {
        let reasons = failure_reasons(client, name).await;
        // Without rollback the stack stays as it failed: say the two ways on.
        let way_back = if options.no_rollback
            && matches!(
                final_status,
                StackStatus::CreateFailed | StackStatus::UpdateFailed
            ) {
            format!(
                "; it is left as it failed for inspection: fix the cause and deploy again, or roll it back with `aws cloudformation rollback-stack --stack-name {name}` in account {} {}",
                stack.account, stack.region
            )
        } else {
            String::new()
        };
        Err(format!(
            "the stack ended in {}: {reasons}{way_back}",
            final_status.as_str()
        ))
    }
}

/// Turns termination protection on when the manifest asks for it and `protected` (its
/// state now) is off: on every deploy, so that a run stopped between the stack and this
/// step is repaired by the next. It never turns protection off: that is `destroy
/// --lift-termination-protection`'s, after a confirmation.
async fn reconcile_protection(
    client: &CloudFormation,
    stack: &StackManifest,
    protected: bool,
) -> Result<(), String> {
    if protected || !stack.termination_protection {
        return Ok(());
    }
    client
        .update_termination_protection()
        .stack_name(&stack.stack_name)
        .enable_termination_protection(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "turning termination protection on failed: {}",
                describe("UpdateTerminationProtection", &e)
            )
        })?;
    say(stack, "termination protection on");
    Ok(())
}

/// The template a stack runs now.
pub(super) async fn deployed_template(
    client: &CloudFormation,
    name: &str,
) -> Result<serde_json::Value, String> {
    let template = client
        .get_template()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| describe("GetTemplate", &e))?;
    Ok(template
        .template_body()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(serde_json::Value::Null))
}

/// Whether the deployed template, parameters and tags equal the ones to deploy.
pub(super) fn unchanged(
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

/// Waits for the stack `stack_id` to settle after `change_set` was executed. A settled
/// status counts only once the change set says its execution ended (right after the call,
/// CloudFormation may still show the status before it); a stack still waiting for review
/// a minute after the call was not executed, which is a failure.
pub(super) async fn wait_settled(
    client: &CloudFormation,
    stack: &StackManifest,
    stack_id: &str,
    change_set: &str,
    options: &DeployOptions,
    events: &mut EventStream,
) -> Result<StackStatus, String> {
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let called = tokio::time::Instant::now();
    let mut failing = false;
    loop {
        if events.print_new(client, stack).await {
            heartbeat.heard();
        }
        let Some(found) = poll_stack(client, stack_id, stack, &mut failing).await? else {
            if tokio::time::Instant::now() > deadline {
                return Err(
                    "the stack could not be read until the timeout; it goes on in CloudFormation"
                        .into(),
                );
            }
            tokio::time::sleep(options.poll_interval).await;
            continue;
        };
        let status = found
            .and_then(|s| s.stack_status().cloned())
            .ok_or("the stack disappeared while deploying")?;
        if !status.as_str().ends_with("_IN_PROGRESS") {
            let execution = execution_status(client, change_set, stack_id).await;
            if !matches!(
                execution.as_deref(),
                Some("AVAILABLE" | "EXECUTE_IN_PROGRESS")
            ) {
                return Ok(status);
            }
        }
        if status == StackStatus::ReviewInProgress
            && called.elapsed() > progress::HEARTBEAT
            && !matches!(
                execution_status(client, change_set, stack_id)
                    .await
                    .as_deref(),
                Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE")
            )
        {
            return Err(format!(
                "the stack is still in REVIEW_IN_PROGRESS a minute after its change set was executed: the change set did not run; nothing was created; run again (the next run takes the stack over), or delete it with `aws cloudformation delete-stack --stack-name {}` in account {} {}",
                stack.stack_name, stack.account, stack.region
            ));
        }
        // Never a silent minute: what it waits for, and for how long.
        heartbeat.beat(
            stack,
            &format!("still {}", status.as_str()),
            options.stack_timeout,
        );
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "the stack is still {} after the timeout; it goes on in CloudFormation",
                status.as_str()
            ));
        }
        tokio::time::sleep(options.poll_interval).await;
    }
}

pub(super) async fn wait_deleted(
    client: &CloudFormation,
    manifest: &StackManifest,
    options: &DeployOptions,
) -> Result<(), String> {
    let name = &manifest.stack_name;
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = progress::Heartbeat::start();
    let mut failing = false;
    loop {
        let Some(found) = poll_stack(client, name, manifest, &mut failing).await? else {
            if tokio::time::Instant::now() > deadline {
                return Err("the stack could not be read until the timeout".into());
            }
            tokio::time::sleep(options.poll_interval).await;
            continue;
        };
        match found {
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
            Some(_) => {
                heartbeat.beat(manifest, "still deleting", options.stack_timeout);
                tokio::time::sleep(options.poll_interval).await
            }
        }
    }
}

/// The reasons of the failed events of a stack.
pub(super) async fn failure_reasons(client: &CloudFormation, name: &str) -> String {
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
