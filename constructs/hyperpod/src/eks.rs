//! An EKS-orchestrated HyperPod cluster with task governance.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use hyperpod_cfn::{eks, kms, sagemaker};
use hyperpod_core::{
    CfnOutput, Construct, Expr, Issue, Node, OutputProps, Scope, Stack, Value, fns,
};
use hyperpod_iam::{ManagedPolicy, PolicyDocument, Principal, Role, RoleProps, Statement};
use serde_json::json;

use crate::addons::{self, HyperPodAddons};
use crate::chart::{HYPERPOD_CHART_REPOSITORIES, HyperPodChart};
use crate::installer::{ClusterConnection, InstallerLayer, KubernetesInstaller};
use crate::network::NetworkRefs;

/// The Kubernetes versions HyperPod supports ("SageMaker HyperPod supports Kubernetes
/// versions 1.28 … 1.34", sagemaker-hyperpod-eks-prerequisites).
pub const SUPPORTED_KUBERNETES_VERSIONS: &[&str] =
    &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34"];
/// The version a new EKS cluster gets: in EKS standard support, and the default of AWS's
/// Terraform modules.
pub const DEFAULT_KUBERNETES_VERSION: &str = "1.33";
/// Task governance needs at least this Kubernetes version.
pub const TASK_GOVERNANCE_MIN_VERSION: &str = "1.30";
/// The oldest vpc-cni add-on HyperPod supports.
pub const VPC_CNI_MIN_VERSION: (u32, u32, u32) = (1, 18, 3);

/// How EKS authenticates principals. HyperPod refuses `CONFIG_MAP`, EKS's default, so the
/// mode is always set explicitly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthenticationMode {
    /// Access entries only.
    #[default]
    Api,
    /// Access entries and the `aws-auth` config map.
    ApiAndConfigMap,
}

/// A deep health check run when instances start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeepHealthCheck {
    /// Instance-level tests of the accelerators (GPU or Trainium types).
    InstanceStress,
    /// Connectivity tests between instances over EFA (accelerated types with EFA).
    InstanceConnectivity,
}

/// The effect of a Kubernetes taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintEffect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

/// A group of identical HyperPod instances.
#[derive(Clone, Debug)]
pub struct InstanceGroup {
    /// The group's name: letters, digits and hyphens, at most 63.
    pub name: String,
    /// The instance type, such as `ml.g5.8xlarge`.
    pub instance_type: String,
    /// How many instances. 0 only for groups Karpenter scales
    /// ([`HyperPodAddons::autoscaling`]).
    pub count: u32,
    /// The size of the extra EBS volume per instance, in GB (1 to 16384), mounted at
    /// `/opt/sagemaker`.
    pub ebs_volume_gb: Option<u32>,
    /// 1 to turn hyper-threading off (default), 2 to keep it.
    pub threads_per_core: u32,
    /// The deep health checks run at start; only accelerated types take them.
    pub deep_health_checks: Vec<DeepHealthCheck>,
    /// Kubernetes labels of the nodes.
    pub labels: Vec<(String, String)>,
    /// Kubernetes taints of the nodes: key, value, effect.
    pub taints: Vec<(String, Option<String>, TaintEffect)>,
    /// The Availability Zone ID the group runs in (such as `use1-az2`); the cluster's zone
    /// when absent. The network must have a node subnet there.
    pub availability_zone_id: Option<String>,
    /// A SageMaker training plan whose reserved capacity the group uses.
    pub training_plan_arn: Option<Value<String>>,
}

impl InstanceGroup {
    /// A group of `count` instances of a type, with one thread per core and the deep health
    /// checks the type supports: both on accelerated types with EFA, the instance-level one
    /// on other accelerated types, none on CPU types.
    pub fn new(name: &str, instance_type: &str, count: u32) -> InstanceGroup {
        let mut checks = Vec::new();
        if crate::instances::supports_instance_stress(instance_type) {
            checks.push(DeepHealthCheck::InstanceStress);
        }
        if crate::instances::supports_instance_connectivity(instance_type) {
            checks.push(DeepHealthCheck::InstanceConnectivity);
        }
        InstanceGroup {
            name: name.to_owned(),
            instance_type: instance_type.to_owned(),
            count,
            ebs_volume_gb: Some(500),
            threads_per_core: 1,
            deep_health_checks: checks,
            labels: Vec::new(),
            taints: Vec::new(),
            availability_zone_id: None,
            training_plan_arn: None,
        }
    }
}

/// The EKS cluster a HyperPod cluster is orchestrated by.
#[derive(Clone, Debug)]
pub enum EksControlPlane {
    /// Created here, with the add-ons HyperPod needs.
    New(NewEksCluster),
    /// An existing EKS cluster of the same account and region, by name. It must use the
    /// `API` or `API_AND_CONFIG_MAP` authentication mode and run vpc-cni 1.18.3 or later,
    /// kube-proxy, CoreDNS and the Pod Identity agent.
    Existing {
        /// The cluster's name.
        name: String,
    },
}

/// Where the Kubernetes API of a new EKS cluster can be reached from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EndpointAccess {
    /// From the cluster's VPC only, and networks routed into it (a VPN, a transit gateway):
    /// the default.
    #[default]
    Private,
    /// Also from the internet, but only from these CIDR blocks (your organisation's egress
    /// ranges); the VPC keeps its private endpoint.
    PublicAndPrivate {
        /// The blocks that may reach the public endpoint; at least one.
        cidrs: Vec<String>,
    },
}

/// The key EKS encrypts Kubernetes secrets with. `EncryptionConfig` cannot be changed
/// without replacing the cluster, so choose before the first deploy.
#[derive(Clone, Debug, Default)]
pub enum SecretsKey {
    /// EKS's default envelope encryption of all API data with an AWS-owned key (the
    /// default).
    #[default]
    AwsOwned,
    /// A customer-managed key created here (retained), which the cluster's role may use.
    NewKey,
    /// A customer-managed key of yours, by ARN; its policy must let the cluster's role use
    /// it.
    Existing(Value<String>),
}

