//! The SSH host key the login nodes of a Slurm cluster share: made once, outside the nodes,
//! by a custom resource (`host_keys.py`), kept in a secret encrypted with a key whose
//! policy lets only the login nodes' role decrypt, and read (never written) by the nodes.

use hyperpod_cfn::{kms, lambda, logs, secretsmanager};
use hyperpod_core::{CfnResource, Construct, Pseudo, Scope, TagFormat, Value, fns};
use hyperpod_iam::{
    Condition, ConditionOperator, ManagedPolicy, PolicyDocument, Principal, Role, RoleProps,
    Statement,
};
use indexmap::IndexMap;

/// The administrative actions of a KMS key, without the ones that use it, and without
/// `kms:CreateGrant`, which would let a principal of the account grant itself decryption.
const KEY_ADMINISTRATION: &[&str] = &[
    "kms:CreateAlias",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
];

/// The secret and the resource that fills it.
pub(crate) struct SharedHostKey {
    /// The resource that stores the key; the cluster waits for it.
    pub(crate) ready: CfnResource,
}

/// The ARN of the secret by its name (Secrets Manager adds six characters), so that roles
/// can name it before it exists.
pub(crate) fn secret_arn(name: &str) -> Value<String> {
    fns::sub(
        "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${name}-??????",
        [("name", Value::from(name))],
    )
}

/// Creates the key, the secret, the generator and its run; `reader` is the login nodes'
/// role, the only one that may decrypt.
pub(crate) fn shared_host_key(
    scope: &Construct,
    cluster_name: &str,
    secret_name: &str,
    reader: &Role,
) -> SharedHostKey {
    let construct = Construct::new(scope, "LoginHostKey");
    let generator_role = Role::new(
        &construct,
        "GeneratorRole",
        RoleProps {
            description: Some(format!(
                "creates the SSH host key of the login nodes of {cluster_name}"
            )),
            managed_policies: vec![ManagedPolicy::aws(
                "service-role/AWSLambdaBasicExecutionRole",
            )],
            inline_policies: vec![(
                "store-host-key".into(),
                PolicyDocument::new([Statement::allow()
                    .sid("StoreHostKey")
                    .action("secretsmanager:PutSecretValue")
                    .resource(secret_arn(secret_name))]),
            )],
            ..RoleProps::new(Principal::service("lambda.amazonaws.com").trust())
        },
    );
    let through_secrets_manager = || {
        Condition::new(
            ConditionOperator::StringEquals,
            "kms:ViaService",
            [fns::sub::<&str>(
                "secretsmanager.${AWS::Region}.amazonaws.com",
                [],
            )],
        )
    };
    let account = hyperpod_core::Stack::of(scope)
        .map(|stack| stack.stage().env().account)
        .unwrap_or_default();
    let role = |role: &Role| Principal::Arn {
        arn: role.arn(),
        account: account.clone(),
    };
    // The account administers the key but cannot use it: only the login nodes decrypt,
    // only the generator encrypts, both through Secrets Manager.
    let key_policy = PolicyDocument::new([
        Statement::allow()
            .sid("AccountAdministers")
            .principal(Principal::account(&account))
            .actions(KEY_ADMINISTRATION.iter().copied())
            .resource("*"),
        Statement::allow()
            .sid("LoginNodesDecrypt")
            .principal(role(reader))
            .action("kms:Decrypt")
            .resource("*")
            .condition(through_secrets_manager()),
        Statement::allow()
            .sid("GeneratorEncrypts")
            .principal(role(&generator_role))
            .action("kms:GenerateDataKey")
            .resource("*")
            .condition(through_secrets_manager()),
    ]);
    let key = kms::CfnKey::new(
        &construct,
        "Key",
        kms::KeyProps {
            description: Some(
                format!("the SSH host key of the login nodes of {cluster_name}").into(),
            ),
            enable_key_rotation: Some(true.into()),
            key_policy: Some(key_policy.into()),
            ..Default::default()
        },
    );
    key.retain_on_delete_and_replace();
    // Empty at first: the generator stores the one version (a template value would be
    // written again by any later update of the secret).
    let secret = secretsmanager::CfnSecret::new(
        &construct,
        "Secret",
        secretsmanager::SecretProps {
            name: Some(secret_name.into()),
            description: Some(
                format!("the SSH host key the login nodes of {cluster_name} share").into(),
            ),
            kms_key_id: Some(key.arn()),
            ..Default::default()
        },
    );
    secret.retain_on_delete_and_replace();
    let log_group = logs::CfnLogGroup::new(
        &construct,
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
        "the generator logs that it stored a key, never the key; CloudWatch Logs encrypts the logs at rest with its own keys",
    );
    let function = lambda::CfnFunction::new(
        &construct,
        "Generator",
        lambda::FunctionProps {
            description: Some("creates the login nodes' SSH host key once".into()),
            runtime: Some(lambda::function::Runtime::Python312.into()),
            handler: Some("index.handler".into()),
            timeout: Some(60.into()),
            logging_config: Some(
                lambda::function::LoggingConfig {
                    log_group: Some(log_group.ref_value()),
                    ..Default::default()
                }
                .into(),
            ),
            ..lambda::FunctionProps::new(
                lambda::function::Code {
                    zip_file: Some(include_str!("host_keys.py").into()),
                    ..Default::default()
                },
                generator_role.arn(),
            )
        },
    );
    let checks = function.node();
    checks.suppress("CKV_AWS_115", "reserved concurrency would come out of the account's pool (10 in a new account); CloudFormation invokes the generator once");
    checks.suppress("CKV_AWS_116", "invoked by CloudFormation for one custom resource, which the function answers itself, failures included; a dead-letter queue would hold nothing to act on");
    checks.suppress("CKV_AWS_117", "it calls only Secrets Manager's API: outside the VPC it needs no NAT gateway or endpoint, and it reaches nothing else");
    let run = CfnResource::new(
        &construct,
        "Run",
        "Custom::SshHostKey",
        TagFormat::NotTaggable,
        IndexMap::new(),
    );
    run.set_property("ServiceToken", function.arn());
    run.set_property("SecretId", secret.ref_value());
    run.set_property(
        "Comment",
        fns::sub(
            "${cluster}-login@${region}",
            [
                ("cluster", Value::from(cluster_name)),
                ("region", Pseudo::Region.value()),
            ],
        ),
    );
    // The key policy must allow the generator before it writes.
    run.add_depends_on(&key);
    SharedHostKey { ready: run }
}
