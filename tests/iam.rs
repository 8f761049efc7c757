//! The IAM layer: policy documents render as IAM expects, and what IAM would refuse is
//! reported at synthesis.

use hyperpod_core::Scope;
use hyperpod_iam::{
    Condition, ConditionOperator, ManagedPolicy, PolicyDocument, Principal, Role, RoleProps,
    Statement, check_arn, role_arn,
};
use serde_json::json;

use crate::support::{accept_security_findings, one_stack, problems, template};

fn role_problems(props: RoleProps) -> Vec<(String, String)> {
    let (app, stack) = one_stack();
    Role::new(&stack, "Role", props);
    problems(&app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect()
}

fn has(found: &[(String, String)], code: &str) -> bool {
    found
        .iter()
        .any(|(path, c)| c == code && path == "a/Main/Role")
}

#[test]
fn a_trust_policy_for_a_role_in_another_account_names_it_with_the_partition() {
    let (app, stack) = one_stack();
    let role = Role::new(
        &stack,
        "TeamAccess",
        RoleProps {
            role_name: Some("ml-research-cluster-access".into()),
            max_session_duration: Some(7200),
            ..RoleProps::new(Principal::role("222222222222", "ml-research-scientist").trust())
        },
    );
    let json = template(&app, "a/Main");
    let properties = &json["Resources"]["TeamAccess"]["Properties"];
    assert_eq!(
        properties["AssumeRolePolicyDocument"],
        json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": "222222222222", "name": "ml-research-scientist" }] } }, "Action": "sts:AssumeRole" }] })
    );
    assert_eq!(properties["RoleName"], "ml-research-cluster-access");
    assert_eq!(properties["MaxSessionDuration"], 7200);
    assert_eq!(role.given_name(), Some("ml-research-cluster-access"));
    assert_eq!(role.node().path(), "a/Main/TeamAccess");
}

#[test]
fn statements_render_actions_resources_principals_and_typed_conditions() {
    let document = PolicyDocument::new([
        Statement::allow()
            .sid("Read")
            .actions(["s3:GetObject", "s3:ListBucket"])
            .resource("arn:aws:s3:::data")
            .resource("arn:aws:s3:::data/*"),
        Statement::deny()
            .action("s3:*")
            .resource("*")
            .principal(Principal::Any)
            .condition(Condition::new(
                ConditionOperator::Bool,
                "aws:SecureTransport",
                ["false".into()],
            )),
        Statement::allow()
            .action("*")
            .not_actions()
            .principal(Principal::account("333333333333"))
            .condition(Condition {
                set_qualifier: Some("ForAnyValue"),
                if_exists: true,
                ..Condition::new(
                    ConditionOperator::StringLike,
                    "aws:TagKeys",
                    ["team*".into()],
                )
            }),
    ]);
    assert!(document.check().is_empty(), "{:?}", document.check());
    let rendered = document.to_expr().to_literal_json();
    assert!(
        rendered.is_none(),
        "the account principal is built with the partition"
    );
    let (app, stack) = one_stack();
    // The document shows every form, NotAction included; the rules are tested elsewhere.
    accept_security_findings(&app);
    let json = {
        let resource = hyperpod_core::CfnResource::raw(
            &stack,
            "Doc",
            "AWS::IAM::ManagedPolicy",
            hyperpod_core::TagFormat::NotTaggable,
            json!({}),
        );
        resource.set_property("PolicyDocument", document.to_expr());
        template(&app, "a/Main")["Resources"]["Doc"]["Properties"]["PolicyDocument"].clone()
    };
    assert_eq!(
        json["Statement"][0],
        json!({ "Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"] })
    );
    assert_eq!(json["Statement"][1]["Principal"], "*");
    assert_eq!(
        json["Statement"][1]["Condition"],
        json!({ "Bool": { "aws:SecureTransport": "false" } })
    );
    assert_eq!(json["Statement"][2]["NotAction"], "*");
    assert_eq!(
        json["Statement"][2]["Condition"],
        json!({ "ForAnyValue:StringLikeIfExists": { "aws:TagKeys": "team*" } })
    );
}

#[test]
fn managed_policies_by_name_get_partition_aware_arns() {
    let (app, stack) = one_stack();
    Role::new(
        &stack,
        "Cluster",
        RoleProps {
            managed_policies: vec![ManagedPolicy::aws("AmazonEKSClusterPolicy")],
            ..RoleProps::new(Principal::service("eks.amazonaws.com").trust())
        },
    );
    let json = template(&app, "a/Main");
    assert_eq!(
        json["Resources"]["Cluster"]["Properties"]["ManagedPolicyArns"],
        json!([{ "Fn::Sub": ["arn:${AWS::Partition}:iam::aws:policy/${name}", { "name": "AmazonEKSClusterPolicy" }] }])
    );
}

