//! A task-governance team: its compute quota, its namespace's Kubernetes objects, and who
//! may use it.

use hyperpod_cfn::{eks, sagemaker};
use hyperpod_core::{Construct, Expr, Node, Scope, Stack, Value, fns};
use hyperpod_iam::{
    Condition, ConditionOperator, PolicyDocument, Principal, Role, RoleProps, Statement, role_arn,
};

use crate::eks::{HyperPodEksCluster, RegisteredTeam};
use crate::kubernetes::{
    KubernetesManifest, KubernetesManifestProps, KubernetesObject, PolicyRule, Subject,
};
use crate::members::TeamMembers;

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
    /// Instances per type, at most 15 types, each a type the cluster has.
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceAccess {
    /// The roles of the HyperPod chart's `team-role-and-bindings` (PyTorchJobs, Kueue
    /// workloads, jobs, pods and their logs in the namespace; read of the team's cluster
    /// queue and the priority classes), plus `HyperPodPyTorchJob`, installed here and
    /// bound to the Kubernetes group `hyperpod-ns-<team>-namespace-level-group` of the
    /// team's access entry (the default).
    TeamRole,
    /// The team role and `AmazonEKSEditPolicy` scoped to the namespace (the rest of what
    /// Kubernetes' `edit` role allows: deployments, services, and so on).
    TeamRoleAndEditPolicy,
    /// Kubernetes groups, bound to roles by something else.
    KubernetesGroups(Vec<String>),
}

/// The Pod Security Standard enforced on a team's namespace
/// (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>): a pod that breaks
/// it is refused when it is created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PodSecurity {
    /// No privileged containers, host namespaces, host paths, host ports or added
    /// capabilities beyond the defaults: nothing that reaches the node (the default).
    #[default]
    Baseline,
    /// Baseline, and pods run as non-root without privilege escalation, with every
    /// capability dropped and the runtime's seccomp profile.
    Restricted,
}

impl PodSecurity {
    fn level(self) -> &'static str {
        match self {
            PodSecurity::Baseline => "baseline",
            PodSecurity::Restricted => "restricted",
        }
    }

    /// The namespace labels of Pod Security admission: the level enforced, and warnings
    /// and audit records at `restricted`, so that a team sees what a stricter level would
    /// refuse.
    pub(crate) fn labels(self) -> Vec<(String, String)> {
        [
            ("pod-security.kubernetes.io/enforce", self.level()),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
            ("pod-security.kubernetes.io/warn", "restricted"),
            ("pod-security.kubernetes.io/audit", "restricted"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }
}

/// The label on every team namespace: the isolation policy of each team admits other
/// namespaces only when they do not carry it. Only cluster admins may label namespaces.
pub const TEAM_NAMESPACE_LABEL: &str = "hyperpod.platform/team";

/// Admits traffic into the team's pods only from the team's own pods and from namespaces
/// that belong to no team (the cluster's system namespaces: operators, observability).
/// The VPC CNI's agent always admits the pod's own node, so kubelet probes pass.
fn isolate_from_other_teams(namespace: &str) -> KubernetesObject {
    KubernetesObject::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some(namespace),
        "isolate-from-other-teams",
        [(
            "spec",
            Expr::map([
                ("podSelector", Expr::map::<&str>([])),
                ("policyTypes", Expr::list([Expr::from("Ingress")])),
                (
                    "ingress",
                    Expr::list([Expr::map([(
                        "from",
                        Expr::list([
                            Expr::map([("podSelector", Expr::map::<&str>([]))]),
                            Expr::map([(
                                "namespaceSelector",
                                Expr::map([(
                                    "matchExpressions",
                                    Expr::list([Expr::map([
                                        ("key", Expr::from(TEAM_NAMESPACE_LABEL)),
                                        ("operator", Expr::from("DoesNotExist")),
                                    ])]),
                                )]),
                            )]),
                        ]),
                    )])]),
                ),
            ]),
        )],
    )
}

