//! Typed IAM: policy documents, principals, conditions with typed operators, and roles.
//!
//! A [`PolicyDocument`] renders to the JSON IAM expects, with references and intrinsic
//! functions kept typed, and is checked for what IAM would refuse at deploy time (a
//! malformed ARN, an action without a service, a statement without actions). ARNs that
//! follow from an account and a name are built at synthesis with the stack's partition
//! ([`role_arn`]), so a policy in one account can name a role in another.
//!
//! This crate depends on the construct core and the generated IAM resources only: never on
//! the AWS SDK, tokio or the network.
//!
//! ```
//! use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
//! use hyperpod_iam::{PolicyDocument, Principal, Role, RoleProps, Statement};
//!
//! let app = App::new("demo");
//! let stage = Stage::new(&app, "b", Environment::new("222222222222", "us-east-1"));
//! let stack = Stack::new(&stage, "Roles", StackProps::default());
//! let role = Role::new(&stack, "DataScientist", RoleProps {
//!     role_name: Some("ml-research-scientist".into()),
//!     inline_policies: vec![("assume-team-role".into(), PolicyDocument::new([
//!         Statement::allow()
//!             .action("sts:AssumeRole")
//!             .resource(hyperpod_iam::role_arn("111111111111", "ml-research-cluster-access")),
//!     ]))],
//!     // One named role of the account, never the whole account without a condition: the
//!     // security rule pack refuses that at synthesis.
//!     ..RoleProps::new(Principal::role("222222222222", "identity-center-data-scientists").trust())
//! });
//! let _arn = role.arn();
//! assert!(app.synth().is_ok());
//! ```

mod policy;
mod role;

pub use policy::{
    Condition, ConditionOperator, Effect, PolicyDocument, Principal, Statement, check_arn, role_arn,
};
pub use role::{ManagedPolicy, Role, RoleProps};
