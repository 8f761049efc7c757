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
        title: "a policy never allows every principal without a condition",
        fix: "name the principals, or narrow `*` with a condition (an account, an access point, an organization)",
        checkov: &[],
    },
    RuleInfo {
        id: "IAM_WILDCARD_ACTION",
        title: "a policy never allows every action of a service",
        fix: "list the actions the principal needs",
        checkov: &[],
    },
    RuleInfo {
        id: "IAM_WILDCARD_RESOURCE_WRITE",
        title: "an identity policy allows changes only on named resources",
        fix: "name the resources (ARNs, or patterns within the account and region) of every action that is not a read",
        checkov: &["CKV_AWS_109", "CKV_AWS_111"],
    },
    RuleInfo {
        id: "IAM_TRUST_ACCOUNT",
        title: "a role never trusts a whole account without a condition",
        fix: "name the roles, or condition the trust (aws:PrincipalArn, aws:PrincipalTag, sts:SourceIdentity)",
        checkov: &[],
    },
    RuleInfo {
        id: "POD_IDENTITY_SCOPE",
        title: "a role for EKS Pod Identity trusts only its namespace and service account",
        fix: "add StringEquals conditions on aws:RequestTag/kubernetes-namespace and aws:RequestTag/kubernetes-service-account",
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
            "AWS::IAM::Role" => {
                check_trust(id, &properties["AssumeRolePolicyDocument"], &mut found);
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    check_identity_policy(id, &policy["PolicyDocument"], &mut found);
                }
            }
            "AWS::IAM::RolePolicy" | "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" => {
                check_identity_policy(id, &properties["PolicyDocument"], &mut found)
            }
            "AWS::S3::BucketPolicy" => {
                check_resource_policy(id, &properties["PolicyDocument"], &mut found)
            }
            "AWS::S3::AccessPoint" => check_resource_policy(id, &properties["Policy"], &mut found),
            "AWS::KMS::Key" => check_resource_policy(id, &properties["KeyPolicy"], &mut found),
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
    let tls_only = resources.values().any(|other| {
        other["Type"] == "AWS::S3::BucketPolicy"
            && other["Properties"]["Bucket"] == serde_json::json!({ "Ref": id })
            && statements(&other["Properties"]["PolicyDocument"])
                .iter()
                .any(|statement| {
                    statement["Effect"] == "Deny"
                        && statement["Condition"]["Bool"]["aws:SecureTransport"]
                            .as_str()
                            .is_some_and(|value| value == "false")
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
}

fn check_resource_policy(
    id: &str,
    document: &Json,
    found: &mut impl FnMut(&str, &'static str, String),
) {
    for statement in statements(document) {
        let principal = &statement["Principal"];
        let everyone = principal == "*" || strings(&principal["AWS"]).contains(&&Json::from("*"));
        if allows(statement) && everyone && statement.get("Condition").is_none() {
            found(
                id,
                "IAM_WILDCARD_PRINCIPAL",
                "a statement allows every principal without a condition".into(),
            );
        }
        check_wildcard_actions(id, statement, found);
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
        let everywhere = strings(&statement["Resource"]).contains(&&Json::from("*"));
        let writes: Vec<&str> = strings(&statement["Action"])
            .into_iter()
            .filter_map(Json::as_str)
            .filter(|action| !reads(action))
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
        Json::Object(function) => function
            .get("Fn::Sub")
            .and_then(|sub| sub.as_array().and_then(|parts| parts.first()).or(Some(sub)))
            .and_then(Json::as_str)
            .is_some_and(|template| template.ends_with(":root")),
        _ => false,
    }
}

fn check_trust(id: &str, document: &Json, found: &mut impl FnMut(&str, &'static str, String)) {
    for statement in statements(document) {
        if !allows(statement) {
            continue;
        }
        let principal = &statement["Principal"];
        let conditions = statement["Condition"].as_object();
        if strings(&principal["AWS"]).into_iter().any(is_account) && conditions.is_none() {
            found(
                id,
                "IAM_TRUST_ACCOUNT",
                "the role trusts every principal of an account that may assume it".into(),
            );
        }
        if strings(&principal["Service"]).contains(&&Json::from("pods.eks.amazonaws.com")) {
            let scoped = |key: &str| {
                conditions.is_some_and(|conditions| {
                    conditions
                        .values()
                        .any(|operator| operator.get(key).is_some())
                })
            };
            if !(scoped("aws:RequestTag/kubernetes-namespace")
                && scoped("aws:RequestTag/kubernetes-service-account"))
            {
                found(
                    id,
                    "POD_IDENTITY_SCOPE",
                    "any Pod Identity association of the account can use the role".into(),
                );
            }
        }
        let everyone = principal == "*" || strings(&principal["AWS"]).contains(&&Json::from("*"));
        if everyone && conditions.is_none() {
            found(
                id,
                "IAM_WILDCARD_PRINCIPAL",
                "the role trusts every principal without a condition".into(),
            );
        }
    }
}
