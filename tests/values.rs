//! The JSON shape of each intrinsic function and pseudo parameter.

use hyperpod_core::{
    CfnCondition, CfnMapping, CfnParameter, ConditionExpr, Expr, ParameterProps, ParameterType,
    Pseudo, Value, fns,
};
use indexmap::IndexMap;
use serde_json::{Value as Json, json};

use crate::support::{codes, one_stack, problem, template, topic};

/// Renders `value` as the property `Value` of a resource and returns its JSON.
fn rendered(build: impl FnOnce(&hyperpod_core::Stack) -> Expr) -> Json {
    let (app, stack) = one_stack();
    let resource = topic(&stack, "Target");
    let value = build(&stack);
    resource.set_property("Value", value);
    template(&app, "a/Main")["Resources"]["Target"]["Properties"]["Value"].clone()
}

#[test]
fn literals_render_as_json() {
    assert_eq!(rendered(|_| Value::from("text").into()), json!("text"));
    assert_eq!(rendered(|_| Value::from(true).into()), json!(true));
    assert_eq!(rendered(|_| Value::from(42u32).into()), json!(42));
    assert_eq!(
        rendered(|_| Value::list([Value::from("a"), "b".into()]).into()),
        json!(["a", "b"])
    );
}

#[test]
fn ref_and_get_att_name_the_logical_id() {
    assert_eq!(
        rendered(|stack| topic(stack, "Other").ref_value().into()),
        json!({ "Ref": "Other" })
    );
    assert_eq!(
        rendered(|stack| topic(stack, "Other").get_att::<String>("TopicArn").into()),
        json!({ "Fn::GetAtt": ["Other", "TopicArn"] })
    );
}

#[test]
fn pseudo_parameters_are_refs() {
    let cases = [
        (Pseudo::AccountId, "AWS::AccountId"),
        (Pseudo::Region, "AWS::Region"),
        (Pseudo::Partition, "AWS::Partition"),
        (Pseudo::UrlSuffix, "AWS::URLSuffix"),
        (Pseudo::StackName, "AWS::StackName"),
        (Pseudo::NoValue, "AWS::NoValue"),
    ];
    for (pseudo, name) in cases {
        assert_eq!(rendered(|_| pseudo.value().into()), json!({ "Ref": name }));
    }
}

#[test]
fn sub_with_typed_variables() {
    let value = rendered(|stack| {
        fns::sub(
            "arn:${AWS::Partition}:sns:::${topic}",
            [("topic", topic(stack, "Other").ref_value())],
        )
        .into()
    });
    assert_eq!(
        value,
        json!({ "Fn::Sub": ["arn:${AWS::Partition}:sns:::${topic}", { "topic": { "Ref": "Other" } }] })
    );
}

#[test]
fn sub_without_variables_keeps_pseudo_parameters_and_drops_when_not_needed() {
    assert_eq!(
        rendered(|_| fns::sub::<&str>("${AWS::Region}-x", []).into()),
        json!({ "Fn::Sub": "${AWS::Region}-x" })
    );
    assert_eq!(
        rendered(|_| fns::sub::<&str>("plain", []).into()),
        json!("plain")
    );
}

