//! The difference between a deployed template and the one to deploy: resources added,
//! removed and modified, the modifications that replace a resource (from the create-only
//! properties of the generated schemas), and the permissions that widen.

use std::collections::BTreeSet;

use serde_json::Value as Json;

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
    /// one does not.
    pub widened: Vec<String>,
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

    /// A readable report, one line per change.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (id, kind) in &self.added {
            out.push_str(&format!("  + {id} ({kind})\n"));
        }
        for (id, kind) in &self.removed {
            out.push_str(&format!("  - {id} ({kind})\n"));
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
        }
        for grant in &self.widened {
            out.push_str(&format!("  ! widens: {grant}\n"));
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
    let before = grants(&old_resources);
    result.widened = grants(&new_resources)
        .difference(&before)
        .cloned()
        .collect();
    result
}

/// The create-only properties, per the schema, whose values differ.
fn replacing_paths(kind: &str, old: &Json, new: &Json) -> Vec<String> {
    let Some(spec) = hyperpod_cfn::spec(kind) else {
        return Vec::new();
    };
    spec.create_only
        .iter()
        .filter(|path| {
            let pointer = format!("/{path}");
            old.pointer(&pointer) != new.pointer(&pointer)
        })
        .map(|path| path.to_string())
        .collect()
}

/// The allow statements and network rules that resources grant, as readable strings.
fn grants(resources: &serde_json::Map<String, Json>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (id, resource) in resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let properties = &resource["Properties"];
        for key in [
            "AssumeRolePolicyDocument",
            "PolicyDocument",
            "KeyPolicy",
            "Policy",
        ] {
            statements(id, key, &properties[key], &mut out);
        }
        if let Some(policies) = properties["Policies"].as_array() {
            for policy in policies {
                statements(id, "Policies", &policy["PolicyDocument"], &mut out);
            }
        }
        match kind {
            "AWS::EC2::SecurityGroup" => {
                for rule in properties["SecurityGroupIngress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.insert(format!("{id} ingress {rule}"));
                }
                for rule in properties["SecurityGroupEgress"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.insert(format!("{id} egress {rule}"));
                }
            }
            "AWS::EC2::SecurityGroupIngress" | "AWS::EC2::SecurityGroupEgress" => {
                out.insert(format!("{id} {properties}"));
            }
            "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group" => {
                for arn in properties["ManagedPolicyArns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    out.insert(format!("{id} managed policy {arn}"));
                }
            }
            _ => {}
        }
    }
    out
}

fn statements(id: &str, key: &str, document: &Json, out: &mut BTreeSet<String>) {
    let list = match &document["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Null => return,
        one => vec![one.clone()],
    };
    for statement in list {
        if statement["Effect"] == "Allow" {
            out.insert(format!("{id} {key} {statement}"));
        }
    }
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
        assert!(result.widened.iter().any(|w| w.starts_with("Ssh ")));
        assert!(diff(Some(&new), &new).widened.is_empty());
    }
}
