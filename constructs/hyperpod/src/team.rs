//! A task-governance team: its compute quota, its namespace, and who may use it.

use hyperpod_cfn::{eks, sagemaker};
use hyperpod_core::{Construct, Node, Scope, Stack, Value, fns};
use hyperpod_iam::{PolicyDocument, Principal, Role, RoleProps, Statement, role_arn};

use crate::eks::HyperPodEksCluster;

pub use sagemaker::compute_quota::ComputeQuotaResourceConfigInstanceType as QuotaInstanceType;

/// The prefix of the namespace task governance creates for a team.
pub const NAMESPACE_PREFIX: &str = "hyperpod-ns-";

/// How a team lends and borrows idle compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SharingStrategy {
    /// Lends its idle compute and borrows others' (the default).
    LendAndBorrow,
    /// Lends only.
    Lend,
    /// Neither lends nor borrows.
    DontLend,
}

/// Whether a team's tasks may preempt its own lower-priority tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preemption {
    /// Higher-priority tasks preempt lower-priority ones of the team (the default).
    LowerPriority,
    /// Never.
    Never,
}

/// A team's compute quota.
#[derive(Clone, Debug)]
pub struct ComputeQuota {
    /// Instances per type, at most 15 types.
    pub instances: Vec<(QuotaInstanceType, u32)>,
    /// The sharing strategy.
    pub sharing: SharingStrategy,
    /// How much idle compute the team may borrow, in percent of its quota (1 to 500; only
    /// with `LendAndBorrow`).
    pub borrow_limit: Option<u32>,
    /// The team's weight in fair sharing, 0 to 100.
    pub fair_share_weight: u32,
    /// Preemption within the team.
    pub preemption: Preemption,
}

impl ComputeQuota {
    /// A quota of instances, lending and borrowing up to 50 %, weight 0, preempting lower
    /// priorities.
    pub fn new(instances: Vec<(QuotaInstanceType, u32)>) -> ComputeQuota {
        ComputeQuota {
            instances,
            sharing: SharingStrategy::LendAndBorrow,
            borrow_limit: Some(50),
            fair_share_weight: 0,
            preemption: Preemption::LowerPriority,
        }
    }
}

/// What a team's members may do in its namespace.
#[derive(Clone, Debug)]
pub enum NamespaceAccess {
    /// `AmazonEKSEditPolicy` scoped to the team's namespace (the default).
    EditPolicy,
    /// Kubernetes groups, bound to roles by charts installed elsewhere.
    KubernetesGroups(Vec<String>),
}

/// The options of a [`TeamNamespace`].
#[derive(Clone, Debug)]
pub struct TeamNamespaceProps {
    /// The team's name: lowercase letters, digits and hyphens, starting and ending with a
    /// letter or digit, at most 40 (so that `hyperpod-ns-<team>-localqueue` stays a valid
    /// label). Changing it replaces the quota and the namespace.
    pub team_name: String,
    /// The cluster, with task governance on.
    pub cluster: HyperPodEksCluster,
    /// The quota.
    pub quota: ComputeQuota,
    /// The stack of the data scientists' account (B) that holds the team's role.
    pub data_scientist_stack: Stack,
    /// What members may do in the namespace.
    pub access: NamespaceAccess,
}

/// A task-governance team: its compute quota (task governance then creates the namespace
/// `hyperpod-ns-<team>`; this construct never creates it), a cluster-access role in the
/// cluster's account that trusts only the team's data-scientist role in the data
/// scientists' account, that role (allowed to assume only the cluster-access role), and an
/// EKS access entry scoped to the namespace.
///
/// IAM refuses a trust policy naming a role that does not exist yet, so the cluster's stack
/// is made to deploy after the data scientists' stack.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// # let scripts = std::env::temp_dir().join("hyperpod-doc-lcs");
/// # std::fs::create_dir_all(&scripts).unwrap();
/// # std::fs::write(scripts.join("on_create.sh"), "#!/bin/bash\n").unwrap();
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let b = Stage::new(&app, "science", Environment::new("222222222222", "us-east-1"));
/// let assets = Stack::new(&a, "Assets", StackProps::default());
/// let platform = Stack::new(&a, "Cluster", StackProps::default());
/// let scientists = Stack::new(&b, "Scientists", StackProps::default());
/// let network = HyperPodNetwork::new(&platform, "Network", NetworkProps::default());
/// let cluster = HyperPodEksCluster::new(&platform, "HyperPod", HyperPodEksClusterProps::new(
///     "ml-cluster", network.refs().clone(),
///     vec![InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 4)], scripts, assets,
/// ));
/// let team = TeamNamespace::new(&platform, "MlResearch", TeamNamespaceProps {
///     team_name: "ml-research".into(),
///     cluster: cluster.clone(),
///     quota: ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 2)]),
///     data_scientist_stack: scientists,
///     access: NamespaceAccess::EditPolicy,
/// });
/// assert_eq!(team.namespace().as_literal(), Some("hyperpod-ns-ml-research"));
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct TeamNamespace {
    construct: Construct,
    team_name: String,
    cluster_access_role: Role,
    data_scientist_role: Role,
}

