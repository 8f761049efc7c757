//! The test assertions construct authors use.

use hyperpod_core::assertions::{Match, Template};
use hyperpod_core::{CfnOutput, CfnResource, OutputProps, TagFormat};
use serde_json::json;

use crate::support::{accept_security_findings, one_stack};

fn sample() -> Template {
    let (app, stack) = one_stack();
    accept_security_findings(&app);
    let bucket = CfnResource::raw(
        &stack,
        "Bucket",
        "AWS::S3::Bucket",
        TagFormat::NotTaggable,
        json!({ "BucketName": "sagemaker-scripts", "Versioning": { "Status": "Enabled" }, "Rules": [{ "Id": "a" }, { "Id": "b" }, { "Id": "c" }] }),
    );
    bucket.retain_on_delete_and_replace();
    CfnResource::raw(
        &stack,
        "Other",
        "AWS::S3::Bucket",
        TagFormat::NotTaggable,
        json!({}),
    );
    CfnOutput::new(&stack, "Name", OutputProps::new(bucket.ref_value()));
    Template::from_stack(&stack)
}

fn fails(check: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(check).expect_err("the assertion should fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn partial_patterns_match_nested_objects() {
    let template = sample();
    template.has_resource_properties(
        "AWS::S3::Bucket",
        json!({ "Versioning": { "Status": "Enabled" } }),
    );
    let message = fails(move || {
        template.has_resource_properties(
            "AWS::S3::Bucket",
            json!({ "Versioning": { "Status": "Suspended" } }),
        )
    });
    assert!(
        message.contains("Versioning.Status: expected \"Suspended\""),
        "{message}"
    );
}

#[test]
fn counting_and_finding_resources() {
    let template = sample();
    template.resource_count_is("AWS::S3::Bucket", 2);
    let found = template.find_resources("AWS::S3::Bucket", json!({ "DeletionPolicy": "Retain" }));
    assert_eq!(found.keys().collect::<Vec<_>>(), ["Bucket"]);
    template.has_resource(
        "AWS::S3::Bucket",
        json!({ "UpdateReplacePolicy": "Retain" }),
    );
    assert!(fails(move || template.resource_count_is("AWS::S3::Bucket", 3)).contains("found 2"));
}

#[test]
fn absent_and_any_value() {
    let template = sample();
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([
            ("BucketName", Match::any_value()),
            ("Missing", Match::absent()),
        ]),
    );
    assert!(
        fails(move || template.has_resource_properties(
            "AWS::S3::Bucket",
            Match::object_like([("Missing", Match::any_value())])
        ))
        .contains("no resource")
    );
}

#[test]
fn array_with_finds_items_in_order() {
    let template = sample();
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([(
            "Rules",
            Match::array_with([json!({ "Id": "a" }).into(), json!({ "Id": "c" }).into()]),
        )]),
    );
    let reversed = Match::object_like([(
        "Rules",
        Match::array_with([json!({ "Id": "c" }).into(), json!({ "Id": "a" }).into()]),
    )]);
    fails(move || template.has_resource_properties("AWS::S3::Bucket", reversed));
}

#[test]
fn literal_lists_must_match_in_full() {
    let template = sample();
    let message = fails(move || {
        template.has_resource_properties("AWS::S3::Bucket", json!({ "Rules": [{ "Id": "a" }] }))
    });
    assert!(message.contains("array_with"), "{message}");
}

#[test]
fn exact_objects_refuse_extra_keys() {
    let template = sample();
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([(
            "Versioning",
            Match::object_equals([("Status", json!("Enabled").into())]),
        )]),
    );
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([("Versioning", Match::exact(json!({ "Status": "Enabled" })))]),
    );
    let message = fails(move || {
        template.has_resource_properties(
            "AWS::S3::Bucket",
            Match::object_equals([("BucketName", Match::any_value())]),
        )
    });
    assert!(message.contains("unexpected key"), "{message}");
}

#[test]
fn string_like_regexp_and_not() {
    let template = sample();
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([("BucketName", Match::string_like_regexp("^sagemaker-"))]),
    );
    template.has_resource_properties(
        "AWS::S3::Bucket",
        Match::object_like([(
            "BucketName",
            Match::not(Match::string_like_regexp("^data-")),
        )]),
    );
    fails(move || {
        template.has_resource_properties(
            "AWS::S3::Bucket",
            Match::object_like([("BucketName", Match::string_like_regexp("^data-"))]),
        )
    });
}

#[test]
fn outputs_are_asserted_by_logical_id() {
    let template = sample();
    template.has_output("Name", json!({ "Value": { "Ref": "Bucket" } }));
    assert_eq!(
        template
            .find_outputs(json!({ "Value": { "Ref": "Bucket" } }))
            .len(),
        1
    );
    assert!(
        fails(move || template.has_output("Missing", Match::any_value())).contains("no output")
    );
}
