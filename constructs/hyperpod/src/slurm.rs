//! A Slurm-orchestrated HyperPod cluster: controller, login and compute instance groups,
//! with optional FSx for Lustre, configured through the API (each group declares its Slurm
//! node type) rather than a `provisioning_parameters.json`.

use std::path::PathBuf;

use hyperpod_cfn::{fsx, sagemaker};
use hyperpod_core::{Construct, Expr, Node, Scope, Stack, Value, fns};
use hyperpod_iam::{Role, Statement};
use serde_json::json;

use crate::network::NetworkRefs;

mod host_key;

/// The script the cluster's own lifecycle folder must hold: HyperPod runs it (through the
/// constructs' entry script) once the AMI-based Slurm set-up of a node is complete.
pub const SLURM_USER_SCRIPT: &str = "on_init_complete.sh";
/// The entry script the constructs add to the lifecycle folder (`OnInitComplete`).
const ENTRY_SCRIPT: &str = "hyperpod_on_init_complete.sh";

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
    /// Days of automatic daily backups, 1 to 90 (default 7).
    pub backup_retention_days: u32,
}

impl Default for FsxLustre {
    fn default() -> Self {
        FsxLustre {
            storage_capacity_gib: 1200,
            throughput_per_tib: 250,
            backup_retention_days: 7,
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
    /// The Availability Zone ID every group and the file system run in; the network's
    /// first zone when absent.
    pub availability_zone_id: Option<String>,
    /// The controller (head node) group, one instance.
    pub controller: SlurmGroup,
    /// The login group, if users log in through login nodes (one group at most).
    pub login: Option<SlurmGroup>,
    /// The compute groups.
    pub compute: Vec<SlurmGroup>,
    /// The folder of lifecycle scripts, with `on_init_complete.sh`, which every node runs
    /// once HyperPod has set Slurm up.
    pub lifecycle_scripts: PathBuf,
    /// The stack that holds the lifecycle bucket (same account and region).
    pub lifecycle_bucket_stack: Stack,
    /// The roles of the cluster's account that may write the lifecycle scripts: the role
    /// you deploy with (the deploy engine assumes
    /// [`DEFAULT_SCRIPT_WRITER`](crate::DEFAULT_SCRIPT_WRITER) unless told otherwise).
    pub script_writers: Vec<String>,
    /// Shared FSx for Lustre, mounted by every node.
    pub fsx: Option<FsxLustre>,
}

/// A HyperPod cluster orchestrated by Slurm (the API-driven model: each instance group
/// declares its Slurm node type and HyperPod sets Slurm up), with its lifecycle bucket,
/// execution roles and optional FSx for Lustre file system, all in one Availability Zone,
/// with continuous provisioning.
///
/// HyperPod runs `OnInitComplete` (not the legacy `OnCreate`, whose scripts must set Slurm
/// up themselves) once a node's AMI-based set-up is done: the constructs add an entry
/// script that sets up login nodes and then runs the folder's `on_init_complete.sh`. Login
/// nodes get an execution role of their own and share one set of SSH host keys through a
/// secret that only they can read.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// # let scripts = std::env::temp_dir().join("hyperpod-doc-slurm-lcs");
/// # std::fs::create_dir_all(&scripts).unwrap();
/// # std::fs::write(scripts.join("on_init_complete.sh"), "#!/bin/bash\n").unwrap();
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let assets = Stack::new(&a, "Assets", StackProps::default());
/// let stack = Stack::new(&a, "Slurm", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps { fsx_lustre: true, ..NetworkProps::new(&["use1-az2", "use1-az4"]) });
/// SlurmHyperPodCluster::new(&stack, "Cluster", SlurmHyperPodClusterProps {
///     cluster_name: "ml-slurm".into(),
///     network: network.refs().clone(),
///     availability_zone_id: None,
///     controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
///     login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
///     compute: vec![SlurmGroup { partition: Some("gpu".into()), ..SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 4) }],
///     lifecycle_scripts: scripts,
///     lifecycle_bucket_stack: assets,
///     script_writers: vec![DEFAULT_SCRIPT_WRITER.into()],
///     fsx: Some(FsxLustre::default()),
/// });
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct SlurmHyperPodCluster {
    construct: Construct,
    cluster: sagemaker::CfnCluster,
    execution_role: Role,
    login: Option<LoginNodes>,
    network: NetworkRefs,
    zone: String,
}

/// What the login group has of its own.
#[derive(Clone, Debug)]
pub(crate) struct LoginNodes {
    pub(crate) role: Role,
    pub(crate) target_group_parameter: String,
    /// The resource that stores the shared host key; login nodes start after it.
    pub(crate) host_key_ready: hyperpod_core::CfnResource,
}

impl SlurmHyperPodCluster {
    /// Creates the cluster.
    pub fn new(
        scope: &impl Scope,
        id: &str,
        props: SlurmHyperPodClusterProps,
    ) -> SlurmHyperPodCluster {
        let construct = Construct::new(scope, id);
        let env = Stack::of(&construct)
            .map(|stack| stack.stage().env())
            .unwrap_or_else(|| props.lifecycle_bucket_stack.stage().env());
        check_props(construct.node(), &props, &env.region);
        let zone = props
            .availability_zone_id
            .clone()
            .or_else(|| props.network.primary_zone_id().map(str::to_owned))
            .unwrap_or_default();
        let name = &props.cluster_name;
        let host_keys_secret = format!("hyperpod/{name}/login-host-keys");
        let target_group_parameter = format!("/hyperpod/{name}/login-target-group");
        let settings = format!(
            "# Written by the hyperpod constructs for the Slurm cluster {name}.\n\
             CLUSTER_NAME={name}\n\
             AWS_DEFAULT_REGION={region}\n\
             LOGIN_GROUP={login}\n\
             HOST_KEYS_SECRET={host_keys_secret}\n\
             TARGET_GROUP_PARAMETER={target_group_parameter}\n",
            region = env.region,
            login = props.login.as_ref().map_or("", |group| group.name.as_str()),
        );
        let generated = vec![
            (
                ENTRY_SCRIPT.to_owned(),
                include_str!("slurm/on_init_complete.sh")
                    .as_bytes()
                    .to_vec(),
            ),
            (
                "hyperpod_login_node.sh".to_owned(),
                include_str!("slurm/login_node.sh").as_bytes().to_vec(),
            ),
            ("hyperpod_cluster.env".to_owned(), settings.into_bytes()),
        ];
        let (bucket, scripts) = crate::lifecycle::lifecycle_scripts(
            &construct,
            id,
            &props.cluster_name,
            crate::lifecycle::Scripts {
                folder: &props.lifecycle_scripts,
                bucket_stack: &props.lifecycle_bucket_stack,
                entry_script: SLURM_USER_SCRIPT,
                generated,
                writers: &props.script_writers,
            },
        );
        let execution_role = crate::lifecycle::execution_role(
            &construct,
            "ExecutionRole",
            &bucket,
            &props.network,
            &["AmazonSageMakerClusterInstanceRolePolicy"],
            Vec::new(),
        );

        let login = props.login.as_ref().map(|_| {
            // Only login nodes read the host key and reach the load balancer; no node
            // writes the key.
            let parameter_arn = fns::sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${name}",
                [("name", Value::from(target_group_parameter.as_str()))],
            );
            let role = crate::lifecycle::execution_role(
                &construct,
                "LoginExecutionRole",
                &bucket,
                &props.network,
                &["AmazonSageMakerClusterInstanceRolePolicy"],
                vec![
                    Statement::allow()
                        .sid("SharedHostKey")
                        .action("secretsmanager:GetSecretValue")
                        .resource(host_key::secret_arn(&host_keys_secret)),
                    Statement::allow()
                        .sid("LoadBalancerTargetGroup")
                        .action("ssm:GetParameter")
                        .resource(parameter_arn),
                    Statement::allow()
                        .sid("LoadBalancerTargets")
                        .action("elasticloadbalancing:DescribeTargetHealth")
                        .resource("*"),
                ],
            );
            let host_key = host_key::shared_host_key(&construct, name, &host_keys_secret, &role);
            LoginNodes {
                role,
                target_group_parameter: target_group_parameter.clone(),
                host_key_ready: host_key.ready,
            }
        });

        let file_system = props.fsx.as_ref().map(|options| {
            // In the cluster's zone, kept when it leaves the template or is replaced.
            let file_system = fsx::CfnFileSystem::new(
                &construct,
                "Lustre",
                fsx::FileSystemProps {
                    storage_capacity: Some(i64::from(options.storage_capacity_gib).into()),
                    file_system_type_version: Some("2.15".into()),
                    security_group_ids: Some(Value::list([props
                        .network
                        .security_group_id
                        .clone()])),
                    lustre_configuration: Some(crate::addons::lustre(
                        options.throughput_per_tib,
                        options.backup_retention_days,
                    )),
                    ..fsx::FileSystemProps::new(
                        "LUSTRE",
                        Value::list(props.network.node_subnet(&zone).cloned()),
                    )
                },
            );
            file_system.retain_on_delete_and_replace();
            file_system
        });

        use sagemaker::cluster::ClusterSlurmConfigNodeType as NodeType;
        let mut groups = vec![(&props.controller, NodeType::Controller, &execution_role)];
        if let (Some(group), Some(login)) = (&props.login, &login) {
            groups.push((group, NodeType::Login, &login.role));
        }
        groups.extend(
            props
                .compute
                .iter()
                .map(|group| (group, NodeType::Compute, &execution_role)),
        );
        let subnet = props
            .network
            .node_subnet(&zone)
            .cloned()
            .unwrap_or_else(|| "".into());
        let instance_groups: Vec<Value<sagemaker::cluster::ClusterInstanceGroup>> = groups
            .into_iter()
            .map(|(group, node_type, role)| {
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
                            on_init_complete: Some(ENTRY_SCRIPT.into()),
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
                    override_vpc_config: Some(
                        sagemaker::cluster::VpcConfig::new(
                            Value::list([props.network.security_group_id.clone()]),
                            Value::list([subnet.clone()]),
                        )
                        .into(),
                    ),
                    ..sagemaker::cluster::ClusterInstanceGroup::new(
                        role.arn(),
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
                node_provisioning_mode: Some(
                    sagemaker::cluster::NodeProvisioningMode::Continuous.into(),
                ),
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
                        Value::list([subnet]),
                    )
                    .into(),
                ),
                ..Default::default()
            },
        );
        // Nodes download their lifecycle scripts from S3 as they start, and login nodes
        // read the shared host key.
        for ready in &props.network.ready {
            cluster.add_depends_on(ready);
        }
        if let Some(login) = &login {
            cluster.add_depends_on(&login.host_key_ready);
        }
        SlurmHyperPodCluster {
            construct,
            cluster,
            execution_role,
            login,
            network: props.network,
            zone,
        }
    }