#[test]
fn sub_naming_an_unknown_variable_or_leaving_one_unused_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Target").set_property(
        "Value",
        fns::sub("${Bucket}", [("unused", Value::from("x"))]),
    );
    let codes = codes(&app);
    assert!(
        codes.contains(&"sub_unknown_variable".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"sub_unused_variable".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn sub_escapes_are_not_variables() {
    let (app, stack) = one_stack();
    topic(&stack, "Target").set_property("Value", fns::sub::<&str>("${!Literal}", []));
    assert!(codes(&app).is_empty(), "{:?}", codes(&app));
}

#[test]
fn join_select_split() {
    assert_eq!(
        rendered(|_| fns::join("-", ["a".into(), Pseudo::Region.value()]).into()),
        json!({ "Fn::Join": ["-", ["a", { "Ref": "AWS::Region" }]] })
    );
    assert_eq!(
        rendered(|_| fns::select(1, fns::split(",", "a,b".into())).into()),
        json!({ "Fn::Select": [1, { "Fn::Split": [",", "a,b"] }] })
    );
}

#[test]
fn if_and_conditions() {
    let (app, stack) = one_stack();
    let parameter = CfnParameter::new(
        &stack,
        "Env",
        ParameterProps {
            allowed_values: vec!["prod".into(), "dev".into()],
            default: Some("dev".into()),
            ..ParameterProps::new(ParameterType::String)
        },
    );
    let is_prod = CfnCondition::new(
        &stack,
        "IsProd",
        fns::equals(parameter.value_as_string(), "prod".into()),
    );
    let combined = CfnCondition::new(
        &stack,
        "Combined",
        ConditionExpr::and([
            is_prod.expr(),
            ConditionExpr::or([
                ConditionExpr::not(is_prod.expr()),
                fns::equals(Pseudo::Region.value(), "us-east-1".into()),
            ]),
        ]),
    );
    let target = topic(&stack, "Target");
    target.set_property(
        "Value",
        fns::if_(&combined, Value::from("big"), Value::no_value()),
    );
    target.set_condition(&is_prod);
    let json = template(&app, "a/Main");
    assert_eq!(
        json["Conditions"]["IsProd"],
        json!({ "Fn::Equals": [{ "Ref": "Env" }, "prod"] })
    );
    assert_eq!(
        json["Conditions"]["Combined"],
        json!({ "Fn::And": [{ "Condition": "IsProd" }, { "Fn::Or": [{ "Fn::Not": [{ "Condition": "IsProd" }] }, { "Fn::Equals": [{ "Ref": "AWS::Region" }, "us-east-1"] }] }] })
    );
    assert_eq!(
        json["Resources"]["Target"]["Properties"]["Value"],
        json!({ "Fn::If": ["Combined", "big", { "Ref": "AWS::NoValue" }] })
    );
    assert_eq!(json["Resources"]["Target"]["Condition"], json!("IsProd"));
}

#[test]
fn and_or_with_fewer_than_two_operands_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Target");
    CfnCondition::new(
        &stack,
        "Lonely",
        ConditionExpr::and([fns::equals(Value::from("a"), "b".into())]),
    );
    assert_eq!(
        problem(&app, "condition_operand_count").path,
        "a/Main/Lonely"
    );
}

#[test]
fn import_value_get_stack_output_base64_get_azs_cidr() {
    assert_eq!(
        rendered(|_| fns::import_value("shared-vpc".into()).into()),
        json!({ "Fn::ImportValue": "shared-vpc" })
    );
    assert_eq!(
        rendered(|_| fns::get_stack_output(
            "Network".into(),
            "VpcId".into(),
            Some("us-west-2".into()),
            Some("arn:aws:iam::222222222222:role/reader".into())
        )
        .into()),
        json!({ "Fn::GetStackOutput": { "StackName": "Network", "OutputName": "VpcId", "Region": "us-west-2", "RoleArn": "arn:aws:iam::222222222222:role/reader" } })
    );
    assert_eq!(
        rendered(|_| fns::get_stack_output("Network".into(), "VpcId".into(), None, None).into()),
        json!({ "Fn::GetStackOutput": { "StackName": "Network", "OutputName": "VpcId" } })
    );
    assert_eq!(
        rendered(|_| fns::base64("#!/bin/bash".into()).into()),
        json!({ "Fn::Base64": "#!/bin/bash" })
    );
    assert_eq!(
        rendered(|_| fns::get_azs(None).into()),
        json!({ "Fn::GetAZs": "" })
    );
    assert_eq!(
        rendered(|_| fns::get_azs(Some(Pseudo::Region.value())).into()),
        json!({ "Fn::GetAZs": { "Ref": "AWS::Region" } })
    );
    assert_eq!(
        rendered(|_| fns::cidr("10.0.0.0/16".into(), 4u32.into(), 8u32.into()).into()),
        json!({ "Fn::Cidr": ["10.0.0.0/16", 4, 8] })
    );
}

#[test]
fn find_in_map_names_the_mapping() {
    let value = rendered(|stack| {
        let mut regions = IndexMap::new();
        regions.insert(
            "us-east-1".to_owned(),
            IndexMap::from([("Ami".to_owned(), Expr::from("ami-1"))]),
        );
        let mapping = CfnMapping::new(stack, "Images", regions);
        mapping
            .find_in_map::<String>(Pseudo::Region.value(), "Ami".into())
            .into()
    });
    assert_eq!(
        value,
        json!({ "Fn::FindInMap": ["Images", { "Ref": "AWS::Region" }, "Ami"] })
    );
}

#[test]
fn mapping_values_must_be_literals() {
    let (app, stack) = one_stack();
    topic(&stack, "Target");
    let entries = IndexMap::from([(
        "k".to_owned(),
        IndexMap::from([("v".to_owned(), Expr::from(Pseudo::Region.value()))]),
    )]);
    CfnMapping::new(&stack, "Bad", entries);
    assert_eq!(
        problem(&app, "mapping_value_not_literal").path,
        "a/Main/Bad"
    );
}

#[test]
fn a_condition_of_another_stack_is_reported() {
    let (app, stack) = one_stack();
    let other = hyperpod_core::Stack::new(&stack.stage(), "Other", Default::default());
    topic(&other, "Topic");
    let condition = CfnCondition::new(
        &other,
        "Cond",
        fns::equals(Pseudo::Region.value(), "x".into()),
    );
    topic(&stack, "Target").set_condition(&condition);
    assert_eq!(
        problem(&app, "condition_in_other_stack").path,
        "a/Main/Target"
    );
}

#[test]
fn empty_mappings_and_bad_mapping_keys_are_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Target");
    CfnMapping::new(&stack, "Empty", IndexMap::new());
    CfnMapping::new(
        &stack,
        "Keys",
        IndexMap::from([(
            "bad key".to_owned(),
            IndexMap::from([("v".to_owned(), Expr::from("x"))]),
        )]),
    );
    assert_eq!(problem(&app, "mapping_empty").path, "a/Main/Empty");
    assert_eq!(problem(&app, "mapping_key_invalid").path, "a/Main/Keys");
}