#[test]
fn malformed_arns_are_reported() {
    assert!(check_arn("arn:aws:s3:::bucket").is_ok());
    assert!(check_arn("arn:aws:iam::111111111111:role/x").is_ok());
    assert!(
        check_arn("arn:aws:iam::1111:role/x")
            .unwrap_err()
            .contains("12 digits")
    );
    assert!(
        check_arn("arn:amazon:iam::111111111111:role/x")
            .unwrap_err()
            .contains("partition")
    );
    assert!(check_arn("s3://bucket").unwrap_err().contains("not an ARN"));
    let found = role_problems(RoleProps {
        inline_policies: vec![(
            "read".into(),
            PolicyDocument::new([Statement::allow()
                .action("s3:GetObject")
                .resource("arn:aws:s3:bucket")]),
        )],
        managed_policies: vec![ManagedPolicy::Arn("arn:aws:iam:policy/x".into())],
        ..RoleProps::new(Principal::service("ec2.amazonaws.com").trust())
    });
    assert_eq!(
        found.iter().filter(|(_, c)| c == "malformed_arn").count(),
        2,
        "{found:?}"
    );
}

#[test]
fn role_name_path_and_session_rules_are_reported() {
    let found = role_problems(RoleProps {
        role_name: Some("has spaces".into()),
        path: Some("teams".into()),
        max_session_duration: Some(60),
        ..RoleProps::new(Principal::service("ec2.amazonaws.com").trust())
    });
    assert!(has(&found, "invalid_role_name"), "{found:?}");
    assert!(has(&found, "invalid_role_path"), "{found:?}");
    assert!(has(&found, "invalid_max_session_duration"), "{found:?}");
    let found = role_problems(RoleProps {
        role_name: Some("x".repeat(65)),
        ..RoleProps::new(Principal::service("ec2.amazonaws.com").trust())
    });
    assert!(has(&found, "invalid_role_name"), "{found:?}");
}

#[test]
fn a_principal_arn_in_another_account_than_claimed_is_reported() {
    let principal = Principal::Arn {
        arn: "arn:aws:iam::333333333333:role/reader".into(),
        account: "222222222222".into(),
    };
    let found = role_problems(RoleProps::new(principal.trust()));
    assert!(has(&found, "principal_account_mismatch"), "{found:?}");
    let found = role_problems(RoleProps::new(Principal::role("2222", "x").trust()));
    assert!(has(&found, "invalid_principal_account"), "{found:?}");
    let found = role_problems(RoleProps::new(Principal::service("sagemaker").trust()));
    assert!(has(&found, "invalid_service_principal"), "{found:?}");
}

#[test]
fn statements_without_actions_with_bad_actions_or_duplicate_ids_are_reported() {
    let document = PolicyDocument::new([
        Statement::allow().sid("A").resource("*"),
        Statement::allow()
            .sid("A")
            .action("GetObject")
            .resource("*"),
        Statement::allow()
            .sid("bad-sid")
            .action("s3:Get*")
            .resource("*"),
    ]);
    let codes: Vec<String> = document.check().into_iter().map(|i| i.code).collect();
    for code in [
        "statement_without_actions",
        "invalid_action",
        "duplicate_sid",
        "invalid_sid",
    ] {
        assert!(
            codes.contains(&code.to_owned()),
            "{code} missing from {codes:?}"
        );
    }
    let found = role_problems(RoleProps::new(PolicyDocument::new([
        Statement::allow().action("sts:AssumeRole")
    ])));
    assert!(has(&found, "trust_without_principal"), "{found:?}");
    assert!(
        PolicyDocument::default()
            .check()
            .iter()
            .any(|i| i.code == "empty_policy")
    );
}

#[test]
fn role_arn_is_built_at_synthesis() {
    assert!(role_arn("111111111111", "x").as_literal().is_none());
}

#[test]
fn conditions_without_values_and_bad_policy_names_are_reported() {
    let document = PolicyDocument::new([Statement::allow()
        .action("s3:GetObject")
        .resource("*")
        .condition(Condition::new(
            ConditionOperator::StringEquals,
            "aws:PrincipalTag/team",
            [],
        ))]);
    assert!(
        document
            .check()
            .iter()
            .any(|i| i.code == "condition_without_values")
    );
    let found = role_problems(RoleProps {
        inline_policies: vec![(
            "has spaces".into(),
            PolicyDocument::new([Statement::allow().action("s3:GetObject").resource("*")]),
        )],
        managed_policies: vec![ManagedPolicy::aws("arn:aws:iam::aws:policy/ReadOnlyAccess")],
        ..RoleProps::new(Principal::service("ec2.amazonaws.com").trust())
    });
    assert!(has(&found, "invalid_policy_name"), "{found:?}");
    assert!(has(&found, "invalid_managed_policy_name"), "{found:?}");
}
