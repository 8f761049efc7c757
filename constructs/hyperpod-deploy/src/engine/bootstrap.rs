//! Bootstrap: the staging bucket of every account and region.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aws_config::SdkConfig;
use hyperpod_core::StackManifest;

use super::accounts::Accounts;
use super::assets::staging_bucket;
use super::selection::{Pull, select};
use super::stack::{Approved, deploy_with_change_set};
use super::{DeployError, DeployOptions, Outcome, Summary, read_manifest, result};

/// The owner the staging stack's ownership tag names: the tool, not one app.
const BOOTSTRAP_OWNER: &str = "hyperpod-bootstrap";

/// The template of the staging stack: a private, encrypted, retained bucket.
pub(super) fn bootstrap_template(bucket: &str) -> String {
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
    let stacks = select(
        &manifest,
        &options.select,
        options.exclusively,
        Pull::Nothing,
    )?;
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
            // Shared by every app of the account and region.
            tags: [(
                hyperpod_core::APP_TAG.to_owned(),
                BOOTSTRAP_OWNER.to_owned(),
            )]
            .into_iter()
            .collect(),
            construct_paths: Default::default(),
            assets: Vec::new(),
            shard: None,
            stack_set: None,
        };
        let client = accounts.client(&account, &region);
        let outcome =
            // A private, retained bucket: nothing in it needs approval.
            match deploy_with_change_set(
                &client,
                &stack,
                &body,
                None,
                &BTreeMap::new(),
                options,
                &Approved::everything(),
            )
            .await
            {
                Ok(outcome) => outcome,
                Err(reason) => Outcome::Failed(reason),
            };
        summary.stacks.push(result(&stack, outcome));
    }
    Ok(summary)
}
