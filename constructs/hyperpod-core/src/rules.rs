//! The security rule pack: checks run at synthesis over every rendered template, in the
//! spirit of cdk-nag (not copied from it). A finding fails synthesis unless the resource,
//! or a construct above it, suppresses the rule with a written reason
//! ([`Node::suppress`](crate::Node::suppress)); a suppression is recorded in the
//! resource's `Metadata` (`hyperpod.suppressed`) and mirrored as a checkov `skip` with the
//! same reason where a checkov check covers the same ground.
//!
//! The rules read the rendered JSON: a value that is a reference or a function is not known
//! at synthesis and never makes a finding by itself.

use serde_json::{Map, Value as Json};

/// One rule of the pack.
#[derive(Debug)]
pub struct RuleInfo {
    /// The stable id, used to suppress it.
    pub id: &'static str,
    /// What the rule asks for.
    pub title: &'static str,
    /// How to fix a finding.
    pub fix: &'static str,
    /// The checkov checks that cover the same ground, skipped with the same reason.
    pub checkov: &'static [&'static str],
}

/// Every rule of the pack.
pub static RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "S3_PUBLIC_ACCESS",
        title: "an S3 bucket blocks all four kinds of public access",
        fix: "set all four flags of PublicAccessBlockConfiguration to true",
        checkov: &["CKV_AWS_53", "CKV_AWS_54", "CKV_AWS_55", "CKV_AWS_56"],
    },
    RuleInfo {
        id: "S3_ENCRYPTION",
        title: "an S3 bucket encrypts its objects by default",
        fix: "set BucketEncryption (SSE-S3 or SSE-KMS)",
        checkov: &["CKV_AWS_19"],
    },
    RuleInfo {
        id: "S3_VERSIONING",
        title: "an S3 bucket keeps versions of its objects",
        fix: "set VersioningConfiguration.Status to Enabled",
        checkov: &["CKV_AWS_21"],
    },
    RuleInfo {
        id: "S3_ACCESS_LOGS",
        title: "an S3 bucket records server access logs",
        fix: "set LoggingConfiguration to a log bucket of the account",
        checkov: &["CKV_AWS_18"],
    },
    RuleInfo {
        id: "S3_TLS_ONLY",
        title: "an S3 bucket's policy denies requests not made over TLS",
        fix: "add a bucket policy statement that denies s3:* when aws:SecureTransport is false",
        checkov: &[],
    },
    RuleInfo {
        id: "RETAIN_DATA",
        title: "a resource that holds data is kept when it leaves the template or is replaced",
        fix: "set DeletionPolicy and UpdateReplacePolicy to Retain (retain_on_delete_and_replace)",
        checkov: &[],
    },
    RuleInfo {
        id: "LOG_RETENTION",
        title: "a log group has a retention period and says what happens to it on delete",
        fix: "set RetentionInDays, and DeletionPolicy and UpdateReplacePolicy (Retain for audit trails)",
        checkov: &["CKV_AWS_66"],
    },
    RuleInfo {
        id: "LOG_GROUP_KMS",
        title: "a log group is encrypted with a customer-managed key",
        fix: "set KmsKeyId to a key whose policy lets CloudWatch Logs use it",
        checkov: &["CKV_AWS_158"],
    },
    RuleInfo {
        id: "SECRET_CMK",
        title: "a secret is encrypted with a customer-managed key",
        fix: "set KmsKeyId to a key whose policy lets only the secret's readers decrypt",
        checkov: &["CKV_AWS_149"],
    },
    RuleInfo {
        id: "IAM_WILDCARD_PRINCIPAL",
        title: "a policy never allows every principal without a condition that narrows it",
        fix: "name the principals, or narrow `*` with a condition on who calls or from where (aws:PrincipalArn, aws:PrincipalOrgID, aws:SourceAccount, aws:SourceVpce, s3:DataAccessPointAccount, kms:CallerAccount)",
        checkov: &["CKV_AWS_33", "CKV_AWS_60"],
    },
    RuleInfo {
        id: "IAM_WILDCARD_ACTION",
        title: "a policy never allows every action of a service",
        fix: "list the actions the principal needs (and attach no `*FullAccess`, PowerUserAccess or AdministratorAccess managed policy)",
        checkov: &["CKV_AWS_62", "CKV_AWS_63"],
    },
    RuleInfo {
        id: "IAM_WILDCARD_RESOURCE_WRITE",
        title: "an identity policy allows changes only on named resources",
        fix: "name the resources (ARNs, or patterns within the account and region) of every action that is not a read",
        checkov: &["CKV_AWS_109", "CKV_AWS_111"],
    },
    RuleInfo {
        id: "IAM_TRUST_ACCOUNT",
        title: "a role never trusts a whole account without a condition that narrows who",
        fix: "name the roles, or condition the trust on the principal (aws:PrincipalArn, aws:PrincipalTag/…, sts:ExternalId)",
        checkov: &["CKV_AWS_61"],
    },
    RuleInfo {
        id: "POD_IDENTITY_SCOPE",
        title: "a role for EKS Pod Identity trusts only one service account of one cluster",
        fix: "add StringEquals conditions on aws:RequestTag/kubernetes-namespace, aws:RequestTag/kubernetes-service-account and aws:RequestTag/eks-cluster-arn (or eks-cluster-name)",
        checkov: &[],
    },
    RuleInfo {
        id: "EC2_OPEN_INGRESS",
        title: "no security group admits traffic from the whole internet",
        fix: "admit the CIDR blocks or security groups that need to connect",
        checkov: &["CKV_AWS_24", "CKV_AWS_25", "CKV_AWS_260"],
    },
    RuleInfo {
        id: "EKS_PUBLIC_ENDPOINT",
        title: "an EKS API endpoint is private, or public only to named CIDR blocks",
        fix: "set EndpointPublicAccess to false, or PublicAccessCidrs to your egress ranges",
        checkov: &[],
    },
    RuleInfo {
        id: "EKS_SECRETS_KEY",
        title: "an EKS cluster encrypts Kubernetes secrets with a customer-managed key",
        fix: "set EncryptionConfig with a KMS key (create-only: decide before the first deploy)",
        checkov: &["CKV_AWS_58"],
    },
];

