//! Constructs for Amazon SageMaker HyperPod shared across accounts: the network, an
//! EKS-orchestrated cluster with task governance, teams whose data scientists live in
//! another account, training data reached across accounts through S3 access points, and a
//! Slurm-orchestrated cluster whose login nodes sit behind an internal Network Load
//! Balancer reached through AWS Client VPN.
//!
//! Inside an EKS cluster, the constructs install what HyperPod needs (its Helm chart) and
//! the teams' Kubernetes objects through the cluster's installer, a Lambda-backed custom
//! resource, in the same deploy.
//!
//! Each construct takes typed props, applies secure defaults, checks every input and
//! reports problems at synthesis with its construct path, a stable code and what to
//! change. A construct that spans accounts takes the stacks it places resources into and
//! records the deploy order that IAM and S3 impose (a policy may only name principals that
//! already exist): data scientists' account, then the cluster's, then the data account.
//!
//! This crate builds on the construct core, the generated resources and the IAM layer:
//! never on the AWS SDK, tokio or the network.

mod addons;
mod chart;
mod cidr;
mod data;
mod eks;
mod installer;
pub mod instances;
mod kubernetes;
mod lifecycle;
mod login;
mod members;
mod network;
pub mod regions;
mod slurm;
mod team;
mod vpn;

pub use addons::{Autoscaling, HyperPodAddons, MetricLevel, Observability, SharedFsx};
pub use chart::{
    ChartComponents, HYPERPOD_CHART_REPOSITORIES, HYPERPOD_CHART_REVISION, HyperPodChart,
};
pub use cidr::{Cidr, parse_address};
pub use data::{
    CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataNetworkPath, DataScope,
    TeamDataAccess, access_point_name, pod_role_name,
};
pub use eks::{
    AuthenticationMode, DEFAULT_KUBERNETES_VERSION, DeepHealthCheck, EksControlPlane,
    EndpointAccess, HelmDependencies, HyperPodEksCluster, HyperPodEksClusterProps, InstanceGroup,
    NewEksCluster, SUPPORTED_KUBERNETES_VERSIONS, SchedulerProps, SecretsKey,
    TASK_GOVERNANCE_MIN_VERSION, TaintEffect, VPC_CNI_MIN_VERSION,
};
pub use installer::{HelmChartSource, InstallerLayer, KubernetesInstaller};
pub use kubernetes::{
    KubernetesManifest, KubernetesManifestProps, KubernetesObject, PolicyRule, Subject,
};
pub use lifecycle::DEFAULT_SCRIPT_WRITER;
pub use login::{LoginNodeLoadBalancer, LoginNodeLoadBalancerProps, SshSource};
pub use members::TeamMembers;
pub use network::{ExistingNetwork, HyperPodNetwork, NetworkProps, NetworkRefs, ZoneSubnet};
pub use slurm::{FsxLustre, SlurmGroup, SlurmHyperPodCluster, SlurmHyperPodClusterProps};
pub use team::{
    ComputeQuota, NAMESPACE_PREFIX, NamespaceAccess, PodSecurity, Preemption, QuotaInstanceType,
    SharingStrategy, TEAM_NAMESPACE_LABEL, TeamNamespace, TeamNamespaceProps,
};
pub use vpn::{ClientVpnAccess, ClientVpnAccessProps, LOG_RETENTION_DAYS};

use hyperpod_cfn::s3;
use hyperpod_core::{Scope, Value};
use hyperpod_iam::{Condition, ConditionOperator, PolicyDocument, Principal, Statement};

/// Task-governance team names: lowercase letters, digits and hyphens, starting and ending
/// with a letter or digit, at most 40 so that `hyperpod-ns-<team>-localqueue` stays a
/// valid Kubernetes label value.
pub fn is_team_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// All four public-access blocks on.
fn block_all_public_access() -> Value<s3::bucket::PublicAccessBlockConfiguration> {
    s3::bucket::PublicAccessBlockConfiguration {
        block_public_acls: Some(true.into()),
        block_public_policy: Some(true.into()),
        ignore_public_acls: Some(true.into()),
        restrict_public_buckets: Some(true.into()),
    }
    .into()
}

/// A bucket that holds data nobody can recreate: versioned, encrypted with `encryption`
/// (with an S3 bucket key when it is KMS), public access blocked, retained on delete and
/// on replacement, with server access logs to the stack's access-log bucket (none for the
/// log bucket itself), and a policy that denies requests not made over TLS followed by the
/// statements `grants` returns for the bucket's ARN.
pub(crate) fn secure_bucket(
    scope: &hyperpod_core::Construct,
    bucket_name: Option<Value<String>>,
    encryption: s3::bucket::ServerSideEncryptionByDefault,
    grants: impl FnOnce(&Value<String>) -> Vec<Statement>,
) -> s3::CfnBucket {
    let logs = hyperpod_core::Stack::of(scope).map(|stack| access_log_bucket(&stack));
    let prefix = format!("{}/", scope.node().path());
    bucket(
        scope,
        bucket_name,
        encryption,
        logs.map(|bucket| (bucket, prefix)),
        grants,
    )
}

