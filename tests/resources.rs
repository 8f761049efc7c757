//! Resources and their attributes, parameters, outputs, tags, logical ids and the escape
//! hatches.

use hyperpod_core::{
    CfnOutput, CfnParameter, CfnResource, Construct, DeletionPolicy, OutputProps, ParameterProps,
    ParameterType, Scope, Stack, StackProps, TagFormat, Tags, TemplateElement, Value,
};
use serde_json::json;

use crate::support::{codes, one_stack, problem, problems, template, topic};

#[test]
fn resource_attributes_render_in_a_fixed_order() {
    let (app, stack) = one_stack();
    let first = topic(&stack, "First");
    let second = topic(&stack, "Second");
    second.add_depends_on(&first);
    second.set_deletion_policy(DeletionPolicy::Retain);
    second.set_update_replace_policy(DeletionPolicy::Snapshot);
    second.add_metadata("Owner", "platform");
    second.set_property("DisplayName", "second");
    let rendered = &template(&app, "a/Main")["Resources"]["Second"];
    assert_eq!(
        *rendered,
        json!({
            "Type": "AWS::SNS::Topic",
            "DependsOn": ["First"],
            "Properties": { "DisplayName": "second" },
            "Metadata": { "Owner": "platform" },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Snapshot"
        })
    );
    let keys: Vec<&String> = rendered.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Type",
            "DependsOn",
            "Properties",
            "Metadata",
            "DeletionPolicy",
            "UpdateReplacePolicy"
        ]
    );
}

#[test]
fn depends_on_a_construct_waits_for_every_resource_below_it() {
    let (app, stack) = one_stack();
    let group = Construct::new(&stack, "Group");
    topic(&group, "One");
    topic(&group, "Two");
    topic(&stack, "Last").add_depends_on(&group);
    assert_eq!(
        template(&app, "a/Main")["Resources"]["Last"]["DependsOn"],
        json!(["GroupOne", "GroupTwo"])
    );
}

#[test]
fn depends_on_a_resource_already_referenced_is_left_out() {
    let (app, stack) = one_stack();
    let first = topic(&stack, "First");
    let second = topic(&stack, "Second");
    second.set_property("DisplayName", first.get_att::<String>("TopicName"));
    second.add_depends_on(&first);
    assert!(
        template(&app, "a/Main")["Resources"]["Second"]
            .get("DependsOn")
            .is_none()
    );
}

#[test]
fn retain_on_delete_and_replace_sets_both_policies() {
    let (app, stack) = one_stack();
    topic(&stack, "Kept").retain_on_delete_and_replace();
    let rendered = &template(&app, "a/Main")["Resources"]["Kept"];
    assert_eq!(rendered["DeletionPolicy"], "Retain");
    assert_eq!(rendered["UpdateReplacePolicy"], "Retain");
}

#[test]
fn raw_resources_take_json_and_refuse_non_objects() {
    let (app, stack) = one_stack();
    CfnResource::raw(
        &stack,
        "Raw",
        "AWS::SNS::Topic",
        TagFormat::NotTaggable,
        json!({ "DisplayName": "raw", "Nested": { "A": [1, 2] } }),
    );
    assert_eq!(
        template(&app, "a/Main")["Resources"]["Raw"]["Properties"],
        json!({ "DisplayName": "raw", "Nested": { "A": [1, 2] } })
    );
    CfnResource::raw(
        &stack,
        "Bad",
        "AWS::SNS::Topic",
        TagFormat::NotTaggable,
        json!([1]),
    );
    assert_eq!(problem(&app, "invalid_raw_properties").path, "a/Main/Bad");
}

#[test]
fn an_invalid_type_name_is_reported() {
    let (app, stack) = one_stack();
    CfnResource::raw(&stack, "Bad", "S3Bucket", TagFormat::NotTaggable, json!({}));
    CfnResource::raw(
        &stack,
        "Custom",
        "Custom::HelmChart",
        TagFormat::NotTaggable,
        json!({ "ServiceToken": "arn" }),
    );
    assert_eq!(codes(&app), ["invalid_resource_type"]);
}

