//! The Slurm cluster, the login-node load balancer and Client VPN access.

use std::path::PathBuf;

use hyperpod::{
    ClientVpnAccess, ClientVpnAccessProps, FsxLustre, HyperPodNetwork, LoginNodeLoadBalancer,
    LoginNodeLoadBalancerProps, NetworkProps, NetworkRefs, SlurmGroup, SlurmHyperPodCluster,
    SlurmHyperPodClusterProps, SshSource,
};
use hyperpod_core::assertions::{Match, Template};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage, Value};
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
            ..NetworkProps::default()
        },
    );
    (app, assets, stack, network.refs().clone())
}

fn slurm_props(network: &NetworkRefs, assets: &Stack) -> SlurmHyperPodClusterProps {
    SlurmHyperPodClusterProps {
        cluster_name: "ml-slurm".into(),
        network: network.clone(),
        controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
        login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
        compute: vec![SlurmGroup {
            partition: Some("gpu".into()),
            ..SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 4)
        }],
        lifecycle_scripts: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../apps/slurm-login-access/lifecycle-scripts"),
        lifecycle_bucket_stack: assets.clone(),
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
    template.has_resource_properties("AWS::FSx::FileSystem", json!({ "FileSystemType": "LUSTRE", "StorageCapacity": 1200, "LustreConfiguration": { "DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 250 } }));
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([("InstanceGroups", Match::array_with([Match::object_like([("InstanceStorageConfigs", Match::array_with([json!({ "FsxLustreConfig": { "DnsName": { "Fn::GetAtt": ["ClusterLustre", "DNSName"] } } }).into()]))])]))]),
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
            }),
            ..slurm_props(&network, &assets)
        },
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Bad", "invalid_cluster_name"),
            ("a/Slurm/Bad", "invalid_controller_count"),
            ("a/Slurm/Bad", "no_compute_groups"),
            ("a/Slurm/Bad", "partition_on_non_compute_group"),
            ("a/Slurm/Bad", "invalid_fsx_capacity"),
            ("a/Slurm/Bad", "invalid_fsx_throughput"),
            ("a/Slurm/Bad", "invalid_partition_name"),
        ],
    );
}

fn balancer_props(network: &NetworkRefs) -> LoginNodeLoadBalancerProps {
    LoginNodeLoadBalancerProps {
        network: network.clone(),
        login_node_addresses: vec!["10.192.0.10".into(), "10.192.64.10".into()],
        allowed_sources: vec![SshSource::Cidr("10.100.0.0/22".into())],
        shared_host_keys_for_role: None,
    }
}

#[test]
fn the_login_load_balancer_is_internal_tcp_22_to_ip_targets_with_health_checks() {
    let (_app, _assets, stack, network) = app_with_network();
    let balancer = LoginNodeLoadBalancer::new(
        &stack,
        "Login",
        LoginNodeLoadBalancerProps {
            login_node_addresses: vec!["10.192.0.10".into(), "172.16.0.5".into()],
            shared_host_keys_for_role: Some("nodes-role".into()),
            ..balancer_props(&network)
        },
    );
    assert!(balancer.host_keys_secret().is_some());
    let template = Template::from_stack(&stack);
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        json!({ "Type": "network", "Scheme": "internal", "Subnets": [{ "Ref": "NetworkPrivate1" }, { "Ref": "NetworkPrivate2" }], "SecurityGroups": [{ "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] }] }),
    );
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        json!({ "TargetType": "ip", "Protocol": "TCP", "Port": 22, "HealthCheckProtocol": "TCP", "Targets": [{ "Id": "10.192.0.10", "Port": 22 }, { "Id": "172.16.0.5", "Port": 22, "AvailabilityZone": "all" }] }),
    );
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        Match::object_like([(
            "Targets",
            Match::array_with([Match::object_like([
                ("Id", json!("10.192.0.10").into()),
                ("AvailabilityZone", Match::absent()),
            ])]),
        )]),
    );
    template.has_resource_properties(
        "AWS::ElasticLoadBalancingV2::Listener",
        json!({ "Port": 22, "Protocol": "TCP", "DefaultActions": [{ "Type": "forward" }] }),
    );
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", json!({ "CidrIp": "10.100.0.0/22", "FromPort": 22, "ToPort": 22, "GroupId": { "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] } }));
    template.has_resource_properties("AWS::EC2::SecurityGroupIngress", json!({ "GroupId": { "Fn::GetAtt": ["NetworkSecurityGroup", "GroupId"] }, "SourceSecurityGroupId": { "Fn::GetAtt": ["LoginSecurityGroup", "GroupId"] }, "FromPort": 22 }));
    template.has_resource(
        "AWS::SecretsManager::Secret",
        json!({ "DeletionPolicy": "Retain" }),
    );
    template.has_resource_properties("AWS::IAM::RolePolicy", json!({ "RoleName": "nodes-role", "PolicyDocument": { "Statement": [{ "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"] }] } }));
}

