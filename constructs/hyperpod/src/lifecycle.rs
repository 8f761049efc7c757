//! What every HyperPod cluster needs, whatever its orchestrator: the lifecycle-script
//! bucket with the scripts uploaded as a file asset, and the execution role of the nodes.

use std::path::Path;

use hyperpod_cfn::s3;
use hyperpod_core::{AssetDestination, Construct, FileAsset, Scope, Stack, Value, fns};

use crate::network::NetworkRefs;
use hyperpod_iam::{
    Condition, ConditionOperator, ManagedPolicy, PolicyDocument, Principal, Role, RoleProps,
    Statement, role_arn,
};

/// The script EKS-orchestrated nodes run when they are created (`OnCreate`).
pub(crate) const EKS_ENTRY_SCRIPT: &str = "on_create.sh";

/// The role the deploy engine assumes in each account unless told otherwise: by default the
/// only one that may write lifecycle scripts.
pub const DEFAULT_SCRIPT_WRITER: &str = "OrganizationAccountAccessRole";

/// What a cluster's lifecycle scripts are and who may change them.
pub(crate) struct Scripts<'a> {
    /// The folder of the user's scripts.
    pub(crate) folder: &'a Path,
    /// The stack of the lifecycle bucket.
    pub(crate) bucket_stack: &'a Stack,
    /// The script the nodes run, which the folder must hold.
    pub(crate) entry_script: &'a str,
    /// Files the construct adds beside the user's.
    pub(crate) generated: Vec<(String, Vec<u8>)>,
    /// The roles of the cluster's account that may write to the bucket.
    pub(crate) writers: &'a [String],
}

/// Creates the lifecycle bucket in `bucket_stack` and records the scripts (with the
/// `generated` files beside them) as an asset of the cluster's stack, which then deploys
/// after the bucket's: the deploy engine uploads the scripts in between. The folder must
/// hold `entry_script`, the script the nodes run. Returns the bucket's name and the asset.
///
/// The bucket's name starts with `sagemaker-`, because
/// `AmazonSageMakerClusterInstanceRolePolicy` only reads such buckets; it is a
/// [`secure_bucket`](crate::secure_bucket).
pub(crate) fn lifecycle_scripts(
    construct: &Construct,
    id: &str,
    cluster_name: &str,
    scripts: Scripts,
) -> (String, FileAsset) {
    let Scripts {
        folder: scripts,
        bucket_stack,
        entry_script,
        generated,
        writers,
    } = scripts;
    let node = construct.node();
    if writers.is_empty() {
        node.report("no_script_writers", "no role may write the lifecycle scripts, so deploys could not upload them; name the role you deploy with (the deploy engine assumes `OrganizationAccountAccessRole` unless told otherwise)");
    }
    if scripts.is_dir() && !scripts.join(entry_script).is_file() {
        node.report("lifecycle_script_missing", format!("the nodes run `{entry_script}` from the lifecycle scripts folder {}, which has no such file; add it (it is the script HyperPod starts on every new node)", scripts.display()));
    }
    let env = bucket_stack.stage().env();
    let name = format!(
        "sagemaker-{}-lcs-{}-{}",
        cluster_name.to_ascii_lowercase(),
        env.account,
        env.region
    );
    if name.len() > 63 {
        node.report("lifecycle_bucket_name_too_long", format!("the lifecycle bucket name `{name}` is longer than S3's 63 characters; shorten the cluster name"));
    }
    let cluster_stack = Stack::of(construct).unwrap_or_else(|| bucket_stack.clone());
    if cluster_stack.stage().env() != env {
        node.report(
            "lifecycle_bucket_in_other_environment",
            format!("the lifecycle bucket stack is in account {} {}, not the cluster's; put it in the cluster's account and region", env.account, env.region),
        );
    }
    let scope = Construct::new(bucket_stack, &format!("{cluster_name}Lifecycle"));
    crate::secure_bucket(
        &scope,
        Some(name.as_str().into()),
        s3::bucket::ServerSideEncryptionByDefault::new(
            s3::bucket::ServerSideEncryptionByDefaultSSEAlgorithm::Aes256,
        ),
        |bucket_arn| {
            // Whatever is written here runs as root on every new node: only the roles that
            // deploy may write.
            vec![
                Statement::deny()
                    .sid("OnlyDeployersWriteScripts")
                    .principal(Principal::Any)
                    .actions([
                        "s3:PutObject",
                        "s3:PutObjectAcl",
                        "s3:DeleteObject",
                        "s3:DeleteObjectVersion",
                        "s3:RestoreObject",
                    ])
                    .resource(fns::join("", [bucket_arn.clone(), "/*".into()]))
                    .condition(Condition::new(
                        ConditionOperator::ArnNotLike,
                        "aws:PrincipalArn",
                        writers.iter().map(|writer| role_arn(&env.account, writer)),
                    )),
            ]
        },
    );
    let asset = FileAsset::with_generated(
        &cluster_stack,
        &format!("{id}LifecycleScripts"),
        scripts,
        generated,
        AssetDestination {
            bucket_name: name.clone(),
            key_prefix: "lifecycle/".into(),
        },
    );
    cluster_stack.add_dependency(bucket_stack);
    (name, asset)
}

