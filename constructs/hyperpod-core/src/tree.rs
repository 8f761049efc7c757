//! The construct tree: nodes with ids and paths, and the problems recorded on them.
//!
//! All nodes of one [`App`](crate::App) live in one arena shared through an `Rc`. Handles
//! ([`Node`]) are cheap to clone. Values that point at a node from inside the tree (a
//! `Ref` stored in a resource's properties) hold a [`NodeRef`], a weak handle, so that the
//! tree never owns itself.

use std::cell::RefCell;
use std::fmt;
use std::rc::{Rc, Weak};

use indexmap::IndexMap;

use crate::element::Element;
use crate::stack::{StackData, StageData};
use crate::validation::Issue;

pub(crate) type TreeCell = Rc<RefCell<Tree>>;

/// A check that runs at synthesis; it returns the issues it finds on its node.
pub(crate) type Validation = Box<dyn Fn() -> Vec<Issue>>;

pub(crate) struct Tree {
    pub(crate) nodes: Vec<NodeData>,
    /// The ids of the children of nodes with many (a stack holding a thousand teams), so
    /// that adding one does not compare it with every sibling.
    child_ids: std::collections::HashMap<usize, std::collections::HashSet<String>>,
    /// The placement record of an earlier synthesis, which sharded stacks keep to.
    pub(crate) placement: crate::shard::Placement,
}

pub(crate) struct NodeData {
    pub(crate) id: String,
    pub(crate) parent: Option<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) kind: NodeKind,
    /// What only some nodes carry, boxed: a node is one slot of the arena, and a large app
    /// has tens of thousands.
    extras: Option<Box<NodeExtras>>,
}

#[derive(Default)]
pub(crate) struct NodeExtras {
    pub(crate) issues: Vec<Issue>,
    pub(crate) validations: Vec<Validation>,
    pub(crate) tags: IndexMap<String, String>,
    /// Rules of the security pack (or checkov checks) accepted here, with the reason.
    pub(crate) suppressions: Vec<(String, String)>,
    /// The key of the unit of placement this node starts, in a sharded stack.
    pub(crate) shard_unit: Option<String>,
    /// The account this node and everything below it deploy to, in a StackSet.
    pub(crate) confined_account: Option<String>,
}

impl NodeData {
    fn new(id: String, parent: Option<usize>, kind: NodeKind) -> NodeData {
        NodeData {
            id,
            parent,
            children: Vec::new(),
            kind,
            extras: None,
        }
    }

    /// What the node carries beyond its place in the tree, if anything.
    pub(crate) fn extras(&self) -> Option<&NodeExtras> {
        self.extras.as_deref()
    }

    /// The same, to change it (created empty on first use).
    pub(crate) fn extras_mut(&mut self) -> &mut NodeExtras {
        self.extras.get_or_insert_with(Box::default)
    }
}

pub(crate) enum NodeKind {
    App { name: String },
    // Boxed, as elements are: a node is one slot of the arena, and most nodes are elements.
    Stage(Box<StageData>),
    Stack(Box<StackData>),
    Construct,
    Element(Box<Element>),
    Asset(Box<crate::asset::AssetData>),
}

/// A handle on one node of the construct tree.
///
/// Every construct exposes its node through [`Scope::node`]. The node knows its id, its
/// path from the root of the app, its children, and collects the problems found on it.
#[derive(Clone)]
pub struct Node {
    pub(crate) tree: TreeCell,
    pub(crate) index: usize,
}

/// A weak handle on a node, used by values that refer to a node (references, conditions).
#[derive(Clone)]
pub struct NodeRef {
    pub(crate) tree: Weak<RefCell<Tree>>,
    pub(crate) index: usize,
}

impl fmt::Debug for NodeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upgrade() {
            Some(node) => write!(f, "NodeRef({})", node.path()),
            None => write!(f, "NodeRef(#{} of a dropped app)", self.index),
        }
    }
}

impl NodeRef {
    pub(crate) fn upgrade(&self) -> Option<Node> {
        self.tree.upgrade().map(|tree| Node {
            tree,
            index: self.index,
        })
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node({})", self.path())
    }
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.tree, &other.tree) && self.index == other.index
    }
}

