//! The Slurm cluster, the login-node load balancer and Client VPN access.

use std::path::PathBuf;

use hyperpod::{
    ClientVpnAccess, ClientVpnAccessProps, FsxLustre, HyperPodNetwork, LoginNodeLoadBalancer,
    LoginNodeLoadBalancerProps, NetworkProps, NetworkRefs, SlurmGroup, SlurmHyperPodCluster,
    SlurmHyperPodClusterProps, SshSource,
};
use hyperpod_core::assertions::{Match, Template};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
use serde_json::json;

const SERVER: &str =
    "arn:aws:acm:us-east-1:111111111111:certificate/11111111-2222-3333-4444-555555555555";
const CLIENT_CA: &str =
    "arn:aws:acm:us-east-1:111111111111:certificate/66666666-7777-8888-9999-000000000000";

fn app_with_network() -> (App, Stack, Stack, NetworkRefs) {
    let app = App::new("test");
    let stage = Stage::new(&app, "a", Environment::new("111111111111", "us-east-1"));
    let assets = Stack::new(&stage, "Assets", StackProps::default());
    // Every template needs a resource, whichever constructs a test leaves out.
    hyperpod_cfn::cloudformation::CfnWaitConditionHandle::new(
        &assets,
        "Placeholder",
        Default::default(),
    );
    let stack = Stack::new(&stage, "Slurm", StackProps::default());
    let network = HyperPodNetwork::new(
        &stack,
        "Network",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::new(&["use1-az2", "use1-az4"])
        },
    );
    (app, assets, stack, network.refs().clone())
}

fn slurm_props(network: &NetworkRefs, assets: &Stack) -> SlurmHyperPodClusterProps {
    SlurmHyperPodClusterProps {
        cluster_name: "ml-slurm".into(),
        network: network.clone(),
        availability_zone_id: None,
        controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
        login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
        compute: vec![SlurmGroup {
            partition: Some("gpu".into()),
            ..SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 4)
        }],
        lifecycle_scripts: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../apps/slurm-login-access/lifecycle-scripts"),
        lifecycle_bucket_stack: assets.clone(),
        script_writers: vec![hyperpod::DEFAULT_SCRIPT_WRITER.into()],
        fsx: Some(FsxLustre::default()),
    }
}

fn problems(app: &App) -> Vec<(String, String)> {
    crate::support::problems(app)
        .into_iter()
        .map(|p| (p.path, p.code))
        .collect()
}

fn assert_problems(app: &App, expected: &[(&str, &str)]) {
    let found = problems(app);
    for (path, code) in expected {
        assert!(
            found.contains(&(path.to_string(), code.to_string())),
            "expected {code} at {path}, found {found:#?}"
        );
    }
}

#[test]
fn a_slurm_cluster_declares_its_node_types_and_mounts_fsx() {
    let (_app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(&stack, "Cluster", slurm_props(&network, &assets));
    let template = Template::from_stack(&stack);
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "Orchestrator": { "Slurm": { "SlurmConfigStrategy": "Managed" } } }),
    );
    for (group, node_type) in [
        ("controller", "Controller"),
        ("login", "Login"),
        ("gpu-workers", "Compute"),
    ] {
        template.has_resource_properties(
            "AWS::SageMaker::Cluster",
            Match::object_like([(
                "InstanceGroups",
                Match::array_with([Match::object_like([
                    ("InstanceGroupName", json!(group).into()),
                    (
                        "SlurmConfig",
                        Match::object_like([("NodeType", json!(node_type).into())]),
                    ),
                ])]),
            )]),
        );
    }
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([("InstanceGroups", Match::array_with([json!({ "InstanceGroupName": "gpu-workers", "SlurmConfig": { "PartitionNames": ["gpu"] } }).into()]))]),
    );
    template.has_resource(
        "AWS::FSx::FileSystem",
        json!({
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "FileSystemType": "LUSTRE",
                "FileSystemTypeVersion": "2.15",
                "StorageCapacity": 1200,
                "SubnetIds": [{ "Ref": "NetworkNodes1" }],
                "LustreConfiguration": { "DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 250, "MetadataConfiguration": { "Mode": "AUTOMATIC" }, "AutomaticBackupRetentionDays": 7 },
            },
        }),
    );
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "NodeProvisioningMode": "Continuous", "NodeRecovery": "Automatic", "VpcConfig": { "Subnets": [{ "Ref": "NetworkNodes1" }] } }),
    );
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([("InstanceGroups", Match::array_with([Match::object_like([("InstanceStorageConfigs", Match::array_with([json!({ "FsxLustreConfig": { "DnsName": { "Fn::GetAtt": ["ClusterLustre", "DNSName"] } } }).into()]))])]))]),
    );
}

