//! A Slurm HyperPod cluster with login nodes, reached over SSH through an internal
//! Network Load Balancer from AWS Client VPN, all in the cluster's account.
//!
//! Login nodes register themselves with the load balancer as they start (and deregister
//! the nodes they replace), and share one set of SSH host keys, through the lifecycle
//! script the Slurm construct adds; nothing in the app names their addresses.

use std::path::PathBuf;

use hyperpod::{
    ClientVpnAccess, ClientVpnAccessProps, DEFAULT_SCRIPT_WRITER, FsxLustre, HyperPodNetwork,
    LoginNodeLoadBalancer, LoginNodeLoadBalancerProps, NetworkProps, SlurmGroup,
    SlurmHyperPodCluster, SlurmHyperPodClusterProps, SshSource,
};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage, Tags};

/// The cluster's account.
pub const ACCOUNT: &str = "111111111111";
/// The region.
pub const REGION: &str = "us-east-1";
/// The Availability Zones of the network, by ID; the cluster and its file system run in
/// the first.
pub const AVAILABILITY_ZONE_IDS: &[&str] = &["use1-az2", "use1-az4"];
/// The range VPN clients get addresses from; it must not overlap the VPC.
pub const VPN_CLIENT_CIDR: &str = "10.100.0.0/22";
/// The server certificate of the VPN, imported into ACM.
pub const VPN_SERVER_CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:111111111111:certificate/11111111-2222-3333-4444-555555555555";
/// The CA certificate that signed the users' client certificates, imported into ACM.
pub const VPN_CLIENT_ROOT_CERTIFICATE: &str =
    "arn:aws:acm:us-east-1:111111111111:certificate/66666666-7777-8888-9999-000000000000";

/// Builds the app.
pub fn app() -> App {
    let app = App::new("slurm-login-access");
    Tags::of(&app).add("platform", "hyperpod-slurm");
    let stage = Stage::new(&app, "cluster", Environment::new(ACCOUNT, REGION));
    let assets = Stack::new(
        &stage,
        "SlurmAssets",
        StackProps {
            description: Some("lifecycle scripts of the Slurm cluster".into()),
            ..StackProps::default()
        },
    );
    let stack = Stack::new(&stage, "SlurmCluster", StackProps { description: Some("HyperPod on Slurm with login nodes behind a load balancer, reached through Client VPN".into()), termination_protection: true, ..StackProps::default() });

    let network = HyperPodNetwork::new(
        &stack,
        "Network",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::new(AVAILABILITY_ZONE_IDS)
        },
    );
    let cluster = SlurmHyperPodCluster::new(
        &stack,
        "Slurm",
        SlurmHyperPodClusterProps {
            cluster_name: "ml-slurm".into(),
            network: network.refs().clone(),
            availability_zone_id: None,
            controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
            login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
            compute: vec![SlurmGroup {
                partition: Some("gpu".into()),
                ..SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 4)
            }],
            lifecycle_scripts: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lifecycle-scripts"),
            lifecycle_bucket_stack: assets,
            script_writers: vec![DEFAULT_SCRIPT_WRITER.into()],
            fsx: Some(FsxLustre::default()),
        },
    );
    let vpn = ClientVpnAccess::new(
        &stack,
        "Vpn",
        ClientVpnAccessProps::new(
            network.refs().clone(),
            VPN_CLIENT_CIDR,
            VPN_SERVER_CERTIFICATE,
            VPN_CLIENT_ROOT_CERTIFICATE,
        ),
    );
    LoginNodeLoadBalancer::new(
        &stack,
        "LoginNodes",
        LoginNodeLoadBalancerProps {
            cluster,
            allowed_sources: vec![SshSource::SecurityGroup(vpn.security_group_id())],
        },
    );
    app
}
