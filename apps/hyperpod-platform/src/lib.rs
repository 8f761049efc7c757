//! The HyperPod platform over three accounts.
//!
//! - **A** (cluster): the network, the EKS-orchestrated HyperPod cluster with task
//!   governance, one quota, namespace, cluster-access role and access entry per team, and
//!   the teams' Pod Identity roles for data access.
//! - **B** (data scientists): one role per team, allowed to assume only its team's
//!   cluster-access role in A.
//! - **C** (data): the training-data bucket and one access point per team.
//!
//! The stacks deploy B, then A, then C: a trust or resource policy may only name roles
//! that already exist. Adding a team is one line in [`TEAMS`].

use std::path::PathBuf;

use hyperpod::{
    ComputeQuota, CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataNetworkPath,
    HyperPodEksCluster, HyperPodEksClusterProps, HyperPodNetwork, InstanceGroup, NetworkProps,
    QuotaInstanceType, TeamDataAccess, TeamMembers, TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::{App, Environment, Stack, StackProps, Stage, Tags};

/// The cluster's account (A).
pub const CLUSTER_ACCOUNT: &str = "111111111111";
/// The data scientists' account (B).
pub const DATA_SCIENTIST_ACCOUNT: &str = "222222222222";
/// The training data's account (C).
pub const DATA_ACCOUNT: &str = "333333333333";
/// The region of all three.
pub const REGION: &str = "us-east-1";
/// The role in the cluster's account whose holders administer the EKS cluster; nobody
/// else does (the identity that deploys gets no implicit admin).
pub const PLATFORM_ADMIN_ROLE: &str = "platform-admin";
/// The Availability Zones of the cluster's network, by ID: the first is where the HyperPod
/// capacity is (a reservation or a training plan), and where the instance groups run.
pub const AVAILABILITY_ZONE_IDS: &[&str] = &["use1-az2", "use1-az4"];

/// A team sharing the cluster.
pub struct Team {
    /// The team's name; its namespace is `hyperpod-ns-<name>`.
    pub name: &'static str,
    /// Its guaranteed ml.g5.8xlarge instances.
    pub gpu_instances: u32,
    /// Its weight in fair sharing (0 to 100).
    pub fair_share_weight: u32,
    /// The prefix of its training data in the data bucket.
    pub data_prefix: &'static str,
    /// The IAM Identity Center permission set of its members in the data scientists'
    /// account: only people assigned to it become the team's data scientists.
    pub permission_set: &'static str,
}

/// The teams: one line each.
pub const TEAMS: &[Team] = &[
    Team {
        name: "ml-research",
        gpu_instances: 4,
        fair_share_weight: 60,
        data_prefix: "datasets/ml-research/",
        permission_set: "MlResearchScientists",
    },
    Team {
        name: "ml-platform",
        gpu_instances: 2,
        fair_share_weight: 40,
        data_prefix: "datasets/ml-platform/",
        permission_set: "MlPlatformScientists",
    },
];

/// The service account the teams' training pods run as.
pub const TRAINING_SERVICE_ACCOUNT: &str = "training";

/// Builds the app.
pub fn app() -> App {
    let app = App::new("hyperpod-platform");
    Tags::of(&app).add("platform", "hyperpod");

    let cluster_stage = Stage::new(&app, "cluster", Environment::new(CLUSTER_ACCOUNT, REGION));
    let science_stage = Stage::new(
        &app,
        "science",
        Environment::new(DATA_SCIENTIST_ACCOUNT, REGION),
    );
    let data_stage = Stage::new(&app, "data", Environment::new(DATA_ACCOUNT, REGION));

    let assets = Stack::new(
        &cluster_stage,
        "ClusterAssets",
        StackProps {
            description: Some("HyperPod lifecycle scripts bucket".into()),
            ..StackProps::default()
        },
    );
    let platform = Stack::new(
        &cluster_stage,
        "Cluster",
        StackProps {
            description: Some("HyperPod on EKS with task governance, shared by teams".into()),
            termination_protection: true,
            ..StackProps::default()
        },
    );
    let scientists = Stack::new(
        &science_stage,
        "DataScientists",
        StackProps {
            description: Some("the teams' data-scientist roles".into()),
            ..StackProps::default()
        },
    );
    let data = Stack::new(
        &data_stage,
        "TrainingData",
        StackProps {
            description: Some("training data shared through one access point per team".into()),
            termination_protection: true,
            ..StackProps::default()
        },
    );

    let network = HyperPodNetwork::new(
        &platform,
        "Network",
        NetworkProps::new(AVAILABILITY_ZONE_IDS),
    );
    let cluster = HyperPodEksCluster::new(
        &platform,
        "HyperPod",
        HyperPodEksClusterProps {
            cluster_admins: vec![
                format!("arn:aws:iam::{CLUSTER_ACCOUNT}:role/{PLATFORM_ADMIN_ROLE}").into(),
            ],
            ..HyperPodEksClusterProps::new(
                "ml-cluster",
                network.refs().clone(),
                vec![
                    InstanceGroup::new("system", "ml.m5.2xlarge", 2),
                    InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 8),
                ],
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("lifecycle-scripts"),
                assets,
            )
        },
    );

    let teams: Vec<(&Team, TeamNamespace)> = TEAMS
        .iter()
        .map(|team| {
            let quota = ComputeQuota {
                fair_share_weight: team.fair_share_weight,
                ..ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, team.gpu_instances)])
            };
            let props = TeamNamespaceProps {
                service_accounts: vec![TRAINING_SERVICE_ACCOUNT.into()],
                ..TeamNamespaceProps::new(
                    team.name,
                    &cluster,
                    quota,
                    &scientists,
                    TeamMembers::PermissionSet(team.permission_set.into()),
                )
            };
            (team, TeamNamespace::new(&platform, team.name, props))
        })
        .collect();
    CrossAccountDataAccess::new(
        &platform,
        "TrainingData",
        CrossAccountDataAccessProps {
            data_stack: data.clone(),
            bucket: DataBucket::Create {
                bucket_name: None,
                kms: false,
            },
            teams: teams
                .iter()
                .map(|(team, namespace)| {
                    TeamDataAccess::read_only(namespace, TRAINING_SERVICE_ACCOUNT, team.data_prefix)
                })
                .collect(),
            // Team credentials read data only from inside the cluster's VPC.
            network_path: DataNetworkPath::ClusterS3Endpoint,
        },
    );
    app
}

/// The Rust examples of the workspace's README, compiled as doctests so that they keep
/// compiling as the constructs change (`tests/readme.rs` checks their formatting).
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeExamples;
