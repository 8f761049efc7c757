//! The HyperPod network and EKS cluster: placement by Availability Zone ID, the Helm chart
//! installed in the same deploy, the installer, the documented order and defaults, and a
//! clear error for every bad input. Teams and data access are in `teams.rs`, the add-ons in
//! `addons.rs`.

use std::path::PathBuf;

use hyperpod::{
    ChartComponents, DeepHealthCheck, EksControlPlane, EndpointAccess, ExistingNetwork,
    HYPERPOD_CHART_REVISION, HelmDependencies, HyperPodChart, HyperPodEksCluster,
    HyperPodEksClusterProps, HyperPodNetwork, InstallerLayer, InstanceGroup, NetworkProps,
    NewEksCluster, SchedulerProps, SecretsKey,
};
use hyperpod_core::assertions::{Match, Template};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
use serde_json::json;

pub(crate) const A: &str = "111111111111";
pub(crate) const B: &str = "222222222222";
pub(crate) const C: &str = "333333333333";
pub(crate) const ZONES: &[&str] = &["use1-az2", "use1-az4"];

/// A three-account app with the stacks the constructs place resources into.
pub(crate) struct Fixture {
    pub(crate) app: App,
    pub(crate) assets: Stack,
    pub(crate) cluster: Stack,
    pub(crate) scientists: Stack,
    pub(crate) data: Stack,
}

pub(crate) fn fixture() -> Fixture {
    fixture_in("us-east-1")
}

pub(crate) fn fixture_in(region: &str) -> Fixture {
    let app = App::new("test");
    let a = Stage::new(&app, "a", Environment::new(A, region));
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

pub(crate) fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../apps/hyperpod-platform/lifecycle-scripts")
}

pub(crate) fn network(f: &Fixture) -> HyperPodNetwork {
    HyperPodNetwork::new(&f.cluster, "Network", NetworkProps::new(ZONES))
}

pub(crate) fn cluster_props(f: &Fixture) -> HyperPodEksClusterProps {
    HyperPodEksClusterProps::new(
        "ml-cluster",
        network(f).refs().clone(),
        vec![
            InstanceGroup::new("system", "ml.m5.2xlarge", 1),
            InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 4),
        ],
        scripts(),
        f.assets.clone(),
    )
}

pub(crate) fn cluster(f: &Fixture) -> HyperPodEksCluster {
    HyperPodEksCluster::new(&f.cluster, "HyperPod", cluster_props(f))
}

/// Who may become a team's data scientist in the tests: an IAM Identity Center
/// permission set.
pub(crate) fn members() -> hyperpod::TeamMembers {
    hyperpod::TeamMembers::PermissionSet("Scientists".into())
}

