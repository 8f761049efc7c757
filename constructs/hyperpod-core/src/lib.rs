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
//! ```
//! use hyperpod_core::{App, CfnResource, Environment, Stack, StackProps, Stage, TagFormat};
//! use serde_json::json;
//!
//! let app = App::new("demo");
//! let data = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
//! let storage = Stack::new(&data, "Storage", StackProps::default());
//! let bucket = CfnResource::raw(&storage, "Bucket", "AWS::S3::Bucket",
//!     TagFormat::KeyValueList, json!({}));
//! bucket.retain_on_delete_and_replace();
//!
//! let assembly = app.synth().expect("a valid app");
//! let template = assembly.template("data/Storage").unwrap();
//! assert_eq!(template["Resources"]["Bucket"]["DeletionPolicy"], "Retain");
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
pub mod schema;
mod stack;
mod synth;
mod tree;
mod validation;
mod value;

pub use asset::{AssetDestination, FileAsset};
pub use condition::{CfnCondition, ConditionExpr};
pub use element::TemplateElement;
pub use manifest::{AssetManifest, DeployTimeParameter, Manifest, StackManifest, StageManifest};
pub use mapping::CfnMapping;
pub use output::{CfnOutput, OutputProps};
pub use parameter::{CfnParameter, ParameterProps, ParameterType};
pub use resource::{CfnResource, DeletionPolicy, TagFormat};
pub use stack::{App, Construct, Environment, Stack, StackProps, Stage, Tags};
pub use synth::{AssemblyFile, CloudAssembly, limits};
pub use tree::{Node, Scope};
pub use validation::{Issue, Problem, SynthError};
pub use value::{Expr, Pseudo, StackOutputRef, Value, fns};
