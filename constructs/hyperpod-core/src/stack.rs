//! The scopes of the tree: the app, its stages (one per account and region), their stacks,
//! and plain constructs that group others.

use std::sync::LazyLock;

use regex::Regex;

use crate::shard::{Placement, Sharding};
use crate::stack_set::StackSetDeployment;
use crate::synth::{self, CloudAssembly};
use crate::tree::{Node, NodeKind, NodeRef, Scope};
use crate::validation::SynthError;

/// The root of a construct tree: one program's stages and stacks.
#[derive(Clone, Debug)]
pub struct App {
    node: Node,
}

impl App {
    /// Creates an app. Its name becomes the folder of its cloud assembly
    /// (`synth-out/<name>/`), so it may hold only lowercase letters, digits and `-`.
    pub fn new(name: &str) -> App {
        let node = Node::new_root(name);
        if !is_valid_app_name(name) {
            node.report(
                "invalid_app_name",
                format!("app name `{name}` must be 1 to 64 lowercase letters, digits and `-`, starting with a letter; rename the app"),
            );
        }
        App { node }
    }

    /// The app's name.
    pub fn name(&self) -> String {
        self.node.with(|data| match &data.kind {
            NodeKind::App { name } => name.clone(),
            _ => unreachable!("an App handle always points at the root"),
        })
    }

    /// The stages of the app, in declaration order.
    pub fn stages(&self) -> Vec<Stage> {
        self.node
            .children()
            .into_iter()
            .filter(|child| child.with(|data| matches!(data.kind, NodeKind::Stage(_))))
            .map(|node| Stage { node })
            .collect()
    }

    /// Runs every validation and renders the templates and the manifest in memory.
    /// Every problem found is returned together in [`SynthError::Invalid`].
    pub fn synth(&self) -> Result<CloudAssembly, SynthError> {
        synth::synthesize(&self.node)
    }

    /// Gives synthesis the placement record of an earlier run (`placement.json` of the
    /// app's cloud assembly), so that every unit of a sharded stack stays in its shard.
    /// Without one, units are placed afresh in declaration order.
    pub fn set_placement(&self, placement: Placement) {
        self.node.tree.borrow_mut().placement = placement;
    }
}

impl Scope for App {
    fn node(&self) -> &Node {
        &self.node
    }
}

/// Where a stage deploys: one AWS account and region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// The 12-digit account id.
    pub account: String,
    /// The region, such as `us-east-1`.
    pub region: String,
}

impl Environment {
    /// An environment from an account id and a region.
    pub fn new(account: &str, region: &str) -> Environment {
        Environment {
            account: account.to_owned(),
            region: region.to_owned(),
        }
    }
}

pub(crate) struct StageData {
    pub(crate) env: Environment,
}

/// The stacks of one account and region. Each stage synthesizes into its own folder and
/// deploys with its own credentials.
#[derive(Clone, Debug)]
pub struct Stage {
    node: Node,
}

impl Stage {
    /// Adds a stage for an account and region. The account id must be 12 digits and the
    /// region a region name; either mistake is reported at synthesis.
    pub fn new(app: &App, id: &str, env: Environment) -> Stage {
        let account_ok = env.account.len() == 12 && env.account.chars().all(|c| c.is_ascii_digit());
        let region_ok = is_valid_region(&env.region);
        let Environment { account, region } = env.clone();
        let node = app
            .node
            .add_child(id, NodeKind::Stage(Box::new(StageData { env })));
        if !account_ok {
            node.report(
                "invalid_account",
                format!("account `{account}` is not an AWS account id; give the 12 digits of the account, as a string with its leading zeros"),
            );
        }
        if !region_ok {
            node.report(
                "invalid_region",
                format!("region `{region}` is not an AWS region name; use a name such as `us-east-1` or `eu-west-2`"),
            );
        }
        if !is_valid_stage_id(id) {
            node.report(
                "invalid_stage_id",
                format!("stage id `{id}` names a folder of the cloud assembly; use letters, digits, `-` and `_`"),
            );
        }
        Stage { node }
    }

    /// The name of the app the stage belongs to.
    pub fn app_name(&self) -> String {
        let root = self.node.scope().expect("a stage always has an app");
        root.with(|data| match &data.kind {
            NodeKind::App { name } => name.clone(),
            _ => unreachable!("a stage's scope is the app"),
        })
    }