#[test]
fn only_the_named_deployers_may_change_the_scripts_every_node_runs_as_root() {
    let (_app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(
        &stack,
        "Cluster",
        SlurmHyperPodClusterProps {
            script_writers: vec!["platform-deployer".into(), "ci/github-actions".into()],
            ..slurm_props(&network, &assets)
        },
    );
    let template = Template::from_stack(&assets);
    let policies = template.find_resources("AWS::S3::BucketPolicy", json!({}));
    let deny = policies
        .values()
        .flat_map(|policy| {
            policy["Properties"]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .clone()
        })
        .find(|statement| statement["Sid"] == "OnlyDeployersWriteScripts")
        .expect("the lifecycle bucket denies writes");
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert!(
        deny["Action"]
            .as_array()
            .unwrap()
            .contains(&json!("s3:PutObject")),
        "{deny}"
    );
    let writers = deny["Condition"]["ArnNotLike"]["aws:PrincipalArn"].to_string();
    assert!(
        writers.contains("platform-deployer")
            && writers.contains("ci/github-actions")
            && !writers.contains("OrganizationAccountAccessRole"),
        "{writers}"
    );
}

#[test]
fn bad_slurm_inputs_are_reported() {
    let (app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(
        &stack,
        "Bad",
        SlurmHyperPodClusterProps {
            cluster_name: "bad name".into(),
            controller: SlurmGroup {
                partition: Some("p".into()),
                ..SlurmGroup::new("head", "ml.m5.2xlarge", 2)
            },
            compute: vec![],
            login: Some(SlurmGroup {
                partition: Some("bad_partition".into()),
                ..SlurmGroup::new("login", "ml.m5.xlarge", 1)
            }),
            fsx: Some(FsxLustre {
                storage_capacity_gib: 1000,
                throughput_per_tib: 300,
                backup_retention_days: 0,
            }),
            script_writers: vec![],
            ..slurm_props(&network, &assets)
        },
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Bad", "no_script_writers"),
            ("a/Slurm/Bad", "invalid_cluster_name"),
            ("a/Slurm/Bad", "invalid_controller_count"),
            ("a/Slurm/Bad", "no_compute_groups"),
            ("a/Slurm/Bad", "partition_on_non_compute_group"),
            ("a/Slurm/Bad", "invalid_fsx_capacity"),
            ("a/Slurm/Bad", "invalid_fsx_throughput"),
            ("a/Slurm/Bad", "invalid_partition_name"),
            ("a/Slurm/Bad", "invalid_fsx_backup_retention"),
        ],
    );
}

#[test]
fn client_vpn_uses_mutual_tls_logs_associates_one_subnet_at_a_time_and_authorizes_the_vpc() {
    let (_app, _assets, stack, network) = app_with_network();
    ClientVpnAccess::new(
        &stack,
        "Vpn",
        ClientVpnAccessProps {
            additional_routes: vec!["172.16.0.0/16".into()],
            ..ClientVpnAccessProps::new(network, "10.100.0.0/22", SERVER, CLIENT_CA)
        },
    );
    let template = Template::from_stack(&stack);
    // The secondary blocks of the nodes get routes; the primary comes with the association.
    template.has_resource("AWS::EC2::ClientVpnRoute", json!({ "DependsOn": ["VpnAssociation1"], "Properties": { "DestinationCidrBlock": "10.2.0.0/16", "TargetVpcSubnetId": { "Ref": "NetworkNodes1" } } }));
    template.has_resource_properties(
        "AWS::EC2::ClientVpnEndpoint",
        json!({
            "ClientCidrBlock": "10.100.0.0/22",
            "SplitTunnel": true,
            "ServerCertificateArn": SERVER,
            "AuthenticationOptions": [{ "Type": "certificate-authentication", "MutualAuthentication": { "ClientRootCertificateChainArn": CLIENT_CA } }],
            "ConnectionLogOptions": { "Enabled": true, "CloudwatchLogGroup": { "Ref": "VpnConnectionLogs" } },
            "SecurityGroupIds": [{ "Fn::GetAtt": ["VpnSecurityGroup", "GroupId"] }],
        }),
    );
    // Connection records are an audit trail: kept when the endpoint goes.
    template.has_resource(
        "AWS::Logs::LogGroup",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "RetentionInDays": 90 } }),
    );
    template.resource_count_is("AWS::EC2::ClientVpnTargetNetworkAssociation", 2);
    template.has_resource("AWS::EC2::ClientVpnTargetNetworkAssociation", json!({ "DependsOn": ["VpnAssociation1"], "Properties": { "SubnetId": { "Ref": "NetworkNodes2" } } }));
    template.has_resource_properties(
        "AWS::EC2::ClientVpnAuthorizationRule",
        json!({ "TargetNetworkCidr": "10.192.0.0/16", "AuthorizeAllGroups": true }),
    );
    template.resource_count_is("AWS::EC2::ClientVpnRoute", 6);
    template.has_resource("AWS::EC2::ClientVpnRoute", json!({ "DependsOn": ["VpnAssociation2"], "Properties": { "DestinationCidrBlock": "172.16.0.0/16", "TargetVpcSubnetId": { "Ref": "NetworkNodes2" } } }));
}