impl TeamNamespace {
    /// Declares the team.
    pub fn new(scope: &impl Scope, id: &str, props: TeamNamespaceProps) -> TeamNamespace {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let team = props.team_name.clone();
        check_props(&node, &props);
        let cluster_account = Stack::of(&construct)
            .map(|stack| stack.stage().env().account)
            .unwrap_or_default();
        let scientist_account = props.data_scientist_stack.stage().env().account;
        let access_role_name = format!("{team}-cluster-access");
        let scientist_role_name = format!("{team}-data-scientist");

        let quota = quota(&construct, &props);

        let data_scientist_role = Role::new(
            &Construct::new(
                &props.data_scientist_stack,
                &format!(
                    "Team{}",
                    hyperpod_core::logical_id::derive(std::slice::from_ref(&team))
                        .unwrap_or_default()
                ),
            ),
            "DataScientistRole",
            RoleProps {
                role_name: Some(scientist_role_name.clone()),
                description: Some(format!("data scientists of team {team}")),
                inline_policies: vec![(
                    "assume-cluster-access".into(),
                    PolicyDocument::new([Statement::allow()
                        .sid("ClusterAccess")
                        .action("sts:AssumeRole")
                        .resource(role_arn(&cluster_account, &access_role_name))]),
                )],
                ..RoleProps::new(Principal::account(&scientist_account).trust())
            },
        );
        let cluster_access_role = Role::new(
            &construct,
            "ClusterAccessRole",
            RoleProps {
                role_name: Some(access_role_name),
                description: Some(format!(
                    "cluster access of team {team}, assumed from its data-scientist role"
                )),
                inline_policies: vec![(
                    "describe-cluster".into(),
                    PolicyDocument::new([Statement::allow()
                        .action("eks:DescribeCluster")
                        .resource(props.cluster.eks_cluster().arn())]),
                )],
                ..RoleProps::new(Principal::role(&scientist_account, &scientist_role_name).trust())
            },
        );
        // IAM checks that a trust policy's principal exists: the data scientists' stack first.
        if let Some(stack) = Stack::of(&construct) {
            stack.add_dependency(&props.data_scientist_stack);
        }

        let namespace = format!("{NAMESPACE_PREFIX}{team}");
        let entry = match &props.access {
            NamespaceAccess::EditPolicy => eks::AccessEntryProps {
                access_policies: Some(
                    vec![eks::access_entry::AccessPolicy::new(
                        eks::access_entry::AccessScope { namespaces: Some(vec![namespace.as_str()].into()), ..eks::access_entry::AccessScope::new(eks::access_entry::AccessScopeType::Namespace) },
                        fns::sub::<&str>("arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy", []),
                    )]
                    .into(),
                ),
                type_: Some("STANDARD".into()),
                ..eks::AccessEntryProps::new(props.cluster.eks_cluster_name(), cluster_access_role.arn())
            },
            NamespaceAccess::KubernetesGroups(groups) => eks::AccessEntryProps {
                kubernetes_groups: Some(groups.iter().map(String::as_str).collect::<Vec<_>>().into()),
                type_: Some("STANDARD".into()),
                ..eks::AccessEntryProps::new(props.cluster.eks_cluster_name(), cluster_access_role.arn())
            },
        };
        let entry = eks::CfnAccessEntry::new(&construct, "AccessEntry", entry);
        // Torn down before the quota, which removes the namespace.
        entry.add_depends_on(&quota);

        TeamNamespace {
            construct,
            team_name: team,
            cluster_access_role,
            data_scientist_role,
        }
    }

    /// The team's name.
    pub fn team_name(&self) -> &str {
        &self.team_name
    }

    /// The team's namespace, created by task governance.
    pub fn namespace(&self) -> Value<String> {
        format!("{NAMESPACE_PREFIX}{}", self.team_name).into()
    }

    /// The role in the cluster's account that team members assume to reach the cluster.
    pub fn cluster_access_role(&self) -> &Role {
        &self.cluster_access_role
    }