    /// The stage's account and region.
    pub fn env(&self) -> Environment {
        self.node.with(|data| match &data.kind {
            NodeKind::Stage(stage) => stage.env.clone(),
            _ => unreachable!("a Stage handle always points at a stage"),
        })
    }

    /// The stacks of the stage, in declaration order.
    pub fn stacks(&self) -> Vec<Stack> {
        self.node
            .children()
            .into_iter()
            .filter(Node::is_stack)
            .map(|node| Stack { node })
            .collect()
    }
}

impl Scope for Stage {
    fn node(&self) -> &Node {
        &self.node
    }
}

/// The options of a stack.
#[derive(Clone, Debug, Default)]
pub struct StackProps {
    /// The CloudFormation stack name; `<app>-<stage>-<id>` when absent, so that two apps,
    /// or two stages in one account and region, never claim the same stack. Set it to
    /// adopt a stack deployed under another name.
    pub stack_name: Option<String>,
    /// The template's description (at most 1024 bytes).
    pub description: Option<String>,
    /// Refuses deletion of the deployed stack until protection is turned off.
    pub termination_protection: bool,
    /// Places the units below the stack ([`Node::set_shard_unit`]: one per team in the
    /// HyperPod constructs) into shard stacks `<id>-shard<N>` (named `<name>-shard<N>`),
    /// each under these limits, and keeps the rest here. Shards share the stack's
    /// description, tags, termination protection and dependencies. Off by default.
    pub sharding: Option<Sharding>,
    /// Deploys the stack as a service-managed StackSet from the stage's account (the
    /// administrator) to the accounts of organizational units, instead of as one stack in
    /// the stage's account. Resources confined to an account
    /// ([`Node::confine_to_account`](crate::Node::confine_to_account)) exist there only.
    /// Off by default.
    pub stack_set: Option<StackSetDeployment>,
}

pub(crate) struct StackData {
    pub(crate) props: StackProps,
    pub(crate) dependencies: Vec<NodeRef>,
}

/// A CloudFormation stack: one template, deployed as a unit to its stage's account.
#[derive(Clone, Debug)]
pub struct Stack {
    node: Node,
}

impl Stack {
    /// Adds a stack to a stage.
    pub fn new(stage: &Stage, id: &str, props: StackProps) -> Stack {
        let name = props
            .stack_name
            .clone()
            .unwrap_or_else(|| default_stack_name(&stage.app_name(), &stage.node.id(), id));
        let description_bytes = props.description.as_ref().map_or(0, String::len);
        let sharding_problem = props.sharding.as_ref().and_then(Sharding::check);
        let stack_set_problems = props
            .stack_set
            .as_ref()
            .map(StackSetDeployment::check)
            .unwrap_or_default();
        let protected_stack_set = props.stack_set.is_some() && props.termination_protection;
        let node = stage.node.add_child(
            id,
            NodeKind::Stack(Box::new(StackData {
                props: StackProps {
                    stack_name: Some(name.clone()),
                    ..props
                },
                dependencies: Vec::new(),
            })),
        );
        if let Some(problem) = sharding_problem {
            node.report("invalid_sharding", problem);
        }
        for problem in stack_set_problems {
            node.report("invalid_stack_set", problem);
        }
        if protected_stack_set {
            node.report("stack_set_termination_protection", "a StackSet has no termination protection (its instances are deleted through the StackSet, which `destroy` asks about); turn `termination_protection` off for this stack");
        }
        if !is_valid_stack_name(&name) {
            node.report(
                "invalid_stack_name",
                format!("stack name `{name}` must start with a letter and hold at most 128 letters, digits and `-`; set `stack_name` or rename the stack"),
            );
        }
        // CloudFormation limits a template description to 1024 bytes.
        if description_bytes > 1024 {
            node.report(
                "stack_description_too_long",
                format!("the description has {description_bytes} bytes, more than CloudFormation's 1024; shorten it"),
            );
        }
        Stack { node }
    }

    /// The stack that `scope` is in (the scope itself when it is a stack).
    pub fn of(scope: &impl Scope) -> Option<Stack> {
        scope.node().stack_node().map(|node| Stack { node })
    }

    pub(crate) fn from_node(node: Node) -> Stack {
        Stack { node }
    }

