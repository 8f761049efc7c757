//! Synthesis: from a construct tree to templates and a manifest.
//!
//! The pass runs every validation, gives each element its logical id, renders each stack's
//! template while resolving references (wiring references between stacks through exports
//! or deploy-time parameters), checks the stack dependency graph and CloudFormation's
//! limits, and returns either a [`CloudAssembly`] or every problem found.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use crate::condition::ConditionExpr;
use crate::element::ElementBody;
use crate::logical_id;
use crate::manifest::{
    AssetManifest, DeployTimeParameter, Manifest, ShardManifest, StackManifest, StageManifest,
};
use crate::parameter::ParameterProps;
use crate::resource::{ResourceData, TagFormat};
use crate::shard::{self, Placement};
use crate::stack::{Environment, Stack};
use crate::tree::{Node, NodeKind, NodeRef, Scope};
use crate::validation::{Problem, SynthError};
use crate::value::{Expr, Pseudo};

/// CloudFormation's limits on one template.
pub mod limits {
    /// Resources in one template.
    pub const RESOURCES: usize = 500;
    /// Parameters in one template.
    pub const PARAMETERS: usize = 200;
    /// Outputs in one template.
    pub const OUTPUTS: usize = 200;
    /// Mappings in one template.
    pub const MAPPINGS: usize = 200;
    /// Bytes of a template deployed from S3 (cfn-lint's figure, the stricter reading of
    /// CloudFormation's "1 MB").
    pub const TEMPLATE_BYTES: usize = 1_000_000;
    /// Bytes of a template passed inline in the API call; a larger one must be uploaded to
    /// S3 and deployed by URL.
    pub const INLINE_TEMPLATE_BYTES: usize = 51_200;
}

/// One file of a cloud assembly, with its path relative to the app's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyFile {
    /// The path below the app's folder, with `/` separators.
    pub path: String,
    /// The bytes of the file.
    pub contents: Vec<u8>,
}

/// The result of synthesis: every template and the manifest, in memory.
#[derive(Clone, Debug)]
pub struct CloudAssembly {
    /// The manifest, also present as `manifest.json` in [`CloudAssembly::files`].
    pub manifest: Manifest,
    /// The findings of the security rule pack that constructs accepted, with their reasons.
    pub suppressed: Vec<SuppressedFinding>,
    /// Where the units of sharded stacks are placed; give it to the next synthesis with
    /// [`crate::App::set_placement`]. Also in [`CloudAssembly::files`] as `placement.json`
    /// when the app has a sharded stack.
    pub placement: Placement,
    files: Vec<AssemblyFile>,
}

/// A finding of the security rule pack accepted by a suppression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressedFinding {
    /// The construct path of the resource.
    pub path: String,
    /// The rule's id.
    pub rule: String,
    /// What the rule found.
    pub detail: String,
    /// Why it is accepted.
    pub reason: String,
}

impl CloudAssembly {
    /// The app's name, which is also the folder the assembly is written to.
    pub fn app(&self) -> &str {
        &self.manifest.app
    }

    /// The files of the assembly: the manifest, then one template per stack.
    pub fn files(&self) -> &[AssemblyFile] {
        &self.files
    }

    /// The template of a stack, by its manifest id (`<stage>/<stack>`).
    pub fn template(&self, stack_id: &str) -> Option<Json> {
        let stack = self
            .manifest
            .stacks
            .iter()
            .find(|stack| stack.id == stack_id)?;
        let file = self.files.iter().find(|file| file.path == stack.template)?;
        serde_json::from_slice(&file.contents).ok()
    }

    /// Writes the assembly to `<out_dir>/<app>/`, replacing an earlier assembly of the app
    /// there, and returns the folder. A folder of that name that holds no `manifest.json` is
    /// not an assembly and is left alone.
    pub fn write_to(&self, out_dir: &Path) -> Result<PathBuf, SynthError> {
        let app_dir = out_dir.join(self.app());
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SynthError::Write { path, source }
        };
        if app_dir.exists() {
            let empty = std::fs::read_dir(&app_dir)
                .map_err(write_error(&app_dir))?
                .next()
                .is_none();
            if app_dir.join("manifest.json").is_file() {
                std::fs::remove_dir_all(&app_dir).map_err(write_error(&app_dir))?;
            } else if !empty {
                return Err(SynthError::NotAnAssembly { path: app_dir });
            }
        }
        for file in &self.files {
            let path = app_dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_error(parent))?;
            }
            std::fs::write(&path, &file.contents).map_err(write_error(&path))?;
        }
        Ok(app_dir)
    }
}

struct StackInfo {
    /// The stack as declared; a shard's is the sharded stack's.
    stack: Stack,
    /// For a shard: its number and the keys of its units.
    shard: Option<(u32, Vec<String>)>,
    artifact_id: String,
    stage_id: String,
    name: String,
    env: Environment,
    elements: Vec<Node>,
    dependencies: IndexSet<usize>,
    /// Values this stack must publish for other stacks: output logical id → value and
    /// whether it is exported (same account and region) or read by the deploy engine.
    shared_outputs: IndexMap<String, SharedOutput>,
    /// Parameters filled at deploy time from another stack's output.
    deploy_time_parameters: IndexMap<String, DeployTimeParameter>,
}

struct SharedOutput {
    value: Json,
    export_name: Option<String>,
}

struct Synthesizer {
    root: Node,
    problems: Vec<Problem>,
    stacks: Vec<StackInfo>,
    /// Tree index of an element → position of its stack in `stacks`.
    stack_of: HashMap<usize, usize>,
    /// Tree index of an element → its logical id.
    logical_ids: HashMap<usize, String>,
    /// Where the units of sharded stacks are placed in this synthesis.
    placement: Placement,
}

pub(crate) fn synthesize(root: &Node) -> Result<CloudAssembly, SynthError> {
    let mut synth = Synthesizer {
        root: root.clone(),
        problems: Vec::new(),
        stacks: Vec::new(),
        stack_of: HashMap::new(),
        logical_ids: HashMap::new(),
        placement: Placement {
            version: Placement::VERSION,
            stacks: BTreeMap::new(),
        },
    };
    synth.collect_issues();
    synth.collect_stacks();
    synth.assign_logical_ids();
    let mut bodies: Vec<TemplateBody> = (0..synth.stacks.len())
        .map(|i| synth.render_stack(i))
        .collect();
    let suppressed = synth.apply_rules(&mut bodies);
    synth.add_explicit_dependencies();
    synth.check_dependency_cycles();
    synth.check_stack_names();
    let mut assembly = synth.assemble(&mut bodies);
    assembly.suppressed = suppressed;
    if synth.problems.is_empty() {
        Ok(assembly)
    } else {
        Err(SynthError::Invalid(synth.problems))
    }
}

