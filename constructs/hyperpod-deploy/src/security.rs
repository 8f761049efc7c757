//! The security-relevant content of a template, as rows a reviewer can compare: IAM
//! statements (with who holds them and what they apply to), managed policies attached,
//! and security-group rules.

use std::collections::BTreeSet;

use serde_json::{Map, Value as Json};

/// One IAM statement, flattened for review.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatementRow {
    /// What the statement applies to (`Resource`, or the role for a trust policy).
    pub resource: Vec<String>,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// The actions (`NotAction` entries prefixed with `NOT `).
    pub action: Vec<String>,
    /// Who: the statement's principal, or the identity holding the policy.
    pub principal: Vec<String>,
    /// The conditions, one `operator key: values` per line.
    pub condition: Vec<String>,
}

/// A managed policy attached to an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedPolicyRow {
    /// The identity.
    pub holder: String,
    /// The policy's ARN.
    pub policy: String,
}

/// A security-group rule.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRow {
    /// The group.
    pub group: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// The protocol and ports.
    pub traffic: String,
    /// The other side: a CIDR block or a group.
    pub peer: String,
    /// The rule's description.
    pub description: String,
}

/// Access granted outside IAM policies: EKS access entries, Pod Identity associations,
/// Lambda permissions, Client VPN authorization rules.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantRow {
    /// What kind of grant.
    pub kind: String,
    /// Who gets it.
    pub grantee: Vec<String>,
    /// What they get.
    pub grant: Vec<String>,
}

/// Everything security-relevant in a template's resources.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    /// The IAM statements.
    pub statements: BTreeSet<StatementRow>,
    /// The managed policies.
    pub managed: BTreeSet<ManagedPolicyRow>,
    /// The security-group rules.
    pub rules: BTreeSet<RuleRow>,
    /// The grants outside IAM policies.
    pub grants: BTreeSet<GrantRow>,
}

/// Reads the security-relevant content of `resources`.
pub fn security(resources: &Map<String, Json>) -> Security {
    let mut out = Security::default();
    for (id, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let properties = &resource["Properties"];
        let me = format!("${{{id}}}");
        match kind {
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                if kind == "AWS::IAM::Role" {
                    statements(
                        &properties["AssumeRolePolicyDocument"],
                        Some(&me),
                        None,
                        &mut out,
                    );
                }
                for policy in properties["Policies"].as_array().into_iter().flatten() {
                    statements(&policy["PolicyDocument"], None, Some(&me), &mut out);
                }
                for arn in properties["ManagedPolicyArns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.managed.insert(ManagedPolicyRow {
                        holder: me.clone(),
                        policy: short(arn),
                    });
                }
            }
            "AWS::IAM::Policy" | "AWS::IAM::ManagedPolicy" | "AWS::IAM::RolePolicy" => {
                let holders: Vec<String> = ["Roles", "Users", "Groups", "RoleName"]
                    .iter()
                    .flat_map(|key| list(&properties[*key]))
                    .collect();
                let holder = if holders.is_empty() {
                    me.clone()
                } else {
                    holders.join(", ")
                };
                statements(&properties["PolicyDocument"], None, Some(&holder), &mut out);
            }
            "AWS::S3::BucketPolicy"
            | "AWS::SQS::QueuePolicy"
            | "AWS::SNS::TopicPolicy"
            | "AWS::IAM::UserPolicy"
            | "AWS::IAM::GroupPolicy" => {
                statements(&properties["PolicyDocument"], None, None, &mut out)
            }
            "AWS::S3::AccessPoint" => statements(&properties["Policy"], None, None, &mut out),
            "AWS::KMS::Key" => statements(&properties["KeyPolicy"], Some(&me), None, &mut out),
            "AWS::SecretsManager::ResourcePolicy" => {
                statements(&properties["ResourcePolicy"], None, None, &mut out)
            }
            "AWS::EC2::SecurityGroup" => {
                for (key, direction) in [
                    ("SecurityGroupIngress", "ingress"),
                    ("SecurityGroupEgress", "egress"),
                ] {
                    for rule in properties[key].as_array().into_iter().flatten() {
                        out.rules.insert(rule_row(&me, direction, rule));
                    }
                }
            }
            "AWS::EKS::AccessEntry" => {
                let mut grant: Vec<String> = list(&properties["KubernetesGroups"])
                    .into_iter()
                    .map(|group| format!("Kubernetes group {group}"))
                    .collect();
                for policy in properties["AccessPolicies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let scope = &policy["AccessScope"];
                    let namespaces = list(&scope["Namespaces"]);
                    grant.push(format!(
                        "{} ({}{})",
                        short(&policy["PolicyArn"]),
                        short(&scope["Type"]),
                        if namespaces.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", namespaces.join(", "))
                        }
                    ));
                }
                out.grants.insert(GrantRow {
                    kind: format!("EKS access entry on {}", short(&properties["ClusterName"])),
                    grantee: vec![short(&properties["PrincipalArn"])],
                    grant,
                });
            }
            "AWS::EKS::PodIdentityAssociation" => {
                out.grants.insert(GrantRow {
                    kind: format!("Pod Identity on {}", short(&properties["ClusterName"])),
                    grantee: vec![format!(
                        "{}/{}",
                        short(&properties["Namespace"]),
                        short(&properties["ServiceAccount"])
                    )],
                    grant: vec![short(&properties["RoleArn"])],
                });
            }
            "AWS::Lambda::Permission" => {
                let mut grantee = vec![short(&properties["Principal"])];
                for key in ["SourceArn", "SourceAccount", "PrincipalOrgID"] {
                    if !properties[key].is_null() {
                        grantee.push(format!("{key} {}", short(&properties[key])));
                    }
                }
                out.grants.insert(GrantRow {
                    kind: "Lambda permission".into(),
                    grantee,
                    grant: vec![format!(
                        "{} on {}",
                        short(&properties["Action"]),
                        short(&properties["FunctionName"])
                    )],
                });
            }
            "AWS::EC2::ClientVpnAuthorizationRule" => {
                let grantee = if properties["AuthorizeAllGroups"] == Json::Bool(true) {
                    vec!["every client".to_owned()]
                } else {
                    vec![format!("group {}", short(&properties["AccessGroupId"]))]
                };
                out.grants.insert(GrantRow {
                    kind: format!(
                        "Client VPN authorization on {}",
                        short(&properties["ClientVpnEndpointId"])
                    ),
                    grantee,
                    grant: vec![format!("reach {}", short(&properties["TargetNetworkCidr"]))],
                });
            }
            "AWS::EC2::SecurityGroupIngress" | "AWS::EC2::SecurityGroupEgress" => {
                let direction = if kind.ends_with("Ingress") {
                    "ingress"
                } else {
                    "egress"
                };
                out.rules.insert(rule_row(
                    &short(&properties["GroupId"]),
                    direction,
                    properties,
                ));
            }
            _ => {}
        }
    }
    out
}

