//! Collecting: the problems recorded on nodes and the validations, then every stack with
//! its elements, the units of sharded stacks placed into shard stacks.

use super::*;
use crate::shard::Shape;

impl Synthesizer {
    /// Gathers the problems recorded on nodes and runs every validation, in tree order.
    pub(super) fn collect_issues(&mut self) {
        for node in self.root.descendants() {
            if node.with(|data| data.extras().is_none()) {
                continue;
            }
            let issues = node.with(|data| {
                data.extras()
                    .map(|extras| extras.issues.clone())
                    .unwrap_or_default()
            });
            // The checks are taken out while they run so that a check may read the tree.
            let checks = node.with_mut(|data| std::mem::take(&mut data.extras_mut().validations));
            let found: Vec<_> = checks.iter().flat_map(|check| check()).collect();
            node.with_mut(|data| data.extras_mut().validations = checks);
            for issue in issues.into_iter().chain(found) {
                self.problem(&node, &issue.code, issue.message);
            }
        }
    }

    /// Gathers each stack's elements in tree order. A sharded stack keeps its own elements
    /// and gives its units' elements to shard stacks, placed by [`shard::place`] under the
    /// record of the previous synthesis; the new record is kept for the assembly.
    pub(super) fn collect_stacks(&mut self) {
        let previous = self.root.tree.borrow().placement.clone();
        for node in self.root.descendants() {
            if !node.is_stack() {
                continue;
            }
            let stack = Stack::from_node(node.clone());
            let stage = stack.stage();
            let env = stage.env();
            let path = node.path();
            let sharding = stack.with_data(|data| data.props.sharding.clone());
            let stack_set = stack.with_data(|data| data.props.stack_set.clone());
            let mut own = Vec::new();
            let mut units: IndexMap<String, Vec<Node>> = IndexMap::new();
            for below in node.descendants().into_iter().skip(1) {
                self.check_confinement(&below, stack_set.as_ref(), &env);
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
                env: env.clone(),
                stack: stack.clone(),
                shard: None,
                elements,
                dependencies: IndexSet::new(),
                shared_outputs: IndexMap::new(),
                deploy_time_parameters: IndexMap::new(),
                confined_accounts: Default::default(),
                unconfined_resources: false,
            };
            // A sharded stack whose every element is in a unit is not deployed itself, nor
            // is one with no units yet and nothing of its own.
            if (units.is_empty() && sharding.is_none()) || !own.is_empty() {
                let position = self.stacks.len();
                for element in &own {
                    self.stack_of.insert(element.index, position);
                }
                self.stacks
                    .push(info(path.clone(), stack.stack_name(), own));
            }
            // Shards the record holds stay even when every unit has left them.
            let known = previous.stacks.get(&path);
            let Some(sharding) = sharding.filter(|_| !units.is_empty() || known.is_some()) else {
                continue;
            };
            // Costs matter only to fit new units in; with none, every unit stays put.
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
            let placed = shard::place(known, &costs, &sharding);
            // Each shard's elements, its units in declaration order.
            let shard_of: HashMap<&String, u32> = placed
                .iter()
                .flat_map(|(&number, keys)| keys.iter().map(move |key| (key, number)))
                .collect();
            let mut shard_elements: HashMap<u32, Vec<Node>> = HashMap::new();
            for (key, elements) in &units {
                if let Some(&number) = shard_of.get(key) {
                    shard_elements
                        .entry(number)
                        .or_default()
                        .extend(elements.iter().cloned());
                }
            }
            for (&number, keys) in &placed {
                let position = self.stacks.len();
                let elements = shard_elements.remove(&number).unwrap_or_default();
                for element in &elements {
                    self.stack_of.insert(element.index, position);
                }
                let name = format!("{}-shard{number}", stack.stack_name());
                if !crate::stack::is_valid_stack_name(&name) {
                    self.problem(&node, "invalid_stack_name", format!("shard stack name `{name}` passes CloudFormation's 128 characters; shorten the stack's name"));
                }
                let mut shard_info = info(format!("{path}-shard{number}"), name, elements);
                shard_info.shard = Some((number, keys.clone()));
                self.stacks.push(shard_info);
            }
            self.placement.stacks.insert(path, placed);
        }
    }