#[test]
fn bad_login_balancer_inputs_are_reported() {
    let (app, _assets, stack, network) = app_with_network();
    LoginNodeLoadBalancer::new(
        &stack,
        "Bad",
        LoginNodeLoadBalancerProps {
            login_node_addresses: vec![
                "8.8.8.8".into(),
                "10.192.0.10".into(),
                "10.192.0.10".into(),
                "login-1".into(),
            ],
            allowed_sources: vec![
                SshSource::Cidr("0.0.0.0/0".into()),
                SshSource::Cidr("10.0.0.0/33".into()),
            ],
            ..balancer_props(&network)
        },
    );
    LoginNodeLoadBalancer::new(
        &stack,
        "Empty",
        LoginNodeLoadBalancerProps {
            login_node_addresses: vec![],
            allowed_sources: vec![],
            ..balancer_props(&network)
        },
    );
    assert_problems(
        &app,
        &[
            ("a/Slurm/Bad", "public_login_node_address"),
            ("a/Slurm/Bad", "duplicate_login_node"),
            ("a/Slurm/Bad", "invalid_login_node_address"),
            ("a/Slurm/Bad", "ssh_open_to_the_world"),
            ("a/Slurm/Bad", "invalid_ssh_source"),
            ("a/Slurm/Empty", "no_login_nodes"),
            ("a/Slurm/Empty", "no_ssh_sources"),
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
            additional_routes: vec!["10.1.0.0/16".into()],
            ..ClientVpnAccessProps::new(network, "10.100.0.0/22", SERVER, CLIENT_CA)
        },
    );
    let template = Template::from_stack(&stack);
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
    template.has_resource_properties("AWS::Logs::LogGroup", json!({ "RetentionInDays": 90 }));
    template.resource_count_is("AWS::EC2::ClientVpnTargetNetworkAssociation", 2);
    template.has_resource("AWS::EC2::ClientVpnTargetNetworkAssociation", json!({ "DependsOn": ["VpnAssociation1"], "Properties": { "SubnetId": { "Ref": "NetworkPrivate2" } } }));
    template.has_resource_properties(
        "AWS::EC2::ClientVpnAuthorizationRule",
        json!({ "TargetNetworkCidr": "10.192.0.0/16", "AuthorizeAllGroups": true }),
    );
    template.resource_count_is("AWS::EC2::ClientVpnRoute", 2);
    template.has_resource("AWS::EC2::ClientVpnRoute", json!({ "DependsOn": ["VpnAssociation2"], "Properties": { "DestinationCidrBlock": "10.1.0.0/16", "TargetVpcSubnetId": { "Ref": "NetworkPrivate2" } } }));
}

#[test]
fn no_route_is_added_for_the_vpc_itself() {
    let (_app, _assets, stack, network) = app_with_network();
    ClientVpnAccess::new(
        &stack,
        "Vpn",
        ClientVpnAccessProps::new(network, "10.100.0.0/22", SERVER, CLIENT_CA),
    );
    Template::from_stack(&stack).resource_count_is("AWS::EC2::ClientVpnRoute", 0);
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
                    private_subnet_ids: vec![],
                    private_subnet_zones: vec![],
                    ..network.clone()
                },
                "10.100.0.0/22",
                SERVER,
                CLIENT_CA,
            )
        },
    );
    let one_zone = NetworkRefs {
        private_subnet_zones: vec![Value::from("us-east-1a"), Value::from("us-east-1a")],
        ..network
    };
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