#[test]
fn no_route_is_added_for_the_vpc_primary_block() {
    let (_app, _assets, stack, network) = app_with_network();
    ClientVpnAccess::new(
        &stack,
        "Vpn",
        ClientVpnAccessProps::new(network, "10.100.0.0/22", SERVER, CLIENT_CA),
    );
    let template = Template::from_stack(&stack);
    template.resource_count_is("AWS::EC2::ClientVpnRoute", 4);
    assert!(
        template
            .find_resources(
                "AWS::EC2::ClientVpnRoute",
                json!({ "Properties": { "DestinationCidrBlock": "10.192.0.0/16" } })
            )
            .is_empty()
    );
}

#[test]
fn bad_client_vpn_inputs_are_reported() {
    let (app, _assets, stack, network) = app_with_network();
    ClientVpnAccess::new(
        &stack,
        "Overlap",
        ClientVpnAccessProps {
            additional_routes: vec!["10.200.0.0/16".into()],
            ..ClientVpnAccessProps::new(
                network.clone(),
                "10.192.0.0/22",
                SERVER,
                "arn:aws:iam::111111111111:role/x",
            )
        },
    );
    ClientVpnAccess::new(
        &stack,
        "Size",
        ClientVpnAccessProps {
            log_retention_days: 10,
            ..ClientVpnAccessProps::new(network.clone(), "10.100.0.0/24", "not-an-arn", CLIENT_CA)
        },
    );
    ClientVpnAccess::new(
        &stack,
        "RouteOverlap",
        ClientVpnAccessProps {
            additional_routes: vec!["10.100.0.0/16".into()],
            ..ClientVpnAccessProps::new(network.clone(), "10.100.0.0/22", SERVER, CLIENT_CA)
        },
    );
    ClientVpnAccess::new(
        &stack,
        "BadRoute",
        ClientVpnAccessProps {
            additional_routes: vec!["10.300.0.0/16".into()],
            ..ClientVpnAccessProps::new(
                NetworkRefs {
                    node_subnets: vec![],
                    ..network.clone()
                },
                "10.100.0.0/22",
                SERVER,
                CLIENT_CA,
            )
        },
    );
    let mut one_zone = network.clone();
    one_zone.node_subnets[1].availability_zone_id = "use1-az2".into();
    ClientVpnAccess::new(
        &stack,
        "OneZone",
        ClientVpnAccessProps::new(one_zone, "10.100.0.0/22", SERVER, CLIENT_CA),
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Overlap", "client_cidr_overlap"),
            ("a/Slurm/Overlap", "invalid_certificate_arn"),
            ("a/Slurm/Size", "invalid_client_cidr"),
            ("a/Slurm/Size", "invalid_certificate_arn"),
            ("a/Slurm/Size", "invalid_log_retention"),
            ("a/Slurm/RouteOverlap", "client_cidr_overlap"),
            ("a/Slurm/OneZone", "associations_in_one_zone"),
            ("a/Slurm/BadRoute", "invalid_route"),
            ("a/Slurm/BadRoute", "no_subnets"),
        ],
    );
}

