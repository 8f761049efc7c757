//! The add-ons AWS's Terraform modules offer beside the cluster
//! (`awsome-distributed-training`, `1.architectures/7.sagemaker-hyperpod-eks/terraform-modules/hyperpod-eks-tf/modules/`),
//! typed and off by default, each with the IAM and Pod Identity it needs: observability
//! with an Amazon Managed Prometheus workspace, the HyperPod training operator with
//! cert-manager, the FSx for Lustre CSI driver with a shared file system, and Karpenter
//! autoscaling.

use hyperpod_cfn::{aps, eks, fsx, sagemaker};
use hyperpod_core::{Construct, Expr, Node, Pseudo, Scope, Value, fns};
use hyperpod_iam::{
    Condition, ConditionOperator, ManagedPolicy, PolicyDocument, Principal, Role, RoleProps,
    Statement,
};

use crate::eks::InstanceGroup;
use crate::installer::KubernetesInstaller;
use crate::kubernetes::{KubernetesManifest, KubernetesManifestProps, KubernetesObject};
use crate::network::NetworkRefs;

/// The add-ons of a [`crate::HyperPodEksCluster`]; all off by default.
#[derive(Clone, Debug, Default)]
pub struct HyperPodAddons {
    /// The HyperPod observability add-on, writing to an Amazon Managed Prometheus
    /// workspace created here.
    pub observability: Option<Observability>,
    /// The HyperPod training operator (`HyperPodPyTorchJob`, which `hyp create
    /// hyp-pytorch-job` submits), with the cert-manager add-on it needs.
    pub training_operator: bool,
    /// A shared FSx for Lustre file system in the cluster's Availability Zone with the FSx
    /// CSI driver; teams opt in to it ([`crate::TeamNamespaceProps::shared_fsx`]).
    pub fsx: Option<SharedFsx>,
    /// Karpenter-based autoscaling of the instance groups that start at 0 instances.
    pub autoscaling: Option<Autoscaling>,
}

/// The detail of a group of metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricLevel {
    /// The essential metrics.
    Basic,
    /// Every metric of the group.
    Advanced,
}

/// The observability add-on's options; the defaults are those of AWS's Terraform module.
#[derive(Clone, Debug)]
pub struct Observability {
    /// Training metrics (default basic).
    pub training_metrics: MetricLevel,
    /// Task-governance metrics (default off).
    pub task_governance_metrics: bool,
    /// Scaling metrics (default off).
    pub scaling_metrics: bool,
    /// Cluster metrics (default basic).
    pub cluster_metrics: MetricLevel,
    /// Node metrics (default basic).
    pub node_metrics: MetricLevel,
    /// GPU and Trainium metrics (default basic).
    pub accelerated_compute_metrics: MetricLevel,
    /// Network metrics (default off).
    pub network_metrics: bool,
    /// Container and pod logs to CloudWatch Logs under `/aws/sagemaker/Clusters/` (default
    /// off).
    pub container_logs: bool,
}

impl Default for Observability {
    fn default() -> Self {
        Observability {
            training_metrics: MetricLevel::Basic,
            task_governance_metrics: false,
            scaling_metrics: false,
            cluster_metrics: MetricLevel::Basic,
            node_metrics: MetricLevel::Basic,
            accelerated_compute_metrics: MetricLevel::Basic,
            network_metrics: false,
            container_logs: false,
        }
    }
}

/// The shared FSx for Lustre file system; the defaults are those of AWS's templates
/// (PERSISTENT_2, Lustre 2.15, 1200 GiB, 250 MB/s per TiB, LZ4).
#[derive(Clone, Debug)]
pub struct SharedFsx {
    /// Storage in GiB: 1200, or a multiple of 2400.
    pub storage_capacity_gib: u32,
    /// Throughput per TiB: 125, 250, 500 or 1000 MB/s.
    pub throughput_per_tib: u32,
    /// Days of automatic daily backups, 1 to 90 (default 7).
    pub backup_retention_days: u32,
}

impl Default for SharedFsx {
    fn default() -> Self {
        SharedFsx {
            storage_capacity_gib: 1200,
            throughput_per_tib: 250,
            backup_retention_days: 7,
        }
    }
}

