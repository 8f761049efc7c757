//! Credentials per account: the base identity, the role or profile of every other account, and the pre-flight that checks each acts in its account.

use std::collections::{BTreeMap, BTreeSet};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::Client as CloudFormation;
use hyperpod_core::{Manifest, StackManifest};

use super::errors::failure;
use super::{DeployError, DeployOptions};

/// How every AWS call is retried: the SDK's standard mode (exponential backoff with
/// jitter, throttling and transient errors retried) with `max_attempts` attempts and a
/// backoff of at most 20 s between them, so that a throttled burst or an outage of about
/// 20 s passes without a failure.
pub fn retry_config(options: &DeployOptions) -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(options.max_attempts.max(1))
        .with_initial_backoff(std::time::Duration::from_millis(500))
        .with_max_backoff(std::time::Duration::from_secs(20))
}

/// How long a call may take: each attempt at most a minute, the call with its retries at
/// most `operation_timeout`.
pub fn timeout_config(options: &DeployOptions) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(
            options
                .operation_timeout
                .min(std::time::Duration::from_secs(60)),
        )
        .operation_timeout(options.operation_timeout)
        .build()
}

/// The base configuration from the standard chain (or `profile`) and `AWS_ENDPOINT_URL`,
/// with bounded retries and timeouts.
pub async fn base_config(options: &DeployOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    loader
        .retry_config(retry_config(options))
        .timeout_config(timeout_config(options))
        .load()
        .await
}

/// The credentials of every account, checked.
pub struct Accounts {
    configs: BTreeMap<String, SdkConfig>,
}

impl Accounts {
    /// Establishes the base identity, then for every account either uses it (when it is
    /// already in that account) or assumes the account's deploy role, and checks with
    /// `sts:GetCallerIdentity` that the credentials act in that account.
    pub async fn connect(
        base: &SdkConfig,
        accounts: &BTreeSet<String>,
        options: &DeployOptions,
    ) -> Result<Accounts, DeployError> {
        let identity = aws_sdk_sts::Client::new(base)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| DeployError::BaseIdentity(failure("GetCallerIdentity", &e)))?;
        let base_account = identity.account().unwrap_or_default().to_owned();
        let partition = identity
            .arn()
            .and_then(|arn| arn.split(':').nth(1))
            .unwrap_or("aws")
            .to_owned();
        let mut configs = BTreeMap::new();
        for account in accounts {
            let overridden = options.role_arns.get(account);
            let config = if let Some(profile) = options.profiles.get(account) {
                let config =
                    aws_config::defaults(BehaviorVersion::latest())
                        .profile_name(profile)
                        .retry_config(
                            base.retry_config()
                                .cloned()
                                .unwrap_or_else(aws_config::retry::RetryConfig::standard),
                        )
                        .timeout_config(base.timeout_config().cloned().unwrap_or_else(|| {
                            aws_config::timeout::TimeoutConfig::builder().build()
                        }))
                        .load()
                        .await;
                verify_account(&config, account, &format!("profile {profile}")).await?;
                config
            } else if overridden.is_none() && *account == base_account {
                base.clone()
            } else {
                let role = overridden.cloned().unwrap_or_else(|| {
                    format!("arn:{partition}:iam::{account}:role/{}", options.role_name)
                });
                let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("hyperpod-deploy")
                    .configure(base)
                    .build()
                    .await;
                let config = base
                    .to_builder()
                    .credentials_provider(
                        aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
                    )
                    .build();
                verify_account(&config, account, &role).await?;
                config
            };
            configs.insert(account.clone(), config);
        }
        Ok(Accounts { configs })
    }

    /// The account's configuration in a region.
    pub(super) fn config(&self, account: &str, region: &str) -> SdkConfig {
        self.configs[account]
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build()
    }

    pub(super) fn s3(&self, account: &str, region: &str) -> aws_sdk_s3::Client {
        let config = self.config(account, region);
        // A local endpoint (an emulator) has no per-bucket host names.
        let path_style = config.endpoint_url().is_some();
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(path_style)
                .build(),
        )
    }

    pub(super) fn client(&self, account: &str, region: &str) -> CloudFormation {
        CloudFormation::new(&self.config(account, region))
    }
}

/// The accounts of the stacks, and of the producers whose outputs fill their deploy-time
/// parameters (read with the producers' own credentials).
pub(super) fn accounts_involved(
    manifest: &Manifest,
    stacks: &[&StackManifest],
) -> BTreeSet<String> {
    let producers = stacks
        .iter()
        .flat_map(|s| &s.parameters)
        .filter_map(|p| manifest.stacks.iter().find(|m| m.id == p.producer_stack));
    stacks
        .iter()
        .copied()
        .chain(producers)
        .map(|s| s.account.clone())
        .collect()
}

/// The pre-flight: the credentials reached `via` (a role or a profile) must act in
/// `account`, or nothing is touched.
pub(super) async fn verify_account(
    config: &SdkConfig,
    account: &str,
    via: &str,
) -> Result<(), DeployError> {
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| DeployError::Unreachable {
            account: account.to_owned(),
            via: via.to_owned(),
            failure: failure("GetCallerIdentity", &e),
        })?;
    let actual = identity.account().unwrap_or_default();
    if actual != account {
        return Err(DeployError::WrongAccount {
            expected: account.to_owned(),
            actual: actual.to_owned(),
        });
    }
    Ok(())
}