/// The sections of one template, before the outputs and parameters other stacks need are
/// added.
#[derive(Default)]
struct TemplateBody {
    description: Option<String>,
    parameters: Map<String, Json>,
    mappings: Map<String, Json>,
    conditions: Map<String, Json>,
    resources: Map<String, Json>,
    outputs: Map<String, Json>,
}

impl Synthesizer {
    fn problem(&mut self, node: &Node, code: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: node.display_path(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Runs the security rule pack over every rendered template. A finding a suppression
    /// accepts is recorded in the resource's `Metadata` (and as a checkov skip where a
    /// checkov check covers it); any other is a problem. Checkov checks suppressed by id
    /// are written as skips on every resource they apply to.
    fn apply_rules(&mut self, bodies: &mut [TemplateBody]) -> Vec<SuppressedFinding> {
        let mut suppressed = Vec::new();
        for (position, body) in bodies.iter_mut().enumerate() {
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

    /// Gathers the problems recorded on nodes and runs every validation, in tree order.
    fn collect_issues(&mut self) {
        for node in self.root.descendants() {
            let issues = node.with(|data| data.issues.clone());
            // The checks are taken out while they run so that a check may read the tree.
            let checks = node.with_mut(|data| std::mem::take(&mut data.validations));
            let found: Vec<_> = checks.iter().flat_map(|check| check()).collect();
            node.with_mut(|data| data.validations = checks);
            for issue in issues.into_iter().chain(found) {
                self.problem(&node, &issue.code, issue.message);
            }
        }
    }

    /// Gathers each stack's elements in tree order. A sharded stack keeps its own elements
    /// and gives its units' elements to shard stacks, placed by [`shard::place`] under the
    /// record of the previous synthesis; the new record is kept for the assembly.
    fn collect_stacks(&mut self) {
        let previous = self.root.tree.borrow().placement.clone();
        for node in self.root.descendants() {
            if !node.is_stack() {
                continue;
            }
            let stack = Stack::from_node(node.clone());
            let stage = stack.stage();
            let sharding = stack.with_data(|data| data.props.sharding.clone());
            let mut own = Vec::new();
            let mut units: IndexMap<String, Vec<Node>> = IndexMap::new();
            for below in node.descendants().into_iter().skip(1) {
                let unit = sharding.as_ref().and_then(|_| below.shard_unit());
                if let (Some(key), true) = (&unit, below.is_asset()) {
                    self.problem(&below, "asset_in_shard_unit", format!("file assets are staged with their stack, and this one is in unit `{key}` of a sharded stack; declare the asset in the stack itself, outside the unit"));
                }
                if below.with_element(|_| ()).is_none() {
                    continue;
                }
                match unit {
                    Some(key) => units.entry(key).or_default().push(below),
                    None => own.push(below),
                }
            }
            let info = |artifact_id: String, name: String, elements: Vec<Node>| StackInfo {
                artifact_id,
                stage_id: stage.node().id(),
                name,
                env: stage.env(),
                stack: stack.clone(),
                shard: None,
                elements,
                dependencies: IndexSet::new(),
                shared_outputs: IndexMap::new(),
                deploy_time_parameters: IndexMap::new(),
            };
            // A sharded stack whose every element is in a unit is not deployed itself, nor
            // is one with no units yet and nothing of its own.
            if (units.is_empty() && sharding.is_none()) || !own.is_empty() {
                let position = self.stacks.len();
                for element in &own {
                    self.stack_of.insert(element.index, position);
                }
                self.stacks.push(info(node.path(), stack.stack_name(), own));
            }
            let Some(sharding) = sharding.filter(|_| !units.is_empty()) else {
                continue;
            };
            let env = stage.env();
            // Costs matter only to fit new units in; with none, every unit stays put.
            let known = previous.stacks.get(&node.path());
            let any_new = units.keys().any(|key| {
                known.is_none_or(|shards| !shards.values().flatten().any(|known| known == key))
            });
            let costs: IndexMap<String, shard::UnitCost> = units
                .iter()
                .map(|(key, elements)| {
                    let cost = if any_new {
                        unit_cost(elements, &env)
                    } else {
                        shard::UnitCost::default()
                    };
                    (key.clone(), cost)
                })
                .collect();
            let placed = shard::place(previous.stacks.get(&node.path()), &costs, &sharding);
            for (&number, keys) in &placed {
                let position = self.stacks.len();
                let elements: Vec<Node> = units
                    .iter()
                    .filter(|(key, _)| keys.contains(key))
                    .flat_map(|(_, elements)| elements.iter().cloned())
                    .collect();
                for element in &elements {
                    self.stack_of.insert(element.index, position);
                }
                let name = format!("{}-shard{number}", stack.stack_name());
                if !crate::stack::is_valid_stack_name(&name) {
                    self.problem(&node, "invalid_stack_name", format!("shard stack name `{name}` passes CloudFormation's 128 characters; shorten the stack's name"));
                }
                let mut shard_info = info(format!("{}-shard{number}", node.path()), name, elements);
                shard_info.shard = Some((number, keys.clone()));
                self.stacks.push(shard_info);
            }
            self.placement.stacks.insert(node.path(), placed);
        }
    }

    fn assign_logical_ids(&mut self) {
        for position in 0..self.stacks.len() {
            let mut taken: HashMap<String, Node> = HashMap::new();
            for node in self.stacks[position].elements.clone() {
                let override_id = node
                    .with_element(|e| e.logical_id_override.clone())
                    .flatten();
                let logical_id = match override_id {
                    Some(id) => {
                        if let Err(reason) = logical_id::check(&id) {
                            self.problem(
                                &node,
                                "invalid_logical_id",
                                format!("logical id override `{id}` {reason}"),
                            );
                        }
                        id
                    }
                    None => match logical_id::derive(&node.path_below_stack()) {
                        Ok(id) => id,
                        Err(reason) => {
                            self.problem(&node, "invalid_logical_id", format!("the logical id derived from this path {reason}; shorten or rename the ids on the path, or override the logical id"));
                            continue;
                        }
                    },
                };
                if let Some(other) = taken.get(&logical_id) {
                    let message = format!(
                        "`{}` and `{}` both get logical id `{logical_id}` in one template; rename one of them or override its logical id",
                        other.display_path(),
                        node.display_path()
                    );
                    self.problem(&node, "logical_id_collision", message);
                    continue;
                }
                taken.insert(logical_id.clone(), node.clone());
                self.logical_ids.insert(node.index, logical_id);
            }
        }
    }

    fn logical_id(&self, node: &Node) -> String {
        self.logical_ids
            .get(&node.index)
            .cloned()
            .unwrap_or_default()
    }

    fn render_stack(&mut self, position: usize) -> TemplateBody {
        let stack = self.stacks[position].stack.clone();
        let description = stack.with_data(|data| data.props.description.clone());
        let mut body = TemplateBody {
            description: match &self.stacks[position].shard {
                // CloudFormation allows 1024 bytes; the stack's own was checked against it.
                Some((number, _)) => {
                    let mut text = description.unwrap_or_else(|| "units".into());
                    let suffix = format!(" (shard {number})");
                    while text.len() + suffix.len() > 1024 {
                        text.pop();
                    }
                    Some(text + &suffix)
                }
                None => description,
            },
            ..TemplateBody::default()
        };
        for node in self.stacks[position].elements.clone() {
            if !self.logical_ids.contains_key(&node.index) {
                continue;
            }
            let logical_id = self.logical_id(&node);
            let kind = node.with_element(|e| match &e.body {
                ElementBody::Resource(_) => 0,
                ElementBody::Parameter(_) => 1,
                ElementBody::Output(_) => 2,
                ElementBody::Condition(_) => 3,
                ElementBody::Mapping(_) => 4,
            });
            match kind {
                Some(0) => {
                    let rendered = self.render_resource(&node, position);
                    body.resources.insert(logical_id, rendered);
                }
                Some(1) => {
                    let props = node
                        .with_element(|e| match &e.body {
                            ElementBody::Parameter(data) => Some(data.props.clone()),
                            _ => None,
                        })
                        .flatten()
                        .expect("kind 1 is a parameter");
                    body.parameters.insert(logical_id, render_parameter(&props));
                }
                Some(2) => {
                    let rendered = self.render_output(&node, position);
                    body.outputs.insert(logical_id, rendered);
                }
                Some(3) => {
                    let expression = node
                        .with_element(|e| match &e.body {
                            ElementBody::Condition(expression) => Some(expression.clone()),
                            _ => None,
                        })
                        .flatten()
                        .expect("kind 3 is a condition");
                    let rendered = self.render_condition(&expression, position, &node);
                    body.conditions.insert(logical_id, rendered);
                }
                _ => {
                    let entries = node
                        .with_element(|e| match &e.body {
                            ElementBody::Mapping(entries) => Some(entries.clone()),
                            _ => None,
                        })
                        .flatten()
                        .expect("kind 4 is a mapping");
                    let rendered: Map<String, Json> = entries
                        .iter()
                        .map(|(top, second)| {
                            let second: Map<String, Json> = second
                                .iter()
                                .map(|(key, value)| {
                                    (key.clone(), value.to_literal_json().unwrap_or(Json::Null))
                                })
                                .collect();
                            (top.clone(), Json::Object(second))
                        })
                        .collect();
                    body.mappings.insert(logical_id, Json::Object(rendered));
                }
            }
        }
        if body.resources.is_empty() && self.stacks[position].shard.is_some() {
            // A shard every unit has left: deploying it deletes what they had. CloudFormation
            // needs a resource; a wait condition handle has no properties and costs nothing.
            body.resources.insert(
                "EmptyShard".into(),
                json!({ "Type": "AWS::CloudFormation::WaitConditionHandle" }),
            );
        }
        if body.resources.is_empty() {
            self.problem(
                stack.node(),
                "stack_without_resources",
                "CloudFormation needs at least one resource in a template; add a resource or remove the stack",
            );
        }
        body
    }

    fn render_resource(&mut self, node: &Node, position: usize) -> Json {
        let data = node
            .with_element(|e| match &e.body {
                ElementBody::Resource(data) => Some(ResourceSnapshot::of(data)),
                _ => None,
            })
            .flatten()
            .expect("render_resource is called on resources");
        let mut referenced = IndexSet::new();
        let mut properties = Map::new();
        for (name, value) in &data.properties {
            let rendered = self.render_tracking(value, position, node, &mut referenced);
            properties.insert(name.clone(), rendered);
        }
        if data.tag_format != TagFormat::NotTaggable {
            self.apply_tags(node, data.tag_format, &mut properties);
        }
        let mut properties = Json::Object(properties);
        for (path, value) in &data.overrides {
            let value = value
                .as_ref()
                .map(|v| self.render_tracking(v, position, node, &mut referenced));
            if let Err(message) = apply_override(&mut properties, path, value) {
                self.problem(node, "override_path_not_found", message);
            }
        }
        if let Some(attachment) = data.spec {
            for issue in crate::schema::check_properties(
                attachment.spec,
                &properties,
                attachment.enums_checked_by_types,
            ) {
                self.problem(node, &issue.code, issue.message);
            }
        }
        let Json::Object(properties) = properties else {
            unreachable!("overrides never replace the properties object itself")
        };

        let mut out = Map::new();
        out.insert("Type".into(), Json::String(data.type_name.clone()));
        if let Some(condition) = &data.condition
            && let Some(name) = self.condition_name(condition, position, node)
        {
            out.insert("Condition".into(), Json::String(name));
        }
        let depends_on = self.depends_on(node, &data.depends_on, position, &referenced);
        if !depends_on.is_empty() {
            out.insert(
                "DependsOn".into(),
                Json::Array(depends_on.into_iter().map(Json::String).collect()),
            );
        }
        if !properties.is_empty() {
            out.insert("Properties".into(), Json::Object(properties));
        }
        if !data.metadata.is_empty() {
            let mut metadata = Map::new();
            for (key, value) in &data.metadata {
                let rendered = self.render(value, position, node);
                metadata.insert(key.clone(), rendered);
            }
            out.insert("Metadata".into(), Json::Object(metadata));
        }
        if let Some(policy) = data.deletion_policy {
            out.insert(
                "DeletionPolicy".into(),
                Json::String(policy.as_str().into()),
            );
        }
        if let Some(policy) = data.update_replace_policy {
            out.insert(
                "UpdateReplacePolicy".into(),
                Json::String(policy.as_str().into()),
            );
        }
        Json::Object(out)
    }

    /// The logical ids this resource must wait for. Targets in other stacks become stack
    /// dependencies; a target this resource already references is left out, since the
    /// reference orders them (and cfn-lint flags the redundant entry).
    fn depends_on(
        &mut self,
        node: &Node,
        targets: &[NodeRef],
        position: usize,
        referenced: &IndexSet<String>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for target in targets {
            let Some(target) = self.upgrade(target, node) else {
                continue;
            };
            let resources: Vec<Node> = target
                .descendants()
                .into_iter()
                .filter(|n| {
                    n.with_element(|e| matches!(e.body, ElementBody::Resource(_))) == Some(true)
                })
                .collect();
            if resources.is_empty() {
                self.problem(node, "depends_on_without_resources", format!("`{}` holds no resource to depend on; depend on a resource or a construct that has some", target.display_path()));
            }
            for resource in resources {
                if resource == *node {
                    self.problem(
                        node,
                        "depends_on_itself",
                        "a resource cannot depend on itself; remove the dependency",
                    );
                    continue;
                }
                let Some(&producer) = self.stack_of.get(&resource.index) else {
                    continue;
                };
                if producer == position {
                    let logical_id = self.logical_id(&resource);
                    if !referenced.contains(&logical_id) && !out.contains(&logical_id) {
                        out.push(logical_id);
                    }
                } else {
                    self.stacks[position].dependencies.insert(producer);
                }
            }
        }
        out
    }

    fn render_output(&mut self, node: &Node, position: usize) -> Json {
        let (value, description, export_name, condition) = node
            .with_element(|e| match &e.body {
                ElementBody::Output(data) => Some((
                    data.value.clone(),
                    data.description.clone(),
                    data.export_name.clone(),
                    data.condition.clone(),
                )),
                _ => None,
            })
            .flatten()
            .expect("render_output is called on outputs");
        let mut out = Map::new();
        if let Some(description) = description {
            out.insert("Description".into(), Json::String(description));
        }
        if let Some(condition) = condition
            && let Some(name) = self.condition_name(&condition, position, node)
        {
            out.insert("Condition".into(), Json::String(name));
        }
        let rendered = self.render(&value, position, node);
        out.insert("Value".into(), rendered);
        if let Some(export_name) = export_name {
            let rendered = self.render(&export_name, position, node);
            out.insert("Export".into(), json!({ "Name": rendered }));
        }
        Json::Object(out)
    }

    fn render_condition(&mut self, expression: &ConditionExpr, position: usize, at: &Node) -> Json {
        match expression {
            ConditionExpr::Equals(left, right) => {
                let left = self.render(left, position, at);
                let right = self.render(right, position, at);
                json!({ "Fn::Equals": [left, right] })
            }
            ConditionExpr::And(items) | ConditionExpr::Or(items) => {
                let name = if matches!(expression, ConditionExpr::And(_)) {
                    "Fn::And"
                } else {
                    "Fn::Or"
                };
                // CloudFormation accepts between 2 and 10 conditions in Fn::And and Fn::Or.
                if !(2..=10).contains(&items.len()) {
                    self.problem(
                        at,
                        "condition_operand_count",
                        format!(
                            "{name} takes 2 to 10 conditions, not {}; regroup them",
                            items.len()
                        ),
                    );
                }
                let rendered: Vec<Json> = items
                    .iter()
                    .map(|item| self.render_condition(item, position, at))
                    .collect();
                json!({ name: rendered })
            }
            ConditionExpr::Not(inner) => {
                let inner = self.render_condition(inner, position, at);
                json!({ "Fn::Not": [inner] })
            }
            ConditionExpr::Condition(target) => match self.condition_name(target, position, at) {
                Some(name) => json!({ "Condition": name }),
                None => Json::Null,
            },
        }
    }

    /// The logical id of a condition, which must live in the stack being rendered.
    fn condition_name(&mut self, target: &NodeRef, position: usize, at: &Node) -> Option<String> {
        let target = self.upgrade(target, at)?;
        if self.stack_of.get(&target.index) != Some(&position) {
            self.problem(at, "condition_in_other_stack", format!("condition `{}` belongs to another stack; conditions apply only within their own stack, so declare one in this stack", target.display_path()));
            return None;
        }
        Some(self.logical_id(&target))
    }

    /// Upgrades a reference, reporting a reference into another (or a dropped) app.
    fn upgrade(&mut self, target: &NodeRef, at: &Node) -> Option<Node> {
        match target.upgrade() {
            Some(node) if Rc::ptr_eq(&node.tree, &self.root.tree) => Some(node),
            _ => {
                self.problem(at, "cross_app_reference", "this refers to a construct of another app; an app can only reference its own constructs, so move both into one app or pass the value as a literal");
                None
            }
        }
    }

    fn render(&mut self, expr: &Expr, position: usize, at: &Node) -> Json {
        let mut referenced = IndexSet::new();
        self.render_tracking(expr, position, at, &mut referenced)
    }

    /// Renders a value for the template of stack `position`, recording in `referenced` the
    /// logical ids of same-stack resources it refers to.
    fn render_tracking(
        &mut self,
        expr: &Expr,
        position: usize,
        at: &Node,
        referenced: &mut IndexSet<String>,
    ) -> Json {
        let mut render =
            |this: &mut Self, e: &Expr| this.render_tracking(e, position, at, referenced);
        match expr {
            Expr::Null => Json::Null,
            Expr::Bool(b) => Json::Bool(*b),
            Expr::Number(n) => Json::Number(n.clone()),
            Expr::String(s) => Json::String(s.clone()),
            Expr::List(items) => Json::Array(items.iter().map(|item| render(self, item)).collect()),
            Expr::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), render(self, v)))
                    .collect(),
            ),
            Expr::Pseudo(pseudo) => json!({ "Ref": pseudo.name() }),
            Expr::Ref(target) => self.render_reference(target, None, position, at, referenced),
            Expr::GetAtt(target, attribute) => {
                self.render_reference(target, Some(attribute), position, at, referenced)
            }
            Expr::Sub(template, variables) => {
                self.render_sub(template, variables, position, at, referenced)
            }
            Expr::Join(delimiter, list) => json!({ "Fn::Join": [delimiter, render(self, list)] }),
            Expr::Select(index, list) => {
                json!({ "Fn::Select": [render(self, index), render(self, list)] })
            }
            Expr::Split(delimiter, source) => {
                json!({ "Fn::Split": [delimiter, render(self, source)] })
            }
            Expr::If(condition, then, otherwise) => {
                let name = self.condition_name(condition, position, at);
                json!({ "Fn::If": [name, render(self, then), render(self, otherwise)] })
            }
            Expr::ImportValue(name) => json!({ "Fn::ImportValue": render(self, name) }),
            Expr::GetStackOutput(args) => {
                let mut out = Map::new();
                out.insert("StackName".into(), render(self, &args.stack_name));
                out.insert("OutputName".into(), render(self, &args.output_name));
                if let Some(region) = &args.region {
                    out.insert("Region".into(), render(self, region));
                }
                if let Some(role_arn) = &args.role_arn {
                    out.insert("RoleArn".into(), render(self, role_arn));
                }
                json!({ "Fn::GetStackOutput": out })
            }
            Expr::Base64(value) => json!({ "Fn::Base64": render(self, value) }),
            Expr::GetAzs(region) => json!({ "Fn::GetAZs": render(self, region) }),
            Expr::Cidr(block, count, bits) => {
                json!({ "Fn::Cidr": [render(self, block), render(self, count), render(self, bits)] })
            }
            Expr::FindInMap(mapping, top, second) => {
                let name = self.upgrade(mapping, at).and_then(|mapping| {
                    if self.stack_of.get(&mapping.index) == Some(&position) {
                        Some(self.logical_id(&mapping))
                    } else {
                        self.problem(at, "mapping_in_other_stack", format!("mapping `{}` belongs to another stack; declare the mapping in the stack that reads it", mapping.display_path()));
                        None
                    }
                });
                json!({ "Fn::FindInMap": [name, render(self, top), render(self, second)] })
            }
        }
    }

