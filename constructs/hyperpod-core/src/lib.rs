//! The construct core: a tree of constructs (app → stages → stacks → constructs), typed
//! CloudFormation values, synthesis into a cloud assembly, and test assertions.
//!
//! This crate must never depend on the AWS SDK, tokio, clap or the network: it only builds
//! and checks templates in memory, and writes them when asked. The deploy engine reads
//! what it writes.
//!
//! An app has one [`Stage`] per account and region; a stage holds [`Stack`]s; a stack holds
//! resources and constructs. Construction never fails: problems are recorded on the node
//! and [`App::synth`] reports them all together, each with the construct path, a stable
//! code and what to change.
//!
//! Synthesis also runs the security rule pack ([`rules`]) over every template: a finding
//! (a public bucket, a log group without a customer-managed key, a role that trusts a whole
//! account) fails synthesis unless the resource, or a construct above it, accepts it with
//! [`Node::suppress`] and a reason, which the template then records.
//!
//! ```
//! use hyperpod_core::{App, CfnResource, Environment, Scope, Stack, StackProps, Stage, TagFormat};
//! use serde_json::json;
//!
//! let app = App::new("demo");
//! let data = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
//! let audit = Stack::new(&data, "Audit", StackProps::default());
//! let logs = CfnResource::raw(&audit, "Logs", "AWS::Logs::LogGroup",
//!     TagFormat::KeyValueList, json!({ "RetentionInDays": 365 }));
//! logs.retain_on_delete_and_replace();
//! logs.node().suppress("LOG_GROUP_KMS", "holds deploy events only, no user data");
//!
//! let assembly = app.synth().expect("a valid app");
//! let template = assembly.template("data/Audit").unwrap();
//! assert_eq!(template["Resources"]["Logs"]["DeletionPolicy"], "Retain");
//! assert_eq!(template["Resources"]["Logs"]["Metadata"]["hyperpod"]["suppressed"][0]["rule"], "LOG_GROUP_KMS");
//! ```

pub mod assertions;
mod asset;
mod condition;
mod element;
pub mod logical_id;
mod manifest;
mod mapping;
mod output;
mod parameter;
mod resource;
pub mod rules;
pub mod schema;
mod shard;
mod stack;
mod stack_set;
mod synth;
mod tree;
mod validation;
mod value;

pub use asset::{AssetDestination, FileAsset};
pub use condition::{CfnCondition, ConditionExpr};
pub use element::TemplateElement;
pub use manifest::{
    APP_TAG, AssetManifest, DeployTimeParameter, Manifest, STAGE_TAG, ShardManifest, StackManifest,
    StageManifest,
};
pub use mapping::CfnMapping;
pub use output::{CfnOutput, OutputProps};
pub use parameter::{CfnParameter, ParameterProps, ParameterType};
pub use resource::{CfnResource, DeletionPolicy, TagFormat};
pub use shard::{Placement, Sharding};
pub use stack::{App, Construct, Environment, Stack, StackProps, Stage, Tags, default_stack_name};
pub use stack_set::{
    Concurrency, ConcurrencyMode, OperationPreferences, OperationPreferencesManifest,
    RegionConcurrency, StackSetCaller, StackSetDeployment, StackSetManifest,
};
pub use synth::{AssemblyFile, CloudAssembly, SuppressedFinding, limits};
pub use tree::{Node, Scope};
pub use validation::{Issue, Problem, SynthError};
pub use value::{Expr, ExprMap, MapKey, Pseudo, StackOutputRef, Value, fns};