/// Keeps the team's pods from the node's instance metadata (and so from the execution
/// role's credentials) while leaving every other destination, the Pod Identity agent's
/// 169.254.170.23 included, open. The VPC CNI enforces it once its network policy agent is
/// on ([`crate::NewEksCluster::network_policies`]).
fn no_instance_metadata(namespace: &str) -> KubernetesObject {
    KubernetesObject::new(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        Some(namespace),
        "deny-instance-metadata",
        [(
            "spec",
            Expr::map([
                ("podSelector", Expr::map::<&str>([])),
                ("policyTypes", Expr::list([Expr::from("Egress")])),
                (
                    "egress",
                    Expr::list([
                        Expr::map([(
                            "to",
                            Expr::list([Expr::map([("namespaceSelector", Expr::map::<&str>([]))])]),
                        )]),
                        Expr::map([(
                            "to",
                            Expr::list([Expr::map([(
                                "ipBlock",
                                Expr::map([
                                    ("cidr", Expr::from("0.0.0.0/0")),
                                    ("except", Expr::list([Expr::from("169.254.169.254/32")])),
                                ]),
                            )])]),
                        )]),
                    ]),
                ),
            ]),
        )],
    )
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
    /// The stack of the data scientists' account (B) that holds the team's role: a stack of
    /// that account, or a stack deployed as a StackSet that reaches it (then give
    /// `data_scientist_account`).
    pub data_scientist_stack: Stack,
    /// The data scientists' account, when `data_scientist_stack` deploys as a StackSet to
    /// many accounts: the team's role is confined to this one. `None` takes the stack's
    /// account.
    pub data_scientist_account: Option<String>,
    /// Who in that account may become the team's data scientist (there is no default that
    /// trusts the whole account). Every hop of the chain to the cluster requires a source
    /// identity.
    pub members: TeamMembers,
    /// What members may do in the namespace (default [`NamespaceAccess::TeamRole`]).
    pub access: NamespaceAccess,
    /// The service accounts created in the namespace, for the team's pods (default
    /// `training`); data access through Pod Identity names one of them.
    pub service_accounts: Vec<String>,
    /// The Pod Security Standard enforced on the namespace (default `Baseline`).
    pub pod_security: PodSecurity,
    /// Gives the namespace the cluster's shared FSx for Lustre file system as the volume
    /// claim `fsx` (default off). Every namespace given it reads and writes the whole file
    /// system: give it only to teams that may share data.
    pub shared_fsx: bool,
}

impl TeamNamespaceProps {
    /// A team with the default access and one service account, `training`.
    pub fn new(
        team_name: &str,
        cluster: &HyperPodEksCluster,
        quota: ComputeQuota,
        data_scientist_stack: &Stack,
        members: TeamMembers,
    ) -> TeamNamespaceProps {
        TeamNamespaceProps {
            team_name: team_name.to_owned(),
            cluster: cluster.clone(),
            quota,
            data_scientist_stack: data_scientist_stack.clone(),
            data_scientist_account: None,
            members,
            access: NamespaceAccess::TeamRole,
            service_accounts: vec!["training".into()],
            pod_security: PodSecurity::Baseline,
            shared_fsx: false,
        }
    }
}

/// A task-governance team: its compute quota (task governance then creates the namespace
/// `hyperpod-ns-<team>`; this construct never creates it), the namespace's service
/// accounts and roles (applied once the namespace exists), a cluster-access role in the
/// cluster's account that trusts only the team's data-scientist role in the data
/// scientists' account, that role (trusting only the team's members, allowed to assume
/// only the cluster-access role), and an EKS access entry that puts the role in the team's
/// Kubernetes group. Both hops require a source identity, so the cluster's account sees
/// who acted.
///
/// IAM refuses a trust policy naming a role that does not exist yet, so the cluster's stack
/// is made to deploy after the data scientists' stack. A team whose name is invalid or
/// already taken on the cluster is reported once and creates nothing.
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
/// let network = HyperPodNetwork::new(&platform, "Network", NetworkProps::new(&["use1-az2", "use1-az4"]));
/// let cluster = HyperPodEksCluster::new(&platform, "HyperPod", HyperPodEksClusterProps::new(
///     "ml-cluster", network.refs().clone(),
///     vec![InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 4)], scripts, assets,
/// ));
/// let team = TeamNamespace::new(&platform, "ml-research", TeamNamespaceProps::new(
///     "ml-research",
///     &cluster,
///     ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 2)]),
///     &scientists,
///     TeamMembers::PermissionSet("MlResearchScientists".into()),
/// ));
/// assert_eq!(team.namespace(), "hyperpod-ns-ml-research");
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct TeamNamespace {
    construct: Construct,
    team_name: String,
    cluster: HyperPodEksCluster,
    declared: Option<DeclaredTeam>,
    service_accounts: Vec<String>,
}