/// The `(path, code)` pairs synthesis reports.
pub(crate) fn problems(app: &App) -> Vec<(String, String)> {
    crate::support::problems(app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect()
}

pub(crate) fn assert_problem(app: &App, path: &str, code: &str) {
    let found = problems(app);
    assert!(
        found.contains(&(path.to_owned(), code.to_owned())),
        "expected {code} at {path}, found {found:#?}"
    );
}

/// The message of the problem with `code`.
pub(crate) fn message(app: &App, code: &str) -> String {
    crate::support::problem(app, code).message
}

pub(crate) fn dependencies(app: &App, stack: &str) -> Vec<String> {
    app.synth()
        .unwrap_or_else(|e| panic!("{e}"))
        .manifest
        .stacks
        .into_iter()
        .find(|s| s.id == stack)
        .unwrap()
        .dependencies
}

/// The parsed JSON of a custom resource property that travels as a JSON string; its
/// references appear as `${vN}` placeholders of an `Fn::Sub`.
pub(crate) fn json_property(value: &serde_json::Value) -> serde_json::Value {
    let text = match value {
        serde_json::Value::String(text) => text.clone(),
        other => other["Fn::Sub"][0].as_str().unwrap().replace("${!", "${"),
    };
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_network_places_every_subnet_by_zone_id_with_node_blocks_nat_per_zone_and_tagged_control_plane_subnets()
 {
    let f = fixture();
    HyperPodNetwork::new(
        &f.cluster,
        "Network",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::new(ZONES)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.resource_count_is("AWS::EC2::Subnet", 6);
    template.resource_count_is("AWS::EC2::NatGateway", 2);
    template.resource_count_is("AWS::EC2::VPCCidrBlock", 2);
    template.has_resource_properties(
        "AWS::EC2::VPCCidrBlock",
        json!({ "CidrBlock": "10.2.0.0/16" }),
    );
    template.has_resource(
        "AWS::EC2::Subnet",
        json!({ "DependsOn": ["NetworkNodes2Block"], "Properties": { "CidrBlock": "10.2.0.0/16", "AvailabilityZoneId": "use1-az4" } }),
    );
    template.has_resource_properties(
        "AWS::EC2::Subnet",
        json!({ "CidrBlock": "10.192.16.0/24", "AvailabilityZoneId": "use1-az2", "Tags": [{ "Key": "kubernetes.io/role/internal-elb", "Value": "1" }] }),
    );
    template.has_resource_properties(
        "AWS::EC2::Subnet",
        json!({ "CidrBlock": "10.192.32.0/24", "AvailabilityZoneId": "use1-az4", "Tags": [{ "Key": "kubernetes.io/role/elb", "Value": "1" }] }),
    );
    for subnet in template
        .find_resources("AWS::EC2::Subnet", json!({}))
        .values()
    {
        assert!(
            subnet["Properties"].get("AvailabilityZone").is_none(),
            "placed by name: {subnet}"
        );
    }
    // Each zone's nodes leave through the NAT gateway of their own zone.
    template.has_resource_properties(
        "AWS::EC2::Route",
        json!({ "RouteTableId": { "Ref": "NetworkNodes2Routes" }, "NatGatewayId": { "Ref": "NetworkNat2" } }),
    );
    template.has_resource_properties("AWS::EC2::VPCEndpoint", json!({ "VpcEndpointType": "Gateway", "ServiceName": { "Fn::Sub": "com.amazonaws.${AWS::Region}.s3" }, "RouteTableIds": [{ "Ref": "NetworkNodes1Routes" }, { "Ref": "NetworkNodes2Routes" }] }));
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
        json!({ "IpProtocol": "tcp", "FromPort": 1018, "ToPort": 1023 }),
    );
    for output in [
        "NetworkVpcId",
        "NetworkNodeSubnetIds",
        "NetworkControlPlaneSubnetIds",
        "NetworkSecurityGroupId",
    ] {
        template.has_output(output, json!({}));
    }
}

#[test]
fn the_network_records_its_flows_in_a_retained_log_group_for_a_year() {
    let f = fixture();
    network(&f);
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::EC2::FlowLog",
        json!({
            "ResourceType": "VPC",
            "ResourceId": { "Ref": "NetworkVpc" },
            "TrafficType": "ALL",
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": { "Ref": "NetworkFlowLogs" },
            "DeliverLogsPermissionArn": { "Fn::GetAtt": ["NetworkFlowLogsRole", "Arn"] },
        }),
    );
    template.has_resource(
        "AWS::Logs::LogGroup",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "RetentionInDays": 365 } }),
    );
    template.has_resource_properties(
        "AWS::IAM::Role",
        json!({ "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "vpc-flow-logs.amazonaws.com" }, "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } } }] } }),
    );
}

#[test]
fn bad_network_inputs_are_reported() {
    let f = fixture();
    let with = |id: &str, props: NetworkProps| {
        HyperPodNetwork::new(&f.cluster, id, props);
    };
    with(
        "Wide",
        NetworkProps {
            vpc_cidr: "10.0.0.0/8".into(),
            ..NetworkProps::new(ZONES)
        },
    );
    with(
        "Garbled",
        NetworkProps {
            vpc_cidr: "10.0.0.1/16".into(),
            ..NetworkProps::new(ZONES)
        },
    );
    with("OneZone", NetworkProps::new(&["use1-az2"]));
    with("Names", NetworkProps::new(&["us-east-1a", "us-east-1b"]));
    with("OtherRegion", NetworkProps::new(&["use1-az2", "euw1-az1"]));
    with("NoSuchZone", NetworkProps::new(&["use1-az2", "use1-az9"]));
    with("Twice", NetworkProps::new(&["use1-az2", "use1-az2"]));
    with(
        "Overlap",
        NetworkProps {
            node_cidrs: vec!["10.192.0.0/16".into(), "10.2.0.0/16".into()],
            ..NetworkProps::new(ZONES)
        },
    );
    HyperPodNetwork::existing(
        &f.cluster,
        "Existing",
        ExistingNetwork {
            vpc_id: "vpc-1".into(),
            vpc_cidrs: vec![],
            node_subnets: vec![("us-east-1a".into(), "subnet-0123456789abcdef0".into())],
            control_plane_subnet_ids: vec!["subnet-0123456789abcdef1".into()],
            security_group_id: "sg-0123456789abcdef0".into(),
            fsx_lustre: false,
            s3_endpoint_id: Some("vpce-123".into()),
        },
    );
    for (path, code) in [
        ("a/Cluster/Wide", "invalid_vpc_cidr"),
        ("a/Cluster/Garbled", "invalid_vpc_cidr"),
        ("a/Cluster/OneZone", "invalid_availability_zone_count"),
        ("a/Cluster/Names", "invalid_availability_zone_id"),
        ("a/Cluster/OtherRegion", "invalid_availability_zone_id"),
        ("a/Cluster/NoSuchZone", "invalid_availability_zone_id"),
        ("a/Cluster/Twice", "duplicate_availability_zone"),
        ("a/Cluster/Overlap", "overlapping_node_cidr"),
        ("a/Cluster/Existing", "invalid_resource_id"),
        ("a/Cluster/Existing", "invalid_availability_zone_id"),
        ("a/Cluster/Existing", "too_few_subnets"),
        ("a/Cluster/Existing", "missing_vpc_cidr"),
    ] {
        assert_problem(&f.app, path, code);
    }
    let messages: Vec<String> = crate::support::problems(&f.app)
        .into_iter()
        .filter(|p| p.code == "invalid_availability_zone_id")
        .map(|p| p.message)
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("`euw1-az1` is not in us-east-1")),
        "{messages:#?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.contains("its zones are `use1-az1` to `use1-az6`")),
        "{messages:#?}"
    );
}