fn bucket(
    scope: &impl Scope,
    bucket_name: Option<Value<String>>,
    encryption: s3::bucket::ServerSideEncryptionByDefault,
    logs: Option<(Value<String>, String)>,
    grants: impl FnOnce(&Value<String>) -> Vec<Statement>,
) -> s3::CfnBucket {
    let kms = encryption.kms_master_key_id.is_some();
    let bucket = s3::CfnBucket::new(
        scope,
        "Bucket",
        s3::BucketProps {
            bucket_name,
            bucket_encryption: Some(
                s3::bucket::BucketEncryption::new(vec![s3::bucket::ServerSideEncryptionRule {
                    server_side_encryption_by_default: Some(encryption.into()),
                    bucket_key_enabled: kms.then(|| true.into()),
                    ..Default::default()
                }])
                .into(),
            ),
            public_access_block_configuration: Some(block_all_public_access()),
            versioning_configuration: Some(
                s3::bucket::VersioningConfiguration::new(
                    s3::bucket::VersioningConfigurationStatus::Enabled,
                )
                .into(),
            ),
            logging_configuration: logs.map(|(destination, prefix)| {
                s3::bucket::LoggingConfiguration {
                    destination_bucket_name: Some(destination),
                    log_file_prefix: Some(prefix.into()),
                    ..Default::default()
                }
                .into()
            }),
            ownership_controls: Some(
                s3::bucket::OwnershipControls::new(vec![s3::bucket::OwnershipControlsRule {
                    object_ownership: Some(
                        s3::bucket::OwnershipControlsRuleObjectOwnership::BucketOwnerEnforced
                            .into(),
                    ),
                }])
                .into(),
            ),
            ..Default::default()
        },
    );
    bucket.retain_on_delete_and_replace();
    let bucket_arn = bucket.arn();
    let mut policy = tls_only_document(&bucket_arn);
    for statement in grants(&bucket_arn) {
        policy.add(statement);
    }
    s3::CfnBucketPolicy::new(
        scope,
        "Policy",
        s3::BucketPolicyProps::new(bucket.ref_value(), policy),
    );
    bucket
}

/// The bucket that receives the server access logs of the stack's buckets (S3 delivers
/// logs only within an account and region): one per stack, retained, written only by S3's
/// log delivery for this account.
pub(crate) fn access_log_bucket(stack: &hyperpod_core::Stack) -> Value<String> {
    const ID: &str = "AccessLogs";
    if let Some(existing) = stack
        .node()
        .children()
        .into_iter()
        .find(|child| child.id() == ID)
        && let Some(bucket) = hyperpod_core::CfnResource::find(&existing, "Bucket")
    {
        return bucket.ref_value();
    }
    let scope = hyperpod_core::Construct::new(stack, ID);
    let bucket = bucket(
        &scope,
        None,
        s3::bucket::ServerSideEncryptionByDefault::new(
            s3::bucket::ServerSideEncryptionByDefaultSSEAlgorithm::Aes256,
        ),
        None,
        |bucket_arn| {
            vec![
                Statement::allow()
                    .sid("ServerAccessLogs")
                    .principal(Principal::service("logging.s3.amazonaws.com"))
                    .action("s3:PutObject")
                    .resource(hyperpod_core::fns::join(
                        "",
                        [bucket_arn.clone(), "/*".into()],
                    ))
                    .condition(Condition::new(
                        ConditionOperator::StringEquals,
                        "aws:SourceAccount",
                        [hyperpod_core::Pseudo::AccountId.value()],
                    )),
            ]
        },
    );
    // The log bucket keeps no access logs of its own: they would record the deliveries of
    // its own logs.
    bucket.node().suppress(
        "S3_ACCESS_LOGS",
        "the account's access-log bucket: logging its own writes would log each log delivery into itself",
    );
    bucket.ref_value()
}

/// A bucket policy that denies every request not made over TLS.
pub(crate) fn tls_only_document(bucket_arn: &Value<String>) -> PolicyDocument {
    PolicyDocument::new([Statement::deny()
        .sid("DenyInsecureTransport")
        .principal(Principal::Any)
        .action("s3:*")
        .resources([
            bucket_arn.clone(),
            hyperpod_core::fns::join("", [bucket_arn.clone(), "/*".into()]),
        ])
        .condition(Condition::new(
            ConditionOperator::Bool,
            "aws:SecureTransport",
            ["false".into()],
        ))])
}

