//! The difference between a deployed template and the one to deploy: the security
//! changes (IAM statements, managed policies, security-group rules added and removed),
//! resources added, removed and modified (with the properties that change, old and new),
//! the modifications that replace a resource (from the create-only properties of the
//! generated schemas), and the permissions that widen.

use serde_json::Value as Json;

use crate::security::{GrantRow, ManagedPolicyRow, RuleRow, StatementRow, security, short};

/// A property of a resource that changes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyChange {
    /// The resource's logical id.
    pub resource: String,
    /// The property (or `DeletionPolicy`, `DependsOn`, …).
    pub property: String,
    /// Its value before, short; empty when it was not set.
    pub old: String,
    /// Its value after, short; empty when it is removed.
    pub new: String,
}

/// Rows added to and removed from one security table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Changes<T> {
    /// Rows only in the new template.
    pub added: Vec<T>,
    /// Rows only in the deployed one.
    pub removed: Vec<T>,
}

impl<T> Default for Changes<T> {
    fn default() -> Self {
        Changes {
            added: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<T: Ord + Clone> Changes<T> {
    fn between(
        before: &std::collections::BTreeSet<T>,
        after: &std::collections::BTreeSet<T>,
    ) -> Self {
        Changes {
            added: after.difference(before).cloned().collect(),
            removed: before.difference(after).cloned().collect(),
        }
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// What changes in one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackDiff {
    /// Resources only in the new template: logical id and type.
    pub added: Vec<(String, String)>,
    /// Resources only in the deployed template.
    pub removed: Vec<(String, String)>,
    /// Resources in both whose definition changed, with the changed properties that
    /// replace the resource.
    pub modified: Vec<(String, String, Vec<String>)>,
    /// Policy statements and network rules that the new template grants and the deployed
    /// one does not, one line each.
    pub widened: Vec<String>,
    /// IAM statements added and removed.
    pub statements: Changes<StatementRow>,
    /// Managed policies attached and detached.
    pub managed_policies: Changes<ManagedPolicyRow>,
    /// Security-group rules added and removed.
    pub rules: Changes<RuleRow>,
    /// Grants outside IAM policies added and removed (access entries, Pod Identity, Lambda
    /// permissions, Client VPN authorization).
    pub grants: Changes<GrantRow>,
    /// The properties of modified resources that change.
    pub properties: Vec<PropertyChange>,
    /// Resources that leave under one logical id and come back, with the same type and
    /// properties, under another: old id, new id, type. CloudFormation deletes the old and
    /// creates the new.
    pub renamed: Vec<(String, String, String)>,
    /// Outputs and parameters aside, whether anything changes.
    pub template_changed: bool,
}

impl StackDiff {
    /// The resources that will be replaced.
    pub fn replaced(&self) -> Vec<&str> {
        self.modified
            .iter()
            .filter(|(_, _, paths)| !paths.is_empty())
            .map(|(id, _, _)| id.as_str())
            .collect()
    }

    /// A report a reviewer reads: the security changes as tables, then the resources
    /// with the properties that change.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sign = |added: bool| if added { "+" } else { "-" }.to_owned();
        if !self.statements.is_empty() {
            out.push_str("  IAM statement changes\n");
            let rows = changes_rows(&self.statements, |added, row| {
                vec![
                    vec![sign(added)],
                    row.resource.clone(),
                    vec![row.effect.clone()],
                    row.action.clone(),
                    row.principal.clone(),
                    row.condition.clone(),
                ]
            });
            out.push_str(&table(
                &["", "Resource", "Effect", "Action", "Principal", "Condition"],
                &rows,
            ));
        }
        if !self.managed_policies.is_empty() {
            out.push_str("  IAM managed policy changes\n");
            let rows = changes_rows(&self.managed_policies, |added, row| {
                vec![
                    vec![sign(added)],
                    vec![row.holder.clone()],
                    vec![row.policy.clone()],
                ]
            });
            out.push_str(&table(&["", "Holder", "Managed policy"], &rows));
        }
        if !self.rules.is_empty() {
            out.push_str("  Security group changes\n");
            let rows = changes_rows(&self.rules, |added, row| {
                vec![
                    vec![sign(added)],
                    vec![row.group.clone()],
                    vec![row.direction.clone()],
                    vec![row.traffic.clone()],
                    vec![row.peer.clone()],
                    vec![row.description.clone()],
                ]
            });
            out.push_str(&table(
                &["", "Group", "Direction", "Traffic", "Peer", "Description"],
                &rows,
            ));
        }
        if !self.grants.is_empty() {
            out.push_str("  Other access changes\n");
            let rows = changes_rows(&self.grants, |added, row| {
                vec![
                    vec![sign(added)],
                    vec![row.kind.clone()],
                    row.grantee.clone(),
                    row.grant.clone(),
                ]
            });
            out.push_str(&table(&["", "Kind", "Grantee", "Grant"], &rows));
        }
        for (id, kind) in &self.added {
            out.push_str(&format!("  + {id} ({kind})\n"));
        }
        for (id, kind) in &self.removed {
            out.push_str(&format!("  - {id} ({kind})\n"));
        }
        for (old, new, kind) in &self.renamed {
            out.push_str(&format!(
                "  ~ {old} -> {new} ({kind}) RENAMED: deleted and created again; keep it with `override_logical_id(\"{old}\")` on the construct of {new}\n"
            ));
        }
        for (id, kind, replacing) in &self.modified {
            if replacing.is_empty() {
                out.push_str(&format!("  ~ {id} ({kind})\n"));
            } else {
                out.push_str(&format!(
                    "  ~ {id} ({kind}) REPLACED: {} changes\n",
                    replacing.join(", ")
                ));
            }
            for change in self.properties.iter().filter(|c| c.resource == *id) {
                let shown = |value: &str| {
                    if value.is_empty() {
                        "(not set)".to_owned()
                    } else {
                        value.to_owned()
                    }
                };
                out.push_str(&format!(
                    "      {}: {} -> {}\n",
                    change.property,
                    shown(&change.old),
                    shown(&change.new)
                ));
            }
        }
        if out.is_empty() {
            out.push_str(if self.template_changed {
                "  (outputs, parameters or metadata only)\n"
            } else {
                "  no change\n"
            });
        }
        out
    }
}

/// The rows of a change table: added first, then removed.
fn changes_rows<T>(
    changes: &Changes<T>,
    row: impl Fn(bool, &T) -> Vec<Vec<String>>,
) -> Vec<Vec<Vec<String>>> {
    changes
        .added
        .iter()
        .map(|r| row(true, r))
        .chain(changes.removed.iter().map(|r| row(false, r)))
        .collect()
}

/// A plain-text table, indented by four spaces: cells of several lines, columns as wide
/// as their widest line, a rule between rows.
fn table(headers: &[&str], rows: &[Vec<Vec<String>>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            for line in cell {
                widths[column] = widths[column].max(line.chars().count());
            }
        }
    }
    let rule = format!(
        "    +{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!(" {cell:<width$} "))
            .collect();
        format!("    |{}|\n", padded.join("|"))
    };
    let mut out = rule.clone();
    out.push_str(&line(headers.to_vec()));
    out.push_str(&rule);
    for row in rows {
        let height = row.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for index in 0..height {
            out.push_str(&line(
                row.iter()
                    .map(|cell| cell.get(index).map(String::as_str).unwrap_or(""))
                    .collect(),
            ));
        }
        out.push_str(&rule);
    }
    out
}

/// Compares a deployed template (`None` for a new stack) with the one to deploy.
pub fn diff(deployed: Option<&Json>, wanted: &Json) -> StackDiff {
    let empty = Json::Object(Default::default());
    let deployed = deployed.unwrap_or(&empty);
    let old_resources = deployed["Resources"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let new_resources = wanted["Resources"].as_object().cloned().unwrap_or_default();
    let mut result = StackDiff {
        template_changed: deployed != wanted,
        ..StackDiff::default()
    };
    for (id, resource) in &new_resources {
        let kind = resource["Type"].as_str().unwrap_or("?").to_owned();
        match old_resources.get(id) {
            None => result.added.push((id.clone(), kind)),
            Some(old) if old != resource => {
                let replacing = if old["Type"] != resource["Type"] {
                    vec!["Type".to_owned()]
                } else {
                    replacing_paths(&kind, &old["Properties"], &resource["Properties"])
                };
                result
                    .properties
                    .extend(property_changes(id, old, resource));
                result.modified.push((id.clone(), kind, replacing));
            }
            Some(_) => {}
        }
    }
    for (id, resource) in &old_resources {
        if !new_resources.contains_key(id) {
            result.removed.push((
                id.clone(),
                resource["Type"].as_str().unwrap_or("?").to_owned(),
            ));
        }
    }
    // A removed resource and an added one of the same type and properties: a rename.
    let mut index = 0;
    while index < result.removed.len() {
        let (old_id, kind) = result.removed[index].clone();
        let twin = result.added.iter().position(|(new_id, new_kind)| {
            // Resources without properties are all alike: no evidence of a rename.
            *new_kind == kind
                && old_resources[&old_id]["Properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty())
                && old_resources[&old_id]["Properties"] == new_resources[new_id]["Properties"]
        });
        match twin {
            Some(position) => {
                let (new_id, _) = result.added.remove(position);
                result.removed.remove(index);
                result.renamed.push((old_id, new_id, kind));
            }
            None => index += 1,
        }
    }
    let before = security(&old_resources);
    let after = security(&new_resources);
    result.statements = Changes::between(&before.statements, &after.statements);
    result.managed_policies = Changes::between(&before.managed, &after.managed);
    result.rules = Changes::between(&before.rules, &after.rules);
    result.grants = Changes::between(&before.grants, &after.grants);
    result.widened = result
        .statements
        .added
        .iter()
        .filter(|row| row.effect == "Allow")
        .map(|row| {
            let condition = if row.condition.is_empty() {
                String::new()
            } else {
                format!(" when {}", row.condition.join("; "))
            };
            format!(
                "{} allowed {} on {}{condition}",
                row.principal.join(", "),
                row.action.join(", "),
                row.resource.join(", ")
            )
        })
        .chain(
            result
                .managed_policies
                .added
                .iter()
                .map(|row| format!("{} gets managed policy {}", row.holder, row.policy)),
        )
        .chain(result.rules.added.iter().map(|row| {
            format!(
                "{} {} {} with {}",
                row.group, row.direction, row.traffic, row.peer
            )
        }))
        .chain(result.grants.added.iter().map(|row| {
            format!(
                "{}: {} gets {}",
                row.kind,
                row.grantee.join(", "),
                row.grant.join(", ")
            )
        }))
        // A deny that goes away widens as surely as an allow that comes.
        .chain(
            result
                .statements
                .removed
                .iter()
                .filter(|row| row.effect == "Deny")
                .map(|row| {
                    format!(
                        "no longer denied: {} on {} to {}",
                        row.action.join(", "),
                        row.resource.join(", "),
                        row.principal.join(", ")
                    )
                }),
        )
        .collect();
    result
}

/// The top-level properties (and resource attributes) of a resource that change, short.
fn property_changes(id: &str, old: &Json, new: &Json) -> Vec<PropertyChange> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let sections = |resource: &Json| -> Vec<(String, Json)> {
        let mut entries: Vec<(String, Json)> = resource["Properties"]
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for attribute in [
            "DeletionPolicy",
            "UpdateReplacePolicy",
            "DependsOn",
            "Condition",
        ] {
            if let Some(value) = resource.get(attribute) {
                entries.push((attribute.to_owned(), value.clone()));
            }
        }
        entries
    };
    let before = sections(old);
    let after = sections(new);
    let value_of = |entries: &[(String, Json)], key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut keys: Vec<String> = after.iter().map(|(k, _)| k.clone()).collect();
    keys.extend(
        before
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !after.iter().any(|(a, _)| a == k)),
    );
    for key in keys {
        let (was, is) = (value_of(&before, &key), value_of(&after, &key));
        if was != is {
            out.push(PropertyChange {
                resource: id.to_owned(),
                property: key,
                old: was.as_ref().map(brief).unwrap_or_default(),
                new: is.as_ref().map(brief).unwrap_or_default(),
            });
        }
    }
    out
}

/// A value in at most 120 characters.
fn brief(value: &Json) -> String {
    let text = short(value);
    if text.chars().count() > 120 {
        format!("{}…", text.chars().take(120).collect::<String>())
    } else {
        text
    }
}

/// The create-only properties, per the schema, whose values differ.
fn replacing_paths(kind: &str, old: &Json, new: &Json) -> Vec<String> {
    crate::create_only::create_only(kind)
        .iter()
        .filter(|path| {
            let pointer = format!("/{path}");
            old.pointer(&pointer) != new.pointer(&pointer)
        })
        .map(|path| path.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn added_removed_modified_and_replaced_resources_are_found() {
        let old = json!({ "Resources": {
            "Quota": { "Type": "AWS::SageMaker::ComputeQuota", "Properties": { "ComputeQuotaTarget": { "TeamName": "a", "FairShareWeight": 1 } } },
            "Gone": { "Type": "AWS::SNS::Topic" },
            "Same": { "Type": "AWS::SNS::Topic" },
        } });
        let new = json!({ "Resources": {
            "Quota": { "Type": "AWS::SageMaker::ComputeQuota", "Properties": { "ComputeQuotaTarget": { "TeamName": "b", "FairShareWeight": 1 } } },
            "New": { "Type": "AWS::SNS::Topic" },
            "Same": { "Type": "AWS::SNS::Topic" },
        } });
        let result = diff(Some(&old), &new);
        assert_eq!(
            result.added,
            [("New".to_owned(), "AWS::SNS::Topic".to_owned())]
        );
        assert_eq!(
            result.removed,
            [("Gone".to_owned(), "AWS::SNS::Topic".to_owned())]
        );
        assert_eq!(result.replaced(), ["Quota"]);
        assert!(
            result
                .render()
                .contains("REPLACED: ComputeQuotaTarget/TeamName changes")
        );
    }

    #[test]
    fn a_weight_change_does_not_replace() {
        let old = json!({ "Resources": { "Quota": { "Type": "AWS::SageMaker::ComputeQuota", "Properties": { "ComputeQuotaTarget": { "TeamName": "a", "FairShareWeight": 1 } } } } });
        let new = json!({ "Resources": { "Quota": { "Type": "AWS::SageMaker::ComputeQuota", "Properties": { "ComputeQuotaTarget": { "TeamName": "a", "FairShareWeight": 2 } } } } });
        let result = diff(Some(&old), &new);
        assert_eq!(result.modified.len(), 1);
        assert!(result.replaced().is_empty());
    }

    #[test]
    fn new_allow_statements_and_ingress_rules_widen_and_new_denies_do_not() {
        let old = json!({ "Resources": { "Role": { "Type": "AWS::IAM::Role", "Properties": { "Policies": [{ "PolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" }] } }] } } } });
        let new = json!({ "Resources": {
            "Role": { "Type": "AWS::IAM::Role", "Properties": { "Policies": [{ "PolicyDocument": { "Statement": [
                { "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" },
                { "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*" },
                { "Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*" },
            ] } }] } },
            "Ssh": { "Type": "AWS::EC2::SecurityGroupIngress", "Properties": { "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "10.0.0.0/8" } },
        } });
        let result = diff(Some(&old), &new);
        assert_eq!(result.widened.len(), 2, "{:?}", result.widened);
        assert!(result.widened.iter().any(|w| w.contains("s3:PutObject")));
        assert!(
            result
                .widened
                .iter()
                .any(|w| w.contains("ingress tcp 22 with 10.0.0.0/8"))
        );
        assert_eq!(result.statements.added.len(), 2, "the deny is shown too");
        assert!(diff(Some(&new), &new).widened.is_empty());
    }

    #[test]
    fn a_review_shows_security_tables_then_resources_with_their_changed_properties() {
        let old = json!({ "Resources": {
            "Role": { "Type": "AWS::IAM::Role", "Properties": {
                "Description": "reads",
                "AssumeRolePolicyDocument": { "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] },
            } },
        } });
        let new = json!({ "Resources": {
            "Role": { "Type": "AWS::IAM::Role", "Properties": {
                "Description": "reads and writes",
                "AssumeRolePolicyDocument": { "Statement": [{ "Effect": "Allow", "Principal": { "Service": "lambda.amazonaws.com" }, "Action": "sts:AssumeRole" }] },
                "Policies": [{ "PolicyName": "w", "PolicyDocument": { "Statement": [{ "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": { "Fn::Join": ["", [{ "Fn::GetAtt": ["Bucket", "Arn"] }, "/*"]] } }] } }],
            } },
        } });
        let review = diff(Some(&old), &new).render();
        assert!(
            review.starts_with("  IAM statement changes\n    +---+"),
            "{review}"
        );
        assert!(
            review.contains(
                "| + | ${Bucket.Arn}/* | Allow  | s3:GetObject | ${Role}   |           |\n"
            ),
            "{review}"
        );
        assert!(
            review.contains("|   |                 |        | s3:PutObject |"),
            "{review}"
        );
        assert!(
            review.contains(
                "  ~ Role (AWS::IAM::Role)\n      Description: reads -> reads and writes\n"
            ),
            "{review}"
        );
        assert!(review.contains("      Policies: (not set) -> "), "{review}");
    }

    #[test]
    fn a_resource_that_comes_back_under_another_id_is_a_rename() {
        let old = json!({ "Resources": { "VisionQuota": { "Type": "AWS::SNS::Topic", "Properties": { "TopicName": "q" } } } });
        let new = json!({ "Resources": { "ComputerVisionQuota": { "Type": "AWS::SNS::Topic", "Properties": { "TopicName": "q" } } } });
        let result = diff(Some(&old), &new);
        assert!(result.added.is_empty() && result.removed.is_empty());
        assert_eq!(
            result.renamed,
            [(
                "VisionQuota".to_owned(),
                "ComputerVisionQuota".to_owned(),
                "AWS::SNS::Topic".to_owned()
            )]
        );
        assert!(
            result
                .render()
                .contains("~ VisionQuota -> ComputerVisionQuota (AWS::SNS::Topic) RENAMED: deleted and created again; keep it with `override_logical_id(\"VisionQuota\")`"),
            "{}",
            result.render()
        );
    }

    #[test]
    fn access_entries_pod_identity_and_a_removed_deny_widen() {
        let old = json!({ "Resources": {
            "Policy": { "Type": "AWS::S3::BucketPolicy", "Properties": { "Bucket": "b", "PolicyDocument": { "Statement": [{ "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": { "Bool": { "aws:SecureTransport": "false" } } }] } } },
        } });
        let new = json!({ "Resources": {
            "Policy": { "Type": "AWS::S3::BucketPolicy", "Properties": { "Bucket": "b", "PolicyDocument": { "Statement": [] } } },
            "Entry": { "Type": "AWS::EKS::AccessEntry", "Properties": { "ClusterName": "ml", "PrincipalArn": "arn:aws:iam::111111111111:role/admin", "AccessPolicies": [{ "PolicyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy", "AccessScope": { "Type": "cluster" } }] } },
            "Pods": { "Type": "AWS::EKS::PodIdentityAssociation", "Properties": { "ClusterName": "ml", "Namespace": "team-a", "ServiceAccount": "training", "RoleArn": { "Fn::GetAtt": ["Role", "Arn"] } } },
        } });
        let result = diff(Some(&old), &new);
        assert_eq!(result.grants.added.len(), 2);
        assert_eq!(result.widened.len(), 3, "{:?}", result.widened);
        assert!(
            result
                .widened
                .iter()
                .any(|w| w.starts_with("no longer denied: s3:*"))
        );
        let review = result.render();
        assert!(review.contains("  Other access changes\n"), "{review}");
        assert!(
            review.contains("AmazonEKSClusterAdminPolicy (cluster)"),
            "{review}"
        );
        assert!(review.contains("team-a/training"), "{review}");
    }
}