/// The options of an EKS cluster created for HyperPod.
#[derive(Clone, Debug)]
pub struct NewEksCluster {
    /// The Kubernetes version (default [`DEFAULT_KUBERNETES_VERSION`]).
    pub kubernetes_version: String,
    /// The authentication mode (default API).
    pub authentication_mode: AuthenticationMode,
    /// Pins the vpc-cni add-on (at least `v1.18.3`); EKS's default for the version when
    /// absent, as AWS's templates leave it.
    pub vpc_cni_version: Option<String>,
    /// Where the API can be reached from (default: the VPC only).
    pub endpoint: EndpointAccess,
    /// Turns on the VPC CNI's network policy agent, which enforces the teams'
    /// NetworkPolicies (default on; they keep pods from the nodes' instance metadata).
    pub network_policies: bool,
    /// The key of Kubernetes secrets (default: AWS-owned).
    pub secrets_key: SecretsKey,
}

impl Default for NewEksCluster {
    fn default() -> Self {
        NewEksCluster {
            kubernetes_version: DEFAULT_KUBERNETES_VERSION.into(),
            authentication_mode: AuthenticationMode::Api,
            vpc_cni_version: None,
            endpoint: EndpointAccess::Private,
            network_policies: true,
            secrets_key: SecretsKey::AwsOwned,
        }
    }
}

/// How the Helm chart HyperPod needs gets installed before the cluster is created.
#[derive(Clone, Debug)]
pub enum HelmDependencies {
    /// The cluster's installer installs the chart in the same deploy, and the HyperPod
    /// cluster waits for it (the default).
    Install(HyperPodChart),
    /// The chart was installed outside this app. Only for an EKS cluster this construct
    /// does not create ([`EksControlPlane::Existing`]).
    AlreadyInstalled,
}

impl Default for HelmDependencies {
    fn default() -> Self {
        HelmDependencies::Install(HyperPodChart::default())
    }
}

/// The cluster policy of task governance.
#[derive(Clone, Debug)]
pub struct SchedulerProps {
    /// Fair sharing of idle compute by weight (default on).
    pub fair_share: bool,
    /// Lending of idle compute between teams (default on).
    pub idle_resource_sharing: bool,
    /// Priority classes by name and weight (0 to 100), at most 10.
    pub priority_classes: Vec<(String, u32)>,
}

impl Default for SchedulerProps {
    fn default() -> Self {
        SchedulerProps {
            fair_share: true,
            idle_resource_sharing: true,
            priority_classes: vec![("inference".into(), 90), ("training".into(), 50)],
        }
    }
}

/// The options of a [`HyperPodEksCluster`].
#[derive(Clone, Debug)]
pub struct HyperPodEksClusterProps {
    /// The name of the HyperPod cluster (and of the EKS cluster when created here):
    /// letters, digits and hyphens, starting with a letter or digit, at most 63.
    pub cluster_name: String,
    /// Where the cluster runs.
    pub network: NetworkRefs,
    /// The EKS cluster (default: a new one).
    pub eks: EksControlPlane,
    /// The instance groups (at least one).
    pub instance_groups: Vec<InstanceGroup>,
    /// The Availability Zone ID the instance groups run in unless they say otherwise; the
    /// network's first zone when absent.
    pub availability_zone_id: Option<String>,
    /// The folder of lifecycle scripts, with `on_create.sh`; it is uploaded to the
    /// lifecycle bucket before the cluster deploys.
    pub lifecycle_scripts: PathBuf,
    /// The stack (in the cluster's account and region) that holds the lifecycle bucket; it
    /// deploys before the cluster's stack so the scripts can be uploaded in between.
    pub lifecycle_bucket_stack: Stack,
    /// The roles of the cluster's account that may write the lifecycle scripts (whatever
    /// is there runs as root on every new node): the role you deploy with (default
    /// `OrganizationAccountAccessRole`, which the deploy engine assumes unless told
    /// otherwise).
    pub script_writers: Vec<String>,
    /// How the HyperPod Helm chart is installed (default: by the cluster's installer).
    pub helm: HelmDependencies,
    /// Where the installer's tools come from (default: AWS's quick-setup layer).
    pub installer_layer: InstallerLayer,
    /// Task governance with its cluster policy; `None` leaves it off.
    pub task_governance: Option<SchedulerProps>,
    /// The principals (role ARNs) given cluster-admin access through EKS access entries.
    /// The identity that creates the cluster gets no implicit admin: these entries, and the
    /// installer's, are the only ones.
    pub cluster_admins: Vec<Value<String>>,
    /// The add-ons of AWS's Terraform modules, each off by default.
    pub addons: HyperPodAddons,
}

impl HyperPodEksClusterProps {
    /// A cluster with the reference defaults: a new EKS cluster on Kubernetes
    /// [`DEFAULT_KUBERNETES_VERSION`] with API authentication, the HyperPod chart installed
    /// in the same deploy, task governance with the default cluster policy, no add-ons.
    pub fn new(
        cluster_name: &str,
        network: NetworkRefs,
        instance_groups: Vec<InstanceGroup>,
        lifecycle_scripts: PathBuf,
        lifecycle_bucket_stack: Stack,
    ) -> HyperPodEksClusterProps {
        HyperPodEksClusterProps {
            cluster_name: cluster_name.to_owned(),
            network,
            eks: EksControlPlane::New(NewEksCluster::default()),
            instance_groups,
            availability_zone_id: None,
            lifecycle_scripts,
            lifecycle_bucket_stack,
            script_writers: vec![crate::lifecycle::DEFAULT_SCRIPT_WRITER.into()],
            helm: HelmDependencies::default(),
            installer_layer: InstallerLayer::default(),
            task_governance: Some(SchedulerProps::default()),
            cluster_admins: Vec::new(),
            addons: HyperPodAddons::default(),
        }
    }
}

