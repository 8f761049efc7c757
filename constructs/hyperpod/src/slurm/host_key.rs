//! The SSH host key the login nodes of a Slurm cluster share: made once, outside the nodes,
//! by a custom resource (`host_keys.py`), kept in a secret encrypted with a key whose
//! policy lets only the login nodes' role decrypt, and read (never written) by the nodes.

use hyperpod_cfn::{kms, secretsmanager};
use hyperpod_core::{CfnResource, Construct, ExprMap, Pseudo, Scope, TagFormat, Value, fns};
use hyperpod_iam::{
    Condition, ConditionOperator, ManagedPolicy, PolicyDocument, Principal, Role, RoleProps,
    Statement,
};

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
    let function = crate::custom_resource_function(
        &construct,
        "Generator",
        crate::CustomResourceFunction {
            description: "creates the login nodes' SSH host key once",
            code: include_str!("host_keys.py"),
            role_arn: generator_role.arn(),
            timeout_seconds: 60,
            logs_hold: "the generator logs that it stored a key, never the key",
            invoked: "CloudFormation invokes the generator once",
        },
        |props| props,
    );
    let checks = function.node();
    checks.suppress("CKV_AWS_117", "it calls only Secrets Manager's API: outside the VPC it needs no NAT gateway or endpoint, and it reaches nothing else");
    let run = CfnResource::new(
        &construct,
        "Run",
        "Custom::SshHostKey",
        TagFormat::NotTaggable,
        ExprMap::new(),
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