impl Eq for Node {}

/// Anything that has a node in the construct tree and can therefore hold children.
pub trait Scope {
    /// The node of this construct.
    fn node(&self) -> &Node;
}

impl Scope for Node {
    fn node(&self) -> &Node {
        self
    }
}

impl Tree {
    /// Whether `parent` has a child with this id.
    fn has_child_named(&mut self, parent: usize, id: &str) -> bool {
        /// Up to this many children are compared one by one.
        const FEW: usize = 32;
        if let Some(ids) = self.child_ids.get(&parent) {
            return ids.contains(id);
        }
        let children = &self.nodes[parent].children;
        if children.len() < FEW {
            return children.iter().any(|&child| self.nodes[child].id == id);
        }
        let ids: std::collections::HashSet<String> = children
            .iter()
            .map(|&child| self.nodes[child].id.clone())
            .collect();
        let found = ids.contains(id);
        self.child_ids.insert(parent, ids);
        found
    }
}

impl Node {
    pub(crate) fn new_root(name: &str) -> Node {
        let tree = Tree {
            nodes: vec![NodeData::new(
                String::new(),
                None,
                NodeKind::App {
                    name: name.to_owned(),
                },
            )],
            placement: crate::shard::Placement::default(),
            child_ids: std::collections::HashMap::new(),
        };
        Node {
            tree: Rc::new(RefCell::new(tree)),
            index: 0,
        }
    }

    /// Adds a child node. A duplicate or malformed id is recorded as a problem on the new
    /// node rather than refused, so that construction never fails and synthesis reports
    /// every problem together.
    pub(crate) fn add_child(&self, id: &str, kind: NodeKind) -> Node {
        let index = self.tree.borrow().nodes.len();
        let duplicate = self.tree.borrow_mut().has_child_named(self.index, id);
        {
            let mut tree = self.tree.borrow_mut();
            tree.nodes
                .push(NodeData::new(id.to_owned(), Some(self.index), kind));
            tree.nodes[self.index].children.push(index);
            if let Some(ids) = tree.child_ids.get_mut(&self.index) {
                ids.insert(id.to_owned());
            }
        }
        let child = Node {
            tree: self.tree.clone(),
            index,
        };
        if id.is_empty() {
            child.report(
                "invalid_id",
                format!(
                    "an empty id was given to a child of `{}`; give every construct a non-empty id",
                    self.display_path()
                ),
            );
        } else if id.contains('/') {
            child.report(
                "invalid_id",
                format!("id `{id}` contains `/`, which separates path segments; remove it"),
            );
        }
        if duplicate {
            child.report(
                "duplicate_id",
                format!(
                    "id `{id}` is already used by another child of `{}`; give siblings distinct ids",
                    self.display_path()
                ),
            );
        }
        child
    }

    pub(crate) fn with<R>(&self, f: impl FnOnce(&NodeData) -> R) -> R {
        f(&self.tree.borrow().nodes[self.index])
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(&mut NodeData) -> R) -> R {
        f(&mut self.tree.borrow_mut().nodes[self.index])
    }

    pub(crate) fn downgrade(&self) -> NodeRef {
        NodeRef {
            tree: Rc::downgrade(&self.tree),
            index: self.index,
        }
    }

    pub(crate) fn at(&self, index: usize) -> Node {
        Node {
            tree: self.tree.clone(),
            index,
        }
    }

    /// The id of this node, unique among its siblings. The app's root has an empty id.
    pub fn id(&self) -> String {
        self.with(|data| data.id.clone())
    }

    /// The path of this node from the root of the app, ids joined by `/`
    /// (for example `account-a/Cluster/Network/Vpc`). The root's path is empty.
    pub fn path(&self) -> String {
        let mut ids = Vec::new();
        let tree = self.tree.borrow();
        let mut current = Some(self.index);
        while let Some(index) = current {
            let data = &tree.nodes[index];
            if data.parent.is_some() {
                ids.push(data.id.as_str());
            }
            current = data.parent;
        }
        ids.reverse();
        ids.join("/")
    }

