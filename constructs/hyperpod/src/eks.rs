//! An EKS-orchestrated HyperPod cluster with task governance.

use std::path::PathBuf;

use hyperpod_cfn::{cloudformation, eks, sagemaker};
use hyperpod_core::{Construct, Expr, Node, Scope, Stack, Value, fns};
use hyperpod_iam::{ManagedPolicy, Principal, Role, RoleProps, Statement};
use serde_json::json;

use crate::network::NetworkRefs;

/// The Kubernetes versions HyperPod supports (SageMaker HyperPod EKS prerequisites).
pub const SUPPORTED_KUBERNETES_VERSIONS: &[&str] =
    &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33"];
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
    /// Stress tests of the accelerators.
    InstanceStress,
    /// Connectivity tests between instances.
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
    /// How many instances.
    pub count: u32,
    /// The size of the extra EBS volume per instance, in GB (1 to 16384).
    pub ebs_volume_gb: Option<u32>,
    /// 1 to turn hyper-threading off (default), 2 to keep it.
    pub threads_per_core: u32,
    /// The deep health checks run at start.
    pub deep_health_checks: Vec<DeepHealthCheck>,
    /// Kubernetes labels of the nodes.
    pub labels: Vec<(String, String)>,
    /// Kubernetes taints of the nodes: key, value, effect.
    pub taints: Vec<(String, Option<String>, TaintEffect)>,
}

impl InstanceGroup {
    /// A group of `count` instances of a type, with one thread per core and both deep
    /// health checks.
    pub fn new(name: &str, instance_type: &str, count: u32) -> InstanceGroup {
        InstanceGroup {
            name: name.to_owned(),
            instance_type: instance_type.to_owned(),
            count,
            ebs_volume_gb: Some(500),
            threads_per_core: 1,
            deep_health_checks: vec![
                DeepHealthCheck::InstanceStress,
                DeepHealthCheck::InstanceConnectivity,
            ],
            labels: Vec::new(),
            taints: Vec::new(),
        }
    }
}

/// How the Helm charts HyperPod needs get installed before the cluster is created.
#[derive(Clone, Debug)]
pub enum HelmDependencies {
    /// The charts were installed outside this app; the cluster is created right away.
    AlreadyInstalled,
    /// A custom resource backed by a provider you run (a Lambda function with kubectl and
    /// helm, and an EKS access entry of its own) installs the chart.
    CustomResource {
        /// The ARN of the provider's Lambda function.
        service_token: Value<String>,
    },
    /// Built here, as the reference templates do: a Lambda function (with a role that can
    /// describe the cluster and a cluster-admin access entry) runs `helm upgrade --install`
    /// of the chart from the HyperPod CLI repository into `kube-system`, from a custom
    /// resource. The layer that provides kubectl, helm and git cannot be built here: give
    /// its ARN.
    Lambda {
        /// The ARN of a Lambda layer with `aws`, `kubectl`, `helm` and `git` under `/opt`.
        kubectl_helm_layer_arn: Value<String>,
    },
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
    /// The name of both the EKS cluster and the HyperPod cluster: letters, digits and
    /// hyphens, starting with a letter or digit, at most 63.
    pub cluster_name: String,
    /// Where the cluster runs.
    pub network: NetworkRefs,
    /// The Kubernetes version (default `1.31`).
    pub kubernetes_version: String,
    /// The authentication mode (default API).
    pub authentication_mode: AuthenticationMode,
    /// Pins the vpc-cni add-on (at least `v1.18.3`); the latest compatible one when absent.
    pub vpc_cni_version: Option<String>,
    /// The instance groups (at least one).
    pub instance_groups: Vec<InstanceGroup>,
    /// The folder of lifecycle scripts, with `on_create.sh`; it is uploaded to the
    /// lifecycle bucket before the cluster deploys.
    pub lifecycle_scripts: PathBuf,
    /// The stack (in the cluster's account and region) that holds the lifecycle bucket; it
    /// deploys before the cluster's stack so the scripts can be uploaded in between.
    pub lifecycle_bucket_stack: Stack,
    /// How the Helm charts are installed.
    pub helm: HelmDependencies,
    /// Task governance with its cluster policy; `None` leaves it off.
    pub task_governance: Option<SchedulerProps>,
    /// A principal given cluster-admin access through an EKS access entry.
    pub admin_principal_arn: Option<Value<String>>,
}

