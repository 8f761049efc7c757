//! The workspace-level tests, one module per area.

mod addons;
mod assertions;
mod cli;
mod committed;
mod cross_stack;
mod deploy;
mod faults;
mod hyperpod;
mod iam;
mod kubernetes;
mod layering;
mod limits;
mod python;
mod readme;
mod resources;
mod rules;
mod sharding;
mod slurm;
mod stack_sets;
mod support;
mod synthesis;
mod teams;
mod tree;
mod typed_resources;
mod values;