    /// The path as shown in messages: the root is shown as `<app>`.
    pub(crate) fn display_path(&self) -> String {
        let path = self.path();
        if path.is_empty() {
            "<app>".to_owned()
        } else {
            path
        }
    }

    /// The parent of this node, `None` for the root.
    pub fn scope(&self) -> Option<Node> {
        self.with(|data| data.parent).map(|index| self.at(index))
    }

    /// The children of this node, in the order they were added.
    pub fn children(&self) -> Vec<Node> {
        self.with(|data| data.children.clone())
            .into_iter()
            .map(|index| self.at(index))
            .collect()
    }

    /// This node and every node below it, depth first, in declaration order.
    pub fn descendants(&self) -> Vec<Node> {
        let mut out = Vec::new();
        let mut stack = vec![self.index];
        let tree = self.tree.borrow();
        while let Some(index) = stack.pop() {
            out.push(index);
            stack.extend(tree.nodes[index].children.iter().rev());
        }
        drop(tree);
        out.into_iter().map(|index| self.at(index)).collect()
    }

    /// The root node of the app this node belongs to.
    pub fn root(&self) -> Node {
        self.at(0)
    }

    /// Records a problem on this node. Synthesis reports it with this node's path.
    ///
    /// `code` is a stable snake_case identifier; `message` says what is wrong and what to
    /// change, in lowercase without a trailing period.
    pub fn report(&self, code: impl Into<String>, message: impl Into<String>) {
        let issue = Issue::new(code, message);
        self.with_mut(|data| data.extras_mut().issues.push(issue));
    }

    /// Records every issue of a check (such as a policy document's) on this node.
    pub fn report_all(&self, issues: impl IntoIterator<Item = Issue>) {
        self.with_mut(|data| data.extras_mut().issues.extend(issues));
    }

    /// Accepts a finding of the security rule pack ([`crate::rules::RULES`]) on this node
    /// and everything below it, for a reason a reviewer can read; the reason is written
    /// into each affected resource's `Metadata`. An id of a checkov check (`CKV_…`) is
    /// written as a checkov `skip` on every resource here and below.
    pub fn suppress(&self, rule: &str, reason: &str) {
        if crate::rules::rule(rule).is_none() && !rule.starts_with("CKV_") {
            let known: Vec<&str> = crate::rules::RULES.iter().map(|rule| rule.id).collect();
            self.report(
                "unknown_rule",
                format!("`{rule}` is neither a rule of the security pack ({}) nor a checkov check (`CKV_…`); correct the id", known.join(", ")),
            );
        }
        if reason.trim().len() < 10 {
            self.report(
                "suppression_without_reason",
                format!("suppressing `{rule}` needs a reason a reviewer can judge (at least 10 characters)"),
            );
        }
        self.with_mut(|data| {
            data.extras_mut()
                .suppressions
                .push((rule.to_owned(), reason.trim().to_owned()))
        });
    }

    /// Makes this node and everything below it one unit of placement, under `key`, when
    /// its stack is sharded ([`crate::StackProps::sharding`]): the unit's elements go to one
    /// shard stack together, and stay there (see [`crate::Placement`]). Nodes of one stack
    /// given the same key form one unit (a team's namespace and its data role, say). Keys
    /// must be stable: they name the unit in `placement.json`. Ignored in a stack that is
    /// not sharded.
    pub fn set_shard_unit(&self, key: &str) {
        if key.is_empty() || key.chars().any(char::is_control) {
            self.report(
                "invalid_shard_unit",
                "a unit of placement needs a non-empty key without control characters; use the team's name",
            );
            return;
        }
        self.with_mut(|data| data.extras_mut().shard_unit = Some(key.to_owned()));
    }

    /// The key of the unit this node belongs to: its own or its nearest marked scope's
    /// below its stack.
    pub(crate) fn shard_unit(&self) -> Option<String> {
        self.nearest_below_stack(|extras| extras.shard_unit.as_ref())
    }