/// A team registered with its cluster, for the checks that need every team.
#[derive(Clone, Debug)]
pub(crate) struct RegisteredTeam {
    pub(crate) name: String,
    pub(crate) quotas: Vec<(String, u32)>,
}

/// An EKS cluster with the add-ons HyperPod needs, the cluster's Kubernetes installer, the
/// HyperPod Helm chart, the lifecycle-script bucket, the HyperPod execution role, the
/// HyperPod cluster, and (with task governance) its add-on and cluster policy, created in
/// the documented order: EKS → add-ons → Helm chart → HyperPod cluster → task-governance
/// add-on → cluster scheduler config. Every instance group runs in one Availability Zone
/// chosen by ID, through a subnet of its own (`OverrideVpcConfig`).
///
/// ```
/// use hyperpod::{HyperPodEksCluster, HyperPodEksClusterProps, HyperPodNetwork, InstanceGroup, NetworkProps};
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
///
/// let scripts = std::env::temp_dir().join("hyperpod-doc-lcs");
/// std::fs::create_dir_all(&scripts).unwrap();
/// std::fs::write(scripts.join("on_create.sh"), "#!/bin/bash\n").unwrap();
///
/// let app = App::new("demo");
/// let a = Stage::new(&app, "a", Environment::new("111111111111", "us-east-1"));
/// let assets = Stack::new(&a, "ClusterAssets", StackProps::default());
/// let stack = Stack::new(&a, "Cluster", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::new(&["use1-az2", "use1-az4"]));
/// let cluster = HyperPodEksCluster::new(&stack, "HyperPod", HyperPodEksClusterProps::new(
///     "ml-cluster",
///     network.refs().clone(),
///     vec![InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 2)],
///     scripts,
///     assets,
/// ));
/// let _arn = cluster.cluster_arn();
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct HyperPodEksCluster {
    construct: Construct,
    eks_name: Value<String>,
    eks_arn: Value<String>,
    cluster: sagemaker::CfnCluster,
    execution_role: Role,
    governance: Option<(eks::CfnAddon, sagemaker::CfnClusterSchedulerConfig)>,
    cluster_name: String,
    installer: KubernetesInstaller,
    instance_types: Vec<(String, u32)>,
    teams: Rc<RefCell<Vec<RegisteredTeam>>>,
    shared_fsx: Option<addons::SharedFsxHandle>,
    s3_endpoint_id: Option<Value<String>>,
}