/// The statements of a policy document. A resource policy's statements apply to
/// `applies_to` when they name no resource (key policies, trust policies); an identity
/// policy's principal is its `holder`.
fn statements(document: &Json, applies_to: Option<&str>, holder: Option<&str>, out: &mut Security) {
    let items = match &document["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Null => return,
        one => vec![one.clone()],
    };
    for statement in items {
        let mut action = list(&statement["Action"]);
        action.extend(
            list(&statement["NotAction"])
                .into_iter()
                .map(|a| format!("NOT {a}")),
        );
        let mut resource = list(&statement["Resource"]);
        resource.extend(
            list(&statement["NotResource"])
                .into_iter()
                .map(|r| format!("NOT {r}")),
        );
        if resource.is_empty()
            && let Some(applies_to) = applies_to
        {
            resource.push(applies_to.to_owned());
        }
        let principal = match holder {
            Some(holder) => vec![holder.to_owned()],
            None => principals(&statement["Principal"])
                .into_iter()
                .chain(
                    principals(&statement["NotPrincipal"])
                        .into_iter()
                        .map(|p| format!("NOT {p}")),
                )
                .collect(),
        };
        let mut condition = Vec::new();
        for (operator, keys) in statement["Condition"].as_object().into_iter().flatten() {
            for (key, values) in keys.as_object().into_iter().flatten() {
                condition.push(format!("{operator} {key}: {}", list(values).join(", ")));
            }
        }
        out.statements.insert(StatementRow {
            resource,
            effect: statement["Effect"].as_str().unwrap_or("?").to_owned(),
            action,
            principal,
            condition,
        });
    }
}

/// A principal as `KIND:value` lines (`AWS:arn…`, `Service:…`), or `*`.
fn principals(principal: &Json) -> Vec<String> {
    match principal {
        Json::Null => Vec::new(),
        Json::String(text) => vec![text.clone()],
        Json::Object(kinds) => kinds
            .iter()
            .flat_map(|(kind, values)| {
                list(values)
                    .into_iter()
                    .map(move |value| format!("{kind}:{value}"))
            })
            .collect(),
        other => vec![short(other)],
    }
}

