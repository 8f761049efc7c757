//! Rendering each stack's elements to template JSON: references resolved (in the stack, by
//! export and import in the same account and region, by a deploy-time parameter across
//! accounts), tags merged, overrides applied, and each resource checked against its schema.

use super::*;
use crate::resource::PropertyOverride;

impl Synthesizer {
    pub(super) fn render_stack(&mut self, position: usize) -> TemplateBody {
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
        // Taken out while the loop reads them (nothing in it reads this stack's list).
        let elements = std::mem::take(&mut self.stacks[position].elements);
        for node in &elements {
            if !self.logical_ids.contains_key(&node.index) {
                continue;
            }
            let logical_id = self.logical_id(node);
            let kind = node.with_element(|e| match &e.body {
                ElementBody::Resource(_) => 0,
                ElementBody::Parameter(_) => 1,
                ElementBody::Output(_) => 2,
                ElementBody::Condition(_) => 3,
                ElementBody::Mapping(_) => 4,
            });
            match kind {
                Some(0) => {
                    let rendered = self.render_resource(node, position);
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
                    if self.stacks[position].is_stack_set() && props.default.is_none() {
                        self.problem(node, "parameter_in_stack_set", "a StackSet is deployed with no parameter values, so a parameter without a default fails in every account; give it a default or pass the value as a literal");
                    }
                    body.parameters.insert(logical_id, render_parameter(&props));
                }
                Some(2) => {
                    if self.stacks[position].is_stack_set() {
                        self.problem(node, "output_in_stack_set", "a StackSet's outputs stay in the accounts it deploys to, where no other stack and no command reads them; remove the output");
                        continue;
                    }
                    let rendered = self.render_output(node, position);
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
                    let rendered = self.render_condition(&expression, position, node);
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
        self.stacks[position].elements = elements;
        if self.stacks[position].is_stack_set() {
            self.add_account_conditions(position, &mut body);
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

    /// IAM names are global to an account: a StackSet deployed to more than one region
    /// would create a named IAM resource once per region, and every region after the first
    /// fails.
    fn check_global_names(
        &mut self,
        node: &Node,
        position: usize,
        type_name: &str,
        properties: &Map<String, Json>,
    ) {
        const NAMES: [&str; 5] = [
            "RoleName",
            "ManagedPolicyName",
            "InstanceProfileName",
            "GroupName",
            "UserName",
        ];
        let regions = self.stacks[position]
            .stack
            .with_data(|data| data.props.stack_set.as_ref().map(|set| set.regions.len()));
        if regions.is_some_and(|regions| regions > 1)
            && type_name.starts_with("AWS::IAM::")
            && let Some(name) = NAMES.iter().find(|name| properties.contains_key(**name))
        {
            self.problem(node, "named_iam_in_many_regions", format!("this {type_name} has a {name}, and IAM names are global to an account, but the StackSet deploys to {} regions: every region after the first would fail to create it; deploy IAM resources with a StackSet of one region", regions.unwrap_or_default()));
        }
    }

    /// In a StackSet's template: the condition of each account its resources are confined
    /// to, and, when every resource is confined, a placeholder that every account gets, so
    /// that an account of the units without resources of its own still has a valid stack.
    fn add_account_conditions(&mut self, position: usize, body: &mut TemplateBody) {
        let stack = self.stacks[position].stack.clone();
        for account in self.stacks[position].confined_accounts.clone() {
            let name = account_condition(&account);
            if body.conditions.contains_key(&name) || body.resources.contains_key(&name) {
                self.problem(stack.node(), "duplicate_logical_id", format!("`{name}` is the condition of the StackSet's resources confined to account {account}, and an element of the stack has the same logical id; rename that element"));
                continue;
            }
            body.conditions.insert(
                name,
                json!({ "Fn::Equals": [{ "Ref": "AWS::AccountId" }, account] }),
            );
        }
        let every_resource_confined = body
            .resources
            .values()
            .all(|resource| resource.get("Condition").is_some());
        if every_resource_confined {
            if body.resources.contains_key(STACK_SET_PLACEHOLDER) {
                self.problem(stack.node(), "duplicate_logical_id", format!("`{STACK_SET_PLACEHOLDER}` is the placeholder of the StackSet's accounts without resources, and an element of the stack has the same logical id; rename that element"));
            }
            body.resources.insert(
                STACK_SET_PLACEHOLDER.into(),
                json!({ "Type": "AWS::CloudFormation::WaitConditionHandle" }),
            );
        }
    }

    pub(super) fn render_resource(&mut self, node: &Node, position: usize) -> Json {
        // The values are lent out of the tree while they render (rendering never reads a
        // resource's own values, only other nodes' ids, scopes and tags) and put back after,
        // so that a large app is not copied once more.
        let data = node
            .with_element_mut(|e| match &mut e.body {
                ElementBody::Resource(data) => Some(ResourceSnapshot::lend(data)),
                _ => None,
            })
            .flatten()
            .expect("render_resource is called on resources");
        let rendered = self.render_resource_values(node, position, &data);
        node.with_element_mut(|e| {
            if let ElementBody::Resource(resource) = &mut e.body {
                data.give_back(resource);
            }
        });
        rendered
    }

    fn render_resource_values(
        &mut self,
        node: &Node,
        position: usize,
        data: &ResourceSnapshot,
    ) -> Json {
        let mut referenced = IndexSet::new();
        let mut properties = Map::new();
        for (name, value) in &data.properties {
            let rendered = self.render_tracking(value, position, node, &mut referenced);
            properties.insert(name.to_owned(), rendered);
        }
        if data.tag_format != TagFormat::NotTaggable {
            self.apply_tags(node, data.tag_format, &mut properties);
        }
        let mut properties = Json::Object(properties);
        for PropertyOverride { path, value } in &data.overrides {
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
        self.check_global_names(node, position, &data.type_name, &properties);
        if self.stacks[position].is_stack_set() {
            match node.confined_account() {
                // A resource with a condition of its own may still reach every account;
                // only confinement says it does not.
                None => self.stacks[position].unconfined_resources = true,
                Some(account) if data.condition.is_some() => {
                    self.problem(node, "condition_in_confined_scope", format!("this resource has a condition of its own and is confined to account {account}, which is a condition too; CloudFormation takes one per resource: drop its condition, or declare it outside the confined scope"));
                }
                Some(account) => {
                    out.insert(
                        "Condition".into(),
                        Json::String(account_condition(&account)),
                    );
                    self.stacks[position].confined_accounts.insert(account);
                }
            }
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
                metadata.insert(key.to_owned(), rendered);
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
    pub(super) fn depends_on(
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
                if producer == position
                    && self.stacks[position].is_stack_set()
                    && let Some(account) = resource.confined_account()
                    && node.confined_account().as_ref() != Some(&account)
                {
                    self.problem(node, "depends_on_across_accounts", format!("this depends on `{}`, which exists only in account {account} of the StackSet, from outside that account's scope (CloudFormation refuses a dependency on a resource it does not create); confine both to the same account or drop the dependency", resource.display_path()));
                    continue;
                }
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

    pub(super) fn render_output(&mut self, node: &Node, position: usize) -> Json {
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

    pub(super) fn render_condition(
        &mut self,
        expression: &ConditionExpr,
        position: usize,
        at: &Node,
    ) -> Json {
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
    pub(super) fn condition_name(
        &mut self,
        target: &NodeRef,
        position: usize,
        at: &Node,
    ) -> Option<String> {
        let target = self.upgrade(target, at)?;
        if self.stack_of.get(&target.index) != Some(&position) {
            self.problem(at, "condition_in_other_stack", format!("condition `{}` belongs to another stack; conditions apply only within their own stack, so declare one in this stack", target.display_path()));
            return None;
        }
        Some(self.logical_id(&target))
    }

    pub(super) fn render(&mut self, expr: &Expr, position: usize, at: &Node) -> Json {
        let mut referenced = IndexSet::new();
        self.render_tracking(expr, position, at, &mut referenced)
    }

    /// Renders a value for the template of stack `position`, recording in `referenced` the
    /// logical ids of same-stack resources it refers to.
    pub(super) fn render_tracking(
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
                    .map(|(k, v)| (k.to_owned(), render(self, v)))
                    .collect(),
            ),
            Expr::Pseudo(pseudo) => call("Ref", Json::String(pseudo.name().into())),
            Expr::Ref(target) => self.render_reference(target, None, position, at, referenced),
            Expr::GetAtt(target, attribute) => {
                self.render_reference(target, Some(attribute), position, at, referenced)
            }
            Expr::Sub(template, variables) => {
                self.render_sub(template, variables, position, at, referenced)
            }
            Expr::Join(delimiter, list) => call(
                "Fn::Join",
                Json::Array(vec![Json::String(delimiter.clone()), render(self, list)]),
            ),
            Expr::Select(index, list) => call(
                "Fn::Select",
                Json::Array(vec![render(self, index), render(self, list)]),
            ),
            Expr::Split(delimiter, source) => call(
                "Fn::Split",
                Json::Array(vec![Json::String(delimiter.clone()), render(self, source)]),
            ),
            Expr::If(condition, then, otherwise) => {
                let name = self.condition_name(condition, position, at);
                json!({ "Fn::If": [name, render(self, then), render(self, otherwise)] })
            }
            Expr::ImportValue(name) => call("Fn::ImportValue", render(self, name)),
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
                call("Fn::GetStackOutput", Json::Object(out))
            }
            Expr::Base64(value) => call("Fn::Base64", render(self, value)),
            Expr::GetAzs(region) => call("Fn::GetAZs", render(self, region)),
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

    pub(super) fn render_sub(
        &mut self,
        template: &str,
        variables: &ExprMap,
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
            if !named.contains(&name) {
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
                        name.to_owned(),
                        self.render_tracking(value, position, at, referenced),
                    )
                })
                .collect();
            call(
                "Fn::Sub",
                Json::Array(vec![
                    Json::String(template.to_owned()),
                    Json::Object(rendered),
                ]),
            )
        }
    }

    /// Renders `Ref` (attribute `None`) or `Fn::GetAtt` of a node, wiring a reference to
    /// another stack through an export or a deploy-time parameter.
    pub(super) fn render_reference(
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
        if producer != position
            && (self.stacks[producer].is_stack_set() || self.stacks[position].is_stack_set())
        {
            self.problem(at, "stack_set_reference", format!("this reads `{}` across stacks, and one of them deploys as a StackSet, whose values live in many accounts and whose inputs are the same in all of them; pass the value as a literal", target.display_path()));
            return Json::Null;
        }
        if producer == position
            && self.stacks[position].is_stack_set()
            && let Some(account) = target.confined_account()
            && at.confined_account().as_ref() != Some(&account)
        {
            self.problem(at, "reference_across_accounts", format!("this reads `{}`, which exists only in account {account} of the StackSet, from outside that account's scope; confine both to the same account", target.display_path()));
            return Json::Null;
        }
        if producer == position {
            if is_output {
                return self.render_tracking(&output_value(&target), position, at, referenced);
            }
            if section == Some("Resources") {
                referenced.insert(logical_id.clone());
            }
            return match attribute {
                None => call("Ref", Json::String(logical_id)),
                Some(attribute) => get_att(logical_id, attribute),
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
                        None => call("Ref", Json::String(logical_id.clone())),
                        Some(attribute) => get_att(logical_id.clone(), attribute),
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
            call("Fn::ImportValue", Json::String(export_name))
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
            call("Ref", Json::String(parameter))
        }
    }

    /// Merges the tags inherited from the resource's scopes into its `Tags` property.
    pub(super) fn apply_tags(
        &mut self,
        node: &Node,
        format: TagFormat,
        properties: &mut Map<String, Json>,
    ) {
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
                        items.push(Json::Object(Map::from_iter([
                            ("Key".to_owned(), Json::String(key)),
                            ("Value".to_owned(), Json::String(value)),
                        ])));
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
}

/// What synthesis needs of a resource, copied out so that rendering may borrow the tree.
pub(super) struct ResourceSnapshot {
    type_name: String,
    properties: ExprMap,
    overrides: Vec<PropertyOverride>,
    depends_on: Vec<NodeRef>,
    deletion_policy: Option<crate::resource::DeletionPolicy>,
    update_replace_policy: Option<crate::resource::DeletionPolicy>,
    condition: Option<NodeRef>,
    metadata: ExprMap,
    tag_format: TagFormat,
    spec: Option<crate::resource::SpecAttachment>,
}

impl ResourceSnapshot {
    /// Takes the resource's values out of the tree (the rest is copied).
    fn lend(data: &mut ResourceData) -> ResourceSnapshot {
        ResourceSnapshot {
            type_name: data.type_name.clone(),
            properties: std::mem::take(&mut data.properties),
            overrides: std::mem::take(&mut data.overrides),
            depends_on: data.depends_on.clone(),
            deletion_policy: data.deletion_policy,
            update_replace_policy: data.update_replace_policy,
            condition: data.condition.clone(),
            metadata: std::mem::take(&mut data.metadata),
            tag_format: data.tag_format,
            spec: data.spec,
        }
    }

    /// Puts the values back.
    fn give_back(self, data: &mut ResourceData) {
        data.properties = self.properties;
        data.overrides = self.overrides;
        data.metadata = self.metadata;
    }
}

/// The logical id of the placeholder resource of a StackSet whose every resource is
/// confined to an account.
pub(super) const STACK_SET_PLACEHOLDER: &str = "StackSetPlaceholder";

/// The logical id of the condition that a StackSet's stack instance is in `account`.
/// An intrinsic function (or `Ref`) with its argument, moved in.
pub(super) fn call(name: &str, argument: Json) -> Json {
    let mut object = Map::new();
    object.insert(name.to_owned(), argument);
    Json::Object(object)
}

fn get_att(logical_id: String, attribute: &str) -> Json {
    call(
        "Fn::GetAtt",
        Json::Array(vec![
            Json::String(logical_id),
            Json::String(attribute.to_owned()),
        ]),
    )
}

pub(super) fn account_condition(account: &str) -> String {
    format!("InAccount{account}")
}

/// The value of an output node.
pub(super) fn output_value(node: &Node) -> Expr {
    node.with_element(|e| match &e.body {
        ElementBody::Output(data) => Some(data.value.clone()),
        _ => None,
    })
    .flatten()
    .expect("the caller checked that the node is an output")
}

pub(super) fn render_parameter(props: &ParameterProps) -> Json {
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
pub(super) fn number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

pub(super) fn apply_override(
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