    pub(crate) fn with_data<R>(&self, f: impl FnOnce(&StackData) -> R) -> R {
        self.node.with(|data| match &data.kind {
            NodeKind::Stack(stack) => f(stack),
            _ => unreachable!("a Stack handle always points at a stack"),
        })
    }

    /// The CloudFormation stack name.
    pub fn stack_name(&self) -> String {
        self.with_data(|data| data.props.stack_name.clone())
            .unwrap_or_else(|| self.node.id())
    }

    /// The name of the app the stack belongs to.
    pub fn app_name(&self) -> String {
        self.stage().app_name()
    }

    /// How the stack's units are sharded, when they are.
    pub fn sharding(&self) -> Option<Sharding> {
        self.with_data(|data| data.props.sharding.clone())
    }

    /// How the stack deploys as a StackSet, when it does.
    pub fn stack_set(&self) -> Option<StackSetDeployment> {
        self.with_data(|data| data.props.stack_set.clone())
    }

    /// The stage the stack belongs to.
    pub fn stage(&self) -> Stage {
        Stage {
            node: self.node.scope().expect("a stack always has a stage"),
        }
    }

    /// Deploys `other` before this stack. References between stacks add this on their own.
    pub fn add_dependency(&self, other: &Stack) {
        let other = other.node.downgrade();
        self.node.with_mut(|data| match &mut data.kind {
            NodeKind::Stack(stack) => stack.dependencies.push(other),
            _ => unreachable!("a Stack handle always points at a stack"),
        });
    }
}

impl Scope for Stack {
    fn node(&self) -> &Node {
        &self.node
    }
}

/// A plain construct: a named scope that groups other constructs. Higher-level constructs
/// own one and place their resources below it.
#[derive(Clone, Debug)]
pub struct Construct {
    node: Node,
}

impl Construct {
    /// Adds a construct below `scope`.
    pub fn new(scope: &impl Scope, id: &str) -> Construct {
        Construct {
            node: scope.node().add_child(id, NodeKind::Construct),
        }
    }
}

impl Scope for Construct {
    fn node(&self) -> &Node {
        &self.node
    }
}

/// Tags applied to a scope and inherited by every taggable resource below it. A tag set
/// on a nearer scope wins over the same key set further up; a tag in a resource's own
/// `Tags` property wins over both. Tags set on the app, a stage or a stack are also stack
/// tags, which the deploy engine passes to CloudFormation.
pub struct Tags {
    node: Node,
}

impl Tags {
    /// The tags of a scope.
    pub fn of(scope: &impl Scope) -> Tags {
        Tags {
            node: scope.node().clone(),
        }
    }

    /// Adds (or replaces) a tag. Keys are 1 to 128 characters and may not start with
    /// `aws:` (AWS's) or `hyperpod:` (the ownership tags synthesis sets on every stack);
    /// values are at most 256 characters.
    pub fn add(&self, key: &str, value: &str) {
        let lowercase = key.to_ascii_lowercase();
        if key.is_empty()
            || key.chars().count() > 128
            || lowercase.starts_with("aws:")
            || lowercase.starts_with("hyperpod:")
        {
            self.node.report(
                "invalid_tag_key",
                format!("tag key `{key}` must be 1 to 128 characters and may not start with `aws:` or `hyperpod:`; rename it"),
            );
        }
        if value.chars().count() > 256 {
            self.node.report(
                "invalid_tag_value",
                format!("the value of tag `{key}` is longer than 256 characters; shorten it"),
            );
        }
        self.node.with_mut(|data| {
            data.extras_mut()
                .tags
                .insert(key.to_owned(), value.to_owned());
        });
    }
}

/// The stack name of a stack without `stack_name`: `<app>-<stage>-<id>`, with the `_`
/// a stage id may hold turned into the `-` a stack name allows.
pub fn default_stack_name(app: &str, stage: &str, id: &str) -> String {
    format!("{app}-{}-{id}", stage.replace('_', "-"))
}

static REGION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$").expect("a valid pattern"));

/// Region names: `us-east-1`, `eu-west-2`, `us-gov-west-1`.
pub(crate) fn is_valid_region(region: &str) -> bool {
    REGION.is_match(region)
}

fn is_valid_app_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_valid_stage_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// CloudFormation stack names: a letter, then letters, digits and hyphens, 128 at most.
pub(crate) fn is_valid_stack_name(name: &str) -> bool {
    name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
