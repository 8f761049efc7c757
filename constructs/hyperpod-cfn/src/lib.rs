//! Typed CloudFormation resources (the L1 layer), generated from CloudFormation's resource
//! provider schemas as shipped in cfn-lint 1.58.0.
//!
//! Each resource type is a handle (`s3::CfnBucket`) created from a props struct
//! (`s3::BucketProps`) whose required properties are plain fields and optional ones
//! `Option`s; every property takes a [`Value`](hyperpod_core::Value), so references and
//! intrinsic functions fit wherever CloudFormation allows them. Attributes are typed
//! accessors (`bucket.arn()`). Each resource carries its type's schema, so synthesis checks
//! literal values against the schema's patterns, lengths, ranges, enums and item counts,
//! and reports violations with the construct path and the property path before anything
//! is deployed. [`spec`] gives the create-only properties of a type for diff.
//!
//! This crate depends only on the construct core: never on the AWS SDK, tokio or the
//! network. One Cargo feature per service; `full` enables all. The code in `generated/` is
//! written by `cargo xtask codegen`; do not edit it.
//!
//! ```
//! # #[cfg(feature = "s3")] {
//! use hyperpod_cfn::s3::{self, BucketProps, CfnBucket};
//! use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
//!
//! let app = App::new("demo");
//! let stage = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
//! let stack = Stack::new(&stage, "Storage", StackProps::default());
//! let bucket = CfnBucket::new(&stack, "Data", BucketProps {
//!     versioning_configuration: Some(
//!         s3::bucket::VersioningConfiguration::new(s3::bucket::VersioningConfigurationStatus::Enabled).into(),
//!     ),
//!     ..BucketProps::default()
//! });
//! bucket.retain_on_delete_and_replace();
//! let _arn = bucket.arn();
//! // The schema checks pass; the security rule pack still wants, among others, access logs.
//! let error = app.synth().unwrap_err().to_string();
//! assert!(error.contains("Data: [S3_ACCESS_LOGS]"), "{error}");
//! # }
//! ```
//!
//! A required property cannot be left out:
//!
//! ```compile_fail
//! # #[cfg(feature = "iam")] {
//! let props = hyperpod_cfn::iam::RoleProps { ..Default::default() };
//! # }
//! # #[cfg(not(feature = "iam"))] compile_error!("needs the iam feature");
//! ```
//!
//! and a misspelled property does not compile:
//!
//! ```compile_fail
//! # #[cfg(feature = "s3")] {
//! let props = hyperpod_cfn::s3::BucketProps { bucket_nme: Some("x".into()), ..Default::default() };
//! # }
//! # #[cfg(not(feature = "s3"))] compile_error!("needs the s3 feature");
//! ```

#![allow(clippy::large_enum_variant, clippy::enum_variant_names)]

#[allow(missing_docs)]
mod generated;

pub use generated::*;

use hyperpod_core::{CfnResource, Expr, ExprMap, Scope};

/// The escape hatch with the schema's checks: declares a resource from literal JSON
/// properties. When the type belongs to an enabled service, its schema is attached (so
/// synthesis reports unknown, missing and out-of-range properties, enums included) and
/// inherited tags are applied the way the type takes them.
pub fn raw(
    scope: &impl Scope,
    id: &str,
    type_name: &str,
    properties: serde_json::Value,
) -> CfnResource {
    let spec = generated::spec(type_name);
    let tag_format = spec.map_or(hyperpod_core::TagFormat::NotTaggable, |spec| {
        spec.tag_format
    });
    let resource = CfnResource::raw(scope, id, type_name, tag_format, properties);
    if let Some(spec) = spec {
        resource.attach_spec(spec, false);
    }
    resource
}

/// The properties of a generated struct as template values, leaving out absent ones.
pub(crate) fn properties<const N: usize>(entries: [(&'static str, Option<Expr>); N]) -> ExprMap {
    entries
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
}
