//! Destroy: the stacks in reverse dependency order, keeping what a surviving stack still serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client as CloudFormation;
use hyperpod_core::StackManifest;

use super::accounts::Accounts;
use super::errors::describe;
use super::ownership::check_owner;
use super::stack::{current, wait_deleted};
use super::{
    DeployError, DeployOptions, Outcome, Summary, approve, read_manifest, result, say, selected,
};

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
    // One question for the whole run, naming every stack with its account and region.
    println!("destroy, in this order:");
    for stack in &order {
        println!(
            "  {} (stack {}, account {} {})",
            stack.id, stack.stack_name, stack.account, stack.region
        );
    }
    let question = format!(
        "delete these {} stack(s) and every resource they do not retain?",
        order.len()
    );
    if !approve(options, question).await {
        return Ok(Summary {
            stacks: order
                .iter()
                .map(|s| result(s, Outcome::Refused("destroying needs approval and got none; nothing was deleted; run again with --yes, or at a terminal".into())))
                .collect(),
        });
    }
    let mut summary = Summary::default();
    // A stack whose dependent could not be deleted still serves it: it stays.
    let mut kept: BTreeMap<String, String> = BTreeMap::new();
    for stack in order {
        let client = accounts.client(&stack.account, &stack.region);
        let outcome = if let Some(dependent) = kept.get(&stack.id) {
            Outcome::NotAttempted(format!("{dependent} still depends on it"))
        } else {
            match destroy_stack(&client, stack, assembly_dir, options).await {
                Ok(outcome) => outcome,
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

pub(super) async fn destroy_stack(
    client: &CloudFormation,
    stack: &StackManifest,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Outcome, String> {
    let Some(deployed) = current(client, &stack.stack_name).await? else {
        say(stack, "not deployed");
        return Ok(Outcome::Destroyed);
    };
    if let Err(reason) = check_owner(&deployed, stack, options.adopt) {
        return Ok(Outcome::Refused(reason));
    }
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
        .map_err(|e| describe("DeleteStack", &e))?;
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
    Ok(Outcome::Destroyed)
}
