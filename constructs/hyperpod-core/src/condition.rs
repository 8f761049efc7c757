//! Conditions: named boolean expressions that resources, outputs and `Fn::If` refer to.

use crate::element::{ElementBody, TemplateElement, add_element};
use crate::tree::{Node, NodeRef, Scope};
use crate::value::Expr;

/// A condition expression: `Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`, or another named
/// condition.
#[derive(Clone, Debug)]
pub enum ConditionExpr {
    /// `Fn::Equals`: the two values are equal.
    Equals(Expr, Expr),
    /// `Fn::And`: all of 2 to 10 conditions hold.
    And(Vec<ConditionExpr>),
    /// `Fn::Or`: any of 2 to 10 conditions holds.
    Or(Vec<ConditionExpr>),
    /// `Fn::Not`: the condition does not hold.
    Not(Box<ConditionExpr>),
    /// Another named condition of the same stack.
    Condition(NodeRef),
}

impl ConditionExpr {
    /// `Fn::And` of the given conditions.
    pub fn and(conditions: impl IntoIterator<Item = ConditionExpr>) -> ConditionExpr {
        ConditionExpr::And(conditions.into_iter().collect())
    }

    /// `Fn::Or` of the given conditions.
    pub fn or(conditions: impl IntoIterator<Item = ConditionExpr>) -> ConditionExpr {
        ConditionExpr::Or(conditions.into_iter().collect())
    }

    /// `Fn::Not` of the given condition.
    #[allow(clippy::should_implement_trait)]
    pub fn not(condition: ConditionExpr) -> ConditionExpr {
        ConditionExpr::Not(Box::new(condition))
    }
}

/// A named condition in a stack's `Conditions` section.
#[derive(Clone, Debug)]
pub struct CfnCondition {
    node: Node,
}

impl CfnCondition {
    /// Declares a condition. Resources and outputs take it with `set_condition`;
    /// [`fns::if_`](crate::fns::if_) chooses between values with it.
    pub fn new(scope: &impl Scope, id: &str, expression: ConditionExpr) -> CfnCondition {
        CfnCondition {
            node: add_element(scope, id, ElementBody::Condition(expression)),
        }
    }

    /// This condition as part of another condition expression.
    pub fn expr(&self) -> ConditionExpr {
        ConditionExpr::Condition(self.node_ref())
    }

    pub(crate) fn node_ref(&self) -> NodeRef {
        self.node.downgrade()
    }
}

impl Scope for CfnCondition {
    fn node(&self) -> &Node {
        &self.node
    }
}

impl TemplateElement for CfnCondition {}
