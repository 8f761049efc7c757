//! Change sets: created, waited for until CloudFormation has computed them, read for replacements.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, Parameter, Tag};
use hyperpod_core::StackManifest;

use super::DeployOptions;
use super::errors::describe;

/// The resources a change set would replace, asked of CloudFormation without changing
/// anything: the change set is created, read and deleted.
pub(super) async fn change_set_replacements(
    client: &CloudFormation,
    stack: &StackManifest,
    body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
) -> Result<Vec<String>, String> {
    match create_change_set(
        client,
        stack,
        "hyperpod-plan",
        ChangeSetType::Update,
        body,
        template_url,
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
        // This very change is being carried out: it replaces what it replaces, already.
        ChangeSet::Executing { .. } => Ok(Vec::new()),
        ChangeSet::Failed(reason)
            if reason.contains("didn't contain changes") || reason.contains("No updates") =>
        {
            Ok(Vec::new())
        }
        ChangeSet::Failed(reason) => Err(reason),
    }
}

/// A change set CloudFormation has computed, or why it could not.
pub(super) enum ChangeSet {
    /// Its id and description (which names its stack's id).
    Ready(
        String,
        Box<aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput>,
    ),
    /// An earlier attempt of this very change (same template, parameters and tags) was
    /// executed already, or is executing: the stack is to be followed, not changed again.
    Executing {
        /// The change set's id.
        id: String,
        /// The stack's id.
        stack_id: String,
    },
    /// Why it failed (it has been deleted): no changes, an invalid template, or the timeout.
    Failed(String),
}

/// The name (and idempotency token) of a change set: derived from what it changes, so that
/// a call the service applied but whose answer was lost, retried by the SDK or by the next
/// run, meets the same change set instead of making a second.
pub(super) fn change_set_name(
    prefix: &str,
    change_set_type: &ChangeSetType,
    template: &str,
    parameters: &BTreeMap<String, String>,
    stack: &StackManifest,
) -> String {
    let digest = content_digest(&[
        change_set_type.as_str(),
        &stack.stack_name,
        template,
        &serde_json::to_string(parameters).expect("parameters serialize"),
        &serde_json::to_string(&stack.tags).expect("tags serialize"),
    ]);
    format!("{prefix}-{digest}")
}

/// Twenty hex digits of the SHA-256 of `parts` (each with its length, so that no two
/// different lists of parts meet): the content part of the names and idempotency tokens
/// the engine derives from what a call does.
pub(super) fn content_digest(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()[..10]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Creates a change set (or finds the one an earlier attempt of the same change made) and
/// waits, within the stack timeout, until CloudFormation has computed it. A change set that
/// fails is deleted.
#[allow(clippy::too_many_arguments)]
pub(super) async fn create_change_set(
    client: &CloudFormation,
    stack: &StackManifest,
    prefix: &str,
    change_set_type: ChangeSetType,
    body: &str,
    template_url: Option<&str>,
    parameters: &BTreeMap<String, String>,
    options: &DeployOptions,
) -> Result<ChangeSet, String> {
    let name = change_set_name(
        prefix,
        &change_set_type,
        template_url.unwrap_or(body),
        parameters,
        stack,
    );
    let create = || async {
        let created = client
            .create_change_set()
            .stack_name(&stack.stack_name)
            .change_set_name(&name)
            .client_token(&name)
            .change_set_type(change_set_type.clone())
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
            .await;
        match created {
            Ok(created) => Ok(created.id().unwrap_or(&name).to_owned()),
            // The same change, made by an attempt whose answer was lost: follow it.
            Err(error)
                if error
                    .as_service_error()
                    .and_then(|e| aws_sdk_cloudformation::error::ProvideErrorMetadata::code(e))
                    == Some("AlreadyExistsException") =>
            {
                Ok(name.clone())
            }
            Err(error) => Err(describe("CreateChangeSet", &error)),
        }
    };
    let mut id = create().await?;
    let mut retried = false;
    let deadline = tokio::time::Instant::now() + options.stack_timeout;
    let mut heartbeat = super::progress::Heartbeat::start();
    let reason = loop {
        let described = client
            .describe_change_set()
            .change_set_name(&id)
            .stack_name(&stack.stack_name)
            .send()
            .await
            .map_err(|e| describe("DescribeChangeSet", &e))?;
        let execution = described.execution_status().map(|e| e.as_str().to_owned());
        match described.status() {
            Some(ChangeSetStatus::CreateComplete)
                if execution.as_deref() == Some("EXECUTE_IN_PROGRESS") =>
            {
                return Ok(ChangeSet::Executing {
                    id: described.change_set_id().unwrap_or(&id).to_owned(),
                    stack_id: described.stack_id().unwrap_or(&stack.stack_name).to_owned(),
                });
            }
            Some(ChangeSetStatus::CreateComplete)
                if execution.as_deref().is_none_or(|e| e == "AVAILABLE") =>
            {
                return Ok(ChangeSet::Ready(id, Box::new(described)));
            }
            // A change set of this name that ran, or can no longer run: a leftover of the
            // stack's history. CloudFormation keeps none after an update; delete it and make
            // this change anew.
            Some(ChangeSetStatus::CreateComplete) if !retried => {
                retried = true;
                client
                    .delete_change_set()
                    .change_set_name(&id)
                    .stack_name(&stack.stack_name)
                    .send()
                    .await
                    .map_err(|e| describe("DeleteChangeSet", &e))?;
                id = create().await?;
            }
            Some(ChangeSetStatus::Failed) => {
                break described.status_reason().unwrap_or_default().to_owned();
            }
            _ if tokio::time::Instant::now() > deadline => {
                break "CloudFormation did not compute the change set within the stack timeout"
                    .to_owned();
            }
            _ => {
                heartbeat.beat(
                    stack,
                    "CloudFormation is still computing the change set",
                    options.stack_timeout,
                );
                tokio::time::sleep(options.poll_interval).await
            }
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
pub(super) fn replaced_by(
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