/// Trust for EKS Pod Identity: only for the pods of one service account in one namespace
/// of one cluster, in the cluster's account. Pod Identity sends the session tags
/// eks-cluster-arn, kubernetes-namespace and kubernetes-service-account with its request
/// (EKS user guide, pod-id-role and pod-id-abac), so no other association, of any
/// cluster, can use the role.
pub(crate) fn pod_identity_trust(
    sid: &str,
    cluster_account: Value<String>,
    cluster_arn: Value<String>,
    namespace: &str,
    service_account: &str,
) -> PolicyDocument {
    let equals = |key: &str, value: Value<String>| {
        Condition::new(ConditionOperator::StringEquals, key, [value])
    };
    PolicyDocument::new([Statement::allow()
        .sid(sid)
        .principal(Principal::service("pods.eks.amazonaws.com"))
        .actions(["sts:AssumeRole", "sts:TagSession"])
        .condition(equals("aws:SourceAccount", cluster_account))
        .condition(equals("aws:RequestTag/eks-cluster-arn", cluster_arn))
        .condition(equals(
            "aws:RequestTag/kubernetes-namespace",
            namespace.into(),
        ))
        .condition(equals(
            "aws:RequestTag/kubernetes-service-account",
            service_account.into(),
        ))])
}

/// What differs between the Python functions that answer the constructs' custom resources.
pub(crate) struct CustomResourceFunction<'a> {
    /// The function's description.
    pub(crate) description: &'a str,
    /// Its source, inlined in the template.
    pub(crate) code: &'a str,
    /// Its execution role.
    pub(crate) role_arn: Value<String>,
    /// How long one invocation may run.
    pub(crate) timeout_seconds: i64,
    /// Why its logs need no customer-managed key (what they hold).
    pub(crate) logs_hold: &'a str,
    /// Why reserved concurrency and a dead-letter queue do not apply (who invokes it, how
    /// often).
    pub(crate) invoked: &'a str,
}

/// A Python function (`index.handler`) that answers CloudFormation custom resources, with
/// its own log group (ninety days, deleted with it). `customize` adds what only this
/// function needs (layers, environment, VPC, memory). The checks that do not fit such a
/// function are accepted with reasons: reserved concurrency (it would come out of the
/// account's pool) and a dead-letter queue (the function answers CloudFormation itself,
/// failures included).
pub(crate) fn custom_resource_function(
    scope: &impl Scope,
    id: &str,
    function: CustomResourceFunction,
    customize: impl FnOnce(hyperpod_cfn::lambda::FunctionProps) -> hyperpod_cfn::lambda::FunctionProps,
) -> hyperpod_cfn::lambda::CfnFunction {
    use hyperpod_cfn::{lambda, logs};
    let log_group = logs::CfnLogGroup::new(
        scope,
        "Logs",
        logs::LogGroupProps {
            retention_in_days: Some(90.into()),
            ..Default::default()
        },
    );
    // Operational logs of the function: they go with it.
    log_group.set_deletion_policy(hyperpod_core::DeletionPolicy::Delete);
    log_group.set_update_replace_policy(hyperpod_core::DeletionPolicy::Delete);
    log_group.node().suppress(
        "LOG_GROUP_KMS",
        &format!(
            "{}; CloudWatch Logs encrypts them at rest with its own keys",
            function.logs_hold
        ),
    );
    let props = lambda::FunctionProps {
        description: Some(function.description.into()),
        runtime: Some(lambda::function::Runtime::Python312.into()),
        handler: Some("index.handler".into()),
        timeout: Some(function.timeout_seconds.into()),
        logging_config: Some(
            lambda::function::LoggingConfig {
                log_group: Some(log_group.ref_value()),
                ..Default::default()
            }
            .into(),
        ),
        ..lambda::FunctionProps::new(
            lambda::function::Code {
                zip_file: Some(function.code.into()),
                ..Default::default()
            },
            function.role_arn,
        )
    };
    let created = lambda::CfnFunction::new(scope, id, customize(props));
    let checks = created.node();
    checks.suppress(
        "CKV_AWS_115",
        &format!(
            "reserved concurrency would come out of the account's pool (10 in a new account); {}",
            function.invoked
        ),
    );
    checks.suppress(
        "CKV_AWS_116",
        "it answers CloudFormation's custom resources itself, failures included; a dead-letter queue would hold nothing to act on",
    );
    created
}
