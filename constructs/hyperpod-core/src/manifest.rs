//! The manifest of a cloud assembly: what the deploy engine reads to deploy an app.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::stack_set::StackSetManifest;

/// The stack tag naming the app a stack belongs to; the deploy engine changes or deletes
/// only stacks whose tag names the app it deploys.
pub const APP_TAG: &str = "hyperpod:app";
/// The stack tag naming the stage a stack belongs to.
pub const STAGE_TAG: &str = "hyperpod:stage";

/// `manifest.json`: the app's stages and stacks, with everything needed to deploy them in
/// order without running the app again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The format version of this file.
    pub version: u32,
    /// The app's name.
    pub app: String,
    /// The stages, in declaration order.
    pub stages: Vec<StageManifest>,
    /// The stacks of every stage, in declaration order.
    pub stacks: Vec<StackManifest>,
}

impl Manifest {
    /// The format version this crate writes.
    pub const VERSION: u32 = 1;
}

/// One stage: an account and a region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageManifest {
    /// The stage's id, also the folder of its templates.
    pub id: String,
    /// The 12-digit account id.
    pub account: String,
    /// The region.
    pub region: String,
}

/// One stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackManifest {
    /// The stack's id in the app: `<stage>/<stack>`.
    pub id: String,
    /// The CloudFormation stack name.
    pub stack_name: String,
    /// The id of the stage it belongs to.
    pub stage: String,
    /// The account it deploys to.
    pub account: String,
    /// The region it deploys to.
    pub region: String,
    /// The template file, relative to the manifest.
    pub template: String,
    /// The SHA-256 of the template file, in hex.
    pub template_sha256: String,
    /// The size of the template file.
    pub template_bytes: u64,
    /// Whether the template is over CloudFormation's inline limit of 51,200 bytes and must
    /// be uploaded to S3 and deployed by URL.
    pub template_requires_upload: bool,
    /// The ids of the stacks that must deploy first.
    pub dependencies: Vec<String>,
    /// Parameters the deploy engine fills from another stack's output.
    pub parameters: Vec<DeployTimeParameter>,
    /// Whether termination protection is on.
    pub termination_protection: bool,
    /// Tags CloudFormation applies to the stack (and propagates to its resources).
    pub tags: IndexMap<String, String>,
    /// The construct path of each resource, by logical id, for messages about resources.
    pub construct_paths: IndexMap<String, String>,
    /// Files to upload before this stack deploys.
    pub assets: Vec<AssetManifest>,
    /// For a shard: the sharded stack it belongs to and the units it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardManifest>,
    /// For a stack deployed as a StackSet: where and how. The stack's account and region
    /// are then the administrator's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_set: Option<StackSetManifest>,
}

/// What a shard stack holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShardManifest {
    /// The id of the sharded stack (`<stage>/<stack>`).
    pub of: String,
    /// The shard's number.
    pub number: u32,
    /// The keys of its units, sorted.
    pub units: Vec<String>,
}

/// A file asset: a folder of the assembly to upload to S3 before its stack deploys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetManifest {
    /// The asset's construct path.
    pub id: String,
    /// The SHA-256 of the asset's file names and contents, in hex.
    pub sha256: String,
    /// The folder of the assembly that holds the files, relative to the manifest.
    pub source: String,
    /// The files, relative to `source`.
    pub files: Vec<String>,
    /// The bucket to upload to.
    pub bucket_name: String,
    /// The prefix of the object keys; each file keeps its relative path below it.
    pub object_key_prefix: String,
}

/// A parameter of a consumer stack, filled at deploy time from a producer stack's output
/// (a reference across accounts or regions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployTimeParameter {
    /// The parameter's logical id in the consumer's template.
    pub parameter: String,
    /// The id of the producer stack (`<stage>/<stack>`).
    pub producer_stack: String,
    /// The logical id of the producer's output that holds the value.
    pub output: String,
}