/// Karpenter autoscaling: HyperPod runs Karpenter, which scales the instance groups that
/// start at 0 instances (at most 10, without deep health checks); the groups with
/// instances keep the system pods.
#[derive(Clone, Debug, Default)]
pub struct Autoscaling {}

/// What teams need of the shared file system.
#[derive(Clone, Debug)]
pub(crate) struct SharedFsxHandle {
    pub(crate) file_system: fsx::CfnFileSystem,
    pub(crate) driver: eks::CfnAddon,
    pub(crate) capacity_gib: u32,
}

/// What the add-ons are attached to.
pub(crate) struct AddonContext<'a> {
    pub(crate) scope: &'a Construct,
    pub(crate) cluster_name: &'a str,
    pub(crate) eks_name: &'a Value<String>,
    pub(crate) eks_arn: &'a Value<String>,
    pub(crate) hyperpod: &'a sagemaker::CfnCluster,
    pub(crate) installer: &'a KubernetesInstaller,
    pub(crate) network: &'a NetworkRefs,
    pub(crate) zone: &'a str,
    /// The task-governance add-on, which AWS's Terraform installs the others after.
    pub(crate) after: Option<hyperpod_core::CfnResource>,
}

/// Adds the add-ons that are on; returns the shared file system, if any.
pub(crate) fn add(
    context: &AddonContext,
    addons: &HyperPodAddons,
    groups: &[InstanceGroup],
) -> Option<SharedFsxHandle> {
    if let Some(observability) = &addons.observability {
        add_observability(context, observability);
    }
    if addons.training_operator {
        add_training_operator(context);
    }
    if addons.autoscaling.is_some() {
        add_node_pool(context, groups);
    }
    addons
        .fsx
        .as_ref()
        .map(|options| add_shared_fsx(context, options))
}

/// An EKS add-on after the HyperPod cluster (its pods need nodes) and task governance.
fn cluster_addon(
    context: &AddonContext,
    id: &str,
    name: &str,
    associations: Vec<(Value<String>, &str)>,
    configuration: Option<Value<String>>,
    version: Option<&str>,
) -> eks::CfnAddon {
    let addon = eks::CfnAddon::new(
        context.scope,
        id,
        eks::AddonProps {
            addon_version: version.map(Value::from),
            resolve_conflicts: Some(eks::addon::ResolveConflicts::Overwrite.into()),
            configuration_values: configuration,
            pod_identity_associations: (!associations.is_empty()).then(|| {
                Value::list(associations.into_iter().map(|(role, account)| {
                    eks::addon::PodIdentityAssociation::new(role, account).into()
                }))
            }),
            ..eks::AddonProps::new(name, context.eks_name.clone())
        },
    );
    addon.add_depends_on(context.hyperpod);
    if let Some(after) = &context.after {
        addon.add_depends_on(after);
    }
    addon
}

/// The Kubernetes service account an add-on's pods run as, in the add-on's own namespace.
struct AddonServiceAccount {
    namespace: &'static str,
    name: &'static str,
}

/// The observability collector ("Namespace: hyperpod-observability, Service account:
/// hyperpod-observability-operator-otel-collector", HyperPod observability troubleshooting).
const OBSERVABILITY_COLLECTOR: AddonServiceAccount = AddonServiceAccount {
    namespace: "hyperpod-observability",
    name: "hyperpod-observability-operator-otel-collector",
};

/// The training operator's controller (`--namespace aws-hyperpod --service-account
/// hp-training-operator-controller-manager`, HyperPod training operator installation).
const TRAINING_OPERATOR_CONTROLLER: AddonServiceAccount = AddonServiceAccount {
    namespace: "aws-hyperpod",
    name: "hp-training-operator-controller-manager",
};

/// The FSx for Lustre CSI controller, in kube-system like every EKS-managed CSI driver.
const FSX_CSI_CONTROLLER: AddonServiceAccount = AddonServiceAccount {
    namespace: "kube-system",
    name: "fsx-csi-controller-sa",
};

/// A role for the pods of one add-on's service account, trusted by EKS Pod Identity for
/// that service account of this cluster only.
fn pod_role(
    context: &AddonContext,
    id: &str,
    account: &AddonServiceAccount,
    description: &str,
    managed: Vec<ManagedPolicy>,
    statements: Vec<Statement>,
) -> Role {
    let trust = crate::pod_identity_trust(
        "AddonPods",
        Pseudo::AccountId.value(),
        context.eks_arn.clone(),
        account.namespace,
        account.name,
    );
    Role::new(
        context.scope,
        id,
        RoleProps {
            description: Some(description.to_owned()),
            managed_policies: managed,
            inline_policies: if statements.is_empty() {
                Vec::new()
            } else {
                vec![("addon".into(), PolicyDocument::new(statements))]
            },
            ..RoleProps::new(trust)
        },
    )
}