    /// The ARN of the cluster.
    pub fn cluster_arn(&self) -> Value<String> {
        self.cluster.cluster_arn()
    }

    /// The HyperPod cluster resource.
    pub fn hyperpod_cluster(&self) -> &sagemaker::CfnCluster {
        &self.cluster
    }

    /// The execution role of the controller and compute nodes.
    pub fn execution_role(&self) -> &Role {
        &self.execution_role
    }

    /// The execution role of the login nodes, when the cluster has a login group.
    pub fn login_execution_role(&self) -> Option<&Role> {
        self.login.as_ref().map(|login| &login.role)
    }

    /// The network the cluster runs in.
    pub fn network(&self) -> &NetworkRefs {
        &self.network
    }

    /// The Availability Zone ID the cluster runs in.
    pub fn availability_zone_id(&self) -> &str {
        &self.zone
    }

    pub(crate) fn login_nodes(&self) -> Option<&LoginNodes> {
        self.login.as_ref()
    }
}

impl Scope for SlurmHyperPodCluster {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

fn check_props(node: &Node, props: &SlurmHyperPodClusterProps, region: &str) {
    if !crate::eks::is_hyperpod_name(&props.cluster_name, 63) {
        node.report("invalid_cluster_name", format!("cluster name `{}` must be 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit; rename it", props.cluster_name));
    }
    if !region.is_empty() && !crate::regions::is_hyperpod_region(region) {
        node.report(
            "unsupported_region",
            format!("SageMaker HyperPod is not available in {region}; put the cluster's stage in a region where it is (see `hyperpod::regions::HYPERPOD_REGIONS`)"),
        );
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
        if !crate::instances::is_hyperpod_instance_type(&group.instance_type) {
            node.report(
                "unknown_instance_type",
                crate::instances::unknown_type_message(&group.instance_type, &group.name),
            );
        }
        if group.count == 0 {
            node.report(
                "empty_instance_group",
                format!(
                    "group `{}` has 0 instances; give it at least one",
                    group.name
                ),
            );
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
    let zone = props
        .availability_zone_id
        .as_deref()
        .or(props.network.primary_zone_id());
    match zone {
        Some(zone) if props.network.node_subnet(zone).is_none() => node.report("no_subnet_in_zone", format!("the cluster runs in `{zone}`, where the network has no node subnet; add the zone to the network or choose one of its zones")),
        None => node.report("no_subnets", "the network has no node subnet; give the cluster a network with at least one"),
        _ => {}
    }
    if let Some(fsx) = &props.fsx {
        crate::addons::check_fsx(node, fsx.storage_capacity_gib, fsx.throughput_per_tib);
        if !(1..=90).contains(&fsx.backup_retention_days) {
            node.report(
                "invalid_fsx_backup_retention",
                format!(
                    "FSx backups are kept {} days; keep them 1 to 90 days",
                    fsx.backup_retention_days
                ),
            );
        }
        if !props.network.fsx_lustre {
            node.report("fsx_ports_closed", "FSx for Lustre needs TCP 988 and 1018-1023 open within the security group; set `fsx_lustre: true` on the network");
        }
    }
}