impl HyperPodEksClusterProps {
    /// A cluster with the reference defaults: Kubernetes 1.31, API authentication, task
    /// governance with the default cluster policy, Helm charts already installed.
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
            kubernetes_version: "1.31".into(),
            authentication_mode: AuthenticationMode::Api,
            vpc_cni_version: None,
            instance_groups,
            lifecycle_scripts,
            lifecycle_bucket_stack,
            helm: HelmDependencies::AlreadyInstalled,
            task_governance: Some(SchedulerProps::default()),
            admin_principal_arn: None,
        }
    }
}

/// An EKS cluster with the add-ons HyperPod needs, the lifecycle-script bucket, the
/// HyperPod execution role, the HyperPod cluster, and (with task governance) its add-on and
/// cluster policy, created in the documented order: EKS → add-ons → Helm charts →
/// HyperPod cluster → task-governance add-on → cluster scheduler config.
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
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::default());
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
    eks: eks::CfnCluster,
    cluster: sagemaker::CfnCluster,
    execution_role: Role,
    governance_ready: Option<sagemaker::CfnClusterSchedulerConfig>,
    cluster_name: String,
}

impl HyperPodEksCluster {
    /// Creates the cluster and everything it needs.
    pub fn new(scope: &impl Scope, id: &str, props: HyperPodEksClusterProps) -> HyperPodEksCluster {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        check_props(&node, &props);

        let cluster_role = Role::new(
            &construct,
            "EksClusterRole",
            RoleProps {
                managed_policies: vec![ManagedPolicy::aws("AmazonEKSClusterPolicy")],
                ..RoleProps::new(Principal::service("eks.amazonaws.com").trust())
            },
        );
        let mode = match props.authentication_mode {
            AuthenticationMode::Api => eks::cluster::AccessConfigAuthenticationMode::Api,
            AuthenticationMode::ApiAndConfigMap => {
                eks::cluster::AccessConfigAuthenticationMode::ApiAndConfigMap
            }
        };
        let log_types = [
            eks::cluster::LoggingTypeConfigType::Api,
            eks::cluster::LoggingTypeConfigType::Audit,
            eks::cluster::LoggingTypeConfigType::Authenticator,
            eks::cluster::LoggingTypeConfigType::ControllerManager,
            eks::cluster::LoggingTypeConfigType::Scheduler,
        ];
        let eks_cluster = eks::CfnCluster::new(
            &construct,
            "EksCluster",
            eks::ClusterProps {
                name: Some(props.cluster_name.as_str().into()),
                version: Some(props.kubernetes_version.as_str().into()),
                access_config: Some(
                    eks::cluster::AccessConfig {
                        authentication_mode: Some(mode.into()),
                        bootstrap_cluster_creator_admin_permissions: Some(true.into()),
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
                ..eks::ClusterProps::new(
                    eks::cluster::ResourcesVpcConfig {
                        security_group_ids: Some(Value::list([props
                            .network
                            .security_group_id
                            .clone()])),
                        endpoint_private_access: Some(true.into()),
                        endpoint_public_access: Some(true.into()),
                        ..eks::cluster::ResourcesVpcConfig::new(Value::list(
                            props.network.private_subnet_ids.iter().cloned(),
                        ))
                    },
                    cluster_role.arn(),
                )
            },
        );

        let mut addons = Vec::new();
        for (addon_id, name, version) in [
            ("VpcCni", "vpc-cni", props.vpc_cni_version.clone()),
            ("KubeProxy", "kube-proxy", None),
            ("CoreDns", "coredns", None),
            ("PodIdentityAgent", "eks-pod-identity-agent", None),
        ] {
            addons.push(eks::CfnAddon::new(
                &construct,
                addon_id,
                eks::AddonProps {
                    addon_version: version.map(Value::from),
                    resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
                    ..eks::AddonProps::new(name, eks_cluster.ref_value())
                },
            ));
        }

        let (scripts_bucket, scripts) = crate::lifecycle::lifecycle_scripts(
            &construct,
            id,
            &props.cluster_name,
            &props.lifecycle_scripts,
            &props.lifecycle_bucket_stack,
        );
        let execution_role = crate::lifecycle::execution_role(
            &construct,
            &scripts_bucket,
            &[
                "AmazonSageMakerClusterInstanceRolePolicy",
                "AmazonEKS_CNI_Policy",
            ],
            vec![
                Statement::allow()
                    .sid("PodIdentity")
                    .action("eks-auth:AssumeRoleForPodIdentity")
                    .resource("*"),
                Statement::allow()
                    .sid("TagInterfaces")
                    .action("ec2:CreateTags")
                    .resource(fns::sub::<&str>(
                        "arn:${AWS::Partition}:ec2:*:*:network-interface/*",
                        [],
                    )),
            ],
        );

        let helm = match &props.helm {
            HelmDependencies::AlreadyInstalled => None,
            HelmDependencies::CustomResource { service_token } => Some(helm_release(
                &construct,
                service_token.clone(),
                &eks_cluster,
                &addons,
            )),
            HelmDependencies::Lambda {
                kubectl_helm_layer_arn,
            } => {
                let installer =
                    helm_installer(&construct, kubectl_helm_layer_arn.clone(), &eks_cluster);
                Some(helm_release(&construct, installer, &eks_cluster, &addons))
            }
        };

        let instance_groups: Vec<Value<sagemaker::cluster::ClusterInstanceGroup>> = props
            .instance_groups
            .iter()
            .map(|group| instance_group(group, &execution_role, &scripts.s3_uri()).into())
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
                        Expr::map([("ClusterArn", eks_cluster.arn().into_expr())]),
                    )])
                    .into(),
                ),
                vpc_config: Some(
                    sagemaker::cluster::VpcConfig::new(
                        Value::list([props.network.security_group_id.clone()]),
                        Value::list(props.network.private_subnet_ids.iter().cloned()),
                    )
                    .into(),
                ),
                ..Default::default()
            },
        );
        for addon in &addons {
            cluster.add_depends_on(addon);
        }
        if let Some(helm) = &helm {
            cluster.add_depends_on(helm);
        }

        let governance_ready = props.task_governance.as_ref().map(|scheduler| {
            let governance = eks::CfnAddon::new(
                &construct,
                "TaskGovernance",
                eks::AddonProps {
                    resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
                    ..eks::AddonProps::new(
                        "amazon-sagemaker-hyperpod-taskgovernance",
                        eks_cluster.ref_value(),
                    )
                },
            );
            governance.add_depends_on(&cluster);
            let enabled = |on: bool| if on { "Enabled" } else { "Disabled" };
            let config = sagemaker::CfnClusterSchedulerConfig::new(
                &construct,
                "SchedulerConfig",
                sagemaker::ClusterSchedulerConfigProps::new(
                    cluster.cluster_arn(),
                    format!("{}-policy", props.cluster_name),
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
            // A scheduler config created before the add-on is ready ends in CreateFailed.
            config.add_depends_on(&governance);
            config
        });

        if let Some(admin) = &props.admin_principal_arn {
            cluster_admin_entry(&construct, "AdminAccess", &eks_cluster, admin.clone());
        }

        HyperPodEksCluster {
            construct,
            eks: eks_cluster,
            cluster,
            execution_role,
            governance_ready,
            cluster_name: props.cluster_name,
        }
    }

    /// The ARN of the HyperPod cluster.
    pub fn cluster_arn(&self) -> Value<String> {
        self.cluster.cluster_arn()
    }

    /// The name of the EKS cluster (`Ref`).
    pub fn eks_cluster_name(&self) -> Value<String> {
        self.eks.ref_value()
    }

    /// The name given to both clusters.
    pub fn name(&self) -> &str {
        &self.cluster_name
    }

    /// The EKS cluster resource.
    pub fn eks_cluster(&self) -> &eks::CfnCluster {
        &self.eks
    }

    /// The HyperPod cluster resource.
    pub fn hyperpod_cluster(&self) -> &sagemaker::CfnCluster {
        &self.cluster
    }

    /// The execution role of the instances.
    pub fn execution_role(&self) -> &Role {
        &self.execution_role
    }

    /// The cluster scheduler config, which team quotas must follow; `None` without task
    /// governance.
    pub fn scheduler_config(&self) -> Option<&sagemaker::CfnClusterSchedulerConfig> {
        self.governance_ready.as_ref()
    }
}