    /// The team's role in the data scientists' account.
    pub fn data_scientist_role(&self) -> &Role {
        &self.data_scientist_role
    }
}

impl Scope for TeamNamespace {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

fn quota(construct: &Construct, props: &TeamNamespaceProps) -> sagemaker::CfnComputeQuota {
    use sagemaker::compute_quota::{
        ComputeQuotaConfig, ComputeQuotaConfigPreemptTeamTasks, ComputeQuotaResourceConfig,
        ComputeQuotaTarget, ResourceSharingConfig, ResourceSharingConfigStrategy,
    };
    let quota = &props.quota;
    let strategy = match quota.sharing {
        SharingStrategy::LendAndBorrow => ResourceSharingConfigStrategy::LendAndBorrow,
        SharingStrategy::Lend => ResourceSharingConfigStrategy::Lend,
        SharingStrategy::DontLend => ResourceSharingConfigStrategy::DontLend,
    };
    let preempt = match quota.preemption {
        Preemption::LowerPriority => ComputeQuotaConfigPreemptTeamTasks::LowerPriority,
        Preemption::Never => ComputeQuotaConfigPreemptTeamTasks::Never,
    };
    let resources = quota.instances.iter().map(|(instance_type, count)| {
        ComputeQuotaResourceConfig {
            count: Some(i64::from(*count).into()),
            ..ComputeQuotaResourceConfig::new(instance_type.clone())
        }
        .into()
    });
    let compute_quota = sagemaker::CfnComputeQuota::new(
        construct,
        "ComputeQuota",
        sagemaker::ComputeQuotaProps::new(
            props.cluster.cluster_arn(),
            ComputeQuotaConfig {
                compute_quota_resources: Some(Value::list(resources)),
                resource_sharing_config: Some(
                    ResourceSharingConfig {
                        borrow_limit: (quota.sharing == SharingStrategy::LendAndBorrow)
                            .then_some(quota.borrow_limit)
                            .flatten()
                            .map(|limit| i64::from(limit).into()),
                        ..ResourceSharingConfig::new(strategy)
                    }
                    .into(),
                ),
                preempt_team_tasks: Some(preempt.into()),
            },
            ComputeQuotaTarget {
                fair_share_weight: Some(i64::from(quota.fair_share_weight).into()),
                ..ComputeQuotaTarget::new(props.team_name.as_str())
            },
            format!("{}-quota", props.team_name),
        ),
    );
    if let Some(scheduler) = props.cluster.scheduler_config() {
        compute_quota.add_depends_on(scheduler);
    }
    compute_quota
}

fn check_props(node: &Node, props: &TeamNamespaceProps) {
    let team = &props.team_name;
    if !crate::is_team_name(team) {
        node.report("invalid_team_name", format!("team name `{team}` must be 1 to 40 lowercase letters, digits and hyphens, starting and ending with a letter or digit; rename the team"));
    }
    if props.cluster.scheduler_config().is_none() {
        node.report("task_governance_off", format!("team `{team}` needs task governance on its cluster; set `task_governance` on the cluster"));
    }
    let quota = &props.quota;
    if quota.instances.is_empty() || quota.instances.len() > 15 {
        node.report(
            "invalid_quota_instances",
            format!(
                "the quota names {} instance types; name 1 to 15",
                quota.instances.len()
            ),
        );
    }
    if quota.fair_share_weight > 100 {
        node.report(
            "invalid_fair_share_weight",
            format!(
                "fair_share_weight {} is above 100; use 0 to 100",
                quota.fair_share_weight
            ),
        );
    }
    if let Some(limit) = quota.borrow_limit {
        if !(1..=500).contains(&limit) {
            node.report(
                "invalid_borrow_limit",
                format!("borrow_limit {limit}% is outside 1 to 500; choose a value in that range"),
            );
        }
        if quota.sharing != SharingStrategy::LendAndBorrow {
            node.report(
                "borrow_limit_without_borrowing",
                "borrow_limit applies only with LendAndBorrow; remove it or change the strategy",
            );
        }
    }
    if let NamespaceAccess::KubernetesGroups(groups) = &props.access
        && groups.is_empty()
    {
        node.report("no_kubernetes_groups", "NamespaceAccess::KubernetesGroups needs at least one group; name them or use EditPolicy");
    }
    if let Some(stack) = node.scope().and_then(|scope| Stack::of(&scope))
        && stack.stage().env().account == props.data_scientist_stack.stage().env().account
    {
        node.report("data_scientists_in_cluster_account", "the data scientists' stack is in the cluster's account; give the stack of their own account");
    }
}
