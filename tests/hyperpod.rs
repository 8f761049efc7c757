//! The HyperPod constructs: the resources, policies and ordering the reference requires,
//! and a clear error for every bad input.

use std::path::PathBuf;

use hyperpod::{
    ComputeQuota, CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, ExistingNetwork,
    HelmDependencies, HyperPodEksCluster, HyperPodEksClusterProps, HyperPodNetwork, InstanceGroup,
    NamespaceAccess, NetworkProps, QuotaInstanceType, SchedulerProps, SharingStrategy,
    TeamDataAccess, TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::assertions::{Match, Template};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
use serde_json::json;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

/// A three-account app with the stacks the constructs place resources into.
struct Fixture {
    app: App,
    assets: Stack,
    cluster: Stack,
    scientists: Stack,
    data: Stack,
}

fn fixture() -> Fixture {
    let app = App::new("test");
    let a = Stage::new(&app, "a", Environment::new(A, "us-east-1"));
    let b = Stage::new(&app, "b", Environment::new(B, "us-east-1"));
    let c = Stage::new(&app, "c", Environment::new(C, "us-east-1"));
    let stack = |stage: &Stage, id: &str| {
        let stack = Stack::new(stage, id, StackProps::default());
        // Every template needs a resource, whichever constructs a test leaves out.
        hyperpod_cfn::cloudformation::CfnWaitConditionHandle::new(
            &stack,
            "Placeholder",
            Default::default(),
        );
        stack
    };
    Fixture {
        assets: stack(&a, "Assets"),
        cluster: stack(&a, "Cluster"),
        scientists: stack(&b, "Scientists"),
        data: stack(&c, "Data"),
        app,
    }
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../apps/hyperpod-platform/lifecycle-scripts")
}

fn cluster_props(f: &Fixture) -> HyperPodEksClusterProps {
    let network = HyperPodNetwork::new(&f.cluster, "Network", NetworkProps::default());
    HyperPodEksClusterProps::new(
        "ml-cluster",
        network.refs().clone(),
        vec![InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 2)],
        scripts(),
        f.assets.clone(),
    )
}

fn cluster(f: &Fixture) -> HyperPodEksCluster {
    HyperPodEksCluster::new(&f.cluster, "HyperPod", cluster_props(f))
}

fn team_props(f: &Fixture, cluster: &HyperPodEksCluster, name: &str) -> TeamNamespaceProps {
    TeamNamespaceProps {
        team_name: name.into(),
        cluster: cluster.clone(),
        quota: ComputeQuota {
            fair_share_weight: 30,
            ..ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 2)])
        },
        data_scientist_stack: f.scientists.clone(),
        access: NamespaceAccess::EditPolicy,
    }
}

fn data_props(f: &Fixture, cluster: &HyperPodEksCluster) -> CrossAccountDataAccessProps {
    CrossAccountDataAccessProps {
        eks_cluster_name: cluster.eks_cluster_name(),
        data_stack: f.data.clone(),
        bucket: DataBucket::Create {
            bucket_name: None,
            kms: false,
        },
        teams: vec![TeamDataAccess {
            prefix: Some("datasets/ml-research/".into()),
            ..TeamDataAccess::read_only("ml-research", "training")
        }],
    }
}

/// The `(path, code)` pairs synthesis reports.
fn problems(app: &App) -> Vec<(String, String)> {
    crate::support::problems(app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect()
}

fn assert_problem(app: &App, path: &str, code: &str) {
    let found = problems(app);
    assert!(
        found.contains(&(path.to_owned(), code.to_owned())),
        "expected {code} at {path}, found {found:#?}"
    );
}

fn dependencies(app: &App, stack: &str) -> Vec<String> {
    app.synth()
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest
        .stacks
        .into_iter()
        .find(|s| s.id == stack)
        .unwrap()
        .dependencies
}

#[test]
fn the_network_spans_two_zones_with_nat_an_s3_endpoint_and_a_self_referencing_group() {
    let f = fixture();
    HyperPodNetwork::new(
        &f.cluster,
        "Network",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::default()
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.resource_count_is("AWS::EC2::Subnet", 4);
    template.resource_count_is("AWS::EC2::NatGateway", 2);
    template.has_resource_properties("AWS::EC2::Subnet", json!({ "CidrBlock": "10.192.64.0/18", "AvailabilityZone": { "Fn::Select": [1, { "Fn::GetAZs": "" }] } }));
    template.has_resource_properties("AWS::EC2::VPCEndpoint", json!({ "VpcEndpointType": "Gateway", "ServiceName": { "Fn::Sub": "com.amazonaws.${AWS::Region}.s3" } }));
    let group = json!({ "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] });
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        json!({ "IpProtocol": "-1", "GroupId": group, "SourceSecurityGroupId": group }),
    );
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress",
        json!({ "IpProtocol": "-1", "GroupId": group, "DestinationSecurityGroupId": group }),
    );
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        json!({ "IpProtocol": "tcp", "FromPort": 988, "ToPort": 988 }),
    );
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        json!({ "IpProtocol": "tcp", "FromPort": 1018, "ToPort": 1023 }),
    );
}