    fn render_sub(
        &mut self,
        template: &str,
        variables: &IndexMap<String, Expr>,
        position: usize,
        at: &Node,
        referenced: &mut IndexSet<String>,
    ) -> Json {
        let named = sub_variables(template);
        for name in &named {
            if !variables.contains_key(name) && Pseudo::from_name(name).is_none() {
                self.problem(at, "sub_unknown_variable", format!("`${{{name}}}` in Fn::Sub is neither a variable given with the template nor a pseudo parameter; pass the value as a variable (write `${{!{name}}}` for a literal `${{{name}}}`)"));
            }
        }
        for name in variables.keys() {
            if !named.contains(name) {
                self.problem(at, "sub_unused_variable", format!("variable `{name}` is not used in the Fn::Sub template; remove it or use `${{{name}}}`"));
            }
        }
        if variables.is_empty() {
            // Without any `${`, the template is a plain string and Fn::Sub is noise.
            if template.contains("${") {
                json!({ "Fn::Sub": template })
            } else {
                Json::String(template.to_owned())
            }
        } else {
            let rendered: Map<String, Json> = variables
                .iter()
                .map(|(name, value)| {
                    (
                        name.clone(),
                        self.render_tracking(value, position, at, referenced),
                    )
                })
                .collect();
            json!({ "Fn::Sub": [template, rendered] })
        }
    }