impl Scope for HyperPodEksCluster {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

/// The custom resource that installs the chart `hyperpod-dependencies` from the HyperPod
/// CLI repository into `kube-system`, after the add-ons.
fn helm_release(
    scope: &Construct,
    service_token: Value<String>,
    cluster: &eks::CfnCluster,
    addons: &[eks::CfnAddon],
) -> cloudformation::CfnCustomResource {
    let install = cloudformation::CfnCustomResource::new(
        scope,
        "HelmDependencies",
        cloudformation::CustomResourceProps::new(service_token),
    );
    install.set_property("ClusterName", cluster.ref_value());
    install.set_property(
        "ChartRepository",
        "https://github.com/aws/sagemaker-hyperpod-cli.git",
    );
    install.set_property("ChartPath", "helm_chart/HyperPodHelmChart");
    install.set_property("Namespace", "kube-system");
    install.set_property("ReleaseName", "hyperpod-dependencies");
    for addon in addons {
        install.add_depends_on(addon);
    }
    install
}

/// An EKS access entry giving `principal` cluster-admin rights over the whole cluster.
fn cluster_admin_entry(
    scope: &Construct,
    id: &str,
    cluster: &eks::CfnCluster,
    principal: Value<String>,
) -> eks::CfnAccessEntry {
    let admin = eks::access_entry::AccessPolicy::new(
        eks::access_entry::AccessScope::new(eks::access_entry::AccessScopeType::Cluster),
        fns::sub::<&str>(
            "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            [],
        ),
    );
    eks::CfnAccessEntry::new(
        scope,
        id,
        eks::AccessEntryProps {
            access_policies: Some(vec![admin].into()),
            ..eks::AccessEntryProps::new(cluster.ref_value(), principal)
        },
    )
}

/// The Lambda function that installs Helm charts, its role, and the role's cluster-admin
/// access entry; returns the function's ARN.
fn helm_installer(
    scope: &Construct,
    layer_arn: Value<String>,
    cluster: &eks::CfnCluster,
) -> Value<String> {
    use hyperpod_cfn::lambda;
    let role = Role::new(
        scope,
        "HelmInstallerRole",
        RoleProps {
            managed_policies: vec![ManagedPolicy::aws(
                "service-role/AWSLambdaBasicExecutionRole",
            )],
            inline_policies: vec![(
                "describe-cluster".into(),
                hyperpod_iam::PolicyDocument::new([Statement::allow()
                    .action("eks:DescribeCluster")
                    .resource(cluster.arn())]),
            )],
            ..RoleProps::new(Principal::service("lambda.amazonaws.com").trust())
        },
    );
    let access = cluster_admin_entry(scope, "HelmInstallerAccess", cluster, role.arn());
    let function = lambda::CfnFunction::new(
        scope,
        "HelmInstaller",
        lambda::FunctionProps {
            runtime: Some(lambda::function::Runtime::Python312.into()),
            handler: Some("index.handler".into()),
            timeout: Some(600.into()),
            memory_size: Some(1024.into()),
            layers: Some(Value::list([layer_arn])),
            description: Some("installs the Helm charts HyperPod needs".into()),
            ..lambda::FunctionProps::new(
                lambda::function::Code {
                    zip_file: Some(include_str!("helm/installer.py").into()),
                    ..Default::default()
                },
                role.arn(),
            )
        },
    );
    // The function needs its access entry before it can reach the cluster.
    function.add_depends_on(&access);
    function.arn()
}

fn instance_group(
    group: &InstanceGroup,
    role: &Role,
    scripts_uri: &str,
) -> sagemaker::cluster::ClusterInstanceGroup {
    use sagemaker::cluster::{
        ClusterInstanceGroup, ClusterKubernetesConfig, ClusterKubernetesTaint,
        ClusterKubernetesTaintEffect, ClusterLifeCycleConfig, DeepHealthCheckType,
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
                on_create: Some("on_create.sh".into()),
                source_s3_uri: Some(scripts_uri.into()),
                ..Default::default()
            }
            .into(),
        ),
        on_start_deep_health_checks: (!checks.is_empty()).then(|| Value::list(checks)),
        kubernetes_config: kubernetes,
        ..ClusterInstanceGroup::new(role.arn(), i64::from(group.count), group.name.as_str())
    }
}

