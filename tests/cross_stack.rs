//! References between stacks: exports within an account and region, deploy-time
//! parameters across accounts, the dependencies they add, and the references that cannot
//! work.

use hyperpod_core::{
    App, CfnOutput, DeployTimeParameter, Environment, OutputProps, Stack, StackProps, Stage,
};
use serde_json::json;

use crate::support::{ACCOUNT_A, ACCOUNT_B, REGION, one_stack, problem, template, topic};

fn two_stages() -> (App, Stack, Stack) {
    let app = App::new("test");
    let a = Stage::new(&app, "a", Environment::new(ACCOUNT_A, REGION));
    let b = Stage::new(&app, "b", Environment::new(ACCOUNT_B, REGION));
    (
        app,
        Stack::new(&a, "Producer", StackProps::default()),
        Stack::new(&b, "Consumer", StackProps::default()),
    )
}

#[test]
fn a_reference_within_one_account_and_region_becomes_an_export_and_import() {
    let (app, producer) = one_stack();
    let consumer = Stack::new(&producer.stage(), "Consumer", StackProps::default());
    let shared = topic(&producer, "Shared");
    topic(&consumer, "User").set_property("Target", shared.get_att::<String>("TopicArn"));

    let produced = template(&app, "a/Main");
    assert_eq!(
        produced["Outputs"]["ExportSharedTopicArn"]["Value"],
        json!({ "Fn::GetAtt": ["Shared", "TopicArn"] })
    );
    assert_eq!(
        produced["Outputs"]["ExportSharedTopicArn"]["Export"],
        json!({ "Name": "test-a-Main:ExportSharedTopicArn" })
    );
    let consumed = template(&app, "a/Consumer");
    assert_eq!(
        consumed["Resources"]["User"]["Properties"]["Target"],
        json!({ "Fn::ImportValue": "test-a-Main:ExportSharedTopicArn" })
    );
    let manifest = app.synth().unwrap().manifest;
    assert_eq!(manifest.stacks[1].dependencies, vec!["a/Main".to_owned()]);
    assert!(manifest.stacks[1].parameters.is_empty());
}

#[test]
fn a_reference_across_accounts_becomes_a_deploy_time_parameter() {
    let (app, producer, consumer) = two_stages();
    let shared = topic(&producer, "Shared");
    topic(&consumer, "User").set_property("Target", shared.ref_value());

    let produced = template(&app, "a/Producer");
    assert_eq!(
        produced["Outputs"]["ExportShared"]["Value"],
        json!({ "Ref": "Shared" })
    );
    assert!(
        produced["Outputs"]["ExportShared"].get("Export").is_none(),
        "nothing is exported across accounts"
    );
    let consumed = template(&app, "b/Consumer");
    assert_eq!(
        consumed["Parameters"]["ProducerShared"]["Type"],
        json!("String")
    );
    assert_eq!(
        consumed["Resources"]["User"]["Properties"]["Target"],
        json!({ "Ref": "ProducerShared" })
    );

    let manifest = app.synth().unwrap().manifest;
    let stack = manifest
        .stacks
        .iter()
        .find(|s| s.id == "b/Consumer")
        .unwrap();
    assert_eq!(stack.dependencies, vec!["a/Producer".to_owned()]);
    assert_eq!(
        stack.parameters,
        vec![DeployTimeParameter {
            parameter: "ProducerShared".into(),
            producer_stack: "a/Producer".into(),
            output: "ExportShared".into()
        }]
    );
}

#[test]
fn a_reference_across_regions_of_one_account_is_a_parameter_too() {
    let app = App::new("test");
    let east = Stage::new(&app, "east", Environment::new(ACCOUNT_A, "us-east-1"));
    let west = Stage::new(&app, "west", Environment::new(ACCOUNT_A, "us-west-2"));
    let shared = topic(
        &Stack::new(&east, "Producer", StackProps::default()),
        "Shared",
    );
    topic(
        &Stack::new(&west, "Consumer", StackProps::default()),
        "User",
    )
    .set_property("Target", shared.ref_value());
    let manifest = app.synth().unwrap().manifest;
    assert_eq!(manifest.stacks[1].parameters.len(), 1);
}

#[test]
fn an_output_read_across_accounts_is_passed_by_its_own_name() {
    let (app, producer, consumer) = two_stages();
    let shared = topic(&producer, "Shared");
    let output = CfnOutput::new(
        &producer,
        "TopicName",
        OutputProps::new(shared.get_att("TopicName")),
    );
    topic(&consumer, "User").set_property("Target", output.value());
    let manifest = app.synth().unwrap().manifest;
    assert_eq!(manifest.stacks[1].parameters[0].output, "TopicName");
    let produced = template(&app, "a/Producer");
    assert_eq!(
        produced["Outputs"].as_object().unwrap().len(),
        1,
        "no second output is generated"
    );
}