    /// What `read` finds on this node or, failing that, on its nearest scope below its
    /// stack that has it.
    fn nearest_below_stack(&self, read: impl Fn(&NodeExtras) -> Option<&String>) -> Option<String> {
        let tree = self.tree.borrow();
        let mut at = Some(self.index);
        while let Some(index) = at {
            let data = &tree.nodes[index];
            if matches!(data.kind, NodeKind::Stack(_)) {
                return None;
            }
            if let Some(found) = data.extras().and_then(&read) {
                return Some(found.clone());
            }
            at = data.parent;
        }
        None
    }

    /// Confines this node and everything below it to one account of a stack deployed as a
    /// StackSet ([`crate::StackProps::stack_set`]): every resource below carries a condition
    /// that the account it deploys to is `account`, so that it exists there and nowhere
    /// else. In a stack deployed to one account, `account` must be that account (then it
    /// changes nothing), so constructs may confine what they place in any stack.
    pub fn confine_to_account(&self, account: &str) {
        let scope_of_stacks = self.with(|data| {
            matches!(
                data.kind,
                NodeKind::App { .. } | NodeKind::Stage(_) | NodeKind::Stack(_)
            )
        });
        if scope_of_stacks {
            self.report(
                "confined_scope_not_below_a_stack",
                format!("only a scope inside a stack can be confined to an account (here {account}); confine a construct of the stack, such as the one holding that account's resources"),
            );
            return;
        }
        if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
            self.report(
                "invalid_account",
                format!("account `{account}` is not an AWS account id; give the 12 digits of the account, as a string with its leading zeros"),
            );
            return;
        }
        self.with_mut(|data| data.extras_mut().confined_account = Some(account.to_owned()));
    }

    /// The account this node is confined to: its own or its nearest confined scope's below
    /// its stack.
    pub(crate) fn confined_account(&self) -> Option<String> {
        self.nearest_below_stack(|extras| extras.confined_account.as_ref())
    }

    /// The one account what is declared below this node deploys to: the account it is
    /// confined to, or its stack's. `None` outside a stack, and in a stack deployed as a
    /// StackSet outside any confined scope (that deploys to every account of the StackSet).
    pub fn deploy_account(&self) -> Option<String> {
        if let Some(account) = self.confined_account() {
            return Some(account);
        }
        let stack = crate::Stack::of(self)?;
        stack
            .stack_set()
            .is_none()
            .then(|| stack.stage().env().account)
    }

    /// The suppressions of this node and its ancestors, nearest first.
    pub(crate) fn suppressions_in_force(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut current = Some(self.clone());
        while let Some(node) = current {
            found.extend(node.with(|data| {
                data.extras()
                    .map(|extras| extras.suppressions.clone())
                    .unwrap_or_default()
            }));
            current = node.scope();
        }
        found
    }

    /// Adds a check that runs at synthesis, after the whole tree is built. Use it for rules
    /// that depend on things that may still change after construction.
    ///
    /// The check should capture values, not [`Node`] handles: a handle captured here keeps
    /// the whole tree alive.
    pub fn add_validation(&self, check: impl Fn() -> Vec<Issue> + 'static) {
        self.with_mut(|data| data.extras_mut().validations.push(Box::new(check)));
    }

    pub(crate) fn is_asset(&self) -> bool {
        self.with(|data| matches!(data.kind, NodeKind::Asset(_)))
    }

    pub(crate) fn is_stack(&self) -> bool {
        self.with(|data| matches!(data.kind, NodeKind::Stack(_)))
    }

    /// The nearest stack at or above this node, if any.
    pub(crate) fn stack_node(&self) -> Option<Node> {
        let mut current = Some(self.clone());
        while let Some(node) = current {
            if node.is_stack() {
                return Some(node);
            }
            current = node.scope();
        }
        None
    }

    /// The path of this node below its stack, the part logical ids are derived from.
    pub(crate) fn path_below_stack(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut current = Some(self.clone());
        while let Some(node) = current {
            if node.is_stack() {
                break;
            }
            ids.push(node.id());
            current = node.scope();
        }
        ids.reverse();
        ids
    }
}