fn rule_row(group: &str, direction: &str, rule: &Json) -> RuleRow {
    let protocol = match rule["IpProtocol"].as_str().map(str::to_owned) {
        Some(p) if p == "-1" => "all traffic".to_owned(),
        Some(p) => p,
        None => short(&rule["IpProtocol"]),
    };
    let ports = match (&rule["FromPort"], &rule["ToPort"]) {
        (Json::Null, _) => String::new(),
        (from, to) if from == to => format!(" {}", short(from)),
        (from, to) => format!(" {}-{}", short(from), short(to)),
    };
    let peer = [
        "CidrIp",
        "CidrIpv6",
        "SourceSecurityGroupId",
        "DestinationSecurityGroupId",
        "SourcePrefixListId",
        "DestinationPrefixListId",
    ]
    .iter()
    .find(|key| !rule[**key].is_null())
    .map(|key| short(&rule[*key]))
    .unwrap_or_default();
    RuleRow {
        group: group.to_owned(),
        direction: direction.to_owned(),
        traffic: format!("{protocol}{ports}"),
        peer,
        description: rule["Description"].as_str().unwrap_or_default().to_owned(),
    }
}

/// A value or list of values, each in short form.
fn list(value: &Json) -> Vec<String> {
    match value {
        Json::Null => Vec::new(),
        Json::Array(items) => items.iter().map(short).collect(),
        one => vec![short(one)],
    }
}

/// A template value as a reviewer reads it: references as `${Id}` and `${Id.Attr}`,
/// `Fn::Sub` with its variables filled in, `Fn::Join` joined, anything else as JSON.
pub fn short(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        Json::Object(function) if function.len() == 1 => {
            let (name, argument) = function.iter().next().expect("one entry");
            match (name.as_str(), argument) {
                ("Ref", Json::String(id)) => format!("${{{id}}}"),
                ("Fn::GetAtt", Json::Array(parts)) => format!(
                    "${{{}}}",
                    parts.iter().map(short).collect::<Vec<_>>().join(".")
                ),
                ("Fn::Sub", Json::String(template)) => template.clone(),
                ("Fn::Sub", Json::Array(parts)) => {
                    let mut text = parts.first().map(short).unwrap_or_default();
                    for (variable, value) in
                        parts.get(1).and_then(Json::as_object).into_iter().flatten()
                    {
                        text = text.replace(&format!("${{{variable}}}"), &short(value));
                    }
                    text
                }
                ("Fn::Join", Json::Array(parts)) => {
                    let separator = parts.first().and_then(Json::as_str).unwrap_or_default();
                    parts
                        .get(1)
                        .and_then(Json::as_array)
                        .map(|items| items.iter().map(short).collect::<Vec<_>>().join(separator))
                        .unwrap_or_default()
                }
                ("Fn::ImportValue", name) => format!("import({})", short(name)),
                _ => value.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn intrinsics_read_as_references() {
        assert_eq!(short(&json!({ "Ref": "Bucket" })), "${Bucket}");
        assert_eq!(
            short(&json!({ "Fn::GetAtt": ["Role", "Arn"] })),
            "${Role.Arn}"
        );
        assert_eq!(
            short(
                &json!({ "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": "111111111111", "name": "admin" }] })
            ),
            "arn:${AWS::Partition}:iam::111111111111:role/admin"
        );
        assert_eq!(
            short(&json!({ "Fn::Join": ["", [{ "Fn::GetAtt": ["Bucket", "Arn"] }, "/*"]] })),
            "${Bucket.Arn}/*"
        );
    }

    #[test]
    fn identity_policies_are_held_by_their_role_and_trusts_apply_to_it() {
        let resources = json!({
            "Reader": { "Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": { "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] },
                "Policies": [{ "PolicyName": "p", "PolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": { "Fn::Join": ["", [{ "Fn::GetAtt": ["Bucket", "Arn"] }, "/*"]] }, "Condition": { "StringEquals": { "aws:SourceVpce": "vpce-1" } } }] } }],
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
            } },
            "Group": { "Type": "AWS::EC2::SecurityGroup", "Properties": { "SecurityGroupIngress": [{ "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/8", "Description": "ssh" }] } },
        });
        let found = security(resources.as_object().unwrap());
        let rows: Vec<&StatementRow> = found.statements.iter().collect();
        assert!(rows.contains(&&StatementRow {
            resource: vec!["${Reader}".into()],
            effect: "Allow".into(),
            action: vec!["sts:AssumeRole".into()],
            principal: vec!["Service:lambda.amazonaws.com".into()],
            condition: vec![],
        }));
        assert!(rows.contains(&&StatementRow {
            resource: vec!["${Bucket.Arn}/*".into()],
            effect: "Allow".into(),
            action: vec!["s3:GetObject".into()],
            principal: vec!["${Reader}".into()],
            condition: vec!["StringEquals aws:SourceVpce: vpce-1".into()],
        }));
        assert_eq!(found.managed.len(), 1);
        let rule = found.rules.iter().next().unwrap();
        assert_eq!(
            (
                rule.direction.as_str(),
                rule.traffic.as_str(),
                rule.peer.as_str()
            ),
            ("ingress", "tcp 22", "10.0.0.0/8")
        );
    }
}