    /// Confinement to an account means a condition in a StackSet; elsewhere the account
    /// must be the stack's own. A StackSet stages no file assets: no bucket serves every
    /// account it reaches.
    fn check_confinement(
        &mut self,
        node: &Node,
        stack_set: Option<&crate::stack_set::StackSetDeployment>,
        env: &Environment,
    ) {
        if stack_set.is_some() && node.is_asset() {
            self.problem(node, "asset_in_stack_set", "a StackSet deploys to accounts that cannot read the administrator's staging bucket, so it stages no file assets; move the asset to a stack of its own");
        }
        let Some(account) = node.with(|data| data.extras()?.confined_account.clone()) else {
            return;
        };
        if let Some(deployment) = stack_set
            && deployment.caller == crate::stack_set::StackSetCaller::ManagementAccount
            && account == env.account
        {
            self.problem(node, "confined_to_management_account", format!("this scope is confined to account {account}, the management account that administers the StackSet, and service-managed StackSets never deploy to the management account; deploy its resources with a stack of that account instead"));
        }
        if stack_set.is_none() && account != env.account {
            self.problem(node, "account_outside_stack", format!("this scope is confined to account {account}, but its stack deploys to account {}; declare it in a stack of account {account}, or in a stack deployed as a StackSet (`StackProps::stack_set`) that reaches it", env.account));
        }
    }
}

/// What a unit's elements add to a shard, estimated before rendering: its resources, its
/// own parameters and outputs plus one parameter per value it reads from another account
/// or region, and its bytes with the tags it inherits.
pub(super) fn unit_cost(elements: &[Node], env: &Environment) -> shard::UnitCost {
    let mut cost = shard::UnitCost::default();
    let mut read = shard::References::new();
    for node in elements {
        // The logical id is at most the path's length, quoted, with its colon and comma.
        let id_bytes = node.path().len() + 12;
        let tags = tags_at(node);
        let element = node.with_element(|element| match &element.body {
            ElementBody::Resource(data) => {
                let overrides: Vec<(String, &Expr)> = data
                    .overrides
                    .iter()
                    .filter_map(|o| Some((o.path.join("."), o.value.as_ref()?)))
                    .collect();
                let mut properties: Vec<(&str, Shape<'_>)> = data
                    .properties
                    .iter()
                    .map(|(key, value)| (key, Shape::Expr(value)))
                    .chain(
                        overrides
                            .iter()
                            .map(|(at, value)| (at.as_str(), Shape::Expr(value))),
                    )
                    .collect();
                if data.tag_format != TagFormat::NotTaggable && !tags.is_empty() {
                    let list = tags
                        .iter()
                        .map(|(key, value)| {
                            Shape::Object(vec![
                                ("Key", Shape::Str(key)),
                                ("Value", Shape::Str(value)),
                            ])
                        })
                        .collect();
                    properties.push(("Tags", Shape::Array(list)));
                }
                let resource = Shape::Object(vec![
                    ("Type", Shape::Str(&data.type_name)),
                    ("Properties", Shape::Object(properties)),
                    (
                        "Metadata",
                        Shape::Object(
                            data.metadata
                                .iter()
                                .map(|(key, value)| (key, Shape::Expr(value)))
                                .collect(),
                        ),
                    ),
                    (
                        "DependsOn",
                        Shape::Array(data.depends_on.iter().map(|_| Shape::Filler(40)).collect()),
                    ),
                ]);
                // Every value of the resource is in the shape: measuring it also finds
                // what the resource reads.
                (1, 0, shard::shape_size(&resource, 2, &mut read))
            }
            ElementBody::Parameter(_) | ElementBody::Output(_) => (0, 1, 300),
            ElementBody::Condition(_) | ElementBody::Mapping(_) => (0, 0, 300),
        });
        if let Some((resources, parameters_and_outputs, bytes)) = element {
            cost.resources += resources;
            cost.parameters_and_outputs += parameters_and_outputs;
            cost.bytes += id_bytes + bytes;
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
