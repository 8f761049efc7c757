//! One HyperPod cluster (account A) shared by the teams of three business units, each unit
//! in its own account (B1, B2, B3) holding its teams' data-scientist roles, with the
//! training data in account C.
//!
//! Every stack that holds team resources is sharded ([`StackProps::sharding`]): a team's
//! namespace, quota and roles in A, its role in its unit's account and its access point in
//! C each land in one shard stack of that account, placed once and kept there by
//! `placement.json`. However many teams there are, no template passes CloudFormation's
//! limits, and adding or removing a team changes one shard per account it touches.

use std::path::PathBuf;

use hyperpod::{
    ComputeQuota, CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataNetworkPath,
    HyperPodEksCluster, HyperPodEksClusterProps, HyperPodNetwork, InstanceGroup, NetworkProps,
    QuotaInstanceType, TeamDataAccess, TeamMembers, TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::{App, Environment, Sharding, Stack, StackProps, Stage, Tags};

/// The account of the cluster (A).
pub const CLUSTER_ACCOUNT: &str = "111111111111";
/// The accounts of the business units (B1, B2, B3), which hold their teams' roles.
pub const BUSINESS_UNIT_ACCOUNTS: [&str; 3] = ["222222222222", "444444444444", "555555555555"];
/// The account of the training data (C).
pub const DATA_ACCOUNT: &str = "333333333333";
/// The region of every account.
pub const REGION: &str = "us-east-1";
/// Teams when `HYPERPOD_TEAMS` is not set.
pub const DEFAULT_TEAMS: usize = 12;
/// The most teams the cluster has quota for: one GPU instance each.
pub const MAX_TEAMS: usize = 1000;
/// The cluster's GPU instances, fixed so that adding a team changes only the team's shards.
const GPU_INSTANCES: u32 = 1000;
/// The service account the teams' pods read their data as.
pub const TRAINING_SERVICE_ACCOUNT: &str = "training";

/// The number of teams `HYPERPOD_TEAMS` asks for, or [`DEFAULT_TEAMS`].
pub fn teams_from_env() -> Result<usize, String> {
    match std::env::var("HYPERPOD_TEAMS") {
        Err(_) => Ok(DEFAULT_TEAMS),
        Ok(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|teams| (1..=MAX_TEAMS).contains(teams))
            .ok_or_else(|| {
                format!("HYPERPOD_TEAMS is `{text}`; give a number of teams from 1 to {MAX_TEAMS}")
            }),
    }
}

/// The name of team `number`.
pub fn team_name(number: usize) -> String {
    format!("team-{number:04}")
}

/// The business unit (0, 1 or 2) that team `number` belongs to.
pub fn business_unit(number: usize) -> usize {
    number % BUSINESS_UNIT_ACCOUNTS.len()
}

/// The app with the teams of the given numbers, in that order, sharded by the default
/// limits.
pub fn app(teams: impl IntoIterator<Item = usize>) -> App {
    app_with(teams, &Sharding::default())
}

/// The app with the teams of the given numbers, in that order, every team-holding stack
/// sharded by `sharding`.
pub fn app_with(teams: impl IntoIterator<Item = usize>, sharding: &Sharding) -> App {
    let teams: Vec<usize> = teams.into_iter().collect();
    let app = App::new("hyperpod-org");
    Tags::of(&app).add("platform", "hyperpod");
    let sharded = |description: &str, termination_protection: bool| StackProps {
        description: Some(description.into()),
        termination_protection,
        sharding: Some(sharding.clone()),
        ..StackProps::default()
    };

    let cluster_stage = Stage::new(&app, "cluster", Environment::new(CLUSTER_ACCOUNT, REGION));
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
        sharded(
            "HyperPod on EKS with task governance, shared by the business units' teams",
            true,
        ),
    );
    let units: Vec<Stack> = BUSINESS_UNIT_ACCOUNTS
        .iter()
        .enumerate()
        .map(|(unit, account)| {
            let stage = Stage::new(
                &app,
                &format!("unit-{}", unit + 1),
                Environment::new(account, REGION),
            );
            Stack::new(
                &stage,
                "DataScientists",
                sharded(
                    "the data-scientist roles of the business unit's teams",
                    false,
                ),
            )
        })
        .collect();
    let data_stage = Stage::new(&app, "data", Environment::new(DATA_ACCOUNT, REGION));
    let data = Stack::new(
        &data_stage,
        "TrainingData",
        sharded(
            "training data shared through one access point per team",
            true,
        ),
    );

    let network = HyperPodNetwork::new(
        &platform,
        "Network",
        NetworkProps::new(&["use1-az2", "use1-az4"]),
    );
    let cluster = HyperPodEksCluster::new(
        &platform,
        "HyperPod",
        HyperPodEksClusterProps::new(
            "org-cluster",
            network.refs().clone(),
            vec![
                InstanceGroup::new("system", "ml.m5.2xlarge", 2),
                InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", GPU_INSTANCES),
            ],
            // The same base configuration as the three-account example's nodes.
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../hyperpod-platform/lifecycle-scripts"),
            assets,
        ),
    );
    let namespaces: Vec<TeamNamespace> = teams
        .iter()
        .map(|&number| {
            let name = team_name(number);
            let props = TeamNamespaceProps {
                service_accounts: vec![TRAINING_SERVICE_ACCOUNT.into()],
                ..TeamNamespaceProps::new(
                    &name,
                    &cluster,
                    ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
                    &units[business_unit(number)],
                    TeamMembers::PermissionSet(format!("Team{number:04}Scientists")),
                )
            };
            TeamNamespace::new(&platform, &name, props)
        })
        .collect();
    CrossAccountDataAccess::new(
        &platform,
        "TrainingData",
        CrossAccountDataAccessProps {
            data_stack: data,
            bucket: DataBucket::Create {
                bucket_name: None,
                kms: true,
            },
            teams: namespaces
                .iter()
                .map(|namespace| {
                    let prefix = format!("datasets/{}/", namespace.team_name());
                    TeamDataAccess::read_only(namespace, TRAINING_SERVICE_ACCOUNT, &prefix)
                })
                .collect(),
            network_path: DataNetworkPath::ClusterS3Endpoint,
        },
    );
    app
}