#[test]
fn a_mapping_of_another_stack_is_reported() {
    let (app, stack) = one_stack();
    let other = hyperpod_core::Stack::new(&stack.stage(), "Other", Default::default());
    topic(&other, "Topic");
    let mapping = CfnMapping::new(
        &other,
        "Images",
        IndexMap::from([(
            "k".to_owned(),
            IndexMap::from([("v".to_owned(), Expr::from("x"))]),
        )]),
    );
    topic(&stack, "Target").set_property(
        "Value",
        mapping.find_in_map::<String>("k".into(), "v".into()),
    );
    assert_eq!(
        problem(&app, "mapping_in_other_stack").path,
        "a/Main/Target"
    );
}

#[test]
fn a_literal_document_prints_as_serde_json_prints_it() {
    let document = json!({
        "zeta": [1, -2, 3.5, 1e300, null, true],
        "alpha": { "quote\"back\\slash": "line\nbreak\u{1}tab\t", "empty": {} },
        "unicode": "ns-é-\u{2028}",
        "list": [],
    });
    let expr = Expr::from(document.clone());
    assert_eq!(
        expr.to_literal_json_string().as_deref(),
        Some(document.to_string().as_str())
    );
    assert_eq!(expr.to_literal_json(), Some(document));
    let with_reference = Expr::list([
        Expr::from("a"),
        Expr::Pseudo(hyperpod_core::Pseudo::AccountId),
    ]);
    assert_eq!(with_reference.to_literal_json_string(), None);
}

#[test]
fn a_json_document_keeps_its_types_and_carries_references_through_sub() {
    assert_eq!(
        rendered(|_| fns::to_json(json!({ "on": true, "count": 2, "name": "${literal}" })).into()),
        json!("{\"on\":true,\"count\":2,\"name\":\"${literal}\"}")
    );
    let value = rendered(|stack| {
        fns::to_json(Expr::map([
            ("enabled", Expr::from(false)),
            ("topic", topic(stack, "Other").ref_value().into_expr()),
            ("text", Expr::from("${kept}")),
        ]))
        .into()
    });
    assert_eq!(
        value,
        json!({ "Fn::Sub": ["{\"enabled\":false,\"topic\":\"${v0}\",\"text\":\"${!kept}\"}", { "v0": { "Ref": "Other" } }] })
    );
}