impl HyperPodEksCluster {
    /// Creates the cluster and everything it needs.
    pub fn new(scope: &impl Scope, id: &str, props: HyperPodEksClusterProps) -> HyperPodEksCluster {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let region = Stack::of(&construct)
            .map(|stack| stack.stage().env().region)
            .unwrap_or_default();
        check_props(&node, &props, &region);
        let s3_endpoint_id = props.network.s3_endpoint_id.clone();
        let zone = props
            .availability_zone_id
            .clone()
            .or_else(|| props.network.primary_zone_id().map(str::to_owned))
            .unwrap_or_default();

        let (eks_name, eks_arn, connection, base_addons) = match &props.eks {
            EksControlPlane::New(options) => {
                let (cluster, addons) = new_eks_cluster(&construct, &props, options);
                let connection = ClusterConnection {
                    name: cluster.ref_value(),
                    arn: cluster.arn(),
                    endpoint: Some((cluster.endpoint(), cluster.certificate_authority_data())),
                };
                (cluster.ref_value(), cluster.arn(), connection, addons)
            }
            EksControlPlane::Existing { name } => {
                let arn = fns::sub(
                    "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/${name}",
                    [("name", Value::from(name.as_str()))],
                );
                let connection = ClusterConnection {
                    name: name.as_str().into(),
                    arn: arn.clone(),
                    endpoint: None,
                };
                (name.as_str().into(), arn, connection, Vec::new())
            }
        };
        let installer = KubernetesInstaller::new(
            &construct,
            "Installer",
            connection,
            &props.installer_layer,
            &props.network,
        );
        for addon in &base_addons {
            installer.add_depends_on(addon);
        }

        let (scripts_bucket, scripts) = crate::lifecycle::lifecycle_scripts(
            &construct,
            id,
            &props.cluster_name,
            crate::lifecycle::Scripts {
                folder: &props.lifecycle_scripts,
                bucket_stack: &props.lifecycle_bucket_stack,
                entry_script: crate::lifecycle::EKS_ENTRY_SCRIPT,
                generated: Vec::new(),
                writers: &props.script_writers,
            },
        );
        // The VPC CNI's permissions are the scoped network statements of the role, not
        // AmazonEKS_CNI_Policy, which grants them on every interface of the account (AWS's
        // Terraform module does the same).
        let execution_role = crate::lifecycle::execution_role(
            &construct,
            "ExecutionRole",
            &scripts_bucket,
            &props.network,
            &["AmazonSageMakerClusterInstanceRolePolicy"],
            vec![
                Statement::allow()
                    .sid("PodIdentity")
                    .action("eks-auth:AssumeRoleForPodIdentity")
                    .resource(eks_arn.clone()),
            ],
        );

        let chart = match &props.helm {
            HelmDependencies::Install(chart) => {
                let release = crate::installer::helm_release(
                    &construct,
                    "HelmChart",
                    &installer,
                    crate::installer::HelmRelease {
                        name: &chart.release_name,
                        namespace: &chart.namespace,
                        chart: &chart.source,
                        repositories: HYPERPOD_CHART_REPOSITORIES,
                        values: chart.components.values(),
                    },
                );
                Some(release)
            }
            HelmDependencies::AlreadyInstalled => None,
        };

        let autoscaling = props
            .addons
            .autoscaling
            .as_ref()
            .map(|_| addons::autoscaling_role(&construct));
        let default_subnet = props.network.node_subnet(&zone).cloned();
        let instance_groups: Vec<Value<sagemaker::cluster::ClusterInstanceGroup>> = props
            .instance_groups
            .iter()
            .map(|group| {
                let zone = group.availability_zone_id.as_deref().unwrap_or(&zone);
                let subnet = props
                    .network
                    .node_subnet(zone)
                    .cloned()
                    .unwrap_or_else(|| "".into());
                instance_group(
                    group,
                    &execution_role,
                    &scripts.s3_uri(),
                    &props.network.security_group_id,
                    subnet,
                )
                .into()
            })
            .collect();
        let cluster = sagemaker::CfnCluster::new(
            &construct,
            "Cluster",
            sagemaker::ClusterProps {
                cluster_name: Some(props.cluster_name.as_str().into()),
                instance_groups: Some(Value::list(instance_groups)),
                node_recovery: Some(sagemaker::cluster::NodeRecovery::Automatic.into()),
                node_provisioning_mode: Some(
                    sagemaker::cluster::NodeProvisioningMode::Continuous.into(),
                ),
                orchestrator: Some(
                    Expr::map([(
                        "Eks",
                        Expr::map([("ClusterArn", eks_arn.clone().into_expr())]),
                    )])
                    .into(),
                ),
                vpc_config: Some(
                    sagemaker::cluster::VpcConfig::new(
                        Value::list([props.network.security_group_id.clone()]),
                        Value::list(default_subnet),
                    )
                    .into(),
                ),
                auto_scaling: autoscaling.as_ref().map(|_| {
                    sagemaker::cluster::ClusterAutoScalingConfig {
                        auto_scaler_type: Some(
                            sagemaker::cluster::ClusterAutoScalingConfigAutoScalerType::Karpenter
                                .into(),
                        ),
                        ..sagemaker::cluster::ClusterAutoScalingConfig::new(
                            sagemaker::cluster::ClusterAutoScalingConfigMode::Enable,
                        )
                    }
                    .into()
                }),
                cluster_role: autoscaling.as_ref().map(Role::arn),
                ..Default::default()
            },
        );
        // HyperPod needs the add-ons and the chart before it creates the cluster ("An EKS
        // cluster must exist and have had the Helm chart installed"), and the nodes' routes
        // and S3 endpoint before the first lifecycle script downloads.
        for addon in &base_addons {
            cluster.add_depends_on(addon);
        }
        if let Some(chart) = &chart {
            cluster.add_depends_on(chart);
        }
        for ready in &props.network.ready {
            cluster.add_depends_on(ready);
        }

        let governance = props.task_governance.as_ref().map(|scheduler| {
            task_governance(
                &construct,
                &props.cluster_name,
                &eks_name,
                &cluster,
                scheduler,
            )
        });
        let addon_context = addons::AddonContext {
            scope: &construct,
            cluster_name: &props.cluster_name,
            eks_name: &eks_name,
            eks_arn: &eks_arn,
            hyperpod: &cluster,
            installer: &installer,
            network: &props.network,
            zone: &zone,
            after: governance.as_ref().map(|(addon, _)| (**addon).clone()),
        };
        let shared_fsx = addons::add(&addon_context, &props.addons, &props.instance_groups);

        for (index, admin) in props.cluster_admins.iter().enumerate() {
            crate::installer::cluster_admin_entry(
                &construct,
                &format!("Admin{}Access", index + 1),
                &eks_name,
                admin.clone(),
            );
        }

        let output = |id: &str, description: &str, value: Value<String>| {
            CfnOutput::new(
                &construct,
                id,
                OutputProps {
                    description: Some(description.to_owned()),
                    ..OutputProps::new(value)
                },
            );
        };
        output("EksClusterName", "the EKS cluster", eks_name.clone());
        output("EksClusterArn", "the EKS cluster's ARN", eks_arn.clone());
        output(
            "ClusterName",
            "the HyperPod cluster",
            props.cluster_name.as_str().into(),
        );
        output(
            "ClusterArn",
            "the HyperPod cluster's ARN",
            cluster.cluster_arn(),
        );
        output(
            "ExecutionRoleArn",
            "the role of the HyperPod nodes",
            execution_role.arn(),
        );
        output(
            "LifecycleBucket",
            "the bucket of the lifecycle scripts",
            scripts_bucket.as_str().into(),
        );

        let teams: Rc<RefCell<Vec<RegisteredTeam>>> = Rc::default();
        let capacity = props
            .instance_groups
            .iter()
            .map(|group| (group.instance_type.clone(), group.count))
            .collect::<Vec<_>>();
        let registered = teams.clone();
        let totals = capacity.clone();
        node.add_validation(move || quotas_fit(&registered.borrow(), &totals));

        HyperPodEksCluster {
            construct,
            eks_name,
            eks_arn,
            cluster,
            execution_role,
            governance,
            cluster_name: props.cluster_name,
            installer,
            instance_types: capacity,
            teams,
            shared_fsx,
            s3_endpoint_id,
        }
    }

    /// The ARN of the HyperPod cluster.
    pub fn cluster_arn(&self) -> Value<String> {
        self.cluster.cluster_arn()
    }

    /// The name of the EKS cluster.
    pub fn eks_cluster_name(&self) -> Value<String> {
        self.eks_name.clone()
    }

    /// The ARN of the EKS cluster.
    pub fn eks_cluster_arn(&self) -> Value<String> {
        self.eks_arn.clone()
    }

    /// The name of the HyperPod cluster.
    pub fn name(&self) -> &str {
        &self.cluster_name
    }

    /// The HyperPod cluster resource.
    pub fn hyperpod_cluster(&self) -> &sagemaker::CfnCluster {
        &self.cluster
    }

    /// The execution role of the instances.
    pub fn execution_role(&self) -> &Role {
        &self.execution_role
    }