fn slurm_with_balancer() -> (App, Stack, SlurmHyperPodCluster) {
    let (app, assets, stack, network) = app_with_network();
    let cluster = SlurmHyperPodCluster::new(&stack, "Slurm", slurm_props(&network, &assets));
    LoginNodeLoadBalancer::new(
        &stack,
        "Login",
        LoginNodeLoadBalancerProps {
            cluster: cluster.clone(),
            allowed_sources: vec![SshSource::Cidr("10.100.0.0/22".into())],
        },
    );
    (app, stack, cluster)
}

#[test]
fn api_driven_slurm_runs_on_init_complete_not_the_legacy_on_create() {
    let (app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(&stack, "Cluster", slurm_props(&network, &assets));
    let template = Template::from_stack(&stack);
    let cluster = template
        .find_resources("AWS::SageMaker::Cluster", json!({}))
        .into_values()
        .next()
        .unwrap();
    for group in cluster["Properties"]["InstanceGroups"].as_array().unwrap() {
        let lifecycle = &group["LifeCycleConfig"];
        assert_eq!(
            lifecycle["OnInitComplete"], "hyperpod_on_init_complete.sh",
            "{group}"
        );
        assert!(lifecycle.get("OnCreate").is_none(), "{group}");
        assert_eq!(
            group["OverrideVpcConfig"]["Subnets"],
            json!([{ "Ref": "NetworkNodes1" }])
        );
    }
    let manifest = app.synth().unwrap().manifest;
    let files = &manifest
        .stacks
        .iter()
        .find(|s| s.id == "a/Slurm")
        .unwrap()
        .assets[0]
        .files;
    assert_eq!(
        files,
        &[
            "hyperpod_cluster.env",
            "hyperpod_login_node.sh",
            "hyperpod_on_init_complete.sh",
            "on_init_complete.sh"
        ]
    );
}

#[test]
fn the_login_nodes_settings_name_their_group_secret_and_parameter() {
    let (app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(&stack, "Cluster", slurm_props(&network, &assets));
    let out = tempfile::tempdir().unwrap();
    let folder = app.synth().unwrap().write_to(out.path()).unwrap();
    let settings = tests::files_below(&folder.join("assets"))
        .into_iter()
        .find(|path| path.ends_with("hyperpod_cluster.env"))
        .unwrap();
    let settings = std::fs::read_to_string(folder.join("assets").join(settings)).unwrap();
    for line in [
        "LOGIN_GROUP=login",
        "HOST_KEYS_SECRET=hyperpod/ml-slurm/login-host-keys",
        "TARGET_GROUP_PARAMETER=/hyperpod/ml-slurm/login-target-group",
        "AWS_DEFAULT_REGION=us-east-1",
    ] {
        assert!(
            settings.lines().any(|l| l == line),
            "{line} missing from {settings}"
        );
    }
}

#[test]
fn only_the_login_role_reads_the_host_key_and_every_role_may_tag_interfaces() {
    let (_app, assets, stack, network) = app_with_network();
    let cluster = SlurmHyperPodCluster::new(&stack, "Cluster", slurm_props(&network, &assets));
    assert!(cluster.login_execution_role().is_some());
    let template = Template::from_stack(&stack);
    let roles = template.find_resources("AWS::IAM::Role", json!({ "Properties": { "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "sagemaker.amazonaws.com" } }] } } }));
    assert_eq!(roles.len(), 2);
    for (id, role) in &roles {
        let policy = role["Properties"]["Policies"].to_string();
        assert!(policy.contains("ec2:CreateTags"), "{id}: {policy}");
        assert_eq!(
            policy.contains("secretsmanager"),
            id == "ClusterLoginExecutionRole",
            "{id}"
        );
        assert!(
            !policy.contains("secretsmanager:PutSecretValue"),
            "no node writes the key: {id}"
        );
    }
    let groups = template
        .find_resources("AWS::SageMaker::Cluster", json!({}))
        .into_values()
        .next()
        .unwrap()["Properties"]["InstanceGroups"]
        .clone();
    let role_of = |name: &str| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["InstanceGroupName"] == name)
            .unwrap()["ExecutionRole"]
            .clone()
    };
    assert_eq!(
        role_of("login"),
        json!({ "Fn::GetAtt": ["ClusterLoginExecutionRole", "Arn"] })
    );
    assert_eq!(
        role_of("gpu-workers"),
        json!({ "Fn::GetAtt": ["ClusterExecutionRole", "Arn"] })
    );
}

#[test]
fn the_host_key_is_made_once_outside_the_nodes_in_a_secret_only_login_nodes_can_decrypt() {
    let (_app, assets, stack, network) = app_with_network();
    SlurmHyperPodCluster::new(&stack, "Cluster", slurm_props(&network, &assets));
    let template = Template::from_stack(&stack);
    template.has_resource(
        "AWS::SecretsManager::Secret",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "Name": "hyperpod/ml-slurm/login-host-keys", "KmsKeyId": { "Fn::GetAtt": ["ClusterLoginHostKeyKey", "Arn"] } } }),
    );
    let secret = template
        .find_resources("AWS::SecretsManager::Secret", json!({}))
        .into_values()
        .next()
        .unwrap();
    assert!(
        secret["Properties"].get("SecretString").is_none(),
        "the template holds no key"
    );
    let key = template
        .find_resources("AWS::KMS::Key", json!({}))
        .into_values()
        .next()
        .unwrap();
    assert_eq!(key["DeletionPolicy"], "Retain");
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let uses: Vec<(&serde_json::Value, &serde_json::Value)> = statements
        .iter()
        .filter(|s| {
            s["Action"].to_string().contains("Decrypt")
                || s["Action"].to_string().contains("GenerateDataKey")
                || s["Action"].to_string().contains("kms:*")
        })
        .map(|s| (&s["Principal"]["AWS"], &s["Action"]))
        .collect();
    assert_eq!(
        uses,
        [
            (
                &json!({ "Fn::GetAtt": ["ClusterLoginExecutionRole", "Arn"] }),
                &json!("kms:Decrypt")
            ),
            (
                &json!({ "Fn::GetAtt": ["ClusterLoginHostKeyGeneratorRole", "Arn"] }),
                &json!("kms:GenerateDataKey")
            ),
        ],
        "only the login nodes decrypt, only the generator encrypts"
    );
    // Nor may anyone grant themselves a use of the key: no grants, no wildcard that
    // covers them.
    let granting: Vec<&serde_json::Value> = statements
        .iter()
        .filter(|s| {
            let actions = s["Action"].to_string();
            actions.contains("kms:CreateGrant") || actions.contains("kms:Create*")
        })
        .collect();
    assert!(granting.is_empty(), "{granting:?}");
    template.has_resource_properties(
        "Custom::SshHostKey",
        json!({ "ServiceToken": { "Fn::GetAtt": ["ClusterLoginHostKeyGenerator", "Arn"] }, "SecretId": { "Ref": "ClusterLoginHostKeySecret" } }),
    );
    let function = template
        .find_resources("AWS::Lambda::Function", json!({}))
        .into_values()
        .next()
        .unwrap();
    assert_eq!(
        function["Properties"]["Code"]["ZipFile"],
        include_str!("../constructs/hyperpod/src/slurm/host_keys.py"),
        "the function runs the tested generator"
    );
    template.has_resource(
        "AWS::SageMaker::Cluster",
        Match::object_like([(
            "DependsOn",
            Match::array_with([json!("ClusterLoginHostKeyRun").into()]),
        )]),
    );
}

#[test]
fn the_login_load_balancer_is_internal_tcp_22_and_its_targets_are_managed_by_the_login_nodes() {
    let (_app, stack, _cluster) = slurm_with_balancer();
    let template = Template::from_stack(&stack);
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({ "Type": "network", "Scheme": "internal", "Subnets": [{ "Ref": "NetworkNodes1" }, { "Ref": "NetworkNodes2" }], "SecurityGroups": [{ "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] }] }),
    );
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        Match::object_like([
            ("TargetType", json!("ip").into()),
            ("Protocol", json!("TCP").into()),
            ("Port", json!(22).into()),
            ("HealthCheckProtocol", json!("TCP").into()),
            ("Targets", Match::absent()),
        ]),
    );
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({ "Port": 22, "Protocol": "TCP", "DefaultActions": [{ "Type": "forward" }] }),
    );
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", json!({ "CidrIp": "10.100.0.0/22", "FromPort": 22, "ToPort": 22, "GroupId": { "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] } }));
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", json!({ "GroupId": { "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] }, "SourceSecurityGroupId": { "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] }, "FromPort": 22 }));
    template.has_resource_properties(
        "AWS::SSM::Parameter",
        json!({ "Name": "/hyperpod/ml-slurm/login-target-group", "Value": { "Ref": "LoginLoginNodes" } }),
    );
    template.has_resource_properties(
        "AWS::IAM::RolePolicy",
        json!({ "RoleName": { "Ref": "SlurmLoginExecutionRole" }, "PolicyDocument": { "Statement": [{ "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"], "Resource": { "Ref": "LoginLoginNodes" } }] } }),
    );
    // The first login nodes find the parameter and their permission.
    template.has_resource(
        "AWS::SageMaker::Cluster",
        Match::object_like([(
            "DependsOn",
            Match::array_with([
                json!("LoginTargetGroupParameter").into(),
                json!("LoginLoginNodesRegister").into(),
            ]),
        )]),
    );
}

