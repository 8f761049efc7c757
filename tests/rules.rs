//! The security rule pack: each rule refuses the template that breaks it and accepts the one
//! that follows it; suppressions need a known rule and a reason, and leave both in the
//! template, where checkov honours them.

use hyperpod_core::rules::RULES;
use hyperpod_core::{App, CfnResource, Construct, Scope, Stack, TagFormat};
use serde_json::{Value as Json, json};
use tests::{checkov, checkov_failures, files_below, workspace_root};

use crate::support::{codes, one_stack, problem, template};

/// The rule ids synthesis reports for one resource of `kind` with `properties`, retained
/// when `retained`.
fn findings(kind: &str, properties: Json, retained: bool) -> Vec<String> {
    let (app, stack) = one_stack();
    let resource = CfnResource::raw(&stack, "Subject", kind, TagFormat::KeyValueList, properties);
    if retained {
        resource.retain_on_delete_and_replace();
    }
    rule_codes(&app)
}

/// The codes of the problems that are findings of the rule pack.
fn rule_codes(app: &App) -> Vec<String> {
    codes(app)
        .into_iter()
        .filter(|code| RULES.iter().any(|rule| rule.id == code))
        .collect()
}

/// A bucket that follows every bucket rule, with its TLS-only policy.
fn good_bucket(stack: &Stack, bucket: Json) -> CfnResource {
    let resource = CfnResource::raw(
        stack,
        "Data",
        "AWS::S3::Bucket",
        TagFormat::KeyValueList,
        bucket,
    );
    resource.retain_on_delete_and_replace();
    resource
}

fn bucket_properties() -> Json {
    json!({
        "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
        "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" } }] },
        "VersioningConfiguration": { "Status": "Enabled" },
        "LoggingConfiguration": { "DestinationBucketName": "access-logs-111111111111", "LogFilePrefix": "data/" },
    })
}