    /// The installer that applies Kubernetes objects to the cluster, for
    /// [`crate::KubernetesManifest`].
    pub fn installer(&self) -> &KubernetesInstaller {
        &self.installer
    }

    /// The cluster scheduler config, which team quotas must follow; `None` without task
    /// governance.
    pub fn scheduler_config(&self) -> Option<&sagemaker::CfnClusterSchedulerConfig> {
        self.governance.as_ref().map(|(_, config)| config)
    }

    /// How many instances of each type the cluster has, by instance group.
    pub fn instance_counts(&self) -> &[(String, u32)] {
        &self.instance_types
    }

    /// The S3 gateway endpoint the nodes reach S3 through, when the network knows it.
    pub fn s3_endpoint_id(&self) -> Option<&Value<String>> {
        self.s3_endpoint_id.as_ref()
    }

    /// The shared FSx for Lustre file system, when the add-on is on.
    pub(crate) fn shared_fsx(&self) -> Option<&addons::SharedFsxHandle> {
        self.shared_fsx.as_ref()
    }

    /// Registers a team; `false` when a team of that name is already registered.
    pub(crate) fn register_team(&self, team: RegisteredTeam) -> bool {
        let mut teams = self.teams.borrow_mut();
        if teams.iter().any(|known| known.name == team.name) {
            return false;
        }
        teams.push(team);
        true
    }
}

