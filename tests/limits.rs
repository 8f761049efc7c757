//! CloudFormation's limits on one template, checked at synthesis.

use hyperpod_core::{
    CfnMapping, CfnOutput, CfnParameter, Expr, OutputProps, ParameterProps, ParameterType, Value,
    limits,
};
use indexmap::IndexMap;
use serde_json::json;

use crate::support::{one_stack, problem, problems, topic};

#[test]
fn more_than_500_resources_is_reported_and_500_is_fine() {
    let (app, stack) = one_stack();
    for i in 0..limits::RESOURCES {
        topic(&stack, &format!("Topic{i}"));
    }
    assert!(problems(&app).is_empty());
    topic(&stack, "OneTooMany");
    assert_eq!(problem(&app, "too_many_resources").path, "a/Main");
}

#[test]
fn more_than_200_parameters_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    for i in 0..=limits::PARAMETERS {
        CfnParameter::new(
            &stack,
            &format!("P{i}"),
            ParameterProps::new(ParameterType::String),
        );
    }
    problem(&app, "too_many_parameters");
}

#[test]
fn more_than_200_outputs_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    for i in 0..=limits::OUTPUTS {
        CfnOutput::new(&stack, &format!("O{i}"), OutputProps::new(Value::from("x")));
    }
    problem(&app, "too_many_outputs");
}

#[test]
fn more_than_200_mappings_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    for i in 0..=limits::MAPPINGS {
        CfnMapping::new(
            &stack,
            &format!("M{i}"),
            IndexMap::from([(
                "k".to_owned(),
                IndexMap::from([("v".to_owned(), Expr::from("x"))]),
            )]),
        );
    }
    problem(&app, "too_many_mappings");
}

#[test]
fn a_template_over_one_megabyte_is_reported() {
    let (app, stack) = one_stack();
    let big = "x".repeat(4096);
    for i in 0..300 {
        topic(&stack, &format!("Topic{i}")).set_property("DisplayName", big.as_str());
    }
    let found = problem(&app, "template_too_large");
    assert!(found.message.contains("1000000"), "{}", found.message);
}

#[test]
fn a_template_over_the_inline_limit_is_flagged_for_upload() {
    let (app, stack) = one_stack();
    topic(&stack, "Small");
    assert!(!app.synth().unwrap().manifest.stacks[0].template_requires_upload);
    topic(&stack, "Big").set_property(
        "DisplayName",
        json!("y".repeat(limits::INLINE_TEMPLATE_BYTES)),
    );
    let manifest = app.synth().unwrap().manifest;
    assert!(manifest.stacks[0].template_requires_upload);
    assert!(manifest.stacks[0].template_bytes > limits::INLINE_TEMPLATE_BYTES as u64);
}