/// The rule of an id.
pub fn rule(id: &str) -> Option<&'static RuleInfo> {
    RULES.iter().find(|rule| rule.id == id)
}

/// A finding on one resource of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) logical_id: String,
    pub(crate) rule: &'static str,
    pub(crate) detail: String,
}

/// Runs every rule over the resources of one template.
pub(crate) fn check(resources: &Map<String, Json>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut found = |logical_id: &str, rule: &'static str, detail: String| {
        findings.push(Finding {
            logical_id: logical_id.to_owned(),
            rule,
            detail,
        })
    };
    for (id, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let properties = &resource["Properties"];
        match kind {
            "AWS::S3::Bucket" => check_bucket(id, properties, resources, &mut found),
            "AWS::Logs::LogGroup" => check_log_group(id, resource, &mut found),
            "AWS::SecretsManager::Secret" if properties.get("KmsKeyId").is_none() => found(
                id,
                "SECRET_CMK",
                "the secret is encrypted with the account's default key".into(),
            ),
            "AWS::EC2::SecurityGroup" => {
                for rule in properties["SecurityGroupIngress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    check_ingress(id, rule, &mut found);
                }
            }
            "AWS::EC2::SecurityGroupIngress" => check_ingress(id, properties, &mut found),
            "AWS::EKS::Cluster" => check_eks(id, properties, &mut found),
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                if kind == "AWS::IAM::Role" {
                    check_trust(id, &properties["AssumeRolePolicyDocument"], &mut found);
                }
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    check_identity_policy(id, &policy["PolicyDocument"], &mut found);
                }
                check_managed_policies(id, &properties["ManagedPolicyArns"], &mut found);
            }
            "AWS::IAM::RolePolicy"
            | "AWS::IAM::UserPolicy"
            | "AWS::IAM::GroupPolicy"
            | "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy" => {
                check_identity_policy(id, &properties["PolicyDocument"], &mut found)
            }
            "AWS::S3::BucketPolicy" | "AWS::SQS::QueuePolicy" | "AWS::SNS::TopicPolicy" => {
                check_resource_policy(id, &properties["PolicyDocument"], &mut found)
            }
            "AWS::S3::AccessPoint" => check_resource_policy(id, &properties["Policy"], &mut found),
            "AWS::KMS::Key" => check_resource_policy(id, &properties["KeyPolicy"], &mut found),
            "AWS::SecretsManager::ResourcePolicy" => {
                check_resource_policy(id, &properties["ResourcePolicy"], &mut found)
            }
            "AWS::ECR::Repository" => {
                check_resource_policy(id, &properties["RepositoryPolicyText"], &mut found)
            }
            "AWS::Lambda::Permission" => check_lambda_permission(id, properties, &mut found),
            _ => {}
        }
        if holds_data(kind)
            && !(retains(&resource["DeletionPolicy"]) && retains(&resource["UpdateReplacePolicy"]))
        {
            found(
                id,
                "RETAIN_DATA",
                format!(
                    "the {kind} is deleted when it leaves the template or is replaced, and its data with it"
                ),
            );
        }
    }
    findings
}

