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
        .map_err(|e| describe("CreateChangeSet", &e))?;
    let id = created.id().unwrap_or(&name).to_owned();
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