    /// Renders `Ref` (attribute `None`) or `Fn::GetAtt` of a node, wiring a reference to
    /// another stack through an export or a deploy-time parameter.
    fn render_reference(
        &mut self,
        target: &NodeRef,
        attribute: Option<&String>,
        position: usize,
        at: &Node,
        referenced: &mut IndexSet<String>,
    ) -> Json {
        let Some(target) = self.upgrade(target, at) else {
            return Json::Null;
        };
        let section = target.with_element(|e| e.body.section());
        let Some(&producer) = self.stack_of.get(&target.index) else {
            // Reported where the element was created: it is outside any stack.
            return Json::Null;
        };
        let is_output = section == Some("Outputs");
        match (section, attribute) {
            (Some("Resources"), _) | (Some("Parameters"), None) | (Some("Outputs"), None) => {}
            _ => {
                self.problem(at, "invalid_reference", format!("`{}` cannot be referenced this way; only resources, parameters and outputs are referenced, and only resources have attributes", target.display_path()));
                return Json::Null;
            }
        }
        let logical_id = self.logical_id(&target);
        if producer == position {
            if is_output {
                return self.render_tracking(&output_value(&target), position, at, referenced);
            }
            if section == Some("Resources") {
                referenced.insert(logical_id.clone());
            }
            return match attribute {
                None => json!({ "Ref": logical_id }),
                Some(attribute) => json!({ "Fn::GetAtt": [logical_id, attribute] }),
            };
        }

        // A reference to another stack: deploy the producer first, then publish the value.
        self.stacks[position].dependencies.insert(producer);
        let (output_name, producer_value) =
            if is_output && self.stacks[producer].env != self.stacks[position].env {
                // The deploy engine reads the user's own output directly.
                (logical_id.clone(), None)
            } else {
                let suffix: String = attribute
                    .map(|a| a.chars().filter(char::is_ascii_alphanumeric).collect())
                    .unwrap_or_default();
                let output_name = format!("Export{logical_id}{suffix}");
                let value = if is_output {
                    self.render(&output_value(&target), producer, &target)
                } else {
                    match attribute {
                        None => json!({ "Ref": logical_id }),
                        Some(attribute) => json!({ "Fn::GetAtt": [logical_id, attribute] }),
                    }
                };
                (output_name, Some(value))
            };

        if self.stacks[producer].env == self.stacks[position].env {
            let export_name = format!("{}:{output_name}", self.stacks[producer].name);
            // The same output may already be read across accounts: it gains the export.
            let shared = self.stacks[producer]
                .shared_outputs
                .entry(output_name)
                .or_insert(SharedOutput {
                    value: producer_value.expect("an exported value"),
                    export_name: None,
                });
            shared.export_name = Some(export_name.clone());
            json!({ "Fn::ImportValue": export_name })
        } else {
            if let Some(value) = producer_value {
                // Never drop the export of an output also imported in the same account.
                self.stacks[producer]
                    .shared_outputs
                    .entry(output_name.clone())
                    .or_insert(SharedOutput {
                        value,
                        export_name: None,
                    });
            }
            // The producer's construct id, not its stack name (which carries the app's).
            let producer_prefix: String = self.stacks[producer]
                .stack
                .node()
                .id()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let output_part = output_name.strip_prefix("Export").unwrap_or(&output_name);
            let producer_id = self.stacks[producer].artifact_id.clone();
            let mut parameter = format!("{producer_prefix}{output_part}");
            // Two producers of one construct id in different stages: the stage tells them
            // apart, so that neither value overwrites the other.
            if self.stacks[position]
                .deploy_time_parameters
                .get(&parameter)
                .is_some_and(|taken| taken.producer_stack != producer_id)
            {
                let qualified: String = producer_id
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                parameter = format!("{qualified}{output_part}");
            }
            self.stacks[position].deploy_time_parameters.insert(
                parameter.clone(),
                DeployTimeParameter {
                    parameter: parameter.clone(),
                    producer_stack: producer_id,
                    output: output_name,
                },
            );
            json!({ "Ref": parameter })
        }
    }