#[test]
fn bad_network_inputs_are_reported() {
    let f = fixture();
    HyperPodNetwork::new(
        &f.cluster,
        "Wide",
        NetworkProps {
            vpc_cidr: "10.0.0.0/8".into(),
            ..NetworkProps::default()
        },
    );
    HyperPodNetwork::new(
        &f.cluster,
        "Garbled",
        NetworkProps {
            vpc_cidr: "10.0.0.1/16".into(),
            ..NetworkProps::default()
        },
    );
    HyperPodNetwork::new(
        &f.cluster,
        "OneZone",
        NetworkProps {
            availability_zone_count: 1,
            ..NetworkProps::default()
        },
    );
    HyperPodNetwork::new(
        &f.cluster,
        "Zones",
        NetworkProps {
            availability_zones: vec!["us-east-1a".into(), "us-east-1a".into(), "nowhere".into()],
            ..NetworkProps::default()
        },
    );
    HyperPodNetwork::existing(
        &f.cluster,
        "Existing",
        ExistingNetwork {
            vpc_id: "vpc-1".into(),
            vpc_cidrs: vec![],
            private_subnet_ids: vec!["subnet-0123456789abcdef0".into()],
            private_subnet_zones: vec![],
            security_group_id: "sg-0123456789abcdef0".into(),
        },
    );
    for (path, code) in [
        ("a/Cluster/Wide", "invalid_vpc_cidr"),
        ("a/Cluster/Garbled", "invalid_vpc_cidr"),
        ("a/Cluster/OneZone", "invalid_availability_zone_count"),
        ("a/Cluster/Zones", "duplicate_availability_zone"),
        ("a/Cluster/Zones", "invalid_availability_zone"),
        ("a/Cluster/Existing", "invalid_resource_id"),
        ("a/Cluster/Existing", "too_few_subnets"),
        ("a/Cluster/Existing", "missing_vpc_cidr"),
        ("a/Cluster/Existing", "subnet_zones_mismatch"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn the_eks_cluster_has_explicit_authentication_all_logs_and_the_add_ons() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            vpc_cni_version: Some("v1.19.2-eksbuild.1".into()),
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        json!({
            "Name": "ml-cluster",
            "Version": "1.31",
            "AccessConfig": { "AuthenticationMode": "API" },
            "Logging": { "ClusterLogging": { "EnabledTypes": [{ "Type": "api" }, { "Type": "audit" }, { "Type": "authenticator" }, { "Type": "controllerManager" }, { "Type": "scheduler" }] } },
        }),
    );
    for addon in [
        "vpc-cni",
        "kube-proxy",
        "coredns",
        "eks-pod-identity-agent",
        "amazon-sagemaker-hyperpod-taskgovernance",
    ] {
        template.has_resource_properties(
            "AWS::EKS::Addon",
            json!({ "AddonName": addon, "ResolveConflicts": "OVERWRITE" }),
        );
    }
    template.has_resource_properties(
        "AWS::EKS::Addon",
        json!({ "AddonName": "vpc-cni", "AddonVersion": "v1.19.2-eksbuild.1" }),
    );
}

#[test]
fn the_hyperpod_cluster_follows_the_documented_order() {
    let f = fixture();
    let cluster = HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            helm: HelmDependencies::CustomResource {
                service_token: "arn:aws:lambda:us-east-1:111111111111:function:helm".into(),
            },
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource(
        "AWS::SageMaker::Cluster",
        Match::object_like([(
            "DependsOn",
            Match::array_with([
                json!("HyperPodVpcCni").into(),
                json!("HyperPodPodIdentityAgent").into(),
                json!("HyperPodHelmDependencies").into(),
            ]),
        )]),
    );
    template.has_resource(
        "AWS::CloudFormation::CustomResource",
        Match::object_like([(
            "DependsOn",
            Match::array_with([json!("HyperPodVpcCni").into()]),
        )]),
    );
    template.has_resource("AWS::EKS::Addon", json!({ "Properties": { "AddonName": "amazon-sagemaker-hyperpod-taskgovernance" }, "DependsOn": ["HyperPodCluster"] }));
    template.has_resource("AWS::SageMaker::ClusterSchedulerConfig", json!({ "DependsOn": ["HyperPodTaskGovernance"], "Properties": { "ClusterArn": { "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] } } }));
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "NodeRecovery": "Automatic", "NodeProvisioningMode": "Continuous", "Orchestrator": { "Eks": { "ClusterArn": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] } } }, "VpcConfig": { "Subnets": [{ "Ref": "NetworkPrivate1" }, { "Ref": "NetworkPrivate2" }] } }),
    );
    let group = Match::object_like([
        ("InstanceGroupName", json!("gpu-workers").into()),
        ("InstanceType", json!("ml.g5.8xlarge").into()),
        ("InstanceCount", json!(2).into()),
        ("ThreadsPerCore", json!(1).into()),
        (
            "OnStartDeepHealthChecks",
            json!(["InstanceStress", "InstanceConnectivity"]).into(),
        ),
        (
            "InstanceStorageConfigs",
            json!([{ "EbsVolumeConfig": { "VolumeSizeInGB": 500 } }]).into(),
        ),
        (
            "LifeCycleConfig",
            Match::object_like([
                ("OnCreate", json!("on_create.sh").into()),
                (
                    "SourceS3Uri",
                    Match::string_like_regexp(
                        "^s3://sagemaker-ml-cluster-lcs-111111111111-us-east-1/lifecycle/[0-9a-f]{64}/$",
                    ),
                ),
            ]),
        ),
    ]);
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([("InstanceGroups", Match::array_with([group]))]),
    );
    assert!(cluster.scheduler_config().is_some());
}

