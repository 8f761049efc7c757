//! The security rule pack over each rendered template: a finding a suppression accepts is
//! written into the resource's `Metadata`; any other is a problem.

use super::*;

impl Synthesizer {
    /// Runs the security rule pack over every rendered template. A finding a suppression
    /// accepts is recorded in the resource's `Metadata` (and as a checkov skip where a
    /// checkov check covers it); any other is a problem. Checkov checks suppressed by id
    /// are written as skips on every resource they apply to.
    pub(super) fn apply_rules(
        &mut self,
        position: usize,
        body: &mut TemplateBody,
    ) -> Vec<SuppressedFinding> {
        let mut suppressed = Vec::new();
        {
            let by_id: HashMap<String, Node> = self.stacks[position]
                .elements
                .iter()
                .filter_map(|node| Some((self.logical_ids.get(&node.index)?.clone(), node.clone())))
                .collect();
            let mut accepted: IndexMap<String, (Vec<Json>, Vec<Json>)> = IndexMap::new();
            for finding in crate::rules::check(&body.resources) {
                let Some(node) = by_id.get(&finding.logical_id) else {
                    continue;
                };
                let rule = crate::rules::rule(finding.rule).expect("findings name known rules");
                let in_force = node.suppressions_in_force();
                match in_force.iter().find(|(id, _)| id == rule.id) {
                    Some((_, reason)) => {
                        let entry = accepted.entry(finding.logical_id.clone()).or_default();
                        entry.0.push(json!({ "rule": rule.id, "reason": reason }));
                        for check in rule.checkov {
                            entry.1.push(json!({ "id": check, "comment": reason }));
                        }
                        suppressed.push(SuppressedFinding {
                            path: node.display_path(),
                            rule: rule.id.to_owned(),
                            detail: finding.detail,
                            reason: reason.clone(),
                        });
                    }
                    None => self.problem(
                        node,
                        rule.id,
                        format!(
                            "{}: {}; {}, or accept it with `suppress(\"{}\", <reason>)` on the construct",
                            finding.detail, rule.title, rule.fix, rule.id
                        ),
                    ),
                }
            }
            // In the template's order, so that the listing is deterministic.
            let mut by_position: Vec<(&String, &Node)> = by_id
                .iter()
                .filter(|(logical_id, _)| body.resources.contains_key(*logical_id))
                .collect();
            let order: HashMap<&String, usize> = body
                .resources
                .keys()
                .enumerate()
                .map(|(position, id)| (id, position))
                .collect();
            by_position.sort_by_key(|(logical_id, _)| order.get(*logical_id).copied());
            for (logical_id, node) in by_position {
                let direct: Vec<(String, String)> = node
                    .suppressions_in_force()
                    .into_iter()
                    .filter(|(id, _)| id.starts_with("CKV_"))
                    .collect();
                for (check, reason) in &direct {
                    suppressed.push(SuppressedFinding {
                        path: node.display_path(),
                        rule: check.clone(),
                        detail: "checkov's check is skipped".into(),
                        reason: reason.clone(),
                    });
                }
                if !direct.is_empty() {
                    accepted.entry(logical_id.clone()).or_default().1.extend(
                        direct
                            .into_iter()
                            .map(|(id, reason)| json!({ "id": id, "comment": reason })),
                    );
                }
            }
            accepted.sort_keys();
            for (logical_id, (rules, mut checks)) in accepted {
                let Some(Json::Object(resource)) = body.resources.get_mut(&logical_id) else {
                    continue;
                };
                // Two rules may share a checkov check; one skip per check is enough.
                let mut seen = std::collections::HashSet::new();
                checks.retain(|check| seen.insert(check["id"].to_string()));
                let metadata = resource
                    .entry("Metadata")
                    .or_insert_with(|| Json::Object(Map::new()));
                if let Json::Object(metadata) = metadata {
                    if !rules.is_empty() {
                        metadata.insert("hyperpod".into(), json!({ "suppressed": rules }));
                    }
                    if !checks.is_empty() {
                        metadata.insert("checkov".into(), json!({ "skip": checks }));
                    }
                }
            }
        }
        suppressed
    }
}