/// What a valid, first-declared team creates.
#[derive(Clone, Debug)]
struct DeclaredTeam {
    cluster_access_role: Role,
    data_scientist_role: Role,
    quota: sagemaker::CfnComputeQuota,
}

impl TeamNamespace {
    /// Declares the team.
    pub fn new(scope: &impl Scope, id: &str, props: TeamNamespaceProps) -> TeamNamespace {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let team = props.team_name.clone();
        let undeclared = |construct: Construct| TeamNamespace {
            construct,
            team_name: props.team_name.clone(),
            cluster: props.cluster.clone(),
            declared: None,
            service_accounts: props.service_accounts.clone(),
        };
        if !crate::is_team_name(&team) {
            node.report("invalid_team_name", format!("team name `{team}` must be 1 to 40 lowercase letters, digits and hyphens, starting and ending with a letter or digit (task governance names the namespace `hyperpod-ns-<team>` and its queue `hyperpod-ns-<team>-localqueue`, a label of at most 63); rename the team"));
            return undeclared(construct);
        }
        let registered = props.cluster.register_team(RegisteredTeam {
            name: team.clone(),
            quotas: props
                .quota
                .instances
                .iter()
                .map(|(instance_type, count)| (instance_type.as_str().to_owned(), *count))
                .collect(),
        });
        if !registered {
            // A second construct with the same id is already reported by the tree.
            let same_id = node.scope().is_some_and(|parent| {
                parent
                    .children()
                    .iter()
                    .filter(|child| child.id() == node.id())
                    .count()
                    > 1
            });
            if !same_id {
                node.report(
                    "duplicate_team",
                    format!(
                        "team `{team}` is already declared on cluster `{}`; declare each team once",
                        props.cluster.name()
                    ),
                );
            }
            return undeclared(construct);
        }
        check_props(&node, &props);

        let cluster_account = Stack::of(&construct)
            .map(|stack| stack.stage().env().account)
            .unwrap_or_default();
        let scientist_account = scientist_account(&props);
        let access_role_name = format!("{team}-cluster-access");
        let scientist_role_name = format!("{team}-data-scientist");
        let namespace = format!("{NAMESPACE_PREFIX}{team}");

        let quota = quota(&construct, &props);
        // One unit per team in sharded stacks, in each account: a team comes and goes
        // with one shard per account changed, and never moves another team.
        construct.node().set_shard_unit(&team);
        let scientist_scope = Construct::new(
            &props.data_scientist_stack,
            &format!(
                "Team{}",
                hyperpod_core::logical_id::derive(std::slice::from_ref(&team)).unwrap_or_default()
            ),
        );
        scientist_scope.node().set_shard_unit(&team);
        // In a StackSet reaching many accounts, the role exists in the team's account only.
        scientist_scope
            .node()
            .confine_to_account(&scientist_account);

        let data_scientist_role = Role::new(
            &scientist_scope,
            "DataScientistRole",
            RoleProps {
                role_name: Some(scientist_role_name.clone()),
                description: Some(format!("data scientists of team {team}")),
                inline_policies: vec![(
                    "assume-cluster-access".into(),
                    PolicyDocument::new([Statement::allow()
                        .sid("ClusterAccess")
                        .actions(["sts:AssumeRole", "sts:SetSourceIdentity"])
                        .resource(role_arn(&cluster_account, &access_role_name))]),
                )],
                ..RoleProps::new(props.members.trust(&scientist_account))
            },
        );
        let cluster_access_role = Role::new(
            &construct,
            "ClusterAccessRole",
            RoleProps {
                role_name: Some(access_role_name.clone()),
                description: Some(format!(
                    "cluster access of team {team}, assumed from its data-scientist role"
                )),
                inline_policies: vec![(
                    "hyperpod-cli".into(),
                    cluster_access_policy(&props.cluster, &access_role_name),
                )],
                ..RoleProps::new(PolicyDocument::new([scientists_trust(
                    &props,
                    &scientist_account,
                    &scientist_role_name,
                )
                .sid("TeamDataScientists")
                .actions(["sts:AssumeRole", "sts:SetSourceIdentity"])
                .condition(crate::members::requires_source_identity())]))
            },
        );
        // IAM checks that a trust policy's principal exists: the data scientists' stack first.
        if let Some(stack) = Stack::of(&construct) {
            stack.add_dependency(&props.data_scientist_stack);
        }

        let group = format!("{namespace}-namespace-level-group");
        let edit = fns::sub::<&str>(
            "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
            [],
        );
        let (groups, policies): (Vec<String>, Vec<Value<String>>) = match &props.access {
            NamespaceAccess::TeamRole => (vec![group.clone()], Vec::new()),
            NamespaceAccess::TeamRoleAndEditPolicy => (vec![group.clone()], vec![edit]),
            NamespaceAccess::KubernetesGroups(groups) => (groups.clone(), Vec::new()),
        };
        let entry = eks::CfnAccessEntry::new(
            &construct,
            "AccessEntry",
            eks::AccessEntryProps {
                kubernetes_groups: Some(
                    groups.iter().map(String::as_str).collect::<Vec<_>>().into(),
                ),
                access_policies: (!policies.is_empty()).then(|| {
                    Value::list(policies.into_iter().map(|policy| {
                        eks::access_entry::AccessPolicy::new(
                            eks::access_entry::AccessScope {
                                namespaces: Some(vec![namespace.as_str()].into()),
                                ..eks::access_entry::AccessScope::new(
                                    eks::access_entry::AccessScopeType::Namespace,
                                )
                            },
                            policy,
                        )
                        .into()
                    }))
                }),
                type_: Some("STANDARD".into()),
                ..eks::AccessEntryProps::new(
                    props.cluster.eks_cluster_name(),
                    cluster_access_role.arn(),
                )
            },
        );
        // Torn down before the quota, which removes the namespace.
        entry.add_depends_on(&quota);

        let mut objects: Vec<KubernetesObject> = props
            .service_accounts
            .iter()
            .map(|account| KubernetesObject::service_account(&namespace, account))
            .collect();
        objects.push(no_instance_metadata(&namespace));
        objects.push(isolate_from_other_teams(&namespace));
        if !matches!(props.access, NamespaceAccess::KubernetesGroups(_)) {
            objects.extend(team_roles(&team, &group));
        }
        let fsx = props
            .shared_fsx
            .then(|| props.cluster.shared_fsx())
            .flatten();
        if let Some(fsx) = fsx {
            objects.extend(crate::addons::fsx_objects(fsx, &namespace));
        }
        {
            let manifest = KubernetesManifest::new(
                &construct,
                "Kubernetes",
                KubernetesManifestProps {
                    namespace_labels: vec![(namespace.clone(), {
                        let mut labels = props.pod_security.labels();
                        labels.push((TEAM_NAMESPACE_LABEL.to_owned(), team.clone()));
                        labels
                    })],
                    ..KubernetesManifestProps::new(props.cluster.installer(), objects)
                },
            );
            // Task governance creates the namespace from the quota.
            manifest.add_depends_on(&quota);
            if let Some(fsx) = fsx {
                manifest.add_depends_on(&fsx.driver);
                manifest.add_depends_on(&fsx.file_system);
            }
            // Members get in only once Pod Security and the metadata policy are in force:
            // admission never evicts a pod created before the labels.
            entry.add_depends_on(manifest.resource());
        }

        TeamNamespace {
            construct,
            team_name: team,
            cluster: props.cluster.clone(),
            declared: Some(DeclaredTeam {
                cluster_access_role,
                data_scientist_role,
                quota,
            }),
            service_accounts: props.service_accounts.clone(),
        }
    }