#[test]
fn the_lifecycle_bucket_is_named_for_sagemaker_private_tls_only_retained_and_deployed_first() {
    let f = fixture();
    cluster(&f);
    let assets = Template::from_stack(&f.assets);
    assets.has_resource(
        "AWS::S3::Bucket",
        json!({
            "Properties": {
                "BucketName": "sagemaker-ml-cluster-lcs-111111111111-us-east-1",
                "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }] },
                "PublicAccessBlockConfiguration": { "BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true },
            },
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        }),
    );
    assets.has_resource_properties("AWS::S3::BucketPolicy", json!({ "PolicyDocument": { "Statement": [{ "Effect": "Deny", "Condition": { "Bool": { "aws:SecureTransport": "false" } } }] } }));
    let manifest = f.app.synth().unwrap().manifest;
    let stack = manifest
        .stacks
        .iter()
        .find(|s| s.id == "a/Cluster")
        .unwrap();
    assert!(stack.dependencies.contains(&"a/Assets".to_owned()));
    assert_eq!(
        stack.assets[0].bucket_name,
        "sagemaker-ml-cluster-lcs-111111111111-us-east-1"
    );
    assert_eq!(stack.assets[0].files, ["on_create.sh", "on_create_main.sh"]);
}

#[test]
fn the_execution_role_has_the_documented_policies() {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    let roles = template.find_resources("AWS::IAM::Role", json!({ "Properties": { "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "sagemaker.amazonaws.com" } }] } } }));
    assert_eq!(roles.len(), 1);
    let role = roles.values().next().unwrap();
    let managed = role["Properties"]["ManagedPolicyArns"].to_string();
    assert!(
        managed.contains("AmazonSageMakerClusterInstanceRolePolicy")
            && managed.contains("AmazonEKS_CNI_Policy"),
        "{managed}"
    );
    let inline = role["Properties"]["Policies"].to_string();
    for action in [
        "eks-auth:AssumeRoleForPodIdentity",
        "ec2:CreateNetworkInterface",
        "ecr:BatchGetImage",
        "cloudwatch:DescribeAlarms",
        "s3:GetObject",
    ] {
        assert!(inline.contains(action), "{action} missing from {inline}");
    }
}

#[test]
fn an_admin_principal_gets_a_cluster_scoped_access_entry() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            admin_principal_arn: Some("arn:aws:iam::111111111111:role/platform-admin".into()),
            ..cluster_props(&f)
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::AccessEntry",
        json!({ "PrincipalArn": "arn:aws:iam::111111111111:role/platform-admin", "AccessPolicies": [{ "AccessScope": { "Type": "cluster" }, "PolicyArn": { "Fn::Sub": "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" } }] }),
    );
}

#[test]
fn bad_cluster_inputs_are_reported() {
    let f = fixture();
    let mut bad_group = InstanceGroup::new("gpu workers", "g5.8xlarge", 7000);
    bad_group.threads_per_core = 3;
    bad_group.ebs_volume_gb = Some(0);
    let elsewhere = Stack::new(
        &Stage::new(&f.app, "elsewhere", Environment::new(B, "eu-west-1")),
        "Assets",
        StackProps::default(),
    );
    HyperPodEksCluster::new(
        &f.cluster,
        "Bad",
        HyperPodEksClusterProps {
            kubernetes_version: "1.27".into(),
            vpc_cni_version: Some("v1.18.2-eksbuild.1".into()),
            instance_groups: vec![
                bad_group,
                InstanceGroup::new("dup", "ml.g5.8xlarge", 1),
                InstanceGroup::new("dup", "ml.g5.8xlarge", 1),
            ],
            task_governance: Some(SchedulerProps {
                priority_classes: (0..11).map(|i| (format!("Class{i}"), 101)).collect(),
                ..SchedulerProps::default()
            }),
            lifecycle_scripts: PathBuf::from("/nonexistent/lifecycle-scripts"),
            lifecycle_bucket_stack: elsewhere,
            ..cluster_props(&f)
        },
    );
    HyperPodEksCluster::new(
        &f.cluster,
        "OldForGovernance",
        HyperPodEksClusterProps {
            cluster_name: "-bad-".into(),
            kubernetes_version: "1.29".into(),
            vpc_cni_version: Some("latest".into()),
            instance_groups: vec![],
            ..cluster_props(&f)
        },
    );
    for (path, code) in [
        ("a/Cluster/Bad", "unsupported_kubernetes_version"),
        ("a/Cluster/Bad", "vpc_cni_too_old"),
        ("a/Cluster/Bad", "invalid_instance_group_name"),
        ("a/Cluster/Bad", "invalid_instance_type"),
        ("a/Cluster/Bad", "instance_count_too_large"),
        ("a/Cluster/Bad", "invalid_threads_per_core"),
        ("a/Cluster/Bad", "invalid_volume_size"),
        ("a/Cluster/Bad", "duplicate_instance_group"),
        ("a/Cluster/Bad", "too_many_priority_classes"),
        ("a/Cluster/Bad", "invalid_priority_class"),
        ("a/Cluster/Bad", "invalid_priority_weight"),
        ("a/Cluster/Bad", "lifecycle_bucket_in_other_environment"),
        ("a/Cluster/BadLifecycleScripts", "asset_unreadable"),
        ("a/Cluster/OldForGovernance", "invalid_cluster_name"),
        (
            "a/Cluster/OldForGovernance",
            "task_governance_needs_newer_kubernetes",
        ),
        ("a/Cluster/OldForGovernance", "invalid_addon_version"),
        ("a/Cluster/OldForGovernance", "no_instance_groups"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn a_team_gets_a_quota_a_scoped_access_entry_and_roles_that_trust_exactly_each_other() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = TeamNamespace::new(
        &f.cluster,
        "MlResearch",
        team_props(&f, &cluster, "ml-research"),
    );
    assert_eq!(
        team.namespace().as_literal(),
        Some("hyperpod-ns-ml-research")
    );
    let a = Template::from_stack(&f.cluster);
    a.has_resource(
        "AWS::SageMaker::ComputeQuota",
        json!({
            "DependsOn": ["HyperPodSchedulerConfig"],
            "Properties": {
                "ClusterArn": { "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] },
                "ComputeQuotaTarget": { "TeamName": "ml-research", "FairShareWeight": 30 },
                "ComputeQuotaConfig": { "ComputeQuotaResources": [{ "InstanceType": "ml.g5.8xlarge", "Count": 2 }], "ResourceSharingConfig": { "Strategy": "LendAndBorrow", "BorrowLimit": 50 }, "PreemptTeamTasks": "LowerPriority" },
            },
        }),
    );
    a.has_resource(
        "AWS::EKS::AccessEntry",
        json!({
            "DependsOn": ["MlResearchComputeQuota"],
            "Properties": { "Type": "STANDARD", "PrincipalArn": { "Fn::GetAtt": ["MlResearchClusterAccessRole", "Arn"] }, "AccessPolicies": [{ "AccessScope": { "Type": "namespace", "Namespaces": ["hyperpod-ns-ml-research"] }, "PolicyArn": { "Fn::Sub": "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy" } }] },
        }),
    );
    a.has_resource_properties(
        "AWS::IAM::Role",
        json!({
            "RoleName": "ml-research-cluster-access",
            "AssumeRolePolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": B, "name": "ml-research-data-scientist" }] } } }] },
        }),
    );
    let b = Template::from_stack(&f.scientists);
    b.resource_count_is("AWS::IAM::Role", 1);
    b.has_resource_properties(
        "AWS::IAM::Role",
        json!({
            "RoleName": "ml-research-data-scientist",
            "Policies": [{ "PolicyDocument": { "Statement": [{ "Action": "sts:AssumeRole", "Resource": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": A, "name": "ml-research-cluster-access" }] } }] } }],
        }),
    );
    assert!(
        dependencies(&f.app, "a/Cluster").contains(&"b/Scientists".to_owned()),
        "B deploys before A"
    );
}

#[test]
fn a_team_can_use_kubernetes_groups_instead_of_the_edit_policy() {
    let f = fixture();
    let cluster = cluster(&f);
    TeamNamespace::new(
        &f.cluster,
        "Team",
        TeamNamespaceProps {
            access: NamespaceAccess::KubernetesGroups(vec![
                "hyperpod-ns-vision-namespace-level-group".into(),
            ]),
            ..team_props(&f, &cluster, "vision")
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::AccessEntry",
        Match::object_like([
            (
                "KubernetesGroups",
                json!(["hyperpod-ns-vision-namespace-level-group"]).into(),
            ),
            ("AccessPolicies", Match::absent()),
        ]),
    );
}

#[test]
fn bad_team_inputs_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    let without_governance = HyperPodEksCluster::new(
        &f.cluster,
        "NoGovernance",
        HyperPodEksClusterProps {
            cluster_name: "other".into(),
            task_governance: None,
            ..cluster_props(&f)
        },
    );
    TeamNamespace::new(&f.cluster, "Upper", team_props(&f, &cluster, "ML-Research"));
    TeamNamespace::new(
        &f.cluster,
        "Long",
        team_props(&f, &cluster, &"a".repeat(41)),
    );
    TeamNamespace::new(&f.cluster, "Hyphen", team_props(&f, &cluster, "team-"));
    TeamNamespace::new(
        &f.cluster,
        "NoGov",
        team_props(&f, &without_governance, "nogov"),
    );
    TeamNamespace::new(
        &f.cluster,
        "Quota",
        TeamNamespaceProps {
            quota: ComputeQuota {
                fair_share_weight: 101,
                borrow_limit: Some(600),
                sharing: SharingStrategy::Lend,
                ..ComputeQuota::new(vec![])
            },
            ..team_props(&f, &cluster, "quota")
        },
    );
    TeamNamespace::new(
        &f.cluster,
        "Groups",
        TeamNamespaceProps {
            access: NamespaceAccess::KubernetesGroups(vec![]),
            data_scientist_stack: f.assets.clone(),
            ..team_props(&f, &cluster, "groups")
        },
    );
    for (path, code) in [
        ("a/Cluster/Upper", "invalid_team_name"),
        ("a/Cluster/Long", "invalid_team_name"),
        ("a/Cluster/Hyphen", "invalid_team_name"),
        ("a/Cluster/NoGov", "task_governance_off"),
        ("a/Cluster/Quota", "invalid_quota_instances"),
        ("a/Cluster/Quota", "invalid_fair_share_weight"),
        ("a/Cluster/Quota", "invalid_borrow_limit"),
        ("a/Cluster/Quota", "borrow_limit_without_borrowing"),
        ("a/Cluster/Groups", "no_kubernetes_groups"),
        ("a/Cluster/Groups", "data_scientists_in_cluster_account"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn data_access_delegates_to_one_access_point_per_team_granting_only_its_pod_role() {
    let f = fixture();
    let cluster = cluster(&f);
    let access = CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &cluster));
    assert!(access.pod_role("ml-research").is_some());
    let a = Template::from_stack(&f.cluster);
    a.has_resource_properties(
        "AWS::IAM::Role",
        json!({ "RoleName": "ml-research-data-access", "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "pods.eks.amazonaws.com" }, "Action": ["sts:AssumeRole", "sts:TagSession"] }] } }),
    );
    a.has_resource_properties("AWS::EKS::PodIdentityAssociation", json!({ "Namespace": "hyperpod-ns-ml-research", "ServiceAccount": "training", "ClusterName": { "Ref": "HyperPodEksCluster" } }));
    let c = Template::from_stack(&f.data);
    c.has_resource(
        "AWS::S3::Bucket",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "VersioningConfiguration": { "Status": "Enabled" }, "PublicAccessBlockConfiguration": { "BlockPublicPolicy": true } } }),
    );
    c.has_resource_properties(
        "AWS::S3::BucketPolicy",
        Match::object_like([(
            "PolicyDocument",
            Match::object_like([("Statement", Match::array_with([json!({ "Sid": "DelegateToAccessPoints", "Principal": "*", "Condition": { "StringEquals": { "s3:DataAccessPointAccount": C } } }).into()]))]),
        )]),
    );
    c.has_resource_properties(
        "AWS::S3::AccessPoint",
        json!({
            "Name": "ml-research-data",
            "Policy": { "Statement": [
                { "Sid": "Objects", "Action": "s3:GetObject", "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": A, "name": "ml-research-data-access" }] } } },
                { "Sid": "List", "Action": "s3:ListBucket", "Condition": { "StringLike": { "s3:prefix": "datasets/ml-research/*" } } },
            ] },
        }),
    );
    assert!(
        dependencies(&f.app, "c/Data").contains(&"a/Cluster".to_owned()),
        "A deploys before C"
    );
}