    /// Merges the tags inherited from the resource's scopes into its `Tags` property.
    fn apply_tags(&mut self, node: &Node, format: TagFormat, properties: &mut Map<String, Json>) {
        let inherited = tags_at(node);
        if inherited.is_empty() {
            return;
        }
        let existing = properties.entry("Tags").or_insert_with(|| match format {
            TagFormat::Map => Json::Object(Map::new()),
            _ => Json::Array(Vec::new()),
        });
        match (format, existing) {
            (TagFormat::KeyValueList, Json::Array(items)) => {
                let explicit: Vec<String> = items.iter().filter_map(|item| item.get("Key")?.as_str().map(str::to_owned)).collect();
                for (key, value) in inherited {
                    if !explicit.contains(&key) {
                        items.push(json!({ "Key": key, "Value": value }));
                    }
                }
            }
            (TagFormat::Map, Json::Object(entries)) => {
                for (key, value) in inherited {
                    entries.entry(key).or_insert(Json::String(value));
                }
            }
            _ => self.problem(node, "tags_not_mergeable", "the resource's own Tags property is not a literal list or map, so inherited tags cannot be added to it; set Tags as a literal or stop inheriting tags here"),
        }
    }

    fn add_explicit_dependencies(&mut self) {
        for position in 0..self.stacks.len() {
            let node = self.stacks[position].stack.node().clone();
            let targets = self.stacks[position]
                .stack
                .with_data(|data| data.dependencies.clone());
            for target in targets {
                let Some(target) = self.upgrade(&target, &node) else {
                    continue;
                };
                if target == node {
                    self.problem(
                        &node,
                        "stack_depends_on_itself",
                        "a stack cannot depend on itself; remove the dependency",
                    );
                    continue;
                }
                // A sharded stack is itself (when it holds elements of its own) and its
                // shards; each depends on what it depends on, and whoever depends on it
                // depends on all of them.
                let producers: Vec<usize> = (0..self.stacks.len())
                    .filter(|&other| self.stacks[other].stack.node() == &target)
                    .collect();
                self.stacks[position].dependencies.extend(producers);
            }
        }
    }

