//! Destroy: the stacks in reverse dependency order, keeping what a surviving stack still serves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::Client as CloudFormation;
use hyperpod_core::StackManifest;

use super::accounts::Accounts;
use super::errors::describe;
use super::ownership::check_owner;
use super::selection::{Pull, deploy_order, select};
use super::stack::{current, wait_deleted};
use super::{DeployError, DeployOptions, Outcome, Summary, approve, read_manifest, result, say};

/// Deletes the selected stacks in reverse dependency order, across accounts. Resources
/// kept by their deletion policy are listed afterwards.
pub async fn destroy(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Summary, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = select(
        &manifest,
        &options.select,
        options.exclusively,
        Pull::Dependents,
    )?;
    let accounts: BTreeSet<String> = stacks.iter().map(|s| s.account.clone()).collect();
    let accounts = Accounts::connect(base, &accounts, options).await?;
    // A stack goes once nothing that depends on it is left.
    let mut order = deploy_order(&stacks);
    order.reverse();
    // One question for the whole run, naming every stack with its account and region, and
    // what protects it.
    println!("destroy, in this order:");
    for stack in &order {
        let client = accounts.client(&stack.account, &stack.region);
        let state = if stack.stack_set.is_some() {
            super::stack_set::destroy_state(&client, stack).await
        } else {
            match current(&client, &stack.stack_name).await {
                Ok(None) => "not deployed".to_owned(),
                Ok(Some(deployed)) if deployed.enable_termination_protection() == Some(true) => {
                    if options.lift_termination_protection {
                        "termination protection on: it will be lifted".to_owned()
                    } else {
                        "termination protection on: it stays (--lift-termination-protection lifts it)"
                        .to_owned()
                    }
                }
                Ok(Some(_)) => "deployed".to_owned(),
                Err(reason) => format!("cannot be read: {reason}"),
            }
        };
        println!(
            "  {} (stack {}, account {} {}): {state}",
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
            let destroyed = if stack.stack_set.is_some() {
                super::stack_set::destroy_stack_set(&client, stack, options).await
            } else {
                destroy_stack(&client, stack, assembly_dir, options).await
            };
            match destroyed {
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
        if !options.lift_termination_protection {
            return Ok(Outcome::Refused(format!(
                "termination protection is on for stack {} in account {} {}; run destroy with --lift-termination-protection, which lifts it after the confirmation",
                stack.stack_name, stack.account, stack.region
            )));
        }
        client
            .update_termination_protection()
            .stack_name(&stack.stack_name)
            .enable_termination_protection(false)
            .send()
            .await
            .map_err(|e| describe("UpdateTerminationProtection", &e))?;
        say(stack, "termination protection lifted");
    }
    client
        .delete_stack()
        .stack_name(&stack.stack_name)
        .send()
        .await
        .map_err(|e| describe("DeleteStack", &e))?;
    wait_deleted(client, stack, options).await?;
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