    /// The team's name.
    pub fn team_name(&self) -> &str {
        &self.team_name
    }

    /// The team's namespace, created by task governance.
    pub fn namespace(&self) -> String {
        format!("{NAMESPACE_PREFIX}{}", self.team_name)
    }

    /// The cluster the team runs on.
    pub fn cluster(&self) -> &HyperPodEksCluster {
        &self.cluster
    }

    /// The service accounts of the namespace.
    pub fn service_accounts(&self) -> &[String] {
        &self.service_accounts
    }

    /// Whether the team was declared: `false` for a team whose name is invalid or taken,
    /// which creates nothing.
    pub fn is_declared(&self) -> bool {
        self.declared.is_some()
    }

    /// The role in the cluster's account that team members assume to reach the cluster.
    pub fn cluster_access_role(&self) -> Option<&Role> {
        self.declared.as_ref().map(|team| &team.cluster_access_role)
    }

    /// The team's role in the data scientists' account.
    pub fn data_scientist_role(&self) -> Option<&Role> {
        self.declared.as_ref().map(|team| &team.data_scientist_role)
    }

    /// The team's compute quota, which its namespace follows.
    pub fn compute_quota(&self) -> Option<&sagemaker::CfnComputeQuota> {
        self.declared.as_ref().map(|team| &team.quota)
    }
}

