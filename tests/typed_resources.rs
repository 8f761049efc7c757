//! The generated typed resources: a realistic sample of each service synthesizes and passes
//! cfn-lint; the schema's constraints are reported at synthesis with construct and property
//! paths; create-only metadata is available at run time.

use std::path::PathBuf;

use hyperpod_cfn::{
    cloudformation, ec2, eks, elbv2, fsx, iam, kms, lambda, logs, s3, sagemaker, secretsmanager,
    ssm,
};
use hyperpod_core::{App, Stack, Value, fns};
use serde_json::json;
use tests::{cfn_lint, files_below, lint};

use crate::support::{accept_security_findings, one_stack, problems, template};

/// A stack per service, each with resources of that service set up as a platform team
/// would.
fn samples() -> App {
    let (app, stack) = one_stack();
    accept_security_findings(&app);
    let stage = stack.stage();
    let new_stack = |id: &str| Stack::new(&stage, id, Default::default());

    let network = new_stack("Ec2");
    let vpc = ec2::CfnVPC::new(
        &network,
        "Vpc",
        ec2::VPCProps {
            cidr_block: Some("10.0.0.0/16".into()),
            enable_dns_hostnames: Some(true.into()),
            enable_dns_support: Some(true.into()),
            ..Default::default()
        },
    );
    let subnet = ec2::CfnSubnet::new(
        &network,
        "Private",
        ec2::SubnetProps {
            cidr_block: Some("10.0.0.0/24".into()),
            availability_zone: Some(fns::select(0, fns::get_azs(None))),
            ..ec2::SubnetProps::new(vpc.ref_value())
        },
    );
    let group = ec2::CfnSecurityGroup::new(
        &network,
        "Cluster",
        ec2::SecurityGroupProps {
            vpc_id: Some(vpc.ref_value()),
            ..ec2::SecurityGroupProps::new("HyperPod nodes")
        },
    );
    ec2::CfnSecurityGroupIngress::new(
        &network,
        "SelfIngress",
        ec2::SecurityGroupIngressProps {
            group_id: Some(group.group_id()),
            source_security_group_id: Some(group.group_id()),
            description: Some("all traffic between nodes".into()),
            ..ec2::SecurityGroupIngressProps::new("-1")
        },
    );

    let identity = new_stack("Iam");
    let role = iam::CfnRole::new(
        &identity,
        "ExecutionRole",
        iam::RoleProps {
            managed_policy_arns: Some(vec![fns::sub::<&str>("arn:${AWS::Partition}:iam::aws:policy/AmazonSageMakerClusterInstanceRolePolicy", [])].into()),
            max_session_duration: Some(3600.into()),
            ..iam::RoleProps::new(json!({ "Version": "2012-10-17", "Statement": [{ "Effect": "Allow", "Principal": { "Service": "sagemaker.amazonaws.com" }, "Action": "sts:AssumeRole" }] }))
        },
    );

    let storage = new_stack("S3");
    let bucket = s3::CfnBucket::new(
        &storage,
        "Data",
        s3::BucketProps {
            bucket_encryption: Some(
                s3::bucket::BucketEncryption::new(vec![s3::bucket::ServerSideEncryptionRule {
                    server_side_encryption_by_default: Some(
                        s3::bucket::ServerSideEncryptionByDefault::new(
                            s3::bucket::ServerSideEncryptionByDefaultSSEAlgorithm::Aes256,
                        )
                        .into(),
                    ),
                    ..Default::default()
                }])
                .into(),
            ),
            public_access_block_configuration: Some(
                s3::bucket::PublicAccessBlockConfiguration {
                    block_public_acls: Some(true.into()),
                    block_public_policy: Some(true.into()),
                    ignore_public_acls: Some(true.into()),
                    restrict_public_buckets: Some(true.into()),
                }
                .into(),
            ),
            versioning_configuration: Some(
                s3::bucket::VersioningConfiguration::new(
                    s3::bucket::VersioningConfigurationStatus::Enabled,
                )
                .into(),
            ),
            ..Default::default()
        },
    );
    bucket.retain_on_delete_and_replace();
    s3::CfnAccessPoint::new(
        &storage,
        "TeamAccess",
        s3::AccessPointProps {
            name: Some("ml-research".into()),
            ..s3::AccessPointProps::new(bucket.ref_value())
        },
    );

    let kubernetes = new_stack("Eks");
    let cluster = eks::CfnCluster::new(
        &kubernetes,
        "Cluster",
        eks::ClusterProps {
            version: Some("1.31".into()),
            access_config: Some(
                eks::cluster::AccessConfig {
                    authentication_mode: Some(
                        eks::cluster::AccessConfigAuthenticationMode::Api.into(),
                    ),
                    ..Default::default()
                }
                .into(),
            ),
            logging: Some(
                eks::cluster::Logging {
                    cluster_logging: Some(
                        eks::cluster::ClusterLogging {
                            enabled_types: Some(
                                vec![eks::cluster::LoggingTypeConfig {
                                    type_: Some(eks::cluster::LoggingTypeConfigType::Api.into()),
                                }]
                                .into(),
                            ),
                        }
                        .into(),
                    ),
                }
                .into(),
            ),
            ..eks::ClusterProps::new(
                eks::cluster::ResourcesVpcConfig::new(vec![
                    "subnet-0123456789abcdef0",
                    "subnet-0123456789abcdef1",
                ]),
                "arn:aws:iam::111111111111:role/eks-cluster",
            )
        },
    );
    eks::CfnAddon::new(
        &kubernetes,
        "VpcCni",
        eks::AddonProps {
            addon_version: Some("v1.19.2-eksbuild.1".into()),
            resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
            ..eks::AddonProps::new("vpc-cni", cluster.ref_value())
        },
    );

    let hyperpod = new_stack("SageMaker");
    let cluster_arn = "arn:aws:sagemaker:us-east-1:111111111111:cluster/abcdef012345";
    sagemaker::CfnComputeQuota::new(
        &hyperpod,
        "Quota",
        sagemaker::ComputeQuotaProps::new(
            cluster_arn,
            sagemaker::compute_quota::ComputeQuotaConfig {
                compute_quota_resources: Some(vec![sagemaker::compute_quota::ComputeQuotaResourceConfig { count: Some(2.into()), ..sagemaker::compute_quota::ComputeQuotaResourceConfig::new(sagemaker::compute_quota::ComputeQuotaResourceConfigInstanceType::MlG58xlarge) }].into()),
                resource_sharing_config: Some(sagemaker::compute_quota::ResourceSharingConfig { borrow_limit: Some(50.into()), ..sagemaker::compute_quota::ResourceSharingConfig::new(sagemaker::compute_quota::ResourceSharingConfigStrategy::LendAndBorrow) }.into()),
                preempt_team_tasks: Some(sagemaker::compute_quota::ComputeQuotaConfigPreemptTeamTasks::LowerPriority.into()),
            },
            sagemaker::compute_quota::ComputeQuotaTarget { fair_share_weight: Some(10.into()), ..sagemaker::compute_quota::ComputeQuotaTarget::new("ml-research") },
            "ml-research-quota",
        ),
    );

    let balancing = new_stack("Elbv2");
    let balancer = elbv2::CfnLoadBalancer::new(
        &balancing,
        "LoginNodes",
        elbv2::LoadBalancerProps {
            type_: Some(elbv2::load_balancer::Type::Network.into()),
            scheme: Some(elbv2::load_balancer::Scheme::Internal.into()),
            subnets: Some(vec!["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"].into()),
            ..Default::default()
        },
    );
    let targets = elbv2::CfnTargetGroup::new(
        &balancing,
        "Ssh",
        elbv2::TargetGroupProps {
            port: Some(22.into()),
            protocol: Some(elbv2::target_group::Protocol::Tcp.into()),
            target_type: Some(elbv2::target_group::TargetType::Ip.into()),
            vpc_id: Some("vpc-0123456789abcdef0".into()),
            targets: Some(
                vec![elbv2::target_group::TargetDescription {
                    port: Some(22.into()),
                    ..elbv2::target_group::TargetDescription::new("10.0.0.10")
                }]
                .into(),
            ),
            ..Default::default()
        },
    );
    elbv2::CfnListener::new(
        &balancing,
        "Listener",
        elbv2::ListenerProps {
            port: Some(22.into()),
            protocol: Some(elbv2::listener::Protocol::Tcp.into()),
            ..elbv2::ListenerProps::new(
                vec![elbv2::listener::Action {
                    target_group_arn: Some(targets.ref_value()),
                    ..elbv2::listener::Action::new(elbv2::listener::ActionType::Forward)
                }],
                balancer.ref_value(),
            )
        },
    );

    let logging = new_stack("Logs");
    logs::CfnLogGroup::new(
        &logging,
        "VpnConnections",
        logs::LogGroupProps {
            retention_in_days: Some(90.into()),
            ..Default::default()
        },
    );

    let parameters = new_stack("Ssm");
    ssm::CfnParameter::new(
        &parameters,
        "ClusterName",
        ssm::ParameterProps {
            description: Some("the HyperPod cluster".into()),
            ..ssm::ParameterProps::new(ssm::parameter::Type::String, "ml-cluster")
        },
    );

    let keys = new_stack("Kms");
    kms::CfnKey::new(
        &keys,
        "DataKey",
        kms::KeyProps {
            enable_key_rotation: Some(true.into()),
            key_policy: Some(json!({ "Version": "2012-10-17", "Statement": [{ "Sid": "Admin", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::333333333333:root" }, "Action": "kms:*", "Resource": "*" }] }).into()),
            ..Default::default()
        },
    );

    let files = new_stack("Fsx");
    fsx::CfnFileSystem::new(
        &files,
        "Lustre",
        fsx::FileSystemProps {
            storage_capacity: Some(1200.into()),
            lustre_configuration: Some(
                fsx::file_system::LustreConfiguration {
                    deployment_type: Some("PERSISTENT_2".into()),
                    per_unit_storage_throughput: Some(125.into()),
                    ..Default::default()
                }
                .into(),
            ),
            ..fsx::FileSystemProps::new("LUSTRE", vec!["subnet-0123456789abcdef0"])
        },
    );

    let functions = new_stack("Lambda");
    lambda::CfnFunction::new(
        &functions,
        "Installer",
        lambda::FunctionProps {
            runtime: Some(lambda::function::Runtime::Python312.into()),
            handler: Some("index.handler".into()),
            timeout: Some(600.into()),
            ..lambda::FunctionProps::new(
                lambda::function::Code {
                    zip_file: Some("def handler(event, context):\n    return None\n".into()),
                    ..Default::default()
                },
                role.arn(),
            )
        },
    );

    cloudformation::CfnWaitConditionHandle::new(
        &stack,
        "Ready",
        cloudformation::WaitConditionHandleProps::default(),
    );

    let secrets = new_stack("SecretsManager");
    secretsmanager::CfnSecret::new(
        &secrets,
        "VpnKey",
        secretsmanager::SecretProps {
            generate_secret_string: Some(
                secretsmanager::secret::GenerateSecretString {
                    password_length: Some(32.into()),
                    exclude_punctuation: Some(true.into()),
                    ..Default::default()
                }
                .into(),
            ),
            ..Default::default()
        },
    );

    let _ = subnet;
    app
}

#[test]
fn a_sample_of_every_service_synthesizes_and_passes_cfn_lint() {
    let app = samples();
    let assembly = app.synth().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(assembly.manifest.stacks.len(), 13, "one stack per service");
    let Some(cfn_lint) = cfn_lint() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let folder = assembly.write_to(out.path()).unwrap();
    let templates: Vec<PathBuf> = files_below(&folder)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .map(|p| folder.join(p))
        .collect();
    assert_eq!(templates.len(), 13);
    if let Some(report) = lint(&cfn_lint, &templates) {
        panic!("cfn-lint found errors or warnings:\n{report}");
    }
}

#[test]
fn typed_properties_render_with_cloudformation_names() {
    let json = template(&samples(), "a/S3");
    assert_eq!(
        json["Resources"]["Data"]["Properties"]["VersioningConfiguration"],
        json!({ "Status": "Enabled" })
    );
    assert_eq!(
        json["Resources"]["Data"]["Properties"]["BucketEncryption"],
        json!({ "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }] })
    );
    assert_eq!(
        json["Resources"]["TeamAccess"]["Properties"]["Bucket"],
        json!({ "Ref": "Data" })
    );
    let iam = template(&samples(), "a/Lambda");
    assert_eq!(
        template(&samples(), "a/Main")["Resources"]["Ready"]["Type"],
        "AWS::CloudFormation::WaitConditionHandle"
    );
    assert_eq!(
        iam["Resources"]["Installer"]["Properties"]["Role"],
        json!({ "Fn::ImportValue": "test-a-Iam:ExportExecutionRoleArn" })
    );
}

#[test]
fn an_enum_value_newer_than_the_schema_passes_as_is() {
    let (app, stack) = one_stack();
    accept_security_findings(&app);
    logs::CfnLogGroup::new(
        &stack,
        "Logs",
        logs::LogGroupProps {
            log_group_class: Some(
                logs::log_group::LogGroupClass::Other("FUTURE_CLASS".into()).into(),
            ),
            ..Default::default()
        },
    );
    assert!(problems(&app).is_empty(), "{:?}", problems(&app));
    assert_eq!(
        template(&app, "a/Main")["Resources"]["Logs"]["Properties"]["LogGroupClass"],
        "FUTURE_CLASS"
    );
}

#[test]
fn pattern_violations_are_reported_with_construct_and_property_paths() {
    let (app, stack) = one_stack();
    let group = hyperpod_core::Construct::new(&stack, "Team");
    iam::CfnRole::new(
        &group,
        "Role",
        iam::RoleProps {
            role_name: Some("has spaces".into()),
            ..iam::RoleProps::new(json!({}))
        },
    );
    let found = problems(&app);
    let problem = found
        .iter()
        .find(|p| p.code == "property_pattern_mismatch")
        .unwrap_or_else(|| panic!("{found:?}"));
    assert_eq!(problem.path, "a/Main/Team/Role");
    assert!(
        problem
            .message
            .starts_with("property `RoleName` of AWS::IAM::Role: `has spaces` does not match"),
        "{}",
        problem.message
    );
}

#[test]
fn range_length_and_item_count_violations_are_reported() {
    let (app, stack) = one_stack();
    iam::CfnRole::new(
        &stack,
        "Role",
        iam::RoleProps {
            max_session_duration: Some(60.into()),
            description: Some("x".repeat(1001).into()),
            ..iam::RoleProps::new(json!({}))
        },
    );
    let too_many: Vec<iam::role::Tag> = (0..51)
        .map(|i| iam::role::Tag::new(format!("key-{i}"), "value"))
        .collect();
    iam::CfnRole::new(
        &stack,
        "Tagged",
        iam::RoleProps {
            tags: Some(too_many.into()),
            ..iam::RoleProps::new(json!({}))
        },
    );
    let codes: Vec<String> = problems(&app).into_iter().map(|p| p.code).collect();
    assert!(
        codes.contains(&"property_out_of_range".to_owned()),
        "{codes:?}"
    );
    assert!(codes.contains(&"property_too_long".to_owned()), "{codes:?}");
    assert!(
        codes.contains(&"property_too_many_items".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn raw_resources_of_known_types_get_the_schema_checks_enums_included() {
    let (app, stack) = one_stack();
    hyperpod_cfn::raw(
        &stack,
        "Logs",
        "AWS::Logs::LogGroup",
        json!({ "RetentionInDays": 90, "LogGroupClass": "CHEAP", "RetentionDays": 3 }),
    );
    hyperpod_cfn::raw(
        &stack,
        "Param",
        "AWS::SSM::Parameter",
        json!({ "Type": "String" }),
    );
    let found: Vec<(String, String)> = problems(&app)
        .into_iter()
        .map(|p| (p.code, p.message))
        .collect();
    let has = |code: &str, text: &str| found.iter().any(|(c, m)| c == code && m.contains(text));
    assert!(has("property_value_not_allowed", "`CHEAP`"), "{found:?}");
    assert!(
        has("property_unknown", "did you mean `RetentionInDays`?")
            || has("property_unknown", "RetentionDays"),
        "{found:?}"
    );
    assert!(has("property_required", "`Value`"), "{found:?}");
}

#[test]
fn overrides_on_typed_resources_are_checked_too() {
    let (app, stack) = one_stack();
    let logs = logs::CfnLogGroup::new(&stack, "Logs", logs::LogGroupProps::default());
    logs.add_property_override("RetentionInDays", Value::from("not-a-number"));
    assert!(
        problems(&app)
            .iter()
            .any(|p| p.code == "property_type_mismatch"),
        "{:?}",
        problems(&app)
    );
}

#[test]
fn typed_resources_inherit_tags_in_the_types_format() {
    let (app, stack) = one_stack();
    accept_security_findings(&app);
    hyperpod_core::Tags::of(&stack).add("team", "ml");
    ssm::CfnParameter::new(
        &stack,
        "Param",
        ssm::ParameterProps::new(ssm::parameter::Type::String, "v"),
    );
    s3::CfnBucket::new(&stack, "Bucket", s3::BucketProps::default());
    let json = template(&app, "a/Main");
    assert_eq!(
        json["Resources"]["Param"]["Properties"]["Tags"],
        json!({ "team": "ml" })
    );
    assert_eq!(
        json["Resources"]["Bucket"]["Properties"]["Tags"],
        json!([{ "Key": "team", "Value": "ml" }])
    );
}

#[test]
fn replacement_metadata_is_available_at_run_time() {
    let quota = hyperpod_cfn::spec("AWS::SageMaker::ComputeQuota").expect("sagemaker is enabled");
    assert!(quota.replaces_on_change("ClusterArn"));
    assert!(quota.replaces_on_change("ComputeQuotaTarget/TeamName"));
    assert!(!quota.replaces_on_change("ComputeQuotaTarget/FairShareWeight"));
    let bucket = hyperpod_cfn::spec("AWS::S3::Bucket").unwrap();
    assert!(bucket.replaces_on_change("BucketName"));
    assert_eq!(bucket.primary_identifier, ["BucketName"]);
    assert!(
        bucket
            .documentation
            .ends_with("aws-resource-s3-bucket.html")
    );
    assert!(hyperpod_cfn::spec("AWS::Nope::Thing").is_none());
    let (_app, stack) = one_stack();
    let role = iam::CfnRole::new(&stack, "Role", iam::RoleProps::new(json!({})));
    assert_eq!(role.spec().unwrap().type_name, "AWS::IAM::Role");
}

/// cfn-lint refused an apostrophe in a security group's description that synthesis had let
/// through: the schema's pattern holds a `[` inside a class, which ECMAScript reads as a
/// literal. The generator now rewrites such patterns instead of dropping them.
#[test]
fn ecmascript_patterns_with_a_literal_bracket_are_checked() {
    let (app, stack) = one_stack();
    ec2::CfnSecurityGroup::new(
        &stack,
        "Group",
        ec2::SecurityGroupProps::new("the cluster's nodes"),
    );
    ec2::CfnSecurityGroup::new(
        &stack,
        "Fine",
        ec2::SecurityGroupProps::new("nodes [all] (x)"),
    );
    let found: Vec<(String, String)> = problems(&app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect();
    assert_eq!(
        found,
        [(
            "a/Main/Group".to_owned(),
            "property_pattern_mismatch".to_owned()
        )]
    );
}

/// Patterns with lookaround (ECMAScript) are checked too.
#[test]
fn patterns_with_lookaround_are_checked() {
    let (app, stack) = one_stack();
    let tags = vec![
        cloudformation::stack_set::Tag::new("aws:reserved", "v"),
        cloudformation::stack_set::Tag::new("team", "ml"),
    ];
    cloudformation::CfnStackSet::new(
        &stack,
        "Set",
        cloudformation::StackSetProps {
            tags: Some(tags.into()),
            ..cloudformation::StackSetProps::new(
                cloudformation::stack_set::PermissionModel::SelfManaged,
                "platform",
            )
        },
    );
    let found = problems(&app);
    let mismatches: Vec<&str> = found
        .iter()
        .filter(|p| p.code == "property_pattern_mismatch")
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(mismatches.len(), 1, "{found:?}");
    assert!(
        mismatches[0].starts_with("property `Tags[0].Key`"),
        "{}",
        mismatches[0]
    );
}