/// The execution role of HyperPod nodes: trusted by SageMaker, with the given managed
/// policies, the network-interface permissions every node needs (the mutating ones only
/// on the cluster's VPC, subnets and security group, and on interfaces and instances of
/// the cluster's region and account, as AWS's Terraform module scopes them), interface
/// tagging, image reads, read access to the lifecycle bucket, and `extra` statements.
pub(crate) fn execution_role(
    scope: &Construct,
    id: &str,
    scripts_bucket: &str,
    network: &NetworkRefs,
    managed: &[&str],
    extra: Vec<Statement>,
) -> Role {
    let bucket_arn = fns::sub(
        "arn:${AWS::Partition}:s3:::${bucket}",
        [("bucket", scripts_bucket.into())],
    );
    let objects_arn = fns::sub(
        "arn:${AWS::Partition}:s3:::${bucket}/*",
        [("bucket", scripts_bucket.into())],
    );
    let ec2 = |kind: &str, id: Value<String>| {
        fns::sub(
            "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:${kind}/${id}",
            [("kind", Value::from(kind)), ("id", id)],
        )
    };
    let mut network_resources = vec![
        ec2("network-interface", "*".into()),
        ec2("instance", "*".into()),
        ec2("vpc", network.vpc_id.clone()),
        ec2("security-group", network.security_group_id.clone()),
    ];
    network_resources.extend(
        network
            .node_subnets
            .iter()
            .map(|subnet| ec2("subnet", subnet.subnet_id.clone())),
    );
    let mut statements = vec![
        Statement::allow()
            .sid("NetworkInterfaces")
            .actions([
                "ec2:AssignPrivateIpAddresses",
                "ec2:AttachNetworkInterface",
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:DetachNetworkInterface",
                "ec2:ModifyNetworkInterfaceAttribute",
                "ec2:UnassignPrivateIpAddresses",
            ])
            .resources(network_resources),
        Statement::allow()
            .sid("DescribeNetwork")
            .actions([
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeInstances",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "ec2:DescribeTags",
                "ec2:DescribeVpcs",
            ])
            .resource("*"),
        Statement::allow()
            .sid("Images")
            .actions([
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetAuthorizationToken",
                "ecr:GetDownloadUrlForLayer",
            ])
            .resource("*"),
        Statement::allow()
            .sid("Alarms")
            .action("cloudwatch:DescribeAlarms")
            .resource("*"),
        // Every official execution role may tag the network interfaces HyperPod creates
        // (`5.sagemaker-hyperpod/1.AmazonSageMakerClustersExecutionRolePolicy.json`,
        // `sagemaker-iam-role-stack.yaml`); here only those of the cluster's region and
        // account.
        Statement::allow()
            .sid("TagInterfaces")
            .action("ec2:CreateTags")
            .resource(fns::sub::<&str>(
                "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:network-interface/*",
                [],
            )),
        Statement::allow()
            .sid("LifecycleScripts")
            .actions(["s3:ListBucket", "s3:GetObject"])
            .resources([bucket_arn, objects_arn]),
    ];
    statements.extend(extra);
    Role::new(
        scope,
        id,
        RoleProps {
            managed_policies: managed
                .iter()
                .map(|name| ManagedPolicy::aws(name))
                .collect(),
            inline_policies: vec![("hyperpod-nodes".into(), PolicyDocument::new(statements))],
            ..RoleProps::new(Principal::service("sagemaker.amazonaws.com").trust())
        },
    )
}