#[test]
fn write_access_and_kms_encryption_are_granted_when_asked() {
    let f = fixture();
    let cluster = cluster(&f);
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            bucket: DataBucket::Create {
                bucket_name: Some("training-data-333333333333".into()),
                kms: true,
            },
            teams: vec![TeamDataAccess {
                write: true,
                ..TeamDataAccess::read_only("vision", "trainer")
            }],
            ..data_props(&f, &cluster)
        },
    );
    let a = Template::from_stack(&f.cluster);
    let role = a.find_resources(
        "AWS::IAM::Role",
        json!({ "Properties": { "RoleName": "vision-data-access" } }),
    );
    let policy = role.values().next().unwrap()["Properties"]["Policies"].to_string();
    assert!(
        policy.contains("s3:PutObject")
            && policy.contains("kms:Decrypt")
            && policy.contains("kms:ViaService"),
        "{policy}"
    );
    let c = Template::from_stack(&f.data);
    c.has_resource(
        "AWS::KMS::Key",
        json!({ "DeletionPolicy": "Retain", "Properties": { "EnableKeyRotation": true } }),
    );
    c.has_resource_properties("AWS::S3::Bucket", json!({ "BucketName": "training-data-333333333333", "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" }, "BucketKeyEnabled": true }] } }));
}

