//! A Slurm-orchestrated HyperPod cluster: controller, login and compute instance groups,
//! with optional FSx for Lustre.

use std::path::PathBuf;

use hyperpod_cfn::{fsx, sagemaker};
use hyperpod_core::{Construct, Expr, Node, Scope, Stack, Value};
use hyperpod_iam::{Role, Statement};
use serde_json::json;

use crate::network::NetworkRefs;

/// One instance group of a Slurm cluster.
#[derive(Clone, Debug)]
pub struct SlurmGroup {
    /// The group's name: letters, digits and hyphens, at most 63.
    pub name: String,
    /// The instance type, such as `ml.c5.2xlarge`.
    pub instance_type: String,
    /// How many instances.
    pub count: u32,
    /// The Slurm partition of a compute group (at most one per group).
    pub partition: Option<String>,
}

impl SlurmGroup {
    /// A group of `count` instances of a type.
    pub fn new(name: &str, instance_type: &str, count: u32) -> SlurmGroup {
        SlurmGroup {
            name: name.to_owned(),
            instance_type: instance_type.to_owned(),
            count,
            partition: None,
        }
    }
}

/// FSx for Lustre shared by the nodes.
#[derive(Clone, Debug)]
pub struct FsxLustre {
    /// Storage in GiB: 1200, or a multiple of 2400 (PERSISTENT_2).
    pub storage_capacity_gib: u32,
    /// Throughput per TiB: 125, 250, 500 or 1000 MB/s.
    pub throughput_per_tib: u32,
}

impl Default for FsxLustre {
    fn default() -> Self {
        FsxLustre {
            storage_capacity_gib: 1200,
            throughput_per_tib: 250,
        }
    }
}

/// The options of a [`SlurmHyperPodCluster`].
#[derive(Clone, Debug)]
pub struct SlurmHyperPodClusterProps {
    /// The cluster's name: letters, digits and hyphens, at most 63.
    pub cluster_name: String,
    /// Where the cluster runs; give a network with FSx ports open when `fsx` is set.
    pub network: NetworkRefs,
    /// The controller (head node) group, one instance.
    pub controller: SlurmGroup,
    /// The login group, if users log in through login nodes (one group at most).
    pub login: Option<SlurmGroup>,
    /// The compute groups.
    pub compute: Vec<SlurmGroup>,
    /// The folder of lifecycle scripts, with `on_create.sh`.
    pub lifecycle_scripts: PathBuf,
    /// The stack that holds the lifecycle bucket (same account and region).
    pub lifecycle_bucket_stack: Stack,
    /// Shared FSx for Lustre, mounted by every node.
    pub fsx: Option<FsxLustre>,
}

/// A HyperPod cluster orchestrated by Slurm (the API-native model: each instance group
/// declares its Slurm node type), with its lifecycle bucket, execution role and optional
/// FSx for Lustre file system.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// # let scripts = std::env::temp_dir().join("hyperpod-doc-slurm-lcs");
/// # std::fs::create_dir_all(&scripts).unwrap();
/// # std::fs::write(scripts.join("on_create.sh"), "#!/bin/bash\n").unwrap();
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let assets = Stack::new(&a, "Assets", StackProps::default());
/// let stack = Stack::new(&a, "Slurm", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps { fsx_lustre: true, ..NetworkProps::default() });
/// SlurmHyperPodCluster::new(&stack, "Cluster", SlurmHyperPodClusterProps {
///     cluster_name: "ml-slurm".into(),
///     network: network.refs().clone(),
///     controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
///     login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
///     compute: vec![SlurmGroup { partition: Some("gpu".into()), ..SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 4) }],
///     lifecycle_scripts: scripts,
///     lifecycle_bucket_stack: assets,
///     fsx: Some(FsxLustre::default()),
/// });
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct SlurmHyperPodCluster {
    construct: Construct,
    cluster: sagemaker::CfnCluster,
    execution_role: Role,
}