#[test]
fn one_value_read_twice_is_published_once() {
    let (app, producer, consumer) = two_stages();
    let shared = topic(&producer, "Shared");
    topic(&consumer, "One").set_property("Target", shared.ref_value());
    topic(&consumer, "Two").set_property("Target", shared.ref_value());
    let manifest = app.synth().unwrap().manifest;
    assert_eq!(manifest.stacks[1].parameters.len(), 1);
    assert_eq!(
        template(&app, "a/Producer")["Outputs"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn stacks_that_reference_each_other_are_a_cycle() {
    let (app, producer, consumer) = two_stages();
    let first = topic(&producer, "First");
    let second = topic(&consumer, "Second");
    second.set_property("Target", first.ref_value());
    first.set_property("Target", second.ref_value());
    let found = problem(&app, "dependency_cycle");
    assert!(
        found
            .message
            .contains("a/Producer -> b/Consumer -> a/Producer"),
        "{}",
        found.message
    );
}

#[test]
fn an_explicit_dependency_is_recorded_and_can_close_a_cycle() {
    let (app, producer, consumer) = two_stages();
    topic(&producer, "First");
    topic(&consumer, "Second");
    consumer.add_dependency(&producer);
    assert_eq!(
        app.synth().unwrap().manifest.stacks[1].dependencies,
        vec!["a/Producer".to_owned()]
    );
    producer.add_dependency(&consumer);
    problem(&app, "dependency_cycle");
}

#[test]
fn a_reference_into_another_app_is_reported() {
    let (_other_app, other_stack) = one_stack();
    let foreign = topic(&other_stack, "Foreign");
    let (app, stack) = one_stack();
    topic(&stack, "User").set_property("Target", foreign.ref_value());
    assert_eq!(problem(&app, "cross_app_reference").path, "a/Main/User");
}

#[test]
fn depends_on_a_resource_in_another_stack_becomes_a_stack_dependency() {
    let (app, producer, consumer) = two_stages();
    let first = topic(&producer, "First");
    topic(&consumer, "Second").add_depends_on(&first);
    let manifest = app.synth().unwrap().manifest;
    assert_eq!(
        manifest.stacks[1].dependencies,
        vec!["a/Producer".to_owned()]
    );
    assert!(
        template(&app, "b/Consumer")["Resources"]["Second"]
            .get("DependsOn")
            .is_none()
    );
}

/// Found by the deploy engine's end-to-end test: a value read both by a stack of the same
/// account (an import) and by one of another account (a parameter) lost its export when
/// the cross-account reader came second.
#[test]
fn a_value_read_in_the_same_account_and_across_accounts_keeps_its_export() {
    let (app, producer, consumer) = two_stages();
    let local = Stack::new(&producer.stage(), "Local", StackProps::default());
    let shared = topic(&producer, "Shared");
    topic(&local, "Importer").set_property("Target", shared.ref_value());
    topic(&consumer, "Remote").set_property("Target", shared.ref_value());
    let produced = template(&app, "a/Producer");
    assert_eq!(
        produced["Outputs"]["ExportShared"]["Export"],
        json!({ "Name": "test-a-Producer:ExportShared" })
    );
    let (app, producer, consumer) = two_stages();
    let local = Stack::new(&producer.stage(), "Local", StackProps::default());
    let shared = topic(&producer, "Shared");
    topic(&consumer, "Remote").set_property("Target", shared.ref_value());
    topic(&local, "Importer").set_property("Target", shared.ref_value());
    assert_eq!(
        template(&app, "a/Producer")["Outputs"]["ExportShared"]["Export"],
        json!({ "Name": "test-a-Producer:ExportShared" })
    );
}

#[test]
fn two_producers_of_one_id_in_two_stages_fill_two_parameters() {
    let app = App::new("test");
    let eu = Stage::new(&app, "eu", Environment::new(ACCOUNT_A, "eu-west-1"));
    let us = Stage::new(&app, "us", Environment::new(ACCOUNT_A, REGION));
    let consumer_stage = Stage::new(&app, "b", Environment::new(ACCOUNT_B, REGION));
    let in_eu = topic(&Stack::new(&eu, "Storage", StackProps::default()), "Shared");
    let in_us = topic(&Stack::new(&us, "Storage", StackProps::default()), "Shared");
    let consumer = Stack::new(&consumer_stage, "Consumer", StackProps::default());
    topic(&consumer, "First").set_property("Target", in_eu.ref_value());
    topic(&consumer, "Second").set_property("Target", in_us.ref_value());
    let consumed = template(&app, "b/Consumer");
    let first = &consumed["Resources"]["First"]["Properties"]["Target"]["Ref"];
    let second = &consumed["Resources"]["Second"]["Properties"]["Target"]["Ref"];
    assert_ne!(first, second, "each reads its own producer");
    let manifest = app.synth().unwrap().manifest;
    let parameters = &manifest
        .stacks
        .iter()
        .find(|s| s.id == "b/Consumer")
        .unwrap()
        .parameters;
    let producers: Vec<&str> = parameters
        .iter()
        .map(|p| p.producer_stack.as_str())
        .collect();
    assert_eq!(producers, ["eu/Storage", "us/Storage"]);
}

#[test]
fn a_generated_output_or_parameter_with_a_construct_s_logical_id_is_reported_per_section() {
    let (app, producer, consumer) = two_stages();
    let shared = topic(&producer, "Shared");
    topic(&consumer, "User").set_property("Target", shared.ref_value());
    // The names the reference generates: output `ExportShared` in the producer, parameter
    // `ProducerShared` in the consumer.
    topic(&producer, "ExportShared");
    topic(&consumer, "ProducerShared");
    let found: Vec<(String, String)> = crate::support::problems(&app)
        .into_iter()
        .filter(|p| p.code == "logical_id_collision")
        .map(|p| (p.path, p.message))
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].0, "a/Producer");
    assert!(
        found[0].1.contains("`ExportShared` of Outputs"),
        "{}",
        found[0].1
    );
    assert_eq!(found[1].0, "b/Consumer");
    assert!(
        found[1].1.contains("`ProducerShared` of Parameters"),
        "{}",
        found[1].1
    );
}
