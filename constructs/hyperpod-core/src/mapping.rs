//! Mappings: two-level lookup tables resolved by CloudFormation with `Fn::FindInMap`.

use indexmap::IndexMap;

use crate::element::{ElementBody, TemplateElement, add_element};
use crate::tree::{Node, Scope};
use crate::value::{Expr, Value};

/// A mapping in a stack's `Mappings` section.
#[derive(Clone, Debug)]
pub struct CfnMapping {
    node: Node,
}

impl CfnMapping {
    /// Declares a mapping from top-level keys to second-level keys to literal values.
    pub fn new(
        scope: &impl Scope,
        id: &str,
        entries: IndexMap<String, IndexMap<String, Expr>>,
    ) -> CfnMapping {
        let not_literal: Vec<String> = entries
            .iter()
            .flat_map(|(top, second)| {
                second
                    .iter()
                    .filter(|(_, value)| !value.is_literal())
                    .map(move |(key, _)| format!("{top}.{key}"))
            })
            .collect();
        let bad_keys: Vec<String> = entries
            .iter()
            .flat_map(|(top, second)| std::iter::once(top).chain(second.keys()))
            .filter(|key| !is_valid_mapping_key(key))
            .cloned()
            .collect();
        let empty = entries.is_empty();
        let node = add_element(scope, id, ElementBody::Mapping(entries));
        if !not_literal.is_empty() {
            node.report(
                "mapping_value_not_literal",
                format!("mapping values must be literals, but {} hold references or functions; compute them outside the mapping", not_literal.join(", ")),
            );
        }
        if !bad_keys.is_empty() {
            node.report(
                "mapping_key_invalid",
                format!(
                    "mapping keys may hold only letters, digits, `-`, `.` and `_`; rename {}",
                    bad_keys.join(", ")
                ),
            );
        }
        if empty {
            node.report(
                "mapping_empty",
                "a mapping needs at least one entry; add one or remove the mapping",
            );
        }
        CfnMapping { node }
    }

    /// `Fn::FindInMap`: the value at the two keys.
    pub fn find_in_map<T>(
        &self,
        top_level_key: Value<String>,
        second_level_key: Value<String>,
    ) -> Value<T> {
        Value::from_expr(Expr::FindInMap(
            self.node.downgrade(),
            Box::new(top_level_key.into_expr()),
            Box::new(second_level_key.into_expr()),
        ))
    }
}

impl Scope for CfnMapping {
    fn node(&self) -> &Node {
        &self.node
    }
}

impl TemplateElement for CfnMapping {}

fn is_valid_mapping_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}