#[test]
fn the_eks_cluster_defaults_to_kubernetes_1_33_leaves_vpc_cni_to_eks_and_uses_the_control_plane_subnets()
 {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        json!({
            "Name": "ml-cluster",
            "Version": "1.33",
            "AccessConfig": { "AuthenticationMode": "API" },
            "Logging": { "ClusterLogging": { "EnabledTypes": [{ "Type": "api" }, { "Type": "audit" }, { "Type": "authenticator" }, { "Type": "controllerManager" }, { "Type": "scheduler" }] } },
            "ResourcesVpcConfig": { "SubnetIds": [{ "Ref": "NetworkControlPlane1" }, { "Ref": "NetworkControlPlane2" }] },
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
            Match::object_like([
                ("AddonName", json!(addon).into()),
                ("ResolveConflicts", json!("OVERWRITE").into()),
                ("AddonVersion", Match::absent()),
            ]),
        );
    }
    assert!(hyperpod::SUPPORTED_KUBERNETES_VERSIONS.contains(&"1.34"));
}

#[test]
fn a_pinned_vpc_cni_is_kept() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            eks: EksControlPlane::New(NewEksCluster {
                vpc_cni_version: Some("v1.19.2-eksbuild.1".into()),
                ..NewEksCluster::default()
            }),
            ..cluster_props(&f)
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::Addon",
        json!({ "AddonName": "vpc-cni", "AddonVersion": "v1.19.2-eksbuild.1" }),
    );
}