fn add_observability(context: &AddonContext, options: &Observability) {
    let workspace = aps::CfnWorkspace::new(
        context.scope,
        "PrometheusWorkspace",
        aps::WorkspaceProps {
            alias: Some(format!("{}-observability", context.cluster_name).into()),
            ..Default::default()
        },
    );
    // The metrics history outlives the add-on, like any other data.
    workspace.retain_on_delete_and_replace();
    let log_groups = fns::sub::<&str>(
        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/sagemaker/Clusters/*",
        [],
    );
    let role = pod_role(
        context,
        "ObservabilityRole",
        &OBSERVABILITY_COLLECTOR,
        "the HyperPod observability collector",
        Vec::new(),
        vec![
            Statement::allow()
                .sid("PrometheusWrite")
                .action("aps:RemoteWrite")
                .resource(workspace.arn()),
            Statement::allow()
                .sid("ContainerLogs")
                .actions([
                    "logs:CreateLogGroup",
                    "logs:CreateLogStream",
                    "logs:DescribeLogGroups",
                    "logs:DescribeLogStreams",
                    "logs:PutLogEvents",
                ])
                .resources([
                    log_groups.clone(),
                    fns::join("", [log_groups, ":log-stream:*".into()]),
                ]),
        ],
    );
    let level = |level: MetricLevel| match level {
        MetricLevel::Basic => "BASIC",
        MetricLevel::Advanced => "ADVANCED",
    };
    let switch = |on: bool| if on { "ADVANCED" } else { "DISABLED" };
    let metric = |level: &str| {
        Expr::map([
            ("level", Expr::from(level)),
            ("scrapeInterval", Expr::from(30)),
        ])
    };
    let configuration = Expr::map([
        (
            "ampWorkspace",
            Expr::map([
                (
                    "prometheusEndpoint",
                    fns::sub(
                        "https://aps-workspaces.${AWS::Region}.${AWS::URLSuffix}/workspaces/${id}",
                        [("id", workspace.workspace_id())],
                    )
                    .into_expr(),
                ),
                ("arn", workspace.arn().into_expr()),
            ]),
        ),
        (
            "metricsProvider",
            Expr::map([
                ("trainingMetrics", metric(level(options.training_metrics))),
                ("inferenceMetrics", metric("BASIC")),
                (
                    "taskGovernanceMetrics",
                    metric(switch(options.task_governance_metrics)),
                ),
                ("scalingMetrics", metric(switch(options.scaling_metrics))),
                ("customMetrics", metric(level(options.cluster_metrics))),
                ("nodeMetrics", metric(level(options.node_metrics))),
                (
                    "acceleratedComputeMetrics",
                    metric(level(options.accelerated_compute_metrics)),
                ),
                ("networkMetrics", metric(switch(options.network_metrics))),
            ]),
        ),
        (
            "logging",
            Expr::map([("enabled", Expr::from(options.container_logs))]),
        ),
    ]);
    cluster_addon(
        context,
        "Observability",
        "amazon-sagemaker-hyperpod-observability",
        vec![(role.arn(), OBSERVABILITY_COLLECTOR.name)],
        Some(fns::to_json(configuration)),
        None,
    );
}

/// cert-manager as AWS's Terraform configures it: one replica of each part, tolerating
/// every taint so that it runs on HyperPod nodes (`modules/hyperpod_cluster/cert_manager.tf`).
fn cert_manager_configuration() -> Expr {
    let tolerations = || {
        Expr::list(
            ["NoSchedule", "NoExecute", "PreferNoSchedule"].map(|effect| {
                Expr::map([
                    ("operator", Expr::from("Exists")),
                    ("effect", Expr::from(effect)),
                ])
            }),
        )
    };
    let part = || {
        Expr::map([
            ("replicaCount", Expr::from(1)),
            ("tolerations", tolerations()),
        ])
    };
    Expr::map([
        ("replicaCount", Expr::from(1)),
        ("tolerations", tolerations()),
        ("webhook", part()),
        ("cainjector", part()),
    ])
}

/// The version of the cert-manager add-on AWS's Terraform pins.
const CERT_MANAGER_VERSION: &str = "v1.18.2-eksbuild.2";

fn add_training_operator(context: &AddonContext) {
    let cert_manager = cluster_addon(
        context,
        "CertManager",
        "cert-manager",
        Vec::new(),
        Some(fns::to_json(cert_manager_configuration())),
        Some(CERT_MANAGER_VERSION),
    );
    let role = pod_role(
        context,
        "TrainingOperatorRole",
        &TRAINING_OPERATOR_CONTROLLER,
        "the HyperPod training operator",
        vec![ManagedPolicy::aws(
            "AmazonSageMakerHyperPodTrainingOperatorAccess",
        )],
        Vec::new(),
    );
    let operator = cluster_addon(
        context,
        "TrainingOperator",
        "amazon-sagemaker-hyperpod-training-operator",
        vec![(role.arn(), TRAINING_OPERATOR_CONTROLLER.name)],
        None,
        None,
    );
    // The operator's webhooks need cert-manager's certificates.
    operator.add_depends_on(&cert_manager);
}

fn add_shared_fsx(context: &AddonContext, options: &SharedFsx) -> SharedFsxHandle {
    let subnet = context
        .network
        .node_subnet(context.zone)
        .cloned()
        .unwrap_or_else(|| "".into());
    // In the cluster's zone ("the FSx on Lustre File System must be in the same
    // availability zone as the SageMaker HyperPod cluster"), kept when it leaves the
    // template or is replaced, with daily backups.
    let file_system = fsx::CfnFileSystem::new(
        context.scope,
        "SharedFileSystem",
        fsx::FileSystemProps {
            storage_capacity: Some(i64::from(options.storage_capacity_gib).into()),
            file_system_type_version: Some("2.15".into()),
            security_group_ids: Some(Value::list([context.network.security_group_id.clone()])),
            lustre_configuration: Some(lustre(
                options.throughput_per_tib,
                options.backup_retention_days,
            )),
            ..fsx::FileSystemProps::new("LUSTRE", Value::list([subnet]))
        },
    );
    file_system.retain_on_delete_and_replace();
    // Static volumes only: the driver never creates or deletes file systems, so its role
    // reads them and nothing more (AWS's modules attach AmazonFSxFullAccess, which the
    // driver needs only for dynamic provisioning).
    let role = pod_role(
        context,
        "FsxDriverRole",
        &FSX_CSI_CONTROLLER,
        "the FSx for Lustre CSI driver",
        Vec::new(),
        vec![
            Statement::allow()
                .sid("DescribeFileSystems")
                .action("fsx:DescribeFileSystems")
                .resource("*"),
        ],
    );
    let driver = cluster_addon(
        context,
        "FsxCsiDriver",
        "aws-fsx-csi-driver",
        vec![(role.arn(), FSX_CSI_CONTROLLER.name)],
        None,
        None,
    );
    SharedFsxHandle {
        file_system,
        driver,
        capacity_gib: options.storage_capacity_gib,
    }
}

/// FSx for Lustre as AWS's Slurm templates define it: PERSISTENT_2 with automatic metadata
/// (`1.architectures/5.sagemaker-hyperpod/3.FSxLustre.yaml`), LZ4, and daily backups.
pub(crate) fn lustre(
    throughput_per_tib: u32,
    backup_days: u32,
) -> Value<fsx::file_system::LustreConfiguration> {
    fsx::file_system::LustreConfiguration {
        deployment_type: Some("PERSISTENT_2".into()),
        per_unit_storage_throughput: Some(i64::from(throughput_per_tib).into()),
        data_compression_type: Some("LZ4".into()),
        metadata_configuration: Some(
            fsx::file_system::MetadataConfiguration {
                mode: Some("AUTOMATIC".into()),
                iops: None,
            }
            .into(),
        ),
        automatic_backup_retention_days: Some(i64::from(backup_days).into()),
        copy_tags_to_backups: Some(true.into()),
        ..Default::default()
    }
    .into()
}

/// The persistent volume and claim that give `namespace` the shared file system.
pub(crate) fn fsx_objects(fsx: &SharedFsxHandle, namespace: &str) -> Vec<KubernetesObject> {
    let storage = Expr::from(format!("{}Gi", fsx.capacity_gib));
    let volume = format!("fsx-{namespace}");
    vec![
        KubernetesObject::new(
            "v1",
            "PersistentVolume",
            None,
            &volume,
            [(
                "spec",
                Expr::map([
                    ("capacity", Expr::map([("storage", storage.clone())])),
                    ("volumeMode", Expr::from("Filesystem")),
                    ("accessModes", Expr::list([Expr::from("ReadWriteMany")])),
                    ("persistentVolumeReclaimPolicy", Expr::from("Retain")),
                    ("storageClassName", Expr::from("")),
                    (
                        "claimRef",
                        Expr::map([
                            ("namespace", Expr::from(namespace)),
                            ("name", Expr::from("fsx")),
                        ]),
                    ),
                    (
                        "csi",
                        Expr::map([
                            ("driver", Expr::from("fsx.csi.aws.com")),
                            ("volumeHandle", fsx.file_system.ref_value().into_expr()),
                            (
                                "volumeAttributes",
                                Expr::map([
                                    ("dnsname", fsx.file_system.dns_name().into_expr()),
                                    ("mountname", fsx.file_system.lustre_mount_name().into_expr()),
                                ]),
                            ),
                        ]),
                    ),
                ]),
            )],
        ),
        KubernetesObject::new(
            "v1",
            "PersistentVolumeClaim",
            Some(namespace),
            "fsx",
            [(
                "spec",
                Expr::map([
                    ("accessModes", Expr::list([Expr::from("ReadWriteMany")])),
                    ("storageClassName", Expr::from("")),
                    ("volumeName", Expr::from(volume.as_str())),
                    (
                        "resources",
                        Expr::map([("requests", Expr::map([("storage", storage)]))]),
                    ),
                ]),
            )],
        ),
    ]
}

/// The role HyperPod's Karpenter assumes to add and remove nodes, as the documentation
/// gives it (sagemaker-hyperpod-eks-autoscaling-iam).
pub(crate) fn autoscaling_role(scope: &Construct) -> Role {
    let trust = PolicyDocument::new([Statement::allow()
        .principal(Principal::service("hyperpod.sagemaker.amazonaws.com"))
        .action("sts:AssumeRole")]);
    Role::new(
        scope,
        "AutoscalingRole",
        RoleProps {
            description: Some("HyperPod's Karpenter, adding and removing nodes".into()),
            inline_policies: vec![(
                "karpenter".into(),
                PolicyDocument::new([
                    Statement::allow()
                        .sid("ScaleNodes")
                        .actions([
                            "sagemaker:BatchAddClusterNodes",
                            "sagemaker:BatchDeleteClusterNodes",
                        ])
                        .resource(fns::sub::<&str>(
                            "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:cluster/*",
                            [],
                        )),
                    Statement::allow()
                        .sid("VolumeKeys")
                        .actions(["kms:CreateGrant", "kms:DescribeKey"])
                        .resource(fns::sub::<&str>(
                            "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*",
                            [],
                        ))
                        .condition(Condition::new(
                            ConditionOperator::StringLike,
                            "kms:ViaService",
                            ["sagemaker.*.amazonaws.com".into()],
                        ))
                        .condition(Condition::new(
                            ConditionOperator::Bool,
                            "kms:GrantIsForAWSResource",
                            ["true".into()],
                        )),
                ]),
            )],
            ..RoleProps::new(trust)
        },
    )
}

/// The node class and node pool Karpenter scales the groups that start at 0 with
/// (sagemaker-hyperpod-eks-autoscaling-nodeclass, -nodepool); applied once HyperPod's
/// Karpenter has installed their definitions.
fn add_node_pool(context: &AddonContext, groups: &[InstanceGroup]) {
    let scaled: Vec<Expr> = groups
        .iter()
        .filter(|group| group.count == 0)
        .map(|group| Expr::from(group.name.as_str()))
        .collect();
    let name = "hyperpod-autoscaled";
    let node_class = KubernetesObject::new(
        "karpenter.sagemaker.amazonaws.com/v1",
        "HyperpodNodeClass",
        None,
        name,
        [("spec", Expr::map([("instanceGroups", Expr::list(scaled))]))],
    );
    let node_pool = KubernetesObject::new(
        "karpenter.sh/v1",
        "NodePool",
        None,
        name,
        [(
            "spec",
            Expr::map([(
                "template",
                Expr::map([(
                    "spec",
                    Expr::map([
                        (
                            "nodeClassRef",
                            Expr::map([
                                ("group", Expr::from("karpenter.sagemaker.amazonaws.com")),
                                ("kind", Expr::from("HyperpodNodeClass")),
                                ("name", Expr::from(name)),
                            ]),
                        ),
                        (
                            "requirements",
                            Expr::list([Expr::map([
                                ("key", Expr::from("node.kubernetes.io/instance-type")),
                                ("operator", Expr::from("Exists")),
                            ])]),
                        ),
                    ]),
                )]),
            )]),
        )],
    );
    let manifest = KubernetesManifest::new(
        context.scope,
        "Autoscaling",
        KubernetesManifestProps {
            wait_for_definitions: vec![
                "hyperpodnodeclasses.karpenter.sagemaker.amazonaws.com".into(),
                "nodepools.karpenter.sh".into(),
            ],
            ..KubernetesManifestProps::new(context.installer, vec![node_class, node_pool])
        },
    );
    manifest.add_depends_on(context.hyperpod);
}

/// Checks the add-ons against the cluster.
pub(crate) fn check(
    node: &Node,
    addons: &HyperPodAddons,
    groups: &[InstanceGroup],
    network: &NetworkRefs,
) {
    if let Some(fsx) = &addons.fsx {
        check_fsx(node, fsx.storage_capacity_gib, fsx.throughput_per_tib);
        if !(1..=90).contains(&fsx.backup_retention_days) {
            node.report(
                "invalid_fsx_backup_retention",
                format!(
                    "FSx backups are kept {} days; keep them 1 to 90 days",
                    fsx.backup_retention_days
                ),
            );
        }
        if !network.fsx_lustre {
            node.report("fsx_ports_closed", "the shared FSx for Lustre needs TCP 988 and 1018-1023 open within the security group; set `fsx_lustre: true` on the network");
        }
    }
    if addons.autoscaling.is_some() {
        let scaled: Vec<&InstanceGroup> = groups.iter().filter(|group| group.count == 0).collect();
        if scaled.is_empty() {
            node.report("nothing_to_autoscale", "autoscaling is on but no instance group starts at 0 instances; Karpenter scales only such groups, so add one or turn autoscaling off");
        }
        if scaled.len() > 10 {
            node.report(
                "too_many_autoscaled_groups",
                format!(
                    "{} groups start at 0 instances; Karpenter's node class takes at most 10",
                    scaled.len()
                ),
            );
        }
        if scaled.len() == groups.len() && !groups.is_empty() {
            node.report("no_system_nodes", "every instance group starts at 0 instances; keep one group with instances for the system pods (CoreDNS, the add-ons, Karpenter's node class needs them)");
        }
        for group in scaled {
            if !group.deep_health_checks.is_empty() {
                node.report("deep_health_checks_on_autoscaled_group", format!("group `{}` starts at 0 instances for Karpenter but asks for deep health checks, which autoscaled groups do not support; set `deep_health_checks` to empty", group.name));
            }
            if group.training_plan_arn.is_some() {
                node.report("training_plan_on_autoscaled_group", format!("group `{}` starts at 0 instances for Karpenter but uses a training plan; Karpenter scales on-demand capacity only", group.name));
            }
        }
    }
}

/// The FSx for Lustre sizes PERSISTENT_2 accepts.
pub(crate) fn check_fsx(node: &Node, capacity_gib: u32, throughput_per_tib: u32) {
    if !(capacity_gib == 1200 || (capacity_gib >= 2400 && capacity_gib.is_multiple_of(2400))) {
        node.report(
            "invalid_fsx_capacity",
            format!(
                "FSx for Lustre capacity {capacity_gib} GiB must be 1200 or a multiple of 2400"
            ),
        );
    }
    if ![125, 250, 500, 1000].contains(&throughput_per_tib) {
        node.report(
            "invalid_fsx_throughput",
            format!(
                "FSx throughput {throughput_per_tib} MB/s per TiB must be 125, 250, 500 or 1000"
            ),
        );
    }
}

impl Scope for SharedFsxHandle {
    fn node(&self) -> &Node {
        self.file_system.node()
    }
}