#[test]
fn property_overrides_set_and_delete_nested_values() {
    let (app, stack) = one_stack();
    let resource = CfnResource::raw(
        &stack,
        "Topic",
        "AWS::SNS::Topic",
        TagFormat::NotTaggable,
        json!({ "A": { "B": 1, "C": 2 }, "List": [{ "X": 1 }] }),
    );
    resource.add_property_override("A.B", Value::from("changed"));
    resource.add_property_override("New.Deep", Value::from(true));
    resource.add_property_override("List.0.X", Value::from(5u32));
    resource.add_property_deletion_override("A.C");
    let properties = &template(&app, "a/Main")["Resources"]["Topic"]["Properties"];
    assert_eq!(
        *properties,
        json!({ "A": { "B": "changed" }, "List": [{ "X": 5 }], "New": { "Deep": true } })
    );
}

#[test]
fn an_override_into_a_missing_list_item_is_reported() {
    let (app, stack) = one_stack();
    let resource = CfnResource::raw(
        &stack,
        "Topic",
        "AWS::SNS::Topic",
        TagFormat::NotTaggable,
        json!({ "List": [] }),
    );
    resource.add_property_override("List.3.X", Value::from(1u32));
    resource.add_property_override("Bad..Path", Value::from(1u32));
    let codes = codes(&app);
    assert!(
        codes.contains(&"override_path_not_found".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"invalid_override_path".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn tags_are_inherited_nearer_scopes_win_and_own_tags_win_over_all() {
    let (app, stack) = one_stack();
    Tags::of(&app).add("team", "platform");
    Tags::of(&app).add("cost-center", "42");
    let group = Construct::new(&stack, "Group");
    Tags::of(&group).add("team", "research");
    let tagged = CfnResource::raw(
        &group,
        "Topic",
        "AWS::SNS::Topic",
        TagFormat::KeyValueList,
        json!({ "Tags": [{ "Key": "cost-center", "Value": "7" }] }),
    );
    CfnResource::raw(
        &group,
        "Untaggable",
        "AWS::SNS::TopicPolicy",
        TagFormat::NotTaggable,
        json!({}),
    );
    CfnResource::raw(
        &group,
        "Parameter",
        "AWS::SSM::Parameter",
        TagFormat::Map,
        json!({ "Type": "String", "Value": "x" }),
    );
    let resources = &template(&app, "a/Main")["Resources"];
    assert_eq!(
        resources["GroupTopic"]["Properties"]["Tags"],
        json!([{ "Key": "cost-center", "Value": "7" }, { "Key": "team", "Value": "research" }])
    );
    assert!(resources["GroupUntaggable"].get("Properties").is_none());
    assert_eq!(
        resources["GroupParameter"]["Properties"]["Tags"],
        json!({ "cost-center": "42", "team": "research" })
    );
    let _ = tagged;
}

#[test]
fn stack_tags_come_from_the_app_stage_and_stack() {
    let (app, stack) = one_stack();
    Tags::of(&app).add("project", "x");
    Tags::of(&stack.stage()).add("account", "a");
    Tags::of(&stack).add("project", "y");
    Tags::of(&Construct::new(&stack, "Inner")).add("inner", "not a stack tag");
    topic(&stack, "Topic");
    let manifest = app.synth().unwrap().manifest;
    let tags: Vec<(String, String)> = manifest.stacks[0].tags.clone().into_iter().collect();
    assert_eq!(
        tags,
        [
            ("account".to_owned(), "a".to_owned()),
            // The ownership tags every stack carries: the deploy engine checks them.
            ("hyperpod:app".to_owned(), "test".to_owned()),
            ("hyperpod:stage".to_owned(), "a".to_owned()),
            ("project".to_owned(), "y".to_owned())
        ]
    );
}

#[test]
fn stacks_are_named_for_their_app_and_stage_unless_named_and_the_ownership_tags_are_reserved() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    let named = Stack::new(
        &stack.stage(),
        "Named",
        StackProps {
            stack_name: Some("adopted-name".into()),
            ..StackProps::default()
        },
    );
    topic(&named, "Topic");
    assert_eq!(stack.stack_name(), "test-a-Main");
    assert_eq!(named.stack_name(), "adopted-name");
    Tags::of(&app).add("hyperpod:app", "someone-else");
    assert_eq!(problem(&app, "invalid_tag_key").path, "<app>");
}

#[test]
fn invalid_tags_are_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    Tags::of(&stack).add("aws:reserved", "x");
    Tags::of(&stack).add("long", &"v".repeat(257));
    let codes = codes(&app);
    assert!(
        codes.contains(&"invalid_tag_key".to_owned())
            && codes.contains(&"invalid_tag_value".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn parameters_render_their_type_and_constraints() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    CfnParameter::new(
        &stack,
        "Name",
        ParameterProps {
            description: Some("the team".into()),
            default: Some("ml".into()),
            allowed_pattern: Some("[a-z]+".into()),
            constraint_description: Some("lowercase letters".into()),
            min_length: Some(1),
            max_length: Some(20),
            no_echo: true,
            ..ParameterProps::new(ParameterType::String)
        },
    );
    CfnParameter::new(
        &stack,
        "Count",
        ParameterProps {
            min_value: Some(1.0),
            max_value: Some(2.5),
            default: Some("2".into()),
            ..ParameterProps::new(ParameterType::Number)
        },
    );
    CfnParameter::new(
        &stack,
        "Vpc",
        ParameterProps::new(ParameterType::AwsSpecific("AWS::EC2::VPC::Id".into())),
    );
    let parameters = &template(&app, "a/Main")["Parameters"];
    assert_eq!(
        parameters["Name"],
        json!({ "Type": "String", "Description": "the team", "Default": "ml", "AllowedPattern": "[a-z]+", "ConstraintDescription": "lowercase letters", "MinLength": 1, "MaxLength": 20, "NoEcho": true })
    );
    assert_eq!(
        parameters["Count"],
        json!({ "Type": "Number", "Default": "2", "MinValue": 1, "MaxValue": 2.5 })
    );
    assert_eq!(parameters["Vpc"], json!({ "Type": "AWS::EC2::VPC::Id" }));
}

#[test]
fn parameter_constraints_that_contradict_are_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    CfnParameter::new(
        &stack,
        "Length",
        ParameterProps {
            min_length: Some(5),
            max_length: Some(2),
            ..ParameterProps::new(ParameterType::String)
        },
    );
    CfnParameter::new(
        &stack,
        "Range",
        ParameterProps {
            min_length: Some(5),
            ..ParameterProps::new(ParameterType::Number)
        },
    );
    CfnParameter::new(
        &stack,
        "Default",
        ParameterProps {
            default: Some("c".into()),
            allowed_values: vec!["a".into(), "b".into()],
            ..ParameterProps::new(ParameterType::String)
        },
    );
    CfnParameter::new(
        &stack,
        "Pattern",
        ParameterProps {
            default: Some("ABC".into()),
            allowed_pattern: Some("[a-z]+".into()),
            ..ParameterProps::new(ParameterType::String)
        },
    );
    CfnParameter::new(
        &stack,
        "Number",
        ParameterProps {
            default: Some("ten".into()),
            ..ParameterProps::new(ParameterType::Number)
        },
    );
    let found: Vec<(String, String)> = problems(&app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect();
    for expected in [
        ("a/Main/Length", "parameter_bounds_inverted"),
        ("a/Main/Range", "parameter_constraint_for_type"),
        ("a/Main/Default", "parameter_default_invalid"),
        ("a/Main/Pattern", "parameter_default_invalid"),
        ("a/Main/Number", "parameter_default_invalid"),
    ] {
        assert!(
            found.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "missing {expected:?} in {found:?}"
        );
    }
}

#[test]
fn outputs_render_description_condition_value_and_export() {
    let (app, stack) = one_stack();
    let resource = topic(&stack, "Topic");
    CfnOutput::new(
        &stack,
        "Arn",
        OutputProps {
            description: Some("the topic".into()),
            export_name: Some("shared-topic".into()),
            ..OutputProps::new(resource.ref_value())
        },
    );
    assert_eq!(
        template(&app, "a/Main")["Outputs"]["Arn"],
        json!({ "Description": "the topic", "Value": { "Ref": "Topic" }, "Export": { "Name": "shared-topic" } })
    );
}

#[test]
fn stack_description_and_termination_protection_reach_template_and_manifest() {
    let (app, stack) = one_stack();
    let protected = Stack::new(
        &stack.stage(),
        "Protected",
        StackProps {
            description: Some("keeps data".into()),
            termination_protection: true,
            stack_name: Some("protected-data".into()),
            sharding: None,
            stack_set: None,
        },
    );
    topic(&stack, "Topic");
    topic(&protected, "Topic");
    assert_eq!(template(&app, "a/Protected")["Description"], "keeps data");
    let manifest = app.synth().unwrap().manifest;
    assert!(manifest.stacks[1].termination_protection);
    assert_eq!(manifest.stacks[1].stack_name, "protected-data");
    assert!(!manifest.stacks[0].termination_protection);
}

#[test]
fn logical_ids_are_readable_and_stable_under_unrelated_changes() {
    let (app, stack) = one_stack();
    let team = Construct::new(&stack, "ml-research");
    topic(&team, "Resource");
    topic(&team, "access-role");
    let before: Vec<String> = template(&app, "a/Main")["Resources"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(before, ["MlResearch", "MlResearchAccessRole"]);
    topic(&stack, "Unrelated");
    let resources = template(&app, "a/Main")["Resources"].clone();
    assert!(
        resources.get("MlResearch").is_some() && resources.get("MlResearchAccessRole").is_some()
    );
}

#[test]
fn a_logical_id_collision_names_both_paths() {
    let (app, stack) = one_stack();
    topic(&stack, "data-bucket");
    topic(&stack, "DataBucket");
    let found = problem(&app, "logical_id_collision");
    assert!(
        found.message.contains("a/Main/data-bucket") && found.message.contains("a/Main/DataBucket"),
        "{}",
        found.message
    );
}

#[test]
fn an_explicit_logical_id_resolves_a_collision_and_is_checked() {
    let (app, stack) = one_stack();
    topic(&stack, "data-bucket");
    topic(&stack, "DataBucket").override_logical_id("LegacyBucket");
    assert!(problems(&app).is_empty(), "{:?}", problems(&app));
    assert!(
        template(&app, "a/Main")["Resources"]
            .get("LegacyBucket")
            .is_some()
    );
    topic(&stack, "Other").override_logical_id("Not-Valid");
    assert_eq!(problem(&app, "invalid_logical_id").path, "a/Main/Other");
}

#[test]
fn a_generated_parameter_that_collides_with_a_construct_is_reported() {
    let (app, stack) = one_stack();
    let other_stage = hyperpod_core::Stage::new(
        &app,
        "b",
        hyperpod_core::Environment::new(crate::support::ACCOUNT_B, crate::support::REGION),
    );
    let consumer = Stack::new(&other_stage, "Consumer", StackProps::default());
    let shared = topic(&stack, "Shared");
    topic(&consumer, "MainShared");
    topic(&consumer, "User").set_property("Target", shared.ref_value());
    let found = problem(&app, "logical_id_collision");
    assert!(found.message.contains("MainShared"), "{}", found.message);
    let _ = stack.node();
}

#[test]
fn depending_on_itself_or_on_a_construct_without_resources_is_reported() {
    let (app, stack) = one_stack();
    let topic_resource = topic(&stack, "Topic");
    topic_resource.add_depends_on(&topic_resource);
    let empty = Construct::new(&stack, "Empty");
    topic(&stack, "Other").add_depends_on(&empty);
    assert_eq!(problem(&app, "depends_on_itself").path, "a/Main/Topic");
    assert_eq!(
        problem(&app, "depends_on_without_resources").path,
        "a/Main/Other"
    );
}

#[test]
fn an_output_description_over_1024_bytes_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    CfnOutput::new(
        &stack,
        "Out",
        OutputProps {
            description: Some("d".repeat(1025)),
            ..OutputProps::new(Value::from("x"))
        },
    );
    assert_eq!(
        problem(&app, "output_description_too_long").path,
        "a/Main/Out"
    );
}

#[test]
fn inherited_tags_on_a_resource_whose_tags_are_not_a_literal_are_reported() {
    let (app, stack) = one_stack();
    Tags::of(&stack).add("team", "ml");
    let resource = topic(&stack, "Topic");
    resource.set_property("Tags", hyperpod_core::Pseudo::NotificationArns.list_value());
    assert_eq!(problem(&app, "tags_not_mergeable").path, "a/Main/Topic");
}

#[test]
fn a_parameter_pattern_that_is_not_a_regular_expression_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    CfnParameter::new(
        &stack,
        "Bad",
        ParameterProps {
            allowed_pattern: Some("[a-z".into()),
            ..ParameterProps::new(ParameterType::String)
        },
    );
    assert_eq!(
        problem(&app, "parameter_pattern_invalid").path,
        "a/Main/Bad"
    );
}