    fn check_dependency_cycles(&mut self) {
        // Depth-first search with colours; the first back edge found closes a cycle.
        let count = self.stacks.len();
        let mut state = vec![0u8; count];
        let mut path: Vec<usize> = Vec::new();
        fn visit(
            at: usize,
            stacks: &[StackInfo],
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[at] = 1;
            path.push(at);
            for &next in &stacks[at].dependencies {
                if state[next] == 1 {
                    let start = path.iter().position(|&p| p == next).expect("on the path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                if state[next] == 0
                    && let Some(cycle) = visit(next, stacks, state, path)
                {
                    return Some(cycle);
                }
            }
            path.pop();
            state[at] = 2;
            None
        }
        for start in 0..count {
            if state[start] == 0
                && let Some(cycle) = visit(start, &self.stacks, &mut state, &mut path)
            {
                let names: Vec<String> = cycle
                    .iter()
                    .map(|&i| self.stacks[i].artifact_id.clone())
                    .collect();
                let node = self.stacks[cycle[0]].stack.node().clone();
                self.problem(&node, "dependency_cycle", format!("stacks depend on each other in a cycle ({}), so none can deploy first; move the shared resources into one stack or drop one of the references", names.join(" -> ")));
                return;
            }
        }
    }

    fn check_stack_names(&mut self) {
        let mut seen: HashMap<(String, String, String), String> = HashMap::new();
        for position in 0..self.stacks.len() {
            let info = &self.stacks[position];
            let key = (
                info.env.account.clone(),
                info.env.region.clone(),
                info.name.clone(),
            );
            let id = info.artifact_id.clone();
            if let Some(other) = seen.get(&key) {
                let message = format!(
                    "stacks `{other}` and `{id}` are both named `{}` in account {} region {}; set a distinct `stack_name` on one",
                    key.2, key.0, key.1
                );
                let node = info.stack.node().clone();
                self.problem(&node, "duplicate_stack_name", message);
            } else {
                seen.insert(key, id);
            }
        }
    }

    fn assemble(&mut self, bodies: &mut [TemplateBody]) -> CloudAssembly {
        let mut stack_manifests = Vec::new();
        let mut asset_files: IndexMap<String, Vec<u8>> = IndexMap::new();
        let mut files = Vec::new();
        for (position, body) in bodies.iter_mut().enumerate() {
            let info = &self.stacks[position];
            let mut shared: Vec<(&String, &SharedOutput)> = info.shared_outputs.iter().collect();
            shared.sort_by(|a, b| a.0.cmp(b.0));
            let mut generated_names = Vec::new();
            for (name, output) in shared {
                let mut rendered = Map::new();
                rendered.insert(
                    "Description".into(),
                    Json::String(
                        "read by other stacks of this app; removing it breaks them".into(),
                    ),
                );
                rendered.insert("Value".into(), output.value.clone());
                if let Some(export_name) = &output.export_name {
                    rendered.insert("Export".into(), json!({ "Name": export_name }));
                }
                generated_names.push((name.clone(), "Outputs"));
                body.outputs.insert(name.clone(), Json::Object(rendered));
            }
            for parameter in info.deploy_time_parameters.values() {
                let description = format!(
                    "output {} of stack {}, filled in by the deploy engine",
                    parameter.output, parameter.producer_stack
                );
                generated_names.push((parameter.parameter.clone(), "Parameters"));
                body.parameters.insert(
                    parameter.parameter.clone(),
                    json!({ "Type": "String", "Description": description }),
                );
            }
            let node = info.stack.node().clone();
            let user_ids: IndexSet<String> = info
                .elements
                .iter()
                .filter_map(|n| self.logical_ids.get(&n.index).cloned())
                .collect();
            let mut collisions = Vec::new();
            for (name, section) in &generated_names {
                if user_ids.contains(name) {
                    collisions.push(format!("the generated entry `{name}` of {section} has the logical id of a construct in this stack; rename that construct or override its logical id"));
                }
            }
            let template = render_template(body);
            let mut bytes =
                serde_json::to_vec_pretty(&template).expect("a JSON value always serializes");
            bytes.push(b'\n');

            let counts = [
                (
                    body.resources.len(),
                    limits::RESOURCES,
                    "resources",
                    "too_many_resources",
                ),
                (
                    body.parameters.len(),
                    limits::PARAMETERS,
                    "parameters",
                    "too_many_parameters",
                ),
                (
                    body.outputs.len(),
                    limits::OUTPUTS,
                    "outputs",
                    "too_many_outputs",
                ),
                (
                    body.mappings.len(),
                    limits::MAPPINGS,
                    "mappings",
                    "too_many_mappings",
                ),
            ];
            let mut limit_problems = Vec::new();
            for (count, limit, what, code) in counts {
                if count > limit {
                    limit_problems.push((code, format!("the template has {count} {what}, more than CloudFormation's limit of {limit}; split the stack")));
                }
            }
            if bytes.len() > limits::TEMPLATE_BYTES {
                limit_problems.push(("template_too_large", format!("the template is {} bytes, more than CloudFormation's limit of {}; split the stack", bytes.len(), limits::TEMPLATE_BYTES)));
            }

            let info = &self.stacks[position];
            let template_path = format!(
                "{}/{}.template.json",
                info.stage_id,
                info.artifact_id
                    .rsplit('/')
                    .next()
                    .expect("an artifact id has a last part")
            );
            let tags = stack_tags(&info.stack);
            let construct_paths = info
                .elements
                .iter()
                .filter(|n| {
                    n.with_element(|e| matches!(e.body, ElementBody::Resource(_))) == Some(true)
                })
                .filter_map(|n| Some((self.logical_ids.get(&n.index)?.clone(), n.path())))
                .collect();
            stack_manifests.push(StackManifest {
                id: info.artifact_id.clone(),
                stack_name: info.name.clone(),
                stage: info.stage_id.clone(),
                account: info.env.account.clone(),
                region: info.env.region.clone(),
                template: template_path.clone(),
                template_sha256: hex(&Sha256::digest(&bytes)),
                template_bytes: bytes.len() as u64,
                template_requires_upload: bytes.len() > limits::INLINE_TEMPLATE_BYTES,
                dependencies: info
                    .dependencies
                    .iter()
                    .map(|&d| self.stacks[d].artifact_id.clone())
                    .collect(),
                parameters: info.deploy_time_parameters.values().cloned().collect(),
                termination_protection: info
                    .stack
                    .with_data(|data| data.props.termination_protection),
                tags,
                construct_paths,
                assets: Vec::new(),
                shard: info.shard.as_ref().map(|(number, units)| ShardManifest {
                    of: info.stack.node().path(),
                    number: *number,
                    units: units.clone(),
                }),
            });
            files.push(AssemblyFile {
                path: template_path,
                contents: bytes,
            });
            let assets = self.stage_assets(position, &mut asset_files);
            stack_manifests.last_mut().expect("just pushed").assets = assets;
            for message in collisions {
                self.problem(&node, "logical_id_collision", message);
            }
            for (code, message) in limit_problems {
                self.problem(&node, code, message);
            }
        }
        let manifest = Manifest {
            version: Manifest::VERSION,
            app: self.root.with(|data| match &data.kind {
                NodeKind::App { name } => name.clone(),
                _ => String::new(),
            }),
            stages: self
                .root
                .children()
                .into_iter()
                .filter_map(|child| {
                    child.with(|data| match &data.kind {
                        NodeKind::Stage(stage) => Some(StageManifest {
                            id: data.id.clone(),
                            account: stage.env.account.clone(),
                            region: stage.env.region.clone(),
                        }),
                        _ => None,
                    })
                })
                .collect(),
            stacks: stack_manifests,
        };
        let mut manifest_bytes =
            serde_json::to_vec_pretty(&manifest).expect("the manifest always serializes");
        manifest_bytes.push(b'\n');
        files.insert(
            0,
            AssemblyFile {
                path: "manifest.json".into(),
                contents: manifest_bytes,
            },
        );
        files.extend(
            asset_files
                .into_iter()
                .map(|(path, contents)| AssemblyFile { path, contents }),
        );
        if !self.placement.stacks.is_empty() {
            files.insert(
                1,
                AssemblyFile {
                    path: Placement::FILE.into(),
                    contents: self.placement.to_json_bytes(),
                },
            );
        }
        CloudAssembly {
            manifest,
            suppressed: Vec::new(),
            placement: self.placement.clone(),
            files,
        }
    }

    /// The assets of a stack, with their files staged under `assets/<hash>/` (once per
    /// content, however many stacks share it).
    fn stage_assets(
        &self,
        position: usize,
        staged: &mut IndexMap<String, Vec<u8>>,
    ) -> Vec<AssetManifest> {
        let mut out = Vec::new();
        // Assets stay with the sharded stack (units may not hold any); a shard has none.
        if self.stacks[position].shard.is_some() {
            return out;
        }
        for child in self.stacks[position].stack.node().descendants() {
            let entry = child.with(|data| match &data.kind {
                NodeKind::Asset(asset) => {
                    let files = asset.files.as_ref().ok()?;
                    let source = format!("assets/{}", asset.hash);
                    for (name, contents) in files {
                        staged
                            .entry(format!("{source}/{name}"))
                            .or_insert_with(|| contents.clone());
                    }
                    Some(AssetManifest {
                        id: child.path(),
                        sha256: asset.hash.clone(),
                        source,
                        files: files.iter().map(|(name, _)| name.clone()).collect(),
                        bucket_name: asset.destination.bucket_name.clone(),
                        object_key_prefix: crate::asset::object_prefix(asset),
                    })
                }
                _ => None,
            });
            out.extend(entry);
        }
        out
    }
}

/// What synthesis needs of a resource, copied out so that rendering may borrow the tree.
struct ResourceSnapshot {
    type_name: String,
    properties: IndexMap<String, Expr>,
    overrides: Vec<(Vec<String>, Option<Expr>)>,
    depends_on: Vec<NodeRef>,
    deletion_policy: Option<crate::resource::DeletionPolicy>,
    update_replace_policy: Option<crate::resource::DeletionPolicy>,
    condition: Option<NodeRef>,
    metadata: IndexMap<String, Expr>,
    tag_format: TagFormat,
    spec: Option<crate::resource::SpecAttachment>,
}

impl ResourceSnapshot {
    fn of(data: &ResourceData) -> ResourceSnapshot {
        ResourceSnapshot {
            type_name: data.type_name.clone(),
            properties: data.properties.clone(),
            overrides: data
                .overrides
                .iter()
                .map(|o| (o.path.clone(), o.value.clone()))
                .collect(),
            depends_on: data.depends_on.clone(),
            deletion_policy: data.deletion_policy,
            update_replace_policy: data.update_replace_policy,
            condition: data.condition.clone(),
            metadata: data.metadata.clone(),
            tag_format: data.tag_format,
            spec: data.spec,
        }
    }
}

/// The value of an output node.
fn output_value(node: &Node) -> Expr {
    node.with_element(|e| match &e.body {
        ElementBody::Output(data) => Some(data.value.clone()),
        _ => None,
    })
    .flatten()
    .expect("the caller checked that the node is an output")
}

fn render_parameter(props: &ParameterProps) -> Json {
    let mut out = Map::new();
    out.insert(
        "Type".into(),
        Json::String(props.parameter_type.name().to_owned()),
    );
    if let Some(description) = &props.description {
        out.insert("Description".into(), Json::String(description.clone()));
    }
    if let Some(default) = &props.default {
        out.insert("Default".into(), Json::String(default.clone()));
    }
    if !props.allowed_values.is_empty() {
        out.insert("AllowedValues".into(), json!(props.allowed_values));
    }
    if let Some(pattern) = &props.allowed_pattern {
        out.insert("AllowedPattern".into(), Json::String(pattern.clone()));
    }
    if let Some(description) = &props.constraint_description {
        out.insert(
            "ConstraintDescription".into(),
            Json::String(description.clone()),
        );
    }
    if let Some(min) = props.min_length {
        out.insert("MinLength".into(), json!(min));
    }
    if let Some(max) = props.max_length {
        out.insert("MaxLength".into(), json!(max));
    }
    if let Some(min) = props.min_value {
        out.insert("MinValue".into(), number(min));
    }
    if let Some(max) = props.max_value {
        out.insert("MaxValue".into(), number(max));
    }
    if props.no_echo {
        out.insert("NoEcho".into(), Json::Bool(true));
    }
    Json::Object(out)
}

/// A number as an integer when it is one, so that `5.0` renders as `5`.
fn number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

fn render_template(body: &TemplateBody) -> Json {
    let mut template = Map::new();
    template.insert(
        "AWSTemplateFormatVersion".into(),
        Json::String("2010-09-09".into()),
    );
    if let Some(description) = &body.description {
        template.insert("Description".into(), Json::String(description.clone()));
    }
    let sections = [
        ("Parameters", &body.parameters),
        ("Mappings", &body.mappings),
        ("Conditions", &body.conditions),
        ("Resources", &body.resources),
        ("Outputs", &body.outputs),
    ];
    for (name, section) in sections {
        if !section.is_empty() {
            template.insert(name.into(), Json::Object(section.clone()));
        }
    }
    Json::Object(template)
}

/// The tags set on the app, the stage and the stack, nearer ones winning, and the
/// ownership tags naming the app and the stage, sorted by key.
fn stack_tags(stack: &Stack) -> IndexMap<String, String> {
    let mut tags = tags_at(stack.node());
    tags.insert(crate::manifest::APP_TAG.to_owned(), stack.app_name());
    tags.insert(
        crate::manifest::STAGE_TAG.to_owned(),
        stack.stage().node().id(),
    );
    tags.into_iter().collect()
}

/// The tags set on a node and its scopes, nearer ones winning, sorted by key.
fn tags_at(node: &Node) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for scope in node
        .ancestors()
        .into_iter()
        .chain(std::iter::once(node.clone()))
    {
        tags.extend(scope.with(|data| data.tags.clone()));
    }
    tags
}

/// What a unit's elements add to a shard, estimated before rendering: its resources, its
/// own parameters and outputs plus one parameter per value it reads from another account
/// or region, and its bytes with the tags it inherits.
fn unit_cost(elements: &[Node], env: &Environment) -> shard::UnitCost {
    let mut cost = shard::UnitCost::default();
    let mut read: Vec<(NodeRef, Option<String>)> = Vec::new();
    for node in elements {
        // The logical id is at most the path's length, quoted, with its colon and comma.
        let id_bytes = node.path().len() + 12;
        let tags = tags_at(node);
        let element = node.with_element(|element| match &element.body {
            ElementBody::Resource(data) => {
                let mut properties: Map<String, Json> = data
                    .properties
                    .iter()
                    .map(|(key, value)| (key.clone(), shard::approximate_json(value)))
                    .collect();
                for value in data.properties.values().chain(data.metadata.values()) {
                    shard::references(value, &mut read);
                }
                for (at, value) in data
                    .overrides
                    .iter()
                    .filter_map(|o| Some((o.path.join("."), o.value.as_ref()?)))
                {
                    shard::references(value, &mut read);
                    properties.insert(at, shard::approximate_json(value));
                }
                if data.tag_format != TagFormat::NotTaggable && !tags.is_empty() {
                    let list: Vec<Json> = tags
                        .iter()
                        .map(|(key, value)| json!({ "Key": key, "Value": value }))
                        .collect();
                    properties.insert("Tags".into(), Json::Array(list));
                }
                let metadata: Map<String, Json> = data
                    .metadata
                    .iter()
                    .map(|(key, value)| (key.clone(), shard::approximate_json(value)))
                    .collect();
                let depends_on: Vec<Json> = data
                    .depends_on
                    .iter()
                    .map(|_| Json::String("x".repeat(40)))
                    .collect();
                (
                    1,
                    0,
                    json!({
                        "Type": data.type_name,
                        "Properties": properties,
                        "Metadata": metadata,
                        "DependsOn": depends_on,
                    }),
                )
            }
            ElementBody::Parameter(_) | ElementBody::Output(_) => {
                (0, 1, Json::String("x".repeat(300)))
            }
            ElementBody::Condition(_) | ElementBody::Mapping(_) => {
                (0, 0, Json::String("x".repeat(300)))
            }
        });
        if let Some((resources, parameters_and_outputs, rendered)) = element {
            cost.resources += resources;
            cost.parameters_and_outputs += parameters_and_outputs;
            cost.bytes += id_bytes + shard::pretty_bytes(&rendered, 2);
        }
    }
    let mut elsewhere = std::collections::HashSet::new();
    for (target, attribute) in read {
        let Some(target) = target.upgrade() else {
            continue;
        };
        let other_env = target
            .stack_node()
            .map(|stack| Stack::from_node(stack).stage().env())
            .is_some_and(|target_env| &target_env != env);
        if other_env {
            elsewhere.insert((target.index, attribute));
        }
    }
    cost.parameters_and_outputs += elsewhere.len();
    cost
}

/// The names in `${..}` of a `Fn::Sub` template, without the `${!..}` escapes.
pub(crate) fn sub_variables(template: &str) -> IndexSet<String> {
    let mut names = IndexSet::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.insert(name.to_owned());
        }
        rest = &after[end + 1..];
    }
    names
}