/// The types whose resources hold data that cannot be recreated.
fn holds_data(kind: &str) -> bool {
    matches!(
        kind,
        "AWS::S3::Bucket"
            | "AWS::FSx::FileSystem"
            | "AWS::EFS::FileSystem"
            | "AWS::KMS::Key"
            | "AWS::SecretsManager::Secret"
            | "AWS::DynamoDB::Table"
            | "AWS::RDS::DBCluster"
            | "AWS::RDS::DBInstance"
            | "AWS::EC2::Volume"
            | "AWS::APS::Workspace"
    )
}

fn retains(policy: &Json) -> bool {
    matches!(
        policy.as_str(),
        Some("Retain" | "Snapshot" | "RetainExceptOnCreate")
    )
}

fn check_bucket(
    id: &str,
    properties: &Json,
    resources: &Map<String, Json>,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    let block = &properties["PublicAccessBlockConfiguration"];
    let blocked = [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ]
    .iter()
    .all(|flag| block[flag] == Json::Bool(true));
    if !blocked {
        found(
            id,
            "S3_PUBLIC_ACCESS",
            "the bucket does not block every kind of public access".into(),
        );
    }
    if properties.get("BucketEncryption").is_none() {
        found(
            id,
            "S3_ENCRYPTION",
            "the bucket sets no default encryption".into(),
        );
    }
    if properties["VersioningConfiguration"]["Status"] != "Enabled" {
        found(id, "S3_VERSIONING", "the bucket keeps no versions".into());
    }
    if properties.get("LoggingConfiguration").is_none() {
        found(
            id,
            "S3_ACCESS_LOGS",
            "nothing records who reads and writes the bucket".into(),
        );
    }
    // The policy names the bucket by reference or, when the bucket has a literal name, by it.
    let names_bucket = |bucket: &Json| {
        *bucket == serde_json::json!({ "Ref": id })
            || (properties["BucketName"].is_string() && *bucket == properties["BucketName"])
    };
    let tls_only = resources.values().any(|other| {
        other["Type"] == "AWS::S3::BucketPolicy"
            && names_bucket(&other["Properties"]["Bucket"])
            && statements(&other["Properties"]["PolicyDocument"])
                .iter()
                .any(|statement| {
                    let secure = &statement["Condition"]["Bool"]["aws:SecureTransport"];
                    statement["Effect"] == "Deny"
                        && (secure == "false" || *secure == Json::Bool(false))
                })
    });
    if !tls_only {
        found(
            id,
            "S3_TLS_ONLY",
            "no policy of the bucket refuses requests without TLS".into(),
        );
    }
}