#[test]
fn bad_login_balancer_inputs_are_reported() {
    let (app, assets, stack, network) = app_with_network();
    let without_login = SlurmHyperPodCluster::new(
        &stack,
        "NoLogin",
        SlurmHyperPodClusterProps {
            cluster_name: "no-login".into(),
            login: None,
            fsx: None,
            ..slurm_props(&network, &assets)
        },
    );
    LoginNodeLoadBalancer::new(
        &stack,
        "Bad",
        LoginNodeLoadBalancerProps {
            cluster: without_login.clone(),
            allowed_sources: vec![
                SshSource::Cidr("0.0.0.0/0".into()),
                SshSource::Cidr("10.0.0.0/33".into()),
            ],
        },
    );
    LoginNodeLoadBalancer::new(
        &assets,
        "Elsewhere",
        LoginNodeLoadBalancerProps {
            cluster: without_login,
            allowed_sources: vec![],
        },
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Bad", "no_login_group"),
            ("a/Slurm/Bad", "ssh_open_to_the_world"),
            ("a/Slurm/Bad", "invalid_ssh_source"),
            ("a/Assets/Elsewhere", "no_ssh_sources"),
            ("a/Assets/Elsewhere", "load_balancer_in_other_stack"),
        ],
    );
}

#[test]
fn a_slurm_cluster_with_a_misspelled_type_an_empty_group_or_no_entry_script_is_refused() {
    let (app, assets, stack, network) = app_with_network();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("on_create.sh"), "#!/bin/bash\n").unwrap();
    SlurmHyperPodCluster::new(
        &stack,
        "Bad",
        SlurmHyperPodClusterProps {
            compute: vec![
                SlurmGroup::new("gpu", "ml.g5.8xlarg", 1),
                SlurmGroup::new("spare", "ml.g5.8xlarge", 0),
            ],
            lifecycle_scripts: folder.path().to_path_buf(),
            ..slurm_props(&network, &assets)
        },
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Bad", "unknown_instance_type"),
            ("a/Slurm/Bad", "empty_instance_group"),
            ("a/Slurm/Bad", "lifecycle_script_missing"),
        ],
    );
}
