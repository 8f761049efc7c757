//! One HyperPod cluster (account A) shared by the teams of three business units, each unit
//! in its own account (B1, B2, B3) holding its teams' data-scientist roles, with the
//! training data in account C.
//!
//! Every stack that holds team resources is sharded ([`StackProps::sharding`]): a team's
//! namespace, quota and roles in A, its role in its unit's account and its access point in
//! C each land in one shard stack of that account, placed once and kept there by
//! `placement.json`. However many teams there are, no template passes CloudFormation's
//! limits, and adding or removing a team changes one shard per account it touches.
//!
//! With `HYPERPOD_ROLES_STACK_SET=<administrator account>:<ou-id>` (or
//! [`OrgOptions::roles_stack_set`]) the data-scientist roles deploy instead as one
//! service-managed StackSet (sharded like the rest) reaching the business units' accounts
//! through their organizational unit: each team's role is confined to its unit's account,
//! and the deploy engine needs credentials for the administrator, not for each unit.

use std::path::PathBuf;

use hyperpod::{
    ComputeQuota, CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataNetworkPath,
    HyperPodEksCluster, HyperPodEksClusterProps, HyperPodNetwork, InstanceGroup, NetworkProps,
    QuotaInstanceType, TeamDataAccess, TeamMembers, TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::{
    App, Environment, Scope, Sharding, Stack, StackProps, StackSetCaller, StackSetDeployment,
    Stage, Tags,
};

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

/// The business unit (0, 1 or 2) that team `number` belongs to, with the default units.
pub fn business_unit(number: usize) -> usize {
    business_unit_of(number, BUSINESS_UNIT_ACCOUNTS.len())
}

/// How the app is laid out beyond its teams.
#[derive(Clone, Debug)]
pub struct OrgOptions {
    /// The limits of every shard.
    pub sharding: Sharding,
    /// The business units' accounts; team `n` belongs to unit `n % len` (default
    /// [`BUSINESS_UNIT_ACCOUNTS`]).
    pub business_units: Vec<String>,
    /// Deploys the teams' data-scientist roles as one StackSet reaching the business
    /// units' accounts through their organizational unit, instead of one stack per unit
    /// (default `None`: a stack per unit).
    pub roles_stack_set: Option<RolesStackSet>,
}

impl Default for OrgOptions {
    fn default() -> Self {
        OrgOptions {
            sharding: Sharding::default(),
            business_units: BUSINESS_UNIT_ACCOUNTS
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            roles_stack_set: None,
        }
    }
}

/// Where the StackSet of the data-scientist roles is administered and what it reaches.
#[derive(Clone, Debug)]
pub struct RolesStackSet {
    /// The organization's management account, or a delegated administrator for StackSets.
    pub administrator: Environment,
    /// Whether `administrator` is a delegated administrator.
    pub delegated: bool,
    /// The organizational units holding the business units' accounts.
    pub organizational_units: Vec<String>,
}

/// The options `HYPERPOD_ROLES_STACK_SET` asks for: unset, one stack per business unit;
/// `<account>:<ou-id>[,<ou-id>…]`, a StackSet administered from that account (the
/// management account) reaching those organizational units.
pub fn options_from_env() -> Result<OrgOptions, String> {
    let mut options = OrgOptions::default();
    if let Ok(text) = std::env::var("HYPERPOD_ROLES_STACK_SET") {
        let (administrator, organizational_unit) = text.trim().split_once(':').ok_or_else(|| {
            format!("HYPERPOD_ROLES_STACK_SET is `{text}`; give `<administrator account>:<organizational unit id>`, such as `666666666666:ou-ab12-cdef3456`")
        })?;
        options.roles_stack_set = Some(RolesStackSet {
            administrator: Environment::new(administrator, REGION),
            delegated: false,
            organizational_units: organizational_unit
                .split(',')
                .map(|unit| unit.trim().to_owned())
                .collect(),
        });
    }
    Ok(options)
}

/// The business unit (an index into [`OrgOptions::business_units`]) team `number` of an
/// app with `units` units belongs to.
pub fn business_unit_of(number: usize, units: usize) -> usize {
    number % units.max(1)
}

/// The app with the teams of the given numbers, in that order, sharded by the default
/// limits.
pub fn app(teams: impl IntoIterator<Item = usize>) -> App {
    app_with(teams, &Sharding::default())
}

/// The app with the teams of the given numbers, in that order, every team-holding stack
/// sharded by `sharding`.
pub fn app_with(teams: impl IntoIterator<Item = usize>, sharding: &Sharding) -> App {
    app_with_options(
        teams,
        &OrgOptions {
            sharding: sharding.clone(),
            ..OrgOptions::default()
        },
    )
}

/// The app with the teams of the given numbers, in that order, laid out by `options`.
pub fn app_with_options(teams: impl IntoIterator<Item = usize>, options: &OrgOptions) -> App {
    let teams: Vec<usize> = teams.into_iter().collect();
    let app = App::new("hyperpod-org");
    Tags::of(&app).add("platform", "hyperpod");
    let sharded = |description: &str, termination_protection: bool| StackProps {
        description: Some(description.into()),
        termination_protection,
        sharding: Some(options.sharding.clone()),
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
    // Per business unit: the stack holding its teams' data-scientist roles, and the unit's
    // account when that stack is a StackSet (which reaches every unit).
    let scientists: Vec<(Stack, Option<String>)> = match &options.roles_stack_set {
        None => options
            .business_units
            .iter()
            .enumerate()
            .map(|(unit, account)| {
                let stage = Stage::new(
                    &app,
                    &format!("unit-{}", unit + 1),
                    Environment::new(account, REGION),
                );
                let stack = Stack::new(
                    &stage,
                    "DataScientists",
                    sharded(
                        "the data-scientist roles of the business unit's teams",
                        false,
                    ),
                );
                (stack, None)
            })
            .collect(),
        Some(stack_set) => {
            let stage = Stage::new(&app, "units", stack_set.administrator.clone());
            let stack = Stack::new(
                &stage,
                "DataScientists",
                StackProps {
                    stack_set: Some(StackSetDeployment {
                        caller: if stack_set.delegated {
                            StackSetCaller::DelegatedAdministrator
                        } else {
                            StackSetCaller::ManagementAccount
                        },
                        ..StackSetDeployment::new(&stack_set.organizational_units)
                    }),
                    ..sharded(
                        "the data-scientist roles of the business units' teams, each in its unit's account",
                        false,
                    )
                },
            );
            options
                .business_units
                .iter()
                .map(|account| (stack.clone(), Some(account.clone())))
                .collect()
        }
    };
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
    if scientists.is_empty() && !teams.is_empty() {
        app.node().report(
            "no_business_units",
            "the teams need at least one business unit's account for their data scientists; give `OrgOptions::business_units`",
        );
    }
    let namespaces: Vec<TeamNamespace> = teams
        .iter()
        .filter(|_| !scientists.is_empty())
        .map(|&number| {
            let name = team_name(number);
            let (scientist_stack, scientist_account) =
                &scientists[business_unit_of(number, scientists.len())];
            let props = TeamNamespaceProps {
                service_accounts: vec![TRAINING_SERVICE_ACCOUNT.into()],
                data_scientist_account: scientist_account.clone(),
                ..TeamNamespaceProps::new(
                    &name,
                    &cluster,
                    ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
                    scientist_stack,
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