fn check_log_group(id: &str, resource: &Json, found: &mut impl FnMut(&str, &'static str, String)) {
    let properties = &resource["Properties"];
    if properties.get("RetentionInDays").is_none() || resource.get("DeletionPolicy").is_none() {
        found(
            id,
            "LOG_RETENTION",
            "the log group keeps its events forever or does not say whether it outlives the stack"
                .into(),
        );
    }
    if properties.get("KmsKeyId").is_none() {
        found(
            id,
            "LOG_GROUP_KMS",
            "the log group is encrypted with CloudWatch Logs' own keys".into(),
        );
    }
}

fn check_ingress(id: &str, rule: &Json, found: &mut impl FnMut(&str, &'static str, String)) {
    for (key, open) in [("CidrIp", "0.0.0.0/0"), ("CidrIpv6", "::/0")] {
        if rule[key] == open {
            let ports = match (&rule["FromPort"], &rule["ToPort"]) {
                (Json::Null, _) => "every port".to_owned(),
                (from, to) if from == to => format!("port {from}"),
                (from, to) => format!("ports {from} to {to}"),
            };
            found(
                id,
                "EC2_OPEN_INGRESS",
                format!("{ports} are open to {open}"),
            );
        }
    }
}

fn check_eks(id: &str, properties: &Json, found: &mut impl FnMut(&str, &'static str, String)) {
    let config = &properties["ResourcesVpcConfig"];
    // EKS makes the endpoint public to everyone unless told otherwise.
    let public = config["EndpointPublicAccess"] != Json::Bool(false);
    let cidrs = config["PublicAccessCidrs"].as_array();
    if public
        && cidrs.is_none_or(|cidrs| cidrs.is_empty() || cidrs.contains(&Json::from("0.0.0.0/0")))
    {
        found(
            id,
            "EKS_PUBLIC_ENDPOINT",
            "the Kubernetes API is reachable from the whole internet".into(),
        );
    }
    if properties.get("EncryptionConfig").is_none() {
        found(
            id,
            "EKS_SECRETS_KEY",
            "Kubernetes secrets use the AWS-owned key of EKS".into(),
        );
    }
}

/// The statements of a policy document (one or a list).
fn statements(document: &Json) -> Vec<&Json> {
    match &document["Statement"] {
        Json::Array(items) => items.iter().collect(),
        Json::Object(_) => vec![&document["Statement"]],
        _ => Vec::new(),
    }
}

fn strings(value: &Json) -> Vec<&Json> {
    match value {
        Json::Array(items) => items.iter().collect(),
        Json::Null => Vec::new(),
        other => vec![other],
    }
}

fn allows(statement: &Json) -> bool {
    statement["Effect"] == "Allow"
}

fn wildcard_actions(statement: &Json) -> Vec<String> {
    strings(&statement["Action"])
        .into_iter()
        .filter_map(Json::as_str)
        .filter(|action| *action == "*" || action.ends_with(":*"))
        .map(str::to_owned)
        .collect()
}

fn check_wildcard_actions(
    id: &str,
    statement: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    let actions = wildcard_actions(statement);
    if allows(statement) && !actions.is_empty() {
        found(
            id,
            "IAM_WILDCARD_ACTION",
            format!("a statement allows {}", actions.join(", ")),
        );
    }
    if allows(statement) && statement.get("NotAction").is_some() {
        found(
            id,
            "IAM_WILDCARD_ACTION",
            "a statement allows every action but the ones it lists (NotAction)".into(),
        );
    }
}

/// Whether a condition value pins something: not `*` and not empty.
fn pins(value: &Json) -> bool {
    let values = strings(value);
    !values.is_empty() && values.iter().all(|value| *value != "*" && *value != "")
}

/// The condition keys that narrow who may act, or from where (lowercase; a key ending
/// in `/` is a prefix).
const NARROWING_KEYS: &[&str] = &[
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principaltag/",
    "aws:userid",
    "aws:username",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourcevpce",
    "aws:sourcevpc",
    "aws:sourceip",
    "sts:externalid",
    "kms:calleraccount",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
];

/// Whether a statement's conditions narrow its principal: some key of
/// [`NARROWING_KEYS`] pinned to a value, under an operator that is not `Null` (which only
/// asks that a key be present).
fn narrows_principal(statement: &Json) -> bool {
    let Some(conditions) = statement["Condition"].as_object() else {
        return false;
    };
    conditions
        .iter()
        .filter(|(operator, _)| !operator.starts_with("Null"))
        .filter_map(|(_, keys)| keys.as_object())
        .flatten()
        .any(|(key, value)| {
            let key = key.to_ascii_lowercase();
            NARROWING_KEYS.iter().any(|narrowing| {
                if narrowing.ends_with('/') {
                    key.starts_with(narrowing)
                } else {
                    key == *narrowing
                }
            }) && pins(value)
        })
}

fn check_resource_policy(
    id: &str,
    document: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    for statement in statements(document) {
        let principal = &statement["Principal"];
        let everyone = principal == "*" || strings(&principal["AWS"]).contains(&&Json::from("*"));
        if allows(statement) && everyone && !narrows_principal(statement) {
            found(
                id,
                "IAM_WILDCARD_PRINCIPAL",
                "a statement allows every principal without a condition that narrows it".into(),
            );
        }
        if allows(statement) && statement.get("NotPrincipal").is_some() {
            found(
                id,
                "IAM_WILDCARD_PRINCIPAL",
                "a statement allows every principal but the ones it lists (NotPrincipal)".into(),
            );
        }
        check_wildcard_actions(id, statement, found);
    }
}

/// Actions that IAM authorizes only on `*`: naming a resource is impossible.
const ONLY_ON_EVERY_RESOURCE: &[&str] = &[
    "cloudwatch:PutMetricData",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
];

/// AWS managed policies that allow every action of a service, or of every service.
fn grants_every_action(policy_arn: &Json) -> Option<String> {
    let text = policy_arn.to_string();
    let names = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|word| {
            matches!(*word, "AdministratorAccess" | "PowerUserAccess")
                || word.ends_with("FullAccess")
        })
        .map(str::to_owned)
        .collect::<Vec<_>>();
    names.into_iter().next()
}

fn check_managed_policies(
    id: &str,
    arns: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    for arn in strings(arns) {
        if let Some(name) = grants_every_action(arn) {
            found(
                id,
                "IAM_WILDCARD_ACTION",
                format!("the managed policy {name} allows every action of a service"),
            );
        }
    }
}

/// A Lambda permission for `*`, or for a whole account, without the source that may call.
fn check_lambda_permission(
    id: &str,
    properties: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    let principal = &properties["Principal"];
    let open = *principal == "*" || is_account(principal);
    let sourced = ["SourceArn", "SourceAccount", "PrincipalOrgID"]
        .iter()
        .any(|key| properties.get(*key).is_some());
    if open && !sourced {
        found(
            id,
            "IAM_WILDCARD_PRINCIPAL",
            "the function may be invoked by any principal that names it".into(),
        );
    }
}

/// Whether an action only reads.
fn reads(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, verb)| verb);
    [
        "Describe",
        "List",
        "Get",
        "BatchGet",
        "BatchCheck",
        "View",
        "Query",
        "Search",
        "Lookup",
    ]
    .iter()
    .any(|prefix| verb.starts_with(prefix))
}