fn check_props(node: &Node, props: &HyperPodEksClusterProps) {
    let name = &props.cluster_name;
    if !is_hyperpod_name(name, 63) {
        node.report("invalid_cluster_name", format!("cluster name `{name}` must be 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit; rename it"));
    }
    let version = props.kubernetes_version.as_str();
    if !SUPPORTED_KUBERNETES_VERSIONS.contains(&version) {
        node.report(
            "unsupported_kubernetes_version",
            format!(
                "Kubernetes {version} is not one HyperPod supports ({}); choose one of them",
                SUPPORTED_KUBERNETES_VERSIONS.join(", ")
            ),
        );
    } else if props.task_governance.is_some() && minor(version) < minor(TASK_GOVERNANCE_MIN_VERSION)
    {
        node.report("task_governance_needs_newer_kubernetes", format!("task governance needs Kubernetes {TASK_GOVERNANCE_MIN_VERSION} or later, not {version}; raise the version or turn task governance off"));
    }
    if let Some(cni) = &props.vpc_cni_version {
        match parse_addon_version(cni) {
            Some(found) if found >= VPC_CNI_MIN_VERSION => {}
            Some(_) => node.report("vpc_cni_too_old", format!("vpc-cni {cni} is older than v1.18.3, the oldest HyperPod supports; pin v1.18.3 or later, or leave it unpinned")),
            None => node.report("invalid_addon_version", format!("`{cni}` is not an add-on version such as `v1.19.2-eksbuild.1`")),
        }
    }
    if props.instance_groups.is_empty() {
        node.report(
            "no_instance_groups",
            "a HyperPod cluster needs at least one instance group; add one",
        );
    }
    let mut names = std::collections::HashSet::new();
    for group in &props.instance_groups {
        if !is_hyperpod_name(&group.name, 63) {
            node.report("invalid_instance_group_name", format!("instance group name `{}` must be 1 to 63 letters, digits and hyphens; rename it", group.name));
        }
        if !names.insert(&group.name) {
            node.report(
                "duplicate_instance_group",
                format!(
                    "instance group `{}` is declared twice; give each group its own name",
                    group.name
                ),
            );
        }
        if !group.instance_type.starts_with("ml.") {
            node.report("invalid_instance_type", format!("instance type `{}` of group `{}` is not a SageMaker type; HyperPod types start with `ml.`, such as `ml.g5.8xlarge`", group.instance_type, group.name));
        }
        if group.count > 6758 {
            node.report(
                "instance_count_too_large",
                format!(
                    "group `{}` asks for {} instances, more than HyperPod's 6758; lower it",
                    group.name, group.count
                ),
            );
        }
        if !(1..=2).contains(&group.threads_per_core) {
            node.report(
                "invalid_threads_per_core",
                format!(
                    "group `{}` has threads_per_core {}; use 1 or 2",
                    group.name, group.threads_per_core
                ),
            );
        }
        if let Some(size) = group.ebs_volume_gb
            && !(1..=16384).contains(&size)
        {
            node.report(
                "invalid_volume_size",
                format!(
                    "group `{}` asks for a {size} GB volume; use 1 to 16384",
                    group.name
                ),
            );
        }
    }
    if let Some(scheduler) = &props.task_governance {
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
    if props.network.private_subnet_ids.is_empty() {
        node.report(
            "no_subnets",
            "the network has no private subnet; give the cluster a network with at least two",
        );
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