#[test]
fn bad_data_access_inputs_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    CrossAccountDataAccess::new(
        &f.cluster,
        "Empty",
        CrossAccountDataAccessProps {
            teams: vec![],
            ..data_props(&f, &cluster)
        },
    );
    CrossAccountDataAccess::new(
        &f.cluster,
        "Bad",
        CrossAccountDataAccessProps {
            bucket: DataBucket::Existing {
                bucket_name: "Not_A_Bucket".into(),
                kms_encrypted: true,
            },
            teams: vec![
                TeamDataAccess {
                    prefix: Some("/data/*".into()),
                    ..TeamDataAccess::read_only("dup", "Bad SA")
                },
                TeamDataAccess::read_only("dup", "ok"),
            ],
            data_stack: f.assets.clone(),
            ..data_props(&f, &cluster)
        },
    );
    for (path, code) in [
        ("a/Cluster/Empty", "no_teams"),
        ("a/Cluster/Bad", "kms_bucket_not_managed"),
        ("a/Cluster/Bad", "invalid_bucket_name"),
        ("a/Cluster/Bad", "duplicate_team"),
        ("a/Cluster/Bad", "invalid_service_account"),
        ("a/Cluster/Bad", "invalid_prefix"),
        ("a/Cluster/Bad", "data_in_cluster_account"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn the_platform_app_deploys_b_then_a_then_c() {
    let manifest = hyperpod_platform::app().synth().unwrap().manifest;
    let order = |id: &str| {
        manifest
            .stacks
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .dependencies
            .clone()
    };
    assert!(order("cluster/Cluster").contains(&"science/DataScientists".to_owned()));
    assert!(order("cluster/Cluster").contains(&"cluster/ClusterAssets".to_owned()));
    assert_eq!(order("data/TrainingData"), ["cluster/Cluster"]);
    assert!(order("science/DataScientists").is_empty());
}

#[test]
fn a_cluster_name_too_long_for_the_lifecycle_bucket_or_without_subnets_is_reported() {
    let f = fixture();
    let props = cluster_props(&f);
    let no_subnets = hyperpod::NetworkRefs {
        private_subnet_ids: vec![],
        ..props.network.clone()
    };
    HyperPodEksCluster::new(
        &f.cluster,
        "Long",
        HyperPodEksClusterProps {
            cluster_name: "a-very-long-cluster-name-for-a-bucket".into(),
            network: no_subnets,
            ..props
        },
    );
    assert_problem(&f.app, "a/Cluster/Long", "lifecycle_bucket_name_too_long");
    assert_problem(&f.app, "a/Cluster/Long", "no_subnets");
}

#[test]
fn the_helm_installer_is_built_from_a_layer_and_waits_for_its_access_entry() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            helm: HelmDependencies::Lambda {
                kubectl_helm_layer_arn:
                    "arn:aws:lambda:us-east-1:111111111111:layer:kubectl-helm:3".into(),
            },
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource(
        "AWS::Lambda::Function",
        json!({ "DependsOn": ["HyperPodHelmInstallerAccess"], "Properties": { "Runtime": "python3.12", "Timeout": 600, "Layers": ["arn:aws:lambda:us-east-1:111111111111:layer:kubectl-helm:3"], "Role": { "Fn::GetAtt": ["HyperPodHelmInstallerRole", "Arn"] } } }),
    );
    template.has_resource_properties("AWS::EKS::AccessEntry", json!({ "PrincipalArn": { "Fn::GetAtt": ["HyperPodHelmInstallerRole", "Arn"] }, "AccessPolicies": [{ "AccessScope": { "Type": "cluster" } }] }));
    template.has_resource_properties(
        "AWS::CloudFormation::CustomResource",
        json!({ "ServiceToken": { "Fn::GetAtt": ["HyperPodHelmInstaller", "Arn"] }, "Namespace": "kube-system", "ReleaseName": "hyperpod-dependencies", "ChartPath": "helm_chart/HyperPodHelmChart" }),
    );
    template.has_resource(
        "AWS::SageMaker::Cluster",
        Match::object_like([(
            "DependsOn",
            Match::array_with([json!("HyperPodHelmDependencies").into()]),
        )]),
    );

    let Some(cfn_lint) = tests::cfn_lint() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let folder = f.app.synth().unwrap().write_to(out.path()).unwrap();
    if let Some(report) = tests::lint(&cfn_lint, &[folder.join("a/Cluster.template.json")]) {
        panic!("cfn-lint found errors or warnings:\n{report}");
    }
    // The installer's code is Python run by Lambda: it must at least compile.
    let python = cfn_lint.with_file_name("python3");
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../constructs/hyperpod/src/helm/installer.py");
    let compiled = std::process::Command::new(python)
        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
        .arg(source)
        .status()
        .unwrap();
    assert!(compiled.success(), "installer.py does not parse");
}