impl SlurmHyperPodCluster {
    /// Creates the cluster.
    pub fn new(
        scope: &impl Scope,
        id: &str,
        props: SlurmHyperPodClusterProps,
    ) -> SlurmHyperPodCluster {
        let construct = Construct::new(scope, id);
        check_props(construct.node(), &props);
        let (bucket, scripts) = crate::lifecycle::lifecycle_scripts(
            &construct,
            id,
            &props.cluster_name,
            &props.lifecycle_scripts,
            &props.lifecycle_bucket_stack,
        );
        let execution_role = crate::lifecycle::execution_role(
            &construct,
            &bucket,
            &["AmazonSageMakerClusterInstanceRolePolicy"],
            Vec::<Statement>::new(),
        );

        let file_system = props.fsx.as_ref().map(|fsx| {
            fsx::CfnFileSystem::new(
                &construct,
                "Lustre",
                fsx::FileSystemProps {
                    storage_capacity: Some(i64::from(fsx.storage_capacity_gib).into()),
                    security_group_ids: Some(Value::list([props
                        .network
                        .security_group_id
                        .clone()])),
                    lustre_configuration: Some(
                        fsx::file_system::LustreConfiguration {
                            deployment_type: Some("PERSISTENT_2".into()),
                            per_unit_storage_throughput: Some(
                                i64::from(fsx.throughput_per_tib).into(),
                            ),
                            data_compression_type: Some("LZ4".into()),
                            ..Default::default()
                        }
                        .into(),
                    ),
                    ..fsx::FileSystemProps::new(
                        "LUSTRE",
                        Value::list(props.network.private_subnet_ids.iter().take(1).cloned()),
                    )
                },
            )
        });

        use sagemaker::cluster::ClusterSlurmConfigNodeType as NodeType;
        let mut groups = vec![(&props.controller, NodeType::Controller)];
        groups.extend(props.login.iter().map(|group| (group, NodeType::Login)));
        groups.extend(props.compute.iter().map(|group| (group, NodeType::Compute)));
        let instance_groups: Vec<Value<sagemaker::cluster::ClusterInstanceGroup>> = groups
            .into_iter()
            .map(|(group, node_type)| {
                let mut storage = vec![Expr::from(
                    json!({ "EbsVolumeConfig": { "VolumeSizeInGB": 500 } }),
                )];
                if let Some(file_system) = &file_system {
                    storage.push(Expr::map([(
                        "FsxLustreConfig",
                        Expr::map([
                            ("DnsName", file_system.dns_name().into_expr()),
                            ("MountName", file_system.lustre_mount_name().into_expr()),
                        ]),
                    )]));
                }
                sagemaker::cluster::ClusterInstanceGroup {
                    instance_type: Some(group.instance_type.as_str().into()),
                    threads_per_core: Some(1.into()),
                    instance_storage_configs: Some(Value::from_expr(Expr::List(storage))),
                    life_cycle_config: Some(
                        sagemaker::cluster::ClusterLifeCycleConfig {
                            on_create: Some("on_create.sh".into()),
                            source_s3_uri: Some(scripts.s3_uri().into()),
                            ..Default::default()
                        }
                        .into(),
                    ),
                    slurm_config: Some(
                        sagemaker::cluster::ClusterSlurmConfig {
                            partition_names: group
                                .partition
                                .as_ref()
                                .map(|p| vec![p.as_str()].into()),
                            ..sagemaker::cluster::ClusterSlurmConfig::new(node_type)
                        }
                        .into(),
                    ),
                    ..sagemaker::cluster::ClusterInstanceGroup::new(
                        execution_role.arn(),
                        i64::from(group.count),
                        group.name.as_str(),
                    )
                }
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
                orchestrator: Some(
                    Expr::map([(
                        "Slurm",
                        Expr::map([("SlurmConfigStrategy", "Managed".into())]),
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
        SlurmHyperPodCluster {
            construct,
            cluster,
            execution_role,
        }
    }

    /// The ARN of the cluster.
    pub fn cluster_arn(&self) -> Value<String> {
        self.cluster.cluster_arn()
    }

    /// The execution role of the nodes.
    pub fn execution_role(&self) -> &Role {
        &self.execution_role
    }
}

impl Scope for SlurmHyperPodCluster {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

fn check_props(node: &Node, props: &SlurmHyperPodClusterProps) {
    if !crate::eks::is_hyperpod_name(&props.cluster_name, 63) {
        node.report("invalid_cluster_name", format!("cluster name `{}` must be 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit; rename it", props.cluster_name));
    }
    if props.controller.count != 1 {
        node.report(
            "invalid_controller_count",
            format!(
                "the controller group has {} instances; Slurm has one head node, so use 1",
                props.controller.count
            ),
        );
    }
    if props.compute.is_empty() {
        node.report(
            "no_compute_groups",
            "a Slurm cluster needs at least one compute group; add one",
        );
    }
    let mut names = std::collections::HashSet::new();
    for group in std::iter::once(&props.controller)
        .chain(props.login.iter())
        .chain(props.compute.iter())
    {
        if !crate::eks::is_hyperpod_name(&group.name, 63) {
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
            node.report("invalid_instance_type", format!("instance type `{}` of group `{}` is not a SageMaker type; use one starting with `ml.`", group.instance_type, group.name));
        }
        if let Some(partition) = &group.partition
            && !crate::eks::is_hyperpod_name(partition, 1024)
        {
            node.report(
                "invalid_partition_name",
                format!("partition `{partition}` must be letters, digits and hyphens; rename it"),
            );
        }
    }
    if props.controller.partition.is_some()
        || props
            .login
            .as_ref()
            .is_some_and(|login| login.partition.is_some())
    {
        node.report("partition_on_non_compute_group", "only compute groups take a Slurm partition; remove it from the controller and login groups");
    }
    if let Some(fsx) = &props.fsx {
        if !(fsx.storage_capacity_gib == 1200
            || (fsx.storage_capacity_gib >= 2400 && fsx.storage_capacity_gib % 2400 == 0))
        {
            node.report(
                "invalid_fsx_capacity",
                format!(
                    "FSx for Lustre capacity {} GiB must be 1200 or a multiple of 2400",
                    fsx.storage_capacity_gib
                ),
            );
        }
        if ![125, 250, 500, 1000].contains(&fsx.throughput_per_tib) {
            node.report(
                "invalid_fsx_throughput",
                format!(
                    "FSx throughput {} MB/s per TiB must be 125, 250, 500 or 1000",
                    fsx.throughput_per_tib
                ),
            );
        }
    }
}
