//! Template elements: the nodes that become an entry of a template section.

use indexmap::IndexMap;

use crate::condition::ConditionExpr;
use crate::output::OutputData;
use crate::parameter::ParameterData;
use crate::resource::ResourceData;
use crate::tree::{Node, NodeKind, Scope};
use crate::value::Expr;

pub(crate) struct Element {
    pub(crate) logical_id_override: Option<String>,
    pub(crate) body: ElementBody,
}

pub(crate) enum ElementBody {
    Resource(ResourceData),
    Parameter(ParameterData),
    Output(OutputData),
    Condition(ConditionExpr),
    Mapping(IndexMap<String, IndexMap<String, Expr>>),
}

impl ElementBody {
    /// The template section the element belongs to, for messages.
    pub(crate) fn section(&self) -> &'static str {
        match self {
            ElementBody::Resource(_) => "Resources",
            ElementBody::Parameter(_) => "Parameters",
            ElementBody::Output(_) => "Outputs",
            ElementBody::Condition(_) => "Conditions",
            ElementBody::Mapping(_) => "Mappings",
        }
    }
}

/// Adds an element node below `scope`. An element outside any stack is recorded as a
/// problem: it would belong to no template.
pub(crate) fn add_element(scope: &dyn Scope, id: &str, body: ElementBody) -> Node {
    let section = body.section();
    let node = scope.node().add_child(
        id,
        NodeKind::Element(Box::new(Element {
            logical_id_override: None,
            body,
        })),
    );
    if node.stack_node().is_none() {
        node.report(
            "element_outside_stack",
            format!("this entry of {section} is not inside a stack; create it in a stack or in a construct within one"),
        );
    }
    node
}

impl Node {
    pub(crate) fn with_element<R>(&self, f: impl FnOnce(&Element) -> R) -> Option<R> {
        self.with(|data| match &data.kind {
            NodeKind::Element(element) => Some(f(element)),
            _ => None,
        })
    }

    pub(crate) fn with_element_mut<R>(&self, f: impl FnOnce(&mut Element) -> R) -> Option<R> {
        self.with_mut(|data| match &mut data.kind {
            NodeKind::Element(element) => Some(f(element)),
            _ => None,
        })
    }

    /// Replaces the logical id derived from the path. Use it when a resource moves in the
    /// tree but must keep its logical id, so that CloudFormation does not replace it.
    pub(crate) fn set_logical_id(&self, logical_id: &str) {
        self.with_element_mut(|element| element.logical_id_override = Some(logical_id.to_owned()));
    }
}

/// Methods shared by every template element (resources, parameters, outputs, conditions,
/// mappings).
pub trait TemplateElement: Scope {
    /// Replaces the logical id derived from the construct path. Use it to keep the logical
    /// id of a resource that moved in the tree (CloudFormation replaces a resource whose
    /// logical id changes) or when adopting a template written by hand.
    fn override_logical_id(&self, logical_id: &str) {
        self.node().set_logical_id(logical_id);
    }
}