fn check_identity_policy(
    id: &str,
    document: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    for statement in statements(document) {
        check_wildcard_actions(id, statement, found);
        let everywhere = strings(&statement["Resource"]).contains(&&Json::from("*"))
            || statement.get("NotResource").is_some();
        let writes: Vec<&str> = strings(&statement["Action"])
            .into_iter()
            .filter_map(Json::as_str)
            .filter(|action| !reads(action) && !ONLY_ON_EVERY_RESOURCE.contains(action))
            .collect();
        if allows(statement) && everywhere && !writes.is_empty() {
            found(
                id,
                "IAM_WILDCARD_RESOURCE_WRITE",
                format!("{} allowed on every resource", writes.join(", ")),
            );
        }
    }
}

/// Whether a principal value is a whole account: its root ARN or its bare id.
fn is_account(principal: &Json) -> bool {
    match principal {
        Json::String(text) => {
            text.ends_with(":root")
                || (text.len() == 12 && text.chars().all(|c| c.is_ascii_digit()))
        }
        Json::Object(function) => {
            let sub = function
                .get("Fn::Sub")
                .and_then(|sub| sub.as_array().and_then(|parts| parts.first()).or(Some(sub)))
                .and_then(Json::as_str)
                .is_some_and(|template| template.ends_with(":root"));
            // `Fn::Join` of parts whose last is a literal ending in `:root`.
            let join = function
                .get("Fn::Join")
                .and_then(|join| join.get(1))
                .and_then(Json::as_array)
                .and_then(|parts| parts.last())
                .and_then(Json::as_str)
                .is_some_and(|last| last.ends_with(":root"));
            sub || join
        }
        _ => false,
    }
}

fn check_trust(id: &str, document: &Json, found: &mut impl FnMut(&str, &'static str, String)) {
    for statement in statements(document) {
        if !allows(statement) {
            continue;
        }
        let principal = &statement["Principal"];
        if strings(&principal["AWS"]).into_iter().any(is_account) && !narrows_principal(statement) {
            found(
                id,
                "IAM_TRUST_ACCOUNT",
                "the role trusts every principal of an account that may assume it".into(),
            );
        }
        if strings(&principal["Service"]).contains(&&Json::from("pods.eks.amazonaws.com")) {
            // Pinned by StringEquals: `StringLike` with `*` would pin nothing.
            let pinned = |key: &str| pins(&statement["Condition"]["StringEquals"][key]);
            if !(pinned("aws:RequestTag/kubernetes-namespace")
                && pinned("aws:RequestTag/kubernetes-service-account")
                && (pinned("aws:RequestTag/eks-cluster-arn")
                    || pinned("aws:RequestTag/eks-cluster-name")))
            {
                found(
                    id,
                    "POD_IDENTITY_SCOPE",
                    "Pod Identity associations of other service accounts or clusters can use the role".into(),
                );
            }
        }
        let everyone = principal == "*" || strings(&principal["AWS"]).contains(&&Json::from("*"));
        if (everyone || statement.get("NotPrincipal").is_some()) && !narrows_principal(statement) {
            found(
                id,
                "IAM_WILDCARD_PRINCIPAL",
                "the role trusts every principal without a condition that narrows it".into(),
            );
        }
    }
}