#[test]
fn every_instance_group_runs_in_one_zone_through_a_subnet_of_its_own() {
    let f = fixture();
    let mut elsewhere = InstanceGroup::new("reserved", "ml.p5.48xlarge", 2);
    elsewhere.availability_zone_id = Some("use1-az4".into());
    let mut props = cluster_props(&f);
    props.instance_groups.push(elsewhere);
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    let template = Template::from_stack(&f.cluster);
    let group = |name: &str, subnet: &str| {
        Match::object_like([
            ("InstanceGroupName", json!(name).into()),
            (
                "OverrideVpcConfig",
                json!({ "SecurityGroupIds": [{ "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] }], "Subnets": [{ "Ref": subnet }] }).into(),
            ),
        ])
    };
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([
            (
                "VpcConfig",
                json!({ "SecurityGroupIds": [{ "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] }], "Subnets": [{ "Ref": "NetworkNodes1" }] }).into(),
            ),
            (
                "InstanceGroups",
                Match::array_with([
                    group("system", "NetworkNodes1"),
                    group("gpu-workers", "NetworkNodes1"),
                    group("reserved", "NetworkNodes2"),
                ]),
            ),
        ]),
    );
}

#[test]
fn the_cluster_waits_for_add_ons_the_helm_chart_and_the_node_routes() {
    let f = fixture();
    let cluster = cluster(&f);
    let template = Template::from_stack(&f.cluster);
    let depends = Template::from_stack(&f.cluster)
        .find_resources("AWS::SageMaker::Cluster", json!({}))
        .values()
        .next()
        .unwrap()["DependsOn"]
        .clone();
    for dependency in [
        "HyperPodVpcCni",
        "HyperPodPodIdentityAgent",
        "HyperPodHelmChart",
        "NetworkNodes1DefaultRoute",
        "NetworkNodes2RoutesAssociation",
        "NetworkS3Endpoint",
    ] {
        assert!(
            depends.as_array().unwrap().contains(&json!(dependency)),
            "{dependency} missing from {depends}"
        );
    }
    template.has_resource("AWS::EKS::Addon", json!({ "Properties": { "AddonName": "amazon-sagemaker-hyperpod-taskgovernance" }, "DependsOn": ["HyperPodCluster"] }));
    template.has_resource("AWS::SageMaker::ClusterSchedulerConfig", json!({ "DependsOn": ["HyperPodTaskGovernance"], "Properties": { "ClusterArn": { "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] } } }));
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "NodeRecovery": "Automatic", "NodeProvisioningMode": "Continuous", "Orchestrator": { "Eks": { "ClusterArn": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] } } } }),
    );
    let group = Match::object_like([
        ("InstanceGroupName", json!("gpu-workers").into()),
        ("InstanceType", json!("ml.g5.8xlarge").into()),
        ("InstanceCount", json!(4).into()),
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
fn the_hyperpod_chart_is_installed_pinned_with_its_repositories_and_typed_components() {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    let charts = template.find_resources("Custom::HyperPodHelmRelease", json!({}));
    assert_eq!(charts.len(), 1);
    let chart = charts.values().next().unwrap();
    assert_eq!(
        chart["Properties"]["Chart"],
        json!({ "Repository": "https://github.com/aws/sagemaker-hyperpod-cli.git", "Revision": HYPERPOD_CHART_REVISION, "Path": "helm_chart/HyperPodHelmChart" })
    );
    assert_eq!(
        chart["Properties"]["Repositories"],
        json!([{ "Name": "nvidia", "Url": "https://nvidia.github.io/k8s-device-plugin" }, { "Name": "eks", "Url": "https://aws.github.io/eks-charts/" }])
    );
    assert_eq!(chart["Properties"]["Release"], "dependencies");
    assert_eq!(chart["Properties"]["Namespace"], "kube-system");
    assert_eq!(
        chart["Properties"]["ServiceToken"],
        json!({ "Fn::GetAtt": ["HyperPodInstallerFunction", "Arn"] })
    );
    // The endpoint comes with the request: the installer needs no DescribeCluster for it.
    assert_eq!(
        chart["Properties"]["Endpoint"],
        json!({ "Fn::GetAtt": ["HyperPodEksCluster", "Endpoint"] })
    );
    let values = json_property(&chart["Properties"]["Values"]);
    for component in [
        "trainingOperators",
        "mpi-operator",
        "deep-health-check",
        "job-auto-restart",
        "hyperpod-patching",
    ] {
        assert_eq!(values[component]["enabled"], json!(true), "{component}");
    }
    assert_eq!(values["health-monitoring-agent"]["enabled"], json!(true));
    assert_eq!(values["health-monitoring-agent"]["region"], json!("${v0}"));
    for plugin in [
        "nvidia-device-plugin",
        "aws-efa-k8s-device-plugin",
        "neuron-device-plugin",
    ] {
        assert_eq!(
            values[plugin]["devicePlugin"]["enabled"],
            json!(true),
            "{plugin}"
        );
    }
    assert_eq!(values["cert-manager"]["enabled"], json!(false));
    assert_eq!(
        chart["Properties"]["Values"]["Fn::Sub"][1]["v0"],
        json!({ "Ref": "AWS::Region" })
    );
    // The chart waits for the add-ons through the installer.
    template.has_resource(
        "AWS::Lambda::Function",
        Match::object_like([(
            "DependsOn",
            Match::array_with([
                json!("HyperPodInstallerAccess").into(),
                json!("HyperPodVpcCni").into(),
            ]),
        )]),
    );
}

#[test]
fn chart_components_can_be_turned_off() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            helm: HelmDependencies::Install(HyperPodChart {
                components: ChartComponents {
                    mpi_operator: false,
                    neuron_device_plugin: false,
                    team_role_and_bindings: Some("vision".into()),
                    ..ChartComponents::default()
                },
                ..HyperPodChart::default()
            }),
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    let chart = template
        .find_resources("Custom::HyperPodHelmRelease", json!({}))
        .into_values()
        .next()
        .unwrap();
    let values = json_property(&chart["Properties"]["Values"]);
    assert_eq!(values["mpi-operator"]["enabled"], json!(false));
    assert_eq!(
        values["neuron-device-plugin"]["devicePlugin"]["enabled"],
        json!(false)
    );
    assert_eq!(
        values["team-role-and-bindings"],
        json!({ "enabled": true, "computeQuotaTarget": { "targetId": "vision" } })
    );
}

#[test]
fn the_installer_runs_in_the_vpc_with_aws_layer_and_only_its_role_is_cluster_admin() {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::Lambda::LayerVersion",
        json!({ "Content": { "S3Bucket": { "Fn::Sub": "aws-sagemaker-hyperpod-cluster-setup-${AWS::Region}-prod" }, "S3Key": "resources/artifacts/helm-lambda-layer.zip" }, "CompatibleRuntimes": ["python3.12"] }),
    );
    template.has_resource_properties(
        "AWS::Lambda::Function",
        json!({
            "Runtime": "python3.12",
            "Handler": "index.handler",
            "Timeout": 900,
            "Layers": [{ "Ref": "HyperPodInstallerTools" }],
            "Role": { "Fn::GetAtt": ["HyperPodInstallerRole", "Arn"] },
            "VpcConfig": { "SubnetIds": [{ "Ref": "NetworkNodes1" }, { "Ref": "NetworkNodes2" }], "SecurityGroupIds": [{ "Fn::GetAtt": ["HyperPodInstallerSecurityGroup", "GroupId"] }] },
            "Environment": { "Variables": { "GIT_EXEC_PATH": "/opt/python/libexec/git-core" } },
        }),
    );
    let function = template
        .find_resources("AWS::Lambda::Function", json!({}))
        .into_values()
        .next()
        .unwrap();
    let code = function["Properties"]["Code"]["ZipFile"].as_str().unwrap();
    assert_eq!(
        code,
        include_str!("../constructs/hyperpod/src/installer/index.py"),
        "the function runs the tested installer"
    );
    // The API is reached from the installer's group on 443 only.
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        json!({ "GroupId": { "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] }, "SourceSecurityGroupId": { "Fn::GetAtt": ["HyperPodInstallerSecurityGroup", "GroupId"] }, "FromPort": 443, "ToPort": 443 }),
    );
    let admins = template.find_resources(
        "AWS::EKS::AccessEntry",
        json!({ "Properties": { "AccessPolicies": [{ "AccessScope": { "Type": "cluster" } }] } }),
    );
    assert_eq!(admins.len(), 1, "{admins:#?}");
    assert_eq!(
        admins.values().next().unwrap()["Properties"]["PrincipalArn"],
        json!({ "Fn::GetAtt": ["HyperPodInstallerRole", "Arn"] })
    );
    let role = template
        .find_resources("AWS::IAM::Role", json!({ "Properties": { "Description": "the Kubernetes installer of a HyperPod cluster" } }))
        .into_values()
        .next()
        .unwrap();
    assert_eq!(
        role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"],
        json!([{ "Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] } }])
    );
}

#[test]
fn a_layer_of_your_own_replaces_aws_layer() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            installer_layer: InstallerLayer::Arn(
                "arn:aws:lambda:us-east-1:111111111111:layer:kubectl-helm:3".into(),
            ),
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.resource_count_is("AWS::Lambda::LayerVersion", 0);
    template.has_resource_properties(
        "AWS::Lambda::Function",
        json!({ "Layers": ["arn:aws:lambda:us-east-1:111111111111:layer:kubectl-helm:3"] }),
    );
}

#[test]
fn an_existing_eks_cluster_may_already_have_the_chart() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            eks: EksControlPlane::Existing {
                name: "shared-eks".into(),
            },
            helm: HelmDependencies::AlreadyInstalled,
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.resource_count_is("AWS::EKS::Cluster", 0);
    template.resource_count_is("Custom::HyperPodHelmRelease", 0);
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "Orchestrator": { "Eks": { "ClusterArn": { "Fn::Sub": ["arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${name}", { "name": "shared-eks" }] } } } }),
    );
    // The installer still serves the teams' objects, and describes the cluster to find it.
    template.has_resource_properties(
        "AWS::EKS::AccessEntry",
        json!({ "ClusterName": "shared-eks", "PrincipalArn": { "Fn::GetAtt": ["HyperPodInstallerRole", "Arn"] } }),
    );
}

#[test]
fn already_installed_is_refused_for_an_eks_cluster_created_here() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            helm: HelmDependencies::AlreadyInstalled,
            ..cluster_props(&f)
        },
    );
    assert_problem(
        &f.app,
        "a/Cluster/HyperPod",
        "helm_chart_cannot_be_installed_yet",
    );
    assert!(
        message(&f.app, "helm_chart_cannot_be_installed_yet").contains("HelmDependencies::Install")
    );
}

#[test]
fn a_chart_on_a_branch_is_refused() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            helm: HelmDependencies::Install(HyperPodChart {
                source: hyperpod::HelmChartSource {
                    revision: "main".into(),
                    ..HyperPodChart::default().source
                },
                ..HyperPodChart::default()
            }),
            ..cluster_props(&f)
        },
    );
    assert_problem(&f.app, "a/Cluster/HyperPod", "chart_not_pinned");
}

#[test]
fn deep_health_checks_default_to_what_the_type_supports() {
    let checks = |instance_type: &str| InstanceGroup::new("g", instance_type, 1).deep_health_checks;
    assert_eq!(checks("ml.m5.2xlarge"), []);
    assert_eq!(checks("ml.g5.xlarge"), [DeepHealthCheck::InstanceStress]);
    assert_eq!(
        checks("ml.p5.48xlarge"),
        [
            DeepHealthCheck::InstanceStress,
            DeepHealthCheck::InstanceConnectivity
        ]
    );
    assert_eq!(
        checks("ml.trn1.32xlarge"),
        [
            DeepHealthCheck::InstanceStress,
            DeepHealthCheck::InstanceConnectivity
        ]
    );
}

#[test]
fn the_cpu_group_of_the_platform_asks_for_no_deep_health_check() {
    let f = fixture();
    cluster(&f);
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([(
            "InstanceGroups",
            Match::array_with([Match::object_like([
                ("InstanceGroupName", json!("system").into()),
                ("OnStartDeepHealthChecks", Match::absent()),
            ])]),
        )]),
    );
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
    let policies = assets.find_resources(
        "AWS::S3::BucketPolicy",
        json!({ "Properties": { "Bucket": { "Ref": "MlClusterLifecycleBucket" } } }),
    );
    let statements =
        policies.values().next().unwrap()["Properties"]["PolicyDocument"]["Statement"].clone();
    assert_eq!(
        statements[0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    // What the nodes run as root is written only by the deployers named in script_writers.
    assert_eq!(statements[1]["Sid"], "OnlyDeployersWriteScripts");
    assert_eq!(statements[1]["Effect"], "Deny");
    assert!(
        statements[1]["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
            .to_string()
            .contains("OrganizationAccountAccessRole"),
        "{statements}"
    );
    // Reads and writes of the scripts are logged to the stack's access-log bucket.
    assets.has_resource_properties(
        "AWS::S3::Bucket",
        json!({ "BucketName": "sagemaker-ml-cluster-lcs-111111111111-us-east-1", "LoggingConfiguration": { "DestinationBucketName": { "Ref": "AccessLogsBucket" } } }),
    );
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
fn the_execution_role_has_the_documented_policies_with_pod_identity_scoped_to_the_cluster() {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    let roles = template.find_resources("AWS::IAM::Role", json!({ "Properties": { "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "sagemaker.amazonaws.com" } }] } } }));
    assert_eq!(roles.len(), 1);
    let role = roles.values().next().unwrap();
    let managed = role["Properties"]["ManagedPolicyArns"].to_string();
    // The CNI's permissions are in the inline policy, scoped to the cluster's network, in
    // place of the managed AmazonEKS_CNI_Policy that allows them on every resource.
    assert!(
        managed.contains("AmazonSageMakerClusterInstanceRolePolicy")
            && !managed.contains("AmazonEKS_CNI_Policy"),
        "{managed}"
    );
    let inline = role["Properties"]["Policies"].to_string();
    for action in [
        "ec2:CreateNetworkInterface",
        "ec2:CreateTags",
        "ecr:BatchGetImage",
        "cloudwatch:DescribeAlarms",
        "s3:GetObject",
    ] {
        assert!(inline.contains(action), "{action} missing from {inline}");
    }
    let statements = &role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    let pod_identity = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "PodIdentity")
        .unwrap();
    assert_eq!(
        pod_identity["Resource"],
        json!({ "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] })
    );
    let interfaces = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "NetworkInterfaces")
        .unwrap();
    let resources = interfaces["Resource"].to_string();
    assert!(
        !interfaces["Resource"]
            .as_array()
            .unwrap()
            .contains(&json!("*"))
            && resources.contains("network-interface")
            && resources.contains("security-group")
            && resources.contains("subnet"),
        "{resources}"
    );
}

#[test]
fn the_cluster_outputs_what_a_user_needs() {
    let f = fixture();
    cluster(&f);
    let template = Template::from_stack(&f.cluster);
    template.has_output(
        "HyperPodEksClusterName",
        json!({ "Value": { "Ref": "HyperPodEksCluster" } }),
    );
    template.has_output(
        "HyperPodEksClusterArn",
        json!({ "Value": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] } }),
    );
    template.has_output("HyperPodClusterName", json!({ "Value": "ml-cluster" }));
    template.has_output(
        "HyperPodClusterArn",
        json!({ "Value": { "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] } }),
    );
    template.has_output("HyperPodExecutionRoleArn", json!({}));
    template.has_output(
        "HyperPodLifecycleBucket",
        json!({ "Value": "sagemaker-ml-cluster-lcs-111111111111-us-east-1" }),
    );
}

#[test]
fn an_admin_principal_gets_a_cluster_scoped_access_entry_and_the_creator_gets_nothing() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            cluster_admins: vec!["arn:aws:iam::111111111111:role/platform-admin".into()],
            ..cluster_props(&f)
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::AccessEntry",
        json!({ "PrincipalArn": "arn:aws:iam::111111111111:role/platform-admin", "AccessPolicies": [{ "AccessScope": { "Type": "cluster" }, "PolicyArn": { "Fn::Sub": "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy" } }] }),
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::Cluster",
        json!({ "AccessConfig": { "BootstrapClusterCreatorAdminPermissions": false } }),
    );
}

#[test]
fn the_api_endpoint_is_private_unless_opened_to_named_blocks() {
    let f = fixture();
    cluster(&f);
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::Cluster",
        Match::object_like([(
            "ResourcesVpcConfig",
            Match::object_like([
                ("EndpointPrivateAccess", json!(true).into()),
                ("EndpointPublicAccess", json!(false).into()),
                ("PublicAccessCidrs", Match::absent()),
            ]),
        )]),
    );
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            eks: EksControlPlane::New(NewEksCluster {
                endpoint: EndpointAccess::PublicAndPrivate {
                    cidrs: vec!["203.0.113.0/24".into()],
                },
                ..NewEksCluster::default()
            }),
            ..cluster_props(&f)
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::Cluster",
        json!({ "ResourcesVpcConfig": { "EndpointPublicAccess": true, "PublicAccessCidrs": ["203.0.113.0/24"] } }),
    );
}

#[test]
fn a_public_endpoint_without_blocks_is_refused() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            eks: EksControlPlane::New(NewEksCluster {
                endpoint: EndpointAccess::PublicAndPrivate { cidrs: vec![] },
                ..NewEksCluster::default()
            }),
            ..cluster_props(&f)
        },
    );
    assert_problem(
        &f.app,
        "a/Cluster/HyperPod",
        "public_endpoint_without_cidrs",
    );
}

#[test]
fn the_vpc_cni_enforces_network_policies_and_secrets_may_use_a_key_of_our_own() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            eks: EksControlPlane::New(NewEksCluster {
                secrets_key: SecretsKey::NewKey,
                ..NewEksCluster::default()
            }),
            ..cluster_props(&f)
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::EKS::Addon",
        json!({ "AddonName": "vpc-cni", "ConfigurationValues": "{\"enableNetworkPolicy\":\"true\"}" }),
    );
    template.has_resource_properties(
        "AWS::EKS::Cluster",
        json!({ "EncryptionConfig": [{ "Provider": { "KeyArn": { "Fn::GetAtt": ["HyperPodSecretsKey", "Arn"] } }, "Resources": ["secrets"] }] }),
    );
    template.has_resource("AWS::KMS::Key", json!({ "DeletionPolicy": "Retain" }));
    template.has_resource_properties(
        "AWS::IAM::RolePolicy",
        json!({ "RoleName": { "Ref": "HyperPodEksClusterRole" } }),
    );
    // EKS checks at creation that its role may use the key.
    template.has_resource(
        "AWS::EKS::Cluster",
        Match::object_like([(
            "DependsOn",
            Match::array_with([json!("HyperPodEksSecretsKeyAccess").into()]),
        )]),
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
            eks: EksControlPlane::New(NewEksCluster {
                kubernetes_version: "1.27".into(),
                vpc_cni_version: Some("v1.18.2-eksbuild.1".into()),
                ..NewEksCluster::default()
            }),
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
            eks: EksControlPlane::New(NewEksCluster {
                kubernetes_version: "1.29".into(),
                vpc_cni_version: Some("latest".into()),
                ..NewEksCluster::default()
            }),
            instance_groups: vec![],
            ..cluster_props(&f)
        },
    );
    for (path, code) in [
        ("a/Cluster/Bad", "unsupported_kubernetes_version"),
        ("a/Cluster/Bad", "vpc_cni_too_old"),
        ("a/Cluster/Bad", "invalid_instance_group_name"),
        ("a/Cluster/Bad", "unknown_instance_type"),
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
fn a_misspelled_instance_type_is_refused_with_the_likely_one() {
    let f = fixture();
    let mut props = cluster_props(&f);
    props.instance_groups = vec![InstanceGroup::new("gpu", "ml.g5.8xlarg", 2)];
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    assert_problem(&f.app, "a/Cluster/HyperPod", "unknown_instance_type");
    assert!(
        message(&f.app, "unknown_instance_type").contains("did you mean `ml.g5.8xlarge`?"),
        "{}",
        message(&f.app, "unknown_instance_type")
    );
}

#[test]
fn deep_health_checks_on_a_type_without_accelerators_are_refused() {
    let f = fixture();
    let mut cpu = InstanceGroup::new("system", "ml.m5.2xlarge", 1);
    cpu.deep_health_checks = vec![DeepHealthCheck::InstanceStress];
    let mut no_efa = InstanceGroup::new("small-gpu", "ml.g5.xlarge", 1);
    no_efa.deep_health_checks = vec![DeepHealthCheck::InstanceConnectivity];
    let mut props = cluster_props(&f);
    props.instance_groups = vec![cpu, no_efa];
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    let found: Vec<String> = crate::support::problems(&f.app)
        .into_iter()
        .filter(|p| p.code == "deep_health_check_unsupported")
        .map(|p| p.message)
        .collect();
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found[0].contains("ml.m5.2xlarge") && found[0].contains("GPU or Trainium"));
    assert!(found[1].contains("with EFA"));
}

#[test]
fn an_empty_instance_group_is_refused_without_autoscaling() {
    let f = fixture();
    let mut props = cluster_props(&f);
    props
        .instance_groups
        .push(InstanceGroup::new("spare", "ml.g5.8xlarge", 0));
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    assert_problem(&f.app, "a/Cluster/HyperPod", "empty_instance_group");
}

#[test]
fn a_region_without_hyperpod_is_refused() {
    let f = fixture_in("us-east-9");
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps::new(
            "ml-cluster",
            HyperPodNetwork::new(
                &f.cluster,
                "Network",
                NetworkProps::new(&["use9-az1", "use9-az2"]),
            )
            .refs()
            .clone(),
            vec![InstanceGroup::new("gpu", "ml.g5.8xlarge", 1)],
            scripts(),
            f.assets.clone(),
        ),
    );
    assert_problem(&f.app, "a/Cluster/HyperPod", "unsupported_region");
    assert!(message(&f.app, "unsupported_region").contains("not available in us-east-9"));
}