impl Scope for HyperPodEksCluster {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

/// The EKS cluster and the add-ons HyperPod needs (vpc-cni, kube-proxy, CoreDNS and the Pod
/// Identity agent), as AWS's templates create them.
fn new_eks_cluster(
    construct: &Construct,
    props: &HyperPodEksClusterProps,
    options: &NewEksCluster,
) -> (eks::CfnCluster, Vec<eks::CfnAddon>) {
    let account = Stack::of(construct)
        .map(|stack| stack.stage().env().account)
        .unwrap_or_default();
    let cluster_role = Role::new(
        construct,
        "EksClusterRole",
        RoleProps {
            managed_policies: vec![ManagedPolicy::aws("AmazonEKSClusterPolicy")],
            ..RoleProps::new(Principal::service("eks.amazonaws.com").trust())
        },
    );
    let mode = match options.authentication_mode {
        AuthenticationMode::Api => eks::cluster::AccessConfigAuthenticationMode::Api,
        AuthenticationMode::ApiAndConfigMap => {
            eks::cluster::AccessConfigAuthenticationMode::ApiAndConfigMap
        }
    };
    let public = match &options.endpoint {
        EndpointAccess::Private => None,
        EndpointAccess::PublicAndPrivate { cidrs } => Some(cidrs),
    };
    let secrets_key = match &options.secrets_key {
        SecretsKey::AwsOwned => None,
        SecretsKey::Existing(arn) => Some(arn.clone()),
        SecretsKey::NewKey => {
            let key = kms::CfnKey::new(
                construct,
                "SecretsKey",
                kms::KeyProps {
                    description: Some("the Kubernetes secrets of a HyperPod cluster".into()),
                    enable_key_rotation: Some(true.into()),
                    key_policy: Some(
                        PolicyDocument::new([Statement::allow()
                            .sid("AccountAdministers")
                            .principal(Principal::account(&account))
                            .action("kms:*")
                            .resource("*")])
                        .into(),
                    ),
                    ..Default::default()
                },
            );
            // Secrets encrypted with it are unreadable without it.
            key.retain_on_delete_and_replace();
            key.node().suppress(
                "IAM_WILDCARD_ACTION",
                "the account-root statement KMS documents, which lets IAM policies of the account grant the key; the cluster's role gets its uses by name",
            );
            Some(key.arn())
        }
    };
    let secrets_key_access = secrets_key.as_ref().map(|key| {
        hyperpod_cfn::iam::CfnRolePolicy::new(
            construct,
            "EksSecretsKeyAccess",
            hyperpod_cfn::iam::RolePolicyProps {
                policy_document: Some(
                    PolicyDocument::new([Statement::allow()
                        .sid("SecretsKey")
                        .actions([
                            "kms:Encrypt",
                            "kms:Decrypt",
                            "kms:DescribeKey",
                            "kms:CreateGrant",
                            "kms:ListGrants",
                        ])
                        .resource(key.clone())])
                    .into(),
                ),
                ..hyperpod_cfn::iam::RolePolicyProps::new("secrets-key", cluster_role.role_name())
            },
        )
    });
    let log_types = [
        eks::cluster::LoggingTypeConfigType::Api,
        eks::cluster::LoggingTypeConfigType::Audit,
        eks::cluster::LoggingTypeConfigType::Authenticator,
        eks::cluster::LoggingTypeConfigType::ControllerManager,
        eks::cluster::LoggingTypeConfigType::Scheduler,
    ];
    let cluster = eks::CfnCluster::new(
        construct,
        "EksCluster",
        eks::ClusterProps {
            name: Some(props.cluster_name.as_str().into()),
            version: Some(options.kubernetes_version.as_str().into()),
            access_config: Some(
                eks::cluster::AccessConfig {
                    authentication_mode: Some(mode.into()),
                    // No implicit admin for whoever deploys: the admins are access entries
                    // a reviewer can read.
                    bootstrap_cluster_creator_admin_permissions: Some(false.into()),
                }
                .into(),
            ),
            logging: Some(
                eks::cluster::Logging {
                    cluster_logging: Some(
                        eks::cluster::ClusterLogging {
                            enabled_types: Some(
                                log_types
                                    .into_iter()
                                    .map(|t| {
                                        Value::from(eks::cluster::LoggingTypeConfig {
                                            type_: Some(t.into()),
                                        })
                                    })
                                    .collect::<Vec<_>>()
                                    .into(),
                            ),
                        }
                        .into(),
                    ),
                }
                .into(),
            ),
            encryption_config: secrets_key.map(|key| {
                Value::list([eks::cluster::EncryptionConfig {
                    provider: Some(eks::cluster::Provider { key_arn: Some(key) }.into()),
                    resources: Some(vec!["secrets"].into()),
                }
                .into()])
            }),
            ..eks::ClusterProps::new(
                eks::cluster::ResourcesVpcConfig {
                    security_group_ids: Some(Value::list([props
                        .network
                        .security_group_id
                        .clone()])),
                    endpoint_private_access: Some(true.into()),
                    endpoint_public_access: Some(public.is_some().into()),
                    public_access_cidrs: public
                        .map(|cidrs| cidrs.iter().map(String::as_str).collect::<Vec<_>>().into()),
                    ..eks::cluster::ResourcesVpcConfig::new(Value::list(
                        props.network.control_plane_subnet_ids.iter().cloned(),
                    ))
                },
                cluster_role.arn(),
            )
        },
    );
    // EKS checks at creation that its role may use the key.
    if let Some(access) = &secrets_key_access {
        cluster.add_depends_on(access);
    }
    if matches!(options.secrets_key, SecretsKey::AwsOwned) {
        cluster.node().suppress(
            "EKS_SECRETS_KEY",
            "EKS (1.28 and later) envelope-encrypts all Kubernetes API data with an AWS-owned key; a customer-managed key is `NewEksCluster::secrets_key`, chosen before the first deploy",
        );
    }
    let mut addons = Vec::new();
    // The network policy agent enforces the teams' NetworkPolicies.
    let cni_configuration = options
        .network_policies
        .then(|| fns::to_json(serde_json::json!({ "enableNetworkPolicy": "true" })));
    for (addon_id, name, version, configuration) in [
        (
            "VpcCni",
            "vpc-cni",
            options.vpc_cni_version.clone(),
            cni_configuration,
        ),
        ("KubeProxy", "kube-proxy", None, None),
        ("CoreDns", "coredns", None, None),
        ("PodIdentityAgent", "eks-pod-identity-agent", None, None),
    ] {
        addons.push(eks::CfnAddon::new(
            construct,
            addon_id,
            eks::AddonProps {
                addon_version: version.map(Value::from),
                resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
                configuration_values: configuration,
                ..eks::AddonProps::new(name, cluster.ref_value())
            },
        ));
    }
    (cluster, addons)
}

/// The task-governance add-on (after the HyperPod cluster, as AWS's Terraform does) and
/// the cluster policy (after the add-on: one created before it ends in CreateFailed).
fn task_governance(
    construct: &Construct,
    cluster_name: &str,
    eks_name: &Value<String>,
    cluster: &sagemaker::CfnCluster,
    scheduler: &SchedulerProps,
) -> (eks::CfnAddon, sagemaker::CfnClusterSchedulerConfig) {
    let addon = eks::CfnAddon::new(
        construct,
        "TaskGovernance",
        eks::AddonProps {
            resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
            ..eks::AddonProps::new("amazon-sagemaker-hyperpod-taskgovernance", eks_name.clone())
        },
    );
    addon.add_depends_on(cluster);
    let enabled = |on: bool| if on { "Enabled" } else { "Disabled" };
    let config = sagemaker::CfnClusterSchedulerConfig::new(
        construct,
        "SchedulerConfig",
        sagemaker::ClusterSchedulerConfigProps::new(
            cluster.cluster_arn(),
            format!("{cluster_name}-policy"),
            sagemaker::cluster_scheduler_config::SchedulerConfig {
                fair_share: Some(Value::from_expr(enabled(scheduler.fair_share).into())),
                idle_resource_sharing: Some(Value::from_expr(
                    enabled(scheduler.idle_resource_sharing).into(),
                )),
                priority_classes: (!scheduler.priority_classes.is_empty()).then(|| {
                    Value::list(scheduler.priority_classes.iter().map(|(name, weight)| {
                        sagemaker::cluster_scheduler_config::PriorityClass::new(
                            name.as_str(),
                            i64::from(*weight),
                        )
                        .into()
                    }))
                }),
            },
        ),
    );
    config.add_depends_on(&addon);
    (addon, config)
}

fn instance_group(
    group: &InstanceGroup,
    role: &Role,
    scripts_uri: &str,
    security_group: &Value<String>,
    subnet: Value<String>,
) -> sagemaker::cluster::ClusterInstanceGroup {
    use sagemaker::cluster::{
        ClusterInstanceGroup, ClusterKubernetesConfig, ClusterKubernetesTaint,
        ClusterKubernetesTaintEffect, ClusterLifeCycleConfig, DeepHealthCheckType, VpcConfig,
    };
    let checks: Vec<Value<DeepHealthCheckType>> = group
        .deep_health_checks
        .iter()
        .map(|check| match check {
            DeepHealthCheck::InstanceStress => DeepHealthCheckType::InstanceStress.into(),
            DeepHealthCheck::InstanceConnectivity => {
                DeepHealthCheckType::InstanceConnectivity.into()
            }
        })
        .collect();
    let kubernetes = (!group.labels.is_empty() || !group.taints.is_empty()).then(|| {
        ClusterKubernetesConfig {
            labels: (!group.labels.is_empty()).then(|| {
                Value::from(
                    group
                        .labels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<indexmap::IndexMap<String, String>>(),
                )
            }),
            taints: (!group.taints.is_empty()).then(|| {
                Value::list(group.taints.iter().map(|(key, value, effect)| {
                    let effect = match effect {
                        TaintEffect::NoSchedule => ClusterKubernetesTaintEffect::NoSchedule,
                        TaintEffect::PreferNoSchedule => {
                            ClusterKubernetesTaintEffect::PreferNoSchedule
                        }
                        TaintEffect::NoExecute => ClusterKubernetesTaintEffect::NoExecute,
                    };
                    ClusterKubernetesTaint {
                        value: value.as_ref().map(Value::from),
                        ..ClusterKubernetesTaint::new(effect, key.as_str())
                    }
                    .into()
                }))
            }),
        }
        .into()
    });
    ClusterInstanceGroup {
        instance_type: Some(group.instance_type.as_str().into()),
        threads_per_core: Some(i64::from(group.threads_per_core).into()),
        instance_storage_configs: group
            .ebs_volume_gb
            .map(|size| vec![json!({ "EbsVolumeConfig": { "VolumeSizeInGB": size } })].into()),
        life_cycle_config: Some(
            ClusterLifeCycleConfig {
                on_create: Some(crate::lifecycle::EKS_ENTRY_SCRIPT.into()),
                source_s3_uri: Some(scripts_uri.into()),
                ..Default::default()
            }
            .into(),
        ),
        on_start_deep_health_checks: (!checks.is_empty()).then(|| Value::list(checks)),
        kubernetes_config: kubernetes,
        override_vpc_config: Some(
            VpcConfig::new(Value::list([security_group.clone()]), Value::list([subnet])).into(),
        ),
        training_plan_arn: group.training_plan_arn.clone(),
        ..ClusterInstanceGroup::new(role.arn(), i64::from(group.count), group.name.as_str())
    }
}

/// Teams' quotas of each instance type must fit in the cluster's instances of that type.
fn quotas_fit(teams: &[RegisteredTeam], capacity: &[(String, u32)]) -> Vec<Issue> {
    let mut totals: BTreeMap<&str, u32> = BTreeMap::new();
    for (instance_type, count) in capacity {
        *totals.entry(instance_type).or_default() += count;
    }
    let mut asked: BTreeMap<&str, Vec<(&str, u32)>> = BTreeMap::new();
    for team in teams {
        for (instance_type, count) in &team.quotas {
            asked
                .entry(instance_type)
                .or_default()
                .push((&team.name, *count));
        }
    }
    let mut issues = Vec::new();
    for (instance_type, shares) in asked {
        let sum: u32 = shares.iter().map(|(_, count)| count).sum();
        let have = totals.get(instance_type).copied().unwrap_or(0);
        if sum > have {
            let by_team: Vec<String> = shares
                .iter()
                .map(|(team, count)| format!("{team} {count}"))
                .collect();
            issues.push(Issue::new(
                "quotas_exceed_capacity",
                format!(
                    "teams' quotas of {instance_type} add up to {sum} ({}) but the cluster has {have}; lower a quota or add instances",
                    by_team.join(", ")
                ),
            ));
        }
    }
    issues
}

fn check_props(node: &Node, props: &HyperPodEksClusterProps, region: &str) {
    let name = &props.cluster_name;
    if !is_hyperpod_name(name, 63) {
        node.report("invalid_cluster_name", format!("cluster name `{name}` must be 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit; rename it"));
    }
    if !region.is_empty() && !crate::regions::is_hyperpod_region(region) {
        let regions: Vec<&str> = crate::regions::HYPERPOD_REGIONS
            .iter()
            .map(|(name, _)| *name)
            .collect();
        node.report(
            "unsupported_region",
            format!(
                "SageMaker HyperPod is not available in {region}; put the cluster's stage in one of {}",
                regions.join(", ")
            ),
        );
    }
    match &props.eks {
        EksControlPlane::New(options) => {
            check_new_eks(node, options, props.task_governance.is_some());
            if matches!(props.helm, HelmDependencies::AlreadyInstalled) {
                node.report("helm_chart_cannot_be_installed_yet", "this construct creates the EKS cluster, so the HyperPod Helm chart cannot already be installed in it; keep `HelmDependencies::Install` (the default), or bring an EKS cluster that has the chart with `EksControlPlane::Existing`");
            }
        }
        EksControlPlane::Existing { name } => {
            if !is_hyperpod_name(name, 100) {
                node.report(
                    "invalid_eks_cluster_name",
                    format!(
                        "`{name}` is not an EKS cluster name; give the name the EKS console shows"
                    ),
                );
            }
        }
    }
    if let HelmDependencies::Install(chart) = &props.helm
        && !crate::installer::is_commit(&chart.source.revision)
    {
        node.report("chart_not_pinned", format!("chart revision `{}` is not a commit; pin the chart to a full 40-character commit id so that every deploy installs what was reviewed", chart.source.revision));
    }
    if props.instance_groups.is_empty() {
        node.report(
            "no_instance_groups",
            "a HyperPod cluster needs at least one instance group; add one",
        );
    }
    let zone = props
        .availability_zone_id
        .as_deref()
        .or(props.network.primary_zone_id());
    let autoscaling = props.addons.autoscaling.is_some();
    let mut names = std::collections::HashSet::new();
    for group in &props.instance_groups {
        check_group(node, group, autoscaling);
        if !names.insert(&group.name) {
            node.report(
                "duplicate_instance_group",
                format!(
                    "instance group `{}` is declared twice; give each group its own name",
                    group.name
                ),
            );
        }
        let group_zone = group.availability_zone_id.as_deref().or(zone);
        match group_zone {
            Some(group_zone) if props.network.node_subnet(group_zone).is_none() => {
                let known: Vec<&str> = props
                    .network
                    .node_subnets
                    .iter()
                    .map(|subnet| subnet.availability_zone_id.as_str())
                    .collect();
                node.report("no_subnet_in_zone", format!("group `{}` runs in `{group_zone}`, where the network has no node subnet (it has {}); add the zone to the network or choose one of its zones", group.name, known.join(", ")));
            }
            None => node.report(
                "no_subnets",
                "the network has no node subnet; give the cluster a network with at least one",
            ),
            _ => {}
        }
    }
    if let Some(scheduler) = &props.task_governance {
        check_scheduler(node, scheduler);
    }
    addons::check(node, &props.addons, &props.instance_groups, &props.network);
}

fn check_new_eks(node: &Node, options: &NewEksCluster, task_governance: bool) {
    if let EndpointAccess::PublicAndPrivate { cidrs } = &options.endpoint {
        if cidrs.is_empty() {
            node.report("public_endpoint_without_cidrs", "the EKS API endpoint is public but no CIDR block may reach it, which EKS reads as the whole internet; list your organisation's egress ranges, or keep the endpoint private (`EndpointAccess::Private`)");
        }
        for cidr in cidrs {
            if let Err(reason) = crate::cidr::Cidr::parse(cidr) {
                node.report("invalid_endpoint_cidr", reason);
            }
        }
    }
    let version = options.kubernetes_version.as_str();
    if !SUPPORTED_KUBERNETES_VERSIONS.contains(&version) {
        node.report(
            "unsupported_kubernetes_version",
            format!(
                "Kubernetes {version} is not one HyperPod supports ({}); choose one of them",
                SUPPORTED_KUBERNETES_VERSIONS.join(", ")
            ),
        );
    } else if task_governance && minor(version) < minor(TASK_GOVERNANCE_MIN_VERSION) {
        node.report("task_governance_needs_newer_kubernetes", format!("task governance needs Kubernetes {TASK_GOVERNANCE_MIN_VERSION} or later, not {version}; raise the version or turn task governance off"));
    }
    if let Some(cni) = &options.vpc_cni_version {
        match parse_addon_version(cni) {
            Some(found) if found >= VPC_CNI_MIN_VERSION => {}
            Some(_) => node.report("vpc_cni_too_old", format!("vpc-cni {cni} is older than v1.18.3, the oldest HyperPod supports; pin v1.18.3 or later, or leave it unpinned")),
            None => node.report("invalid_addon_version", format!("`{cni}` is not an add-on version such as `v1.19.2-eksbuild.1`")),
        }
    }
}

fn check_group(node: &Node, group: &InstanceGroup, autoscaling: bool) {
    let name = &group.name;
    if !is_hyperpod_name(name, 63) {
        node.report("invalid_instance_group_name", format!("instance group name `{name}` must be 1 to 63 letters, digits and hyphens; rename it"));
    }
    let instance_type = group.instance_type.as_str();
    if !crate::instances::is_hyperpod_instance_type(instance_type) {
        node.report(
            "unknown_instance_type",
            crate::instances::unknown_type_message(instance_type, name),
        );
    }
    if group.count == 0 && !autoscaling {
        node.report("empty_instance_group", format!("group `{name}` has 0 instances; give it at least one, or turn on Karpenter autoscaling (`addons.autoscaling`), which scales groups that start at 0"));
    }
    if group.count > 6758 {
        node.report(
            "instance_count_too_large",
            format!(
                "group `{name}` asks for {} instances, more than HyperPod's 6758; lower it",
                group.count
            ),
        );
    }
    if !(1..=2).contains(&group.threads_per_core) {
        node.report(
            "invalid_threads_per_core",
            format!(
                "group `{name}` has threads_per_core {}; use 1 or 2",
                group.threads_per_core
            ),
        );
    }
    if let Some(size) = group.ebs_volume_gb
        && !(1..=16384).contains(&size)
    {
        node.report(
            "invalid_volume_size",
            format!("group `{name}` asks for a {size} GB volume; use 1 to 16384"),
        );
    }
    for check in &group.deep_health_checks {
        let supported = match check {
            DeepHealthCheck::InstanceStress => {
                crate::instances::supports_instance_stress(instance_type)
            }
            DeepHealthCheck::InstanceConnectivity => {
                crate::instances::supports_instance_connectivity(instance_type)
            }
        };
        if !supported {
            let needs = match check {
                DeepHealthCheck::InstanceStress => "GPU or Trainium instances",
                DeepHealthCheck::InstanceConnectivity => "GPU or Trainium instances with EFA",
            };
            node.report("deep_health_check_unsupported", format!("group `{name}` asks for the deep health check {check:?} on {instance_type}, but it runs only on {needs}; remove it from the group"));
        }
    }
    if !group.deep_health_checks.is_empty() && !group.taints.is_empty() {
        node.report("taints_with_deep_health_checks", format!("group `{name}` has taints and deep health checks; HyperPod refuses custom taints on groups with deep health checks, so drop one of them"));
    }
    if let Some(zone) = &group.availability_zone_id
        && !zone.contains("-az")
    {
        node.report("invalid_availability_zone_id", format!("group `{name}` names zone `{zone}`; give an Availability Zone ID such as `use1-az2`"));
    }
}

fn check_scheduler(node: &Node, scheduler: &SchedulerProps) {
    if scheduler.priority_classes.len() > 10 {
        node.report(
            "too_many_priority_classes",
            format!(
                "{} priority classes are declared; task governance takes at most 10",
                scheduler.priority_classes.len()
            ),
        );
    }
    for (class, weight) in &scheduler.priority_classes {
        if !crate::is_team_name(class) {
            node.report("invalid_priority_class", format!("priority class `{class}` must be lowercase letters, digits and hyphens, at most 40; rename it"));
        }
        if *weight > 100 {
            node.report(
                "invalid_priority_weight",
                format!("priority class `{class}` has weight {weight}; use 0 to 100"),
            );
        }
    }
}

fn minor(version: &str) -> u32 {
    version
        .split('.')
        .nth(1)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Parses `v1.19.2-eksbuild.1` into `(1, 19, 2)`.
fn parse_addon_version(version: &str) -> Option<(u32, u32, u32)> {
    let core = version.strip_prefix('v')?.split('-').next()?;
    let parts: Vec<u32> = core
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [major, minor, patch] => Some((*major, *minor, *patch)),
        _ => None,
    }
}

/// HyperPod names: letters, digits and single or repeated hyphens between them.
pub(crate) fn is_hyperpod_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}