impl Scope for TeamNamespace {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

/// What the HyperPod CLI and `aws eks update-kubeconfig` call before they touch the
/// cluster (`aws/sagemaker-hyperpod-cli`, `commands/cluster.py` `set_cluster_context`:
/// sagemaker:DescribeCluster, iam:GetRole on the caller's role, eks:DescribeAccessEntry
/// for it; `list-cluster`: sagemaker:ListClusters), all read-only and all about this
/// cluster and role.
fn cluster_access_policy(cluster: &HyperPodEksCluster, role_name: &str) -> PolicyDocument {
    PolicyDocument::new([
        Statement::allow()
            .sid("DescribeClusters")
            .action("eks:DescribeCluster")
            .resource(cluster.eks_cluster_arn()),
        Statement::allow()
            .sid("DescribeHyperPodCluster")
            .action("sagemaker:DescribeCluster")
            .resource(cluster.cluster_arn()),
        Statement::allow()
            .sid("ListHyperPodClusters")
            .action("sagemaker:ListClusters")
            .resource("*"),
        Statement::allow()
            .sid("OwnAccessEntry")
            .action("eks:DescribeAccessEntry")
            .resource(fns::sub(
                "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:access-entry/${cluster}/role/${AWS::AccountId}/${role}/*",
                [
                    ("cluster", cluster.eks_cluster_name()),
                    ("role", Value::from(role_name)),
                ],
            )),
        Statement::allow()
            .sid("OwnRole")
            .action("iam:GetRole")
            .resource(fns::sub(
                "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${role}",
                [("role", Value::from(role_name))],
            )),
    ])
}

/// The team's Kubernetes roles: the rules of the HyperPod chart's `team-role-and-bindings`
/// (`aws/sagemaker-hyperpod-cli` @ a00b22d1, `helm_chart/HyperPodHelmChart/charts/team-role-and-bindings/templates/`),
/// with the cluster-scoped resources (nodes, resource definitions) moved to the cluster
/// role where Kubernetes honours them, and `HyperPodPyTorchJob`, which `hyp create
/// hyp-pytorch-job` submits, added beside Kubeflow's PyTorchJob.
fn team_roles(team: &str, group: &str) -> Vec<KubernetesObject> {
    let namespace = format!("{NAMESPACE_PREFIX}{team}");
    let namespace_role = format!("{namespace}-namespace-role");
    let cluster_role = format!("{namespace}-cluster-role");
    let queue = format!("{namespace}-clusterqueue");
    let full = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let subjects = [Subject::Group(group.to_owned())];
    vec![
        KubernetesObject::role(
            &namespace,
            &namespace_role,
            &[
                PolicyRule::new(&[""], &["namespaces"], &["get"]),
                PolicyRule::new(&["batch"], &["jobs"], &full),
                PolicyRule::new(&[""], &["pods"], &["create", "get", "watch", "list"]),
                PolicyRule::new(&[""], &["pods/status"], &["get", "list", "watch"]),
                PolicyRule::new(&[""], &["pods/log"], &["get", "list"]),
                PolicyRule::new(
                    &["kubeflow.org"],
                    &["pytorchjobs", "pytorchjobs/status"],
                    &["get", "list", "watch", "create", "delete", "update"],
                ),
                PolicyRule::new(
                    &["sagemaker.amazonaws.com"],
                    &["hyperpodpytorchjobs", "hyperpodpytorchjobs/status"],
                    &[
                        "get", "list", "watch", "create", "delete", "update", "patch",
                    ],
                ),
                PolicyRule::new(&[""], &["serviceaccounts"], &["get", "list"]),
                PolicyRule::new(
                    &[""],
                    &["configmaps"],
                    &["create", "update", "get", "delete"],
                ),
                PolicyRule::new(&[""], &["secrets"], &["create", "get", "list", "delete"]),
                PolicyRule::new(
                    &["kueue.x-k8s.io"],
                    &["workloads", "workloads/status"],
                    &["get", "list", "watch", "patch"],
                ),
            ],
        ),
        KubernetesObject::role_binding(
            &namespace,
            &format!("{namespace}-namespace-role-binding"),
            &namespace_role,
            &subjects,
        ),
        KubernetesObject::cluster_role(
            &cluster_role,
            &[
                PolicyRule::new(&[""], &["namespaces"], &["list", "get"]),
                PolicyRule::new(
                    &["kueue.x-k8s.io"],
                    &["clusterqueues"],
                    &["list", "get", "watch"],
                )
                .names(&[&queue]),
                PolicyRule::new(
                    &["kueue.x-k8s.io"],
                    &["resourceflavors", "workloadpriorityclasses"],
                    &["list", "get", "watch"],
                ),
                PolicyRule::new(&[""], &["nodes", "nodes/status"], &["get", "list", "watch"]),
                PolicyRule::new(
                    &["apiextensions.k8s.io"],
                    &["customresourcedefinitions"],
                    &["list", "get"],
                ),
            ],
        ),
        KubernetesObject::cluster_role_binding(
            &format!("{namespace}-cluster-role-binding"),
            &cluster_role,
            &subjects,
        ),
    ]
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
    props.members.check(node, team);
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
    let cluster_types = props.cluster.instance_counts();
    for (instance_type, count) in &quota.instances {
        let instance_type = instance_type.as_str();
        if !cluster_types
            .iter()
            .any(|(known, _)| known == instance_type)
        {
            let known: Vec<&str> = cluster_types.iter().map(|(t, _)| t.as_str()).collect();
            node.report("quota_type_not_in_cluster", format!("team `{team}` has a quota of {instance_type}, which no instance group of the cluster has (it has {}); give quotas of types the cluster runs", known.join(", ")));
        }
        if *count == 0 {
            node.report(
                "empty_quota",
                format!("team `{team}` has a quota of 0 {instance_type}; remove the entry or give it instances"),
            );
        }
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
    if let NamespaceAccess::KubernetesGroups(groups) = &props.access {
        if groups.is_empty() {
            node.report("no_kubernetes_groups", "NamespaceAccess::KubernetesGroups needs at least one group; name them or use TeamRole");
        }
        for group in groups {
            if group.starts_with("system:") {
                node.report("reserved_kubernetes_group", format!("Kubernetes group `{group}` starts with `system:`, which EKS access entries refuse; rename it"));
            }
        }
    }
    for account in &props.service_accounts {
        if !crate::kubernetes::is_dns_subdomain(account) {
            node.report("invalid_service_account", format!("service account `{account}` is not a Kubernetes name; use lowercase letters, digits, `-` and `.`"));
        }
    }
    if props.shared_fsx && props.cluster.shared_fsx().is_none() {
        node.report("no_shared_fsx", format!("team `{team}` asks for the shared FSx for Lustre file system, but the cluster has none; set `addons.fsx` on the cluster or drop `shared_fsx`"));
    }
    if let Some(stack) = node.scope().and_then(|scope| Stack::of(&scope))
        && stack.stage().env().account == scientist_account(props)
    {
        node.report("data_scientists_in_cluster_account", "the data scientists' stack is in the cluster's account; give the stack of their own account");
    }
    if props.data_scientist_stack.stack_set().is_some() && props.data_scientist_account.is_none() {
        node.report("data_scientist_account_required", format!("the data scientists' stack `{}` deploys as a StackSet to many accounts; set `data_scientist_account` to the account of team `{team}`'s data scientists", props.data_scientist_stack.node().path()));
    }
}

/// Who the cluster-access role trusts: the team's data-scientist role. Named as the
/// principal, IAM binds the trust to that role's unique id, so a role deleted and made
/// again is no longer trusted until the trust is written again. A StackSet with automatic
/// deployment does exactly that, outside any deploy, when an account leaves its unit and
/// comes back; there the trust names the account and requires the role's ARN instead
/// (`aws:PrincipalArn`), which the role made again still has.
fn scientists_trust(props: &TeamNamespaceProps, account: &str, role_name: &str) -> Statement {
    if props.data_scientist_stack.stack_set().is_some() {
        Statement::allow()
            .principal(Principal::account(account))
            .condition(Condition::new(
                ConditionOperator::ArnEquals,
                "aws:PrincipalArn",
                [role_arn(account, role_name)],
            ))
    } else {
        Statement::allow().principal(Principal::role(account, role_name))
    }
}

/// The account of the team's data scientists: the one given, or their stack's.
fn scientist_account(props: &TeamNamespaceProps) -> String {
    props
        .data_scientist_account
        .clone()
        .unwrap_or_else(|| props.data_scientist_stack.stage().env().account)
}