#[test]
fn a_group_in_a_zone_without_a_node_subnet_is_refused() {
    let f = fixture();
    let mut props = cluster_props(&f);
    props.instance_groups[1].availability_zone_id = Some("use1-az6".into());
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    assert_problem(&f.app, "a/Cluster/HyperPod", "no_subnet_in_zone");
    assert!(message(&f.app, "no_subnet_in_zone").contains("use1-az2, use1-az4"));
}

#[test]
fn a_lifecycle_folder_without_the_script_the_cluster_runs_is_refused() {
    let f = fixture();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("setup.sh"), "#!/bin/bash\n").unwrap();
    HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        HyperPodEksClusterProps {
            lifecycle_scripts: folder.path().to_path_buf(),
            ..cluster_props(&f)
        },
    );
    assert_problem(&f.app, "a/Cluster/HyperPod", "lifecycle_script_missing");
    assert!(message(&f.app, "lifecycle_script_missing").contains("`on_create.sh`"));
}

#[test]
fn a_cluster_name_too_long_for_the_lifecycle_bucket_is_reported() {
    let f = fixture();
    HyperPodEksCluster::new(
        &f.cluster,
        "Long",
        HyperPodEksClusterProps {
            cluster_name: "a-very-long-cluster-name-for-a-bucket".into(),
            ..cluster_props(&f)
        },
    );
    assert_problem(&f.app, "a/Cluster/Long", "lifecycle_bucket_name_too_long");
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