fn tls_only_policy(stack: &Stack) {
    CfnResource::raw(
        stack,
        "DataPolicy",
        "AWS::S3::BucketPolicy",
        TagFormat::NotTaggable,
        json!({
            "Bucket": { "Ref": "Data" },
            "PolicyDocument": { "Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [{ "Fn::GetAtt": ["Data", "Arn"] }, { "Fn::Sub": "${Data.Arn}/*" }],
                "Condition": { "Bool": { "aws:SecureTransport": "false" } },
            }] },
        }),
    );
}

#[test]
fn every_rule_has_a_unique_id_a_fix_and_checkov_mirrors_by_their_ids() {
    let mut ids: Vec<&str> = RULES.iter().map(|rule| rule.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), RULES.len(), "rule ids repeat");
    for rule in RULES {
        assert!(
            rule.id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
            "{}",
            rule.id
        );
        assert!(
            !rule.title.is_empty() && !rule.fix.is_empty(),
            "{}",
            rule.id
        );
        assert!(
            rule.checkov
                .iter()
                .all(|check| check.starts_with("CKV_AWS_")),
            "{}",
            rule.id
        );
    }
}

#[test]
fn a_bucket_that_follows_every_rule_passes_and_each_missing_control_is_named() {
    let synth = |properties: Json, policy: bool, retained: bool| {
        let (app, stack) = one_stack();
        let bucket = good_bucket(&stack, properties);
        if !retained {
            bucket.set_deletion_policy(hyperpod_core::DeletionPolicy::Delete);
        }
        if policy {
            tls_only_policy(&stack);
        }
        rule_codes(&app)
    };
    assert_eq!(synth(bucket_properties(), true, true), Vec::<String>::new());
    let without = |key: &str| {
        let mut properties = bucket_properties();
        properties.as_object_mut().unwrap().remove(key);
        properties
    };
    assert_eq!(
        synth(without("PublicAccessBlockConfiguration"), true, true),
        ["S3_PUBLIC_ACCESS"]
    );
    let mut partly_public = bucket_properties();
    partly_public["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] = json!(false);
    assert_eq!(synth(partly_public, true, true), ["S3_PUBLIC_ACCESS"]);
    assert_eq!(
        synth(without("BucketEncryption"), true, true),
        ["S3_ENCRYPTION"]
    );
    assert_eq!(
        synth(without("VersioningConfiguration"), true, true),
        ["S3_VERSIONING"]
    );
    assert_eq!(
        synth(without("LoggingConfiguration"), true, true),
        ["S3_ACCESS_LOGS"]
    );
    assert_eq!(synth(bucket_properties(), false, true), ["S3_TLS_ONLY"]);
    // A policy may name the bucket by its literal name, and say `false` as a boolean.
    let (app, stack) = one_stack();
    let mut named = bucket_properties();
    named["BucketName"] = json!("training-data-111111111111");
    good_bucket(&stack, named);
    CfnResource::raw(
        &stack,
        "DataPolicy",
        "AWS::S3::BucketPolicy",
        TagFormat::NotTaggable,
        json!({
            "Bucket": "training-data-111111111111",
            "PolicyDocument": { "Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": ["arn:aws:s3:::training-data-111111111111", "arn:aws:s3:::training-data-111111111111/*"],
                "Condition": { "Bool": { "aws:SecureTransport": false } },
            }] },
        }),
    );
    assert_eq!(rule_codes(&app), Vec::<String>::new());
    assert_eq!(synth(bucket_properties(), true, false), ["RETAIN_DATA"]);
}

#[test]
fn data_resources_are_retained_on_delete_and_on_replacement() {
    let file_system = json!({ "FileSystemType": "LUSTRE", "SubnetIds": ["subnet-0123456789abcdef0"], "StorageCapacity": 1200 });
    assert_eq!(
        findings("AWS::FSx::FileSystem", file_system.clone(), false),
        ["RETAIN_DATA"]
    );
    assert_eq!(
        findings("AWS::FSx::FileSystem", file_system, true),
        Vec::<String>::new()
    );
    // Replacement loses data as surely as deletion: both policies are needed.
    let (app, stack) = one_stack();
    let key = CfnResource::raw(
        &stack,
        "Key",
        "AWS::KMS::Key",
        TagFormat::KeyValueList,
        json!({ "KeyPolicy": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111111111111:role/admin" }, "Action": "kms:Decrypt", "Resource": "*" }] } }),
    );
    key.set_deletion_policy(hyperpod_core::DeletionPolicy::Retain);
    assert_eq!(rule_codes(&app), ["RETAIN_DATA"]);
}

#[test]
fn log_groups_need_retention_a_delete_policy_and_a_customer_managed_key() {
    let (app, stack) = one_stack();
    let logs = CfnResource::raw(
        &stack,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        json!({ "RetentionInDays": 365, "KmsKeyId": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }),
    );
    logs.retain_on_delete_and_replace();
    assert_eq!(rule_codes(&app), Vec::<String>::new());

    assert_eq!(
        findings(
            "AWS::Logs::LogGroup",
            json!({ "KmsKeyId": "alias/logs" }),
            true
        ),
        ["LOG_RETENTION"]
    );
    // A retention period without a word on what happens on delete is not enough.
    assert_eq!(
        findings(
            "AWS::Logs::LogGroup",
            json!({ "RetentionInDays": 30, "KmsKeyId": "alias/logs" }),
            false
        ),
        ["LOG_RETENTION"]
    );
    assert_eq!(
        findings(
            "AWS::Logs::LogGroup",
            json!({ "RetentionInDays": 30 }),
            true
        ),
        ["LOG_GROUP_KMS"]
    );
}

#[test]
fn secrets_need_a_customer_managed_key() {
    assert_eq!(
        findings("AWS::SecretsManager::Secret", json!({}), true),
        ["SECRET_CMK"]
    );
    assert_eq!(
        findings(
            "AWS::SecretsManager::Secret",
            json!({ "KmsKeyId": { "Ref": "Key" } }),
            true
        ),
        Vec::<String>::new()
    );
}

fn role(trust: Json, policy: Json) -> Json {
    json!({
        "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [trust] },
        "Policies": [{ "PolicyName": "inline", "PolicyDocument": { "Version": "2012-10-17", "Statement": [policy] } }],
    })
}

fn read_anything() -> Json {
    json!({ "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*" })
}

#[test]
fn a_role_never_trusts_a_whole_account_or_everyone_without_a_condition() {
    let trust = |principal: Json, condition: Option<Json>| {
        let mut statement =
            json!({ "Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole" });
        if let Some(condition) = condition {
            statement["Condition"] = condition;
        }
        findings("AWS::IAM::Role", role(statement, read_anything()), false)
    };
    assert_eq!(
        trust(json!({ "AWS": "arn:aws:iam::222222222222:root" }), None),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(json!({ "AWS": ["222222222222"] }), None),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(
            json!({ "AWS": { "Fn::Sub": "arn:${AWS::Partition}:iam::222222222222:root" } }),
            None
        ),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(
            json!({ "AWS": "arn:aws:iam::222222222222:root" }),
            Some(
                json!({ "ArnLike": { "aws:PrincipalArn": "arn:aws:iam::222222222222:role/data-scientists" } })
            )
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        trust(
            json!({ "AWS": "arn:aws:iam::222222222222:role/data-scientists" }),
            None
        ),
        Vec::<String>::new()
    );
    // A condition that narrows nothing about who calls is no narrowing.
    assert_eq!(
        trust(
            json!({ "AWS": "arn:aws:iam::222222222222:root" }),
            Some(
                json!({ "Null": { "sts:SourceIdentity": "false" }, "Bool": { "aws:MultiFactorAuthPresent": "true" } })
            )
        ),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(
            json!({ "AWS": "arn:aws:iam::222222222222:root" }),
            Some(json!({ "ArnLike": { "aws:PrincipalArn": "*" } }))
        ),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(
            json!({ "AWS": { "Fn::Join": ["", ["arn:", { "Ref": "AWS::Partition" }, ":iam::222222222222:root"]] } }),
            None
        ),
        ["IAM_TRUST_ACCOUNT"]
    );
    assert_eq!(
        trust(
            json!({ "AWS": "arn:aws:iam::222222222222:root" }),
            Some(json!({ "StringEquals": { "aws:PrincipalTag/team": "vision" } }))
        ),
        Vec::<String>::new()
    );
    assert_eq!(trust(json!("*"), None), ["IAM_WILDCARD_PRINCIPAL"]);
    assert_eq!(
        trust(json!({ "Service": "lambda.amazonaws.com" }), None),
        Vec::<String>::new()
    );
}

#[test]
fn a_pod_identity_role_names_its_namespace_and_service_account() {
    let pods = |condition: Json| {
        findings(
            "AWS::IAM::Role",
            role(
                json!({ "Effect": "Allow", "Principal": { "Service": "pods.eks.amazonaws.com" }, "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": condition }),
                read_anything(),
            ),
            false,
        )
    };
    assert_eq!(
        pods(json!({ "StringEquals": { "aws:SourceAccount": "111111111111" } })),
        ["POD_IDENTITY_SCOPE"]
    );
    assert_eq!(
        pods(json!({ "StringEquals": { "aws:RequestTag/kubernetes-namespace": "team-a" } })),
        ["POD_IDENTITY_SCOPE"]
    );
    // Namespace and service account, but of any cluster of the account.
    assert_eq!(
        pods(json!({ "StringEquals": {
            "aws:RequestTag/kubernetes-namespace": "team-a",
            "aws:RequestTag/kubernetes-service-account": "training",
        } })),
        ["POD_IDENTITY_SCOPE"]
    );
    // A pattern that matches everything pins nothing.
    assert_eq!(
        pods(json!({
            "StringEquals": { "aws:RequestTag/eks-cluster-arn": "arn:aws:eks:us-east-1:111111111111:cluster/ml" },
            "StringLike": {
                "aws:RequestTag/kubernetes-namespace": "*",
                "aws:RequestTag/kubernetes-service-account": "*",
            },
        })),
        ["POD_IDENTITY_SCOPE"]
    );
    assert_eq!(
        pods(json!({ "StringEquals": {
            "aws:SourceAccount": "111111111111",
            "aws:RequestTag/eks-cluster-arn": { "Fn::GetAtt": ["Cluster", "Arn"] },
            "aws:RequestTag/kubernetes-namespace": "team-a",
            "aws:RequestTag/kubernetes-service-account": "training",
        } })),
        Vec::<String>::new()
    );
}

#[test]
fn identity_policies_list_their_actions_and_name_what_they_change() {
    let trust = json!({ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" });
    let policy =
        |statement: Json| findings("AWS::IAM::Role", role(trust.clone(), statement), false);
    assert_eq!(
        policy(json!({ "Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::data/*" })),
        ["IAM_WILDCARD_ACTION"]
    );
    assert_eq!(
        policy(json!({ "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::data/*" })),
        ["IAM_WILDCARD_ACTION"]
    );
    assert_eq!(
        policy(
            json!({ "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*" })
        ),
        ["IAM_WILDCARD_RESOURCE_WRITE"]
    );
    assert_eq!(
        policy(
            json!({ "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/*" })
        ),
        Vec::<String>::new()
    );
    // A deny is never a grant, however wide.
    assert_eq!(
        policy(json!({ "Effect": "Deny", "Action": "*", "Resource": "*" })),
        Vec::<String>::new()
    );
    // Everything but a list is everything.
    assert_eq!(
        policy(
            json!({ "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::data/*" })
        ),
        ["IAM_WILDCARD_ACTION"]
    );
    assert_eq!(
        policy(
            json!({ "Effect": "Allow", "Action": "s3:PutObject", "NotResource": "arn:aws:s3:::other/*" })
        ),
        ["IAM_WILDCARD_RESOURCE_WRITE"]
    );
    // An action IAM authorizes only on `*` cannot name a resource.
    assert_eq!(
        policy(json!({ "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*" })),
        Vec::<String>::new()
    );
    // Managed and stand-alone policies are read the same way.
    assert_eq!(
        findings(
            "AWS::IAM::ManagedPolicy",
            json!({ "PolicyDocument": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Action": "ec2:CreateTags", "Resource": "*" }] } }),
            false
        ),
        ["IAM_WILDCARD_RESOURCE_WRITE"]
    );
}

#[test]
fn managed_policies_that_allow_a_whole_service_are_wildcard_actions() {
    let with_managed = |arns: Json| {
        findings(
            "AWS::IAM::Role",
            json!({
                "AssumeRolePolicyDocument": { "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] },
                "ManagedPolicyArns": arns,
            }),
            false,
        )
    };
    assert_eq!(
        with_managed(json!(["arn:aws:iam::aws:policy/AdministratorAccess"])),
        ["IAM_WILDCARD_ACTION"]
    );
    assert_eq!(
        with_managed(
            json!([{ "Fn::Sub": ["arn:${AWS::Partition}:iam::aws:policy/${name}", { "name": "AmazonS3FullAccess" }] }])
        ),
        ["IAM_WILDCARD_ACTION"]
    );
    assert_eq!(
        with_managed(json!([
            "arn:aws:iam::aws:policy/AmazonSageMakerClusterInstanceRolePolicy"
        ])),
        Vec::<String>::new()
    );
}

#[test]
fn every_kind_of_resource_policy_is_read() {
    let open = json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*" }] });
    assert_eq!(
        findings(
            "AWS::SQS::QueuePolicy",
            json!({ "Queues": ["https://sqs.us-east-1.amazonaws.com/111111111111/q"], "PolicyDocument": open }),
            false
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
    assert_eq!(
        findings(
            "AWS::SNS::TopicPolicy",
            json!({ "Topics": ["arn:aws:sns:us-east-1:111111111111:t"], "PolicyDocument": open }),
            false
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
    assert_eq!(
        findings(
            "AWS::SecretsManager::ResourcePolicy",
            json!({ "SecretId": "s", "ResourcePolicy": open }),
            false
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
    let invoke = |extra: Json| {
        let mut properties =
            json!({ "Action": "lambda:InvokeFunction", "FunctionName": "f", "Principal": "*" });
        properties
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        findings("AWS::Lambda::Permission", properties, false)
    };
    assert_eq!(invoke(json!({})), ["IAM_WILDCARD_PRINCIPAL"]);
    assert_eq!(
        invoke(json!({ "SourceArn": "arn:aws:s3:::bucket" })),
        Vec::<String>::new()
    );
}

#[test]
fn resource_policies_never_allow_everyone_without_a_condition() {
    let key_policy = |statement: Json| {
        findings(
            "AWS::KMS::Key",
            json!({ "KeyPolicy": { "Version": "2012-10-17", "Statement": [statement] } }),
            true,
        )
    };
    assert_eq!(
        key_policy(
            json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "kms:Decrypt", "Resource": "*" })
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
    assert_eq!(
        key_policy(
            json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "kms:Decrypt", "Resource": "*", "Condition": { "StringEquals": { "kms:CallerAccount": "111111111111" } } })
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        key_policy(
            json!({ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111111111111:role/admin" }, "Action": "kms:*", "Resource": "*" })
        ),
        ["IAM_WILDCARD_ACTION"]
    );
    // A condition on the transport narrows nobody.
    assert_eq!(
        key_policy(
            json!({ "Effect": "Allow", "Principal": { "AWS": "*" }, "Action": "kms:Decrypt", "Resource": "*", "Condition": { "Bool": { "aws:SecureTransport": "true" } } })
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
    assert_eq!(
        key_policy(
            json!({ "Effect": "Allow", "NotPrincipal": { "AWS": "arn:aws:iam::111111111111:role/admin" }, "Action": "kms:Decrypt", "Resource": "*" })
        ),
        ["IAM_WILDCARD_PRINCIPAL"]
    );
}

#[test]
fn no_security_group_admits_the_internet_but_references_are_not_judged() {
    let group = |ingress: Json| {
        findings(
            "AWS::EC2::SecurityGroup",
            json!({ "GroupDescription": "test", "VpcId": "vpc-0123456789abcdef0", "SecurityGroupIngress": [ingress] }),
            false,
        )
    };
    assert_eq!(
        group(json!({ "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "0.0.0.0/0" })),
        ["EC2_OPEN_INGRESS"]
    );
    assert_eq!(
        group(json!({ "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv6": "::/0" })),
        ["EC2_OPEN_INGRESS"]
    );
    assert_eq!(
        group(
            json!({ "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/16" })
        ),
        Vec::<String>::new()
    );
    // A value known only at deploy time is not a finding by itself.
    assert_eq!(
        group(
            json!({ "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": { "Fn::ImportValue": "vpn-cidr" } })
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        findings(
            "AWS::EC2::SecurityGroupIngress",
            json!({ "GroupId": "sg-0123456789abcdef0", "IpProtocol": "-1", "CidrIp": "0.0.0.0/0" }),
            false
        ),
        ["EC2_OPEN_INGRESS"]
    );
}

#[test]
fn an_eks_endpoint_is_private_or_public_to_named_ranges_and_secrets_use_a_customer_key() {
    let cluster = |vpc: Json, encrypted: bool| {
        let mut properties = json!({
            "RoleArn": "arn:aws:iam::111111111111:role/eks",
            "ResourcesVpcConfig": vpc,
        });
        if encrypted {
            properties["EncryptionConfig"] = json!([{ "Provider": { "KeyArn": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab" }, "Resources": ["secrets"] }]);
        }
        findings("AWS::EKS::Cluster", properties, false)
    };
    let subnets = json!(["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]);
    // EKS's default is a public endpoint open to everyone.
    assert_eq!(
        cluster(json!({ "SubnetIds": subnets }), true),
        ["EKS_PUBLIC_ENDPOINT"]
    );
    assert_eq!(
        cluster(
            json!({ "SubnetIds": subnets, "EndpointPublicAccess": true, "PublicAccessCidrs": ["0.0.0.0/0"] }),
            true
        ),
        ["EKS_PUBLIC_ENDPOINT"]
    );
    assert_eq!(
        cluster(
            json!({ "SubnetIds": subnets, "EndpointPublicAccess": true, "EndpointPrivateAccess": true, "PublicAccessCidrs": ["203.0.113.0/24"] }),
            true
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        cluster(
            json!({ "SubnetIds": subnets, "EndpointPublicAccess": false, "EndpointPrivateAccess": true }),
            false
        ),
        ["EKS_SECRETS_KEY"]
    );
}

#[test]
fn a_suppression_above_a_resource_accepts_its_finding_and_the_template_records_why() {
    let (app, stack) = one_stack();
    let logging = Construct::new(&stack, "Logging");
    let logs = CfnResource::raw(
        &logging,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        json!({ "RetentionInDays": 30 }),
    );
    logs.retain_on_delete_and_replace();
    logging
        .node()
        .suppress("LOG_GROUP_KMS", "deploy events only, no user data");
    let assembly = app.synth().unwrap_or_else(|e| panic!("{e}"));
    let resource = &assembly.template("a/Main").unwrap()["Resources"]["LoggingLogs"];
    assert_eq!(
        resource["Metadata"]["hyperpod"]["suppressed"],
        json!([{ "rule": "LOG_GROUP_KMS", "reason": "deploy events only, no user data" }])
    );
    assert_eq!(
        resource["Metadata"]["checkov"]["skip"],
        json!([{ "id": "CKV_AWS_158", "comment": "deploy events only, no user data" }])
    );
    assert_eq!(assembly.suppressed.len(), 1);
    assert_eq!(assembly.suppressed[0].path, "a/Main/Logging/Logs");
    assert_eq!(assembly.suppressed[0].rule, "LOG_GROUP_KMS");
}

#[test]
fn a_suppression_does_not_reach_a_sibling() {
    let (app, stack) = one_stack();
    let accepted = Construct::new(&stack, "Accepted");
    accepted
        .node()
        .suppress("SECRET_CMK", "a test secret in an isolated account");
    for scope in [&accepted, &Construct::new(&stack, "Other")] {
        CfnResource::raw(
            scope,
            "Secret",
            "AWS::SecretsManager::Secret",
            TagFormat::KeyValueList,
            json!({}),
        )
        .retain_on_delete_and_replace();
    }
    let found = problem(&app, "SECRET_CMK");
    assert_eq!(found.path, "a/Main/Other/Secret");
    assert_eq!(rule_codes(&app), ["SECRET_CMK"]);
}

#[test]
fn a_checkov_check_can_be_skipped_by_id_with_its_reason() {
    let (app, stack) = one_stack();
    let topic = CfnResource::raw(
        &stack,
        "Topic",
        "AWS::SNS::Topic",
        TagFormat::KeyValueList,
        json!({}),
    );
    topic
        .node()
        .suppress("CKV_AWS_26", "carries only deploy notifications");
    let json = template(&app, "a/Main");
    assert_eq!(
        json["Resources"]["Topic"]["Metadata"]["checkov"]["skip"],
        json!([{ "id": "CKV_AWS_26", "comment": "carries only deploy notifications" }])
    );
    // Listed with the rule pack's accepted findings, so synth prints it too.
    let suppressed = app.synth().unwrap().suppressed;
    assert_eq!(suppressed.len(), 1);
    assert_eq!(
        (suppressed[0].rule.as_str(), suppressed[0].reason.as_str()),
        ("CKV_AWS_26", "carries only deploy notifications")
    );
}

#[test]
fn a_suppression_needs_a_known_rule_and_a_reason() {
    let (app, stack) = one_stack();
    stack.node().suppress("S3_PUBLIC", "a typo in the rule id");
    let unknown = problem(&app, "unknown_rule");
    assert_eq!(unknown.path, "a/Main");
    assert!(
        unknown.message.contains("`S3_PUBLIC`") && unknown.message.contains("S3_PUBLIC_ACCESS"),
        "{}",
        unknown.message
    );

    let (app, stack) = one_stack();
    stack.node().suppress("S3_ACCESS_LOGS", " ok ");
    let message = problem(&app, "suppression_without_reason").message;
    assert!(message.contains("S3_ACCESS_LOGS"), "{message}");
}

#[test]
fn a_finding_names_the_construct_the_rule_and_the_way_out() {
    let (app, stack) = one_stack();
    CfnResource::raw(
        &stack,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        json!({ "RetentionInDays": 30, "KmsKeyId": "alias/logs" }),
    );
    let found = problem(&app, "LOG_RETENTION");
    assert_eq!(found.path, "a/Main/Logs");
    assert!(
        found.message.contains("DeletionPolicy")
            && found
                .message
                .contains("suppress(\"LOG_RETENTION\", <reason>)"),
        "{}",
        found.message
    );
}

/// A skip the rule pack writes is one checkov honours: the same template without it fails
/// CKV_AWS_158, with it passes.
#[test]
fn checkov_honours_the_skips_suppressions_write() {
    let Some(checkov) = checkov() else {
        return;
    };
    let (app, stack) = one_stack();
    let logs = CfnResource::raw(
        &stack,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        json!({ "RetentionInDays": 365 }),
    );
    logs.retain_on_delete_and_replace();
    logs.node()
        .suppress("LOG_GROUP_KMS", "deploy events only, no user data");
    let out = tempfile::tempdir().unwrap();
    let folder = app.synth().unwrap().write_to(out.path()).unwrap();
    assert_eq!(checkov_failures(&checkov, &folder), Vec::<String>::new());

    let path = folder.join("a/Main.template.json");
    let mut json: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["Resources"]["Logs"]
        .as_object_mut()
        .unwrap()
        .remove("Metadata");
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    let failures = checkov_failures(&checkov, &folder);
    assert!(
        failures.len() == 1 && failures[0].starts_with("CKV_AWS_158"),
        "{failures:?}"
    );
}

/// What holds data in the committed templates is kept when it leaves its template or is
/// replaced, whatever the rule pack says about it.
#[test]
fn every_data_resource_of_the_committed_templates_is_retained() {
    let synth_out = workspace_root().join("synth-out");
    let mut checked = 0;
    for file in files_below(&synth_out) {
        if !file.to_string_lossy().ends_with(".template.json") {
            continue;
        }
        let json: Json =
            serde_json::from_str(&std::fs::read_to_string(synth_out.join(&file)).unwrap()).unwrap();
        for (id, resource) in json["Resources"].as_object().unwrap() {
            let kind = resource["Type"].as_str().unwrap();
            if matches!(
                kind,
                "AWS::S3::Bucket"
                    | "AWS::FSx::FileSystem"
                    | "AWS::KMS::Key"
                    | "AWS::SecretsManager::Secret"
                    | "AWS::APS::Workspace"
            ) || (kind == "AWS::Logs::LogGroup"
                // The audit trails: who connected, what flowed.
                && (id.ends_with("FlowLogs") || id.ends_with("ConnectionLogs")))
            {
                checked += 1;
                assert_eq!(
                    (
                        &resource["DeletionPolicy"],
                        &resource["UpdateReplacePolicy"]
                    ),
                    (&json!("Retain"), &json!("Retain")),
                    "{} {id} ({kind})",
                    file.display()
                );
            }
        }
    }
    assert!(checked >= 8, "only {checked} data resources found");
}