fn apply_override(
    properties: &mut Json,
    path: &[String],
    value: Option<Json>,
) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("override paths are never empty");
    let mut current: &mut Json = properties;
    for segment in parents {
        current = match current {
            Json::Object(entries) => entries
                .entry(segment.clone())
                .or_insert_with(|| Json::Object(Map::new())),
            Json::Array(items) => {
                let index: usize = segment.parse().map_err(|_| {
                    format!(
                        "override path `{}` indexes a list with `{segment}`; use a number",
                        path.join(".")
                    )
                })?;
                let len = items.len();
                items.get_mut(index).ok_or_else(|| {
                    format!(
                        "override path `{}` indexes item {index} of a list of {len}; fix the index",
                        path.join(".")
                    )
                })?
            }
            _ => {
                return Err(format!(
                    "override path `{}` passes through a value that is neither an object nor a list at `{segment}`; fix the path",
                    path.join(".")
                ));
            }
        };
    }
    match (current, value) {
        (Json::Object(entries), Some(value)) => {
            entries.insert(last.clone(), value);
        }
        (Json::Object(entries), None) => {
            entries.shift_remove(last);
        }
        (Json::Array(items), value) => {
            let index: usize = last.parse().map_err(|_| {
                format!(
                    "override path `{}` indexes a list with `{last}`; use a number",
                    path.join(".")
                )
            })?;
            if index >= items.len() {
                return Err(format!(
                    "override path `{}` indexes item {index} of a list of {}; fix the index",
                    path.join("."),
                    items.len()
                ));
            }
            match value {
                Some(value) => items[index] = value,
                None => {
                    items.remove(index);
                }
            }
        }
        _ => {
            return Err(format!(
                "override path `{}` ends inside a value that is neither an object nor a list; fix the path",
                path.join(".")
            ));
        }
    }
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
