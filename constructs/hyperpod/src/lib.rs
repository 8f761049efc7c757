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
    CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataScope, TeamDataAccess,
    access_point_name, pod_role_name,
};
pub use eks::{
    AuthenticationMode, DEFAULT_KUBERNETES_VERSION, DeepHealthCheck, EksControlPlane,
    HelmDependencies, HyperPodEksCluster, HyperPodEksClusterProps, InstanceGroup, NewEksCluster,
    SUPPORTED_KUBERNETES_VERSIONS, SchedulerProps, TASK_GOVERNANCE_MIN_VERSION, TaintEffect,
    VPC_CNI_MIN_VERSION,
};
pub use installer::{HelmChartSource, InstallerLayer, KubernetesInstaller};
pub use kubernetes::{
    KubernetesManifest, KubernetesManifestProps, KubernetesObject, PolicyRule, Subject,
};
pub use login::{LoginNodeLoadBalancer, LoginNodeLoadBalancerProps, SshSource};
pub use members::TeamMembers;
pub use network::{ExistingNetwork, HyperPodNetwork, NetworkProps, NetworkRefs, ZoneSubnet};
pub use slurm::{FsxLustre, SlurmGroup, SlurmHyperPodCluster, SlurmHyperPodClusterProps};
pub use team::{
    ComputeQuota, NAMESPACE_PREFIX, NamespaceAccess, Preemption, QuotaInstanceType,
    SharingStrategy, TeamNamespace, TeamNamespaceProps,
};
pub use vpn::{ClientVpnAccess, ClientVpnAccessProps, LOG_RETENTION_DAYS};

use hyperpod_cfn::s3;
use hyperpod_core::Value;
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
/// on replacement, with a policy that denies requests not made over TLS followed by the
/// statements `grants` returns for the bucket's ARN.
pub(crate) fn secure_bucket(
    scope: &hyperpod_core::Construct,
    bucket_name: Option<Value<String>>,
    encryption: s3::bucket::ServerSideEncryptionByDefault,
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
