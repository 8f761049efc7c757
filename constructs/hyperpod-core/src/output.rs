//! Outputs: values a stack publishes, optionally exported to other stacks.

use crate::condition::CfnCondition;
use crate::element::{ElementBody, TemplateElement, add_element};
use crate::tree::{Node, NodeRef, Scope};
use crate::value::{Expr, Value};

/// The declaration of an output.
#[derive(Clone, Debug)]
pub struct OutputProps {
    /// The value published.
    pub value: Value<String>,
    /// What the output is.
    pub description: Option<String>,
    /// Exports the value under this name, for `Fn::ImportValue` in stacks outside the app.
    /// References between stacks of one app need no export name: they are wired up at
    /// synthesis.
    pub export_name: Option<Value<String>>,
    /// Publishes the output only when the condition holds.
    pub condition: Option<CfnCondition>,
}

impl OutputProps {
    /// An output of `value` without description, export or condition.
    pub fn new(value: Value<String>) -> OutputProps {
        OutputProps {
            value,
            description: None,
            export_name: None,
            condition: None,
        }
    }
}

pub(crate) struct OutputData {
    pub(crate) value: Expr,
    pub(crate) description: Option<String>,
    pub(crate) export_name: Option<Expr>,
    pub(crate) condition: Option<NodeRef>,
}

/// An output in a stack's `Outputs` section.
#[derive(Clone, Debug)]
pub struct CfnOutput {
    node: Node,
}

impl CfnOutput {
    /// Declares an output.
    pub fn new(scope: &impl Scope, id: &str, props: OutputProps) -> CfnOutput {
        let description_bytes = props.description.as_ref().map_or(0, String::len);
        let node = add_element(
            scope,
            id,
            ElementBody::Output(OutputData {
                value: props.value.into_expr(),
                description: props.description,
                export_name: props.export_name.map(Value::into_expr),
                condition: props.condition.map(|condition| condition.node_ref()),
            }),
        );
        // CloudFormation limits an output's description to 1024 bytes.
        if description_bytes > 1024 {
            node.report(
                "output_description_too_long",
                format!("the description has {description_bytes} bytes, more than CloudFormation's 1024; shorten it"),
            );
        }
        CfnOutput { node }
    }

    /// The output's value, for use in another stack of the app: within one account and
    /// region it becomes an export and `Fn::ImportValue`; across accounts or regions a
    /// parameter that the deploy engine fills from this output.
    pub fn value(&self) -> Value<String> {
        Value::from_expr(Expr::Ref(self.node.downgrade()))
    }
}

impl Scope for CfnOutput {
    fn node(&self) -> &Node {
        &self.node
    }
}

impl TemplateElement for CfnOutput {}
