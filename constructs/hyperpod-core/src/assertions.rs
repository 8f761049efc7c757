//! Test assertions for construct authors: load a stack's template and check it with
//! partial patterns.
//!
//! ```
//! use hyperpod_core::{App, Environment, Stage, Stack, StackProps, CfnResource, TagFormat};
//! use hyperpod_core::assertions::{Match, Template};
//! use serde_json::json;
//!
//! let app = App::new("demo");
//! let stage = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
//! let stack = Stack::new(&stage, "Storage", StackProps::default());
//! CfnResource::raw(&stack, "Alerts", "AWS::SNS::Topic", TagFormat::KeyValueList,
//!     json!({ "FifoTopic": true, "ContentBasedDeduplication": true }));
//!
//! let template = Template::from_stack(&stack);
//! template.resource_count_is("AWS::SNS::Topic", 1);
//! template.has_resource_properties("AWS::SNS::Topic", json!({
//!     "FifoTopic": true,
//! }));
//! template.has_resource_properties("AWS::SNS::Topic", Match::object_like([
//!     ("TopicName", Match::absent()),
//! ]));
//! ```

use std::fmt::Write as _;
use std::path::Path;

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value as Json;

use crate::stack::Stack;
use crate::tree::Scope;

/// A pattern a JSON value is matched against.
///
/// Literal JSON converts into a pattern that matches objects partially (every key of the
/// pattern must be present and match; other keys are ignored), lists element by element
/// with the same length, and scalars by equality.
#[derive(Clone, Debug)]
pub enum Match {
    /// Partial for objects, element-wise for lists, equal for scalars.
    Like(Json),
    /// An object that has at least these keys, each matching its pattern.
    ObjectLike(IndexMap<String, Match>),
    /// An object with exactly these keys, each matching its pattern.
    ObjectEquals(IndexMap<String, Match>),
    /// Exactly this JSON, deep.
    Exact(Json),
    /// A list that contains items matching these patterns, in this order (others may be
    /// in between).
    ArrayWith(Vec<Match>),
    /// Any value that is present and not null.
    AnyValue,
    /// The key is absent.
    Absent,
    /// A string in which the regular expression finds a match.
    StringLikeRegexp(Regex),
    /// Anything the inner pattern does not match.
    Not(Box<Match>),
}

impl From<Json> for Match {
    fn from(value: Json) -> Match {
        Match::Like(value)
    }
}

impl Match {
    /// An object with at least these keys.
    pub fn object_like<K: Into<String>>(entries: impl IntoIterator<Item = (K, Match)>) -> Match {
        Match::ObjectLike(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// An object with exactly these keys.
    pub fn object_equals<K: Into<String>>(entries: impl IntoIterator<Item = (K, Match)>) -> Match {
        Match::ObjectEquals(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Exactly this JSON.
    pub fn exact(value: Json) -> Match {
        Match::Exact(value)
    }

    /// A list containing items that match, in order.
    pub fn array_with(items: impl IntoIterator<Item = Match>) -> Match {
        Match::ArrayWith(items.into_iter().collect())
    }

    /// Any present, non-null value.
    pub fn any_value() -> Match {
        Match::AnyValue
    }

    /// An absent key.
    pub fn absent() -> Match {
        Match::Absent
    }

    /// A string matching a regular expression. Panics on an invalid expression, as
    /// assertions do.
    pub fn string_like_regexp(pattern: &str) -> Match {
        Match::StringLikeRegexp(
            Regex::new(pattern)
                .unwrap_or_else(|e| panic!("invalid regular expression `{pattern}`: {e}")),
        )
    }

    /// Anything the pattern does not match.
    #[allow(clippy::should_implement_trait)]
    pub fn not(pattern: Match) -> Match {
        Match::Not(Box::new(pattern))
    }

    /// Matches `actual` (`None` when the key is absent); on failure, says where and why.
    pub fn test(&self, actual: Option<&Json>) -> Result<(), String> {
        self.test_at("", actual)
    }

    fn test_at(&self, at: &str, actual: Option<&Json>) -> Result<(), String> {
        let here = if at.is_empty() { "the value" } else { at };
        match self {
            Match::Absent => match actual {
                None => Ok(()),
                Some(value) => Err(format!("{here}: expected absent, found {value}")),
            },
            Match::AnyValue => match actual {
                None | Some(Json::Null) => Err(format!("{here}: expected a value, found none")),
                Some(_) => Ok(()),
            },
            Match::Not(inner) => match inner.test_at(at, actual) {
                Ok(()) => Err(format!(
                    "{here}: expected not to match {inner:?}, found {}",
                    show(actual)
                )),
                Err(_) => Ok(()),
            },
            _ => {
                let Some(actual) = actual else {
                    return Err(format!("{here}: expected a value, found none"));
                };
                self.test_present(at, here, actual)
            }
        }
    }

    fn test_present(&self, at: &str, here: &str, actual: &Json) -> Result<(), String> {
        match self {
            Match::Like(Json::Object(entries)) => {
                let pattern: IndexMap<String, Match> = entries
                    .iter()
                    .map(|(k, v)| (k.clone(), Match::Like(v.clone())))
                    .collect();
                Match::ObjectLike(pattern).test_present(at, here, actual)
            }
            Match::Like(Json::Array(items)) => {
                let Json::Array(actual_items) = actual else {
                    return Err(format!("{here}: expected a list, found {actual}"));
                };
                if items.len() != actual_items.len() {
                    return Err(format!(
                        "{here}: expected a list of {} items, found {} ({actual}); use Match::array_with for a partial list",
                        items.len(),
                        actual_items.len()
                    ));
                }
                for (i, (pattern, item)) in items.iter().zip(actual_items).enumerate() {
                    Match::Like(pattern.clone()).test_at(&format!("{at}[{i}]"), Some(item))?;
                }
                Ok(())
            }
            Match::Like(scalar) | Match::Exact(scalar) => {
                if scalar == actual {
                    Ok(())
                } else {
                    Err(format!("{here}: expected {scalar}, found {actual}"))
                }
            }
            Match::ObjectLike(entries) | Match::ObjectEquals(entries) => {
                let Json::Object(actual_entries) = actual else {
                    return Err(format!("{here}: expected an object, found {actual}"));
                };
                for (key, pattern) in entries {
                    pattern.test_at(&join(at, key), actual_entries.get(key))?;
                }
                if matches!(self, Match::ObjectEquals(_))
                    && let Some(extra) = actual_entries
                        .keys()
                        .find(|key| !entries.contains_key(*key))
                {
                    return Err(format!("{here}: unexpected key `{extra}`"));
                }
                Ok(())
            }
            Match::ArrayWith(patterns) => {
                let Json::Array(items) = actual else {
                    return Err(format!("{here}: expected a list, found {actual}"));
                };
                let mut remaining = items.iter();
                for (i, pattern) in patterns.iter().enumerate() {
                    if !remaining.any(|item| pattern.test(Some(item)).is_ok()) {
                        return Err(format!(
                            "{here}: no item (after the ones matched before) matches pattern #{i} {pattern:?}; the list is {actual}"
                        ));
                    }
                }
                Ok(())
            }
            Match::StringLikeRegexp(regex) => match actual.as_str() {
                Some(s) if regex.is_match(s) => Ok(()),
                _ => Err(format!(
                    "{here}: expected a string matching /{regex}/, found {actual}"
                )),
            },
            Match::Absent | Match::AnyValue | Match::Not(_) => unreachable!("handled by test_at"),
        }
    }
}

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_owned()
    } else {
        format!("{at}.{key}")
    }
}

fn show(value: Option<&Json>) -> String {
    value.map_or_else(|| "nothing".to_owned(), Json::to_string)
}

/// A synthesized template, with assertions that panic with a readable message.
#[derive(Clone, Debug)]
pub struct Template {
    json: Json,
}

impl Template {
    /// Synthesizes the stack's app and takes the stack's template. Panics, listing every
    /// problem, when synthesis fails.
    pub fn from_stack(stack: &Stack) -> Template {
        let root = stack.node().root();
        let assembly = crate::synth::synthesize(&root).unwrap_or_else(|error| panic!("{error}"));
        let id = stack.node().path();
        Template {
            json: assembly
                .template(&id)
                .unwrap_or_else(|| panic!("no template for stack `{id}`")),
        }
    }

    /// A template from its JSON.
    pub fn from_json(json: Json) -> Template {
        Template { json }
    }

    /// Loads a template file (for example from `synth-out/`).
    pub fn from_file(path: &Path) -> std::io::Result<Template> {
        let bytes = std::fs::read(path)?;
        let json = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
        Ok(Template { json })
    }

    /// The whole template.
    pub fn json(&self) -> &Json {
        &self.json
    }

    fn section(&self, name: &str) -> IndexMap<String, Json> {
        self.json
            .get(name)
            .and_then(Json::as_object)
            .map(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn resources_of_type(&self, type_name: &str) -> IndexMap<String, Json> {
        self.section("Resources")
            .into_iter()
            .filter(|(_, resource)| resource.get("Type").and_then(Json::as_str) == Some(type_name))
            .collect()
    }

    /// The resources of a type whose whole definition (`Type`, `Properties`,
    /// `DeletionPolicy`, ...) matches the pattern, by logical id.
    pub fn find_resources(
        &self,
        type_name: &str,
        pattern: impl Into<Match>,
    ) -> IndexMap<String, Json> {
        let pattern = pattern.into();
        self.resources_of_type(type_name)
            .into_iter()
            .filter(|(_, resource)| pattern.test(Some(resource)).is_ok())
            .collect()
    }

    /// Asserts that the template has exactly `count` resources of a type.
    pub fn resource_count_is(&self, type_name: &str, count: usize) {
        let found = self.resources_of_type(type_name).len();
        assert_eq!(
            found, count,
            "expected {count} resource(s) of type {type_name}, found {found}"
        );
    }

    /// Asserts that some resource of the type has a definition matching the pattern.
    pub fn has_resource(&self, type_name: &str, pattern: impl Into<Match>) {
        let pattern = pattern.into();
        self.assert_some_match(
            &self.resources_of_type(type_name),
            &format!("resource of type {type_name}"),
            |resource| pattern.test(Some(resource)),
        );
    }

    /// Asserts that some resource of the type has properties matching the pattern.
    pub fn has_resource_properties(&self, type_name: &str, pattern: impl Into<Match>) {
        let pattern = pattern.into();
        let empty = Json::Object(serde_json::Map::new());
        self.assert_some_match(
            &self.resources_of_type(type_name),
            &format!("resource of type {type_name}"),
            |resource| pattern.test(Some(resource.get("Properties").unwrap_or(&empty))),
        );
    }

    /// Asserts that the output with this logical id matches the pattern (`Value`,
    /// `Export`, `Description`, `Condition`).
    pub fn has_output(&self, logical_id: &str, pattern: impl Into<Match>) {
        let outputs = self.section("Outputs");
        let output = outputs.get(logical_id).unwrap_or_else(|| {
            panic!(
                "no output `{logical_id}`; the outputs are {:?}",
                outputs.keys().collect::<Vec<_>>()
            )
        });
        if let Err(why) = pattern.into().test(Some(output)) {
            panic!("output `{logical_id}` does not match: {why}");
        }
    }

    /// The outputs matching the pattern, by logical id.
    pub fn find_outputs(&self, pattern: impl Into<Match>) -> IndexMap<String, Json> {
        let pattern = pattern.into();
        self.section("Outputs")
            .into_iter()
            .filter(|(_, output)| pattern.test(Some(output)).is_ok())
            .collect()
    }

    /// Asserts that the parameter with this logical id matches the pattern.
    pub fn has_parameter(&self, logical_id: &str, pattern: impl Into<Match>) {
        let parameters = self.section("Parameters");
        let parameter = parameters.get(logical_id).unwrap_or_else(|| {
            panic!(
                "no parameter `{logical_id}`; the parameters are {:?}",
                parameters.keys().collect::<Vec<_>>()
            )
        });
        if let Err(why) = pattern.into().test(Some(parameter)) {
            panic!("parameter `{logical_id}` does not match: {why}");
        }
    }

    fn assert_some_match(
        &self,
        candidates: &IndexMap<String, Json>,
        what: &str,
        test: impl Fn(&Json) -> Result<(), String>,
    ) {
        if candidates.is_empty() {
            panic!("expected a {what}, but the template has none");
        }
        let mut reasons = String::new();
        for (logical_id, resource) in candidates {
            match test(resource) {
                Ok(()) => return,
                Err(why) => {
                    let _ = writeln!(reasons, "  {logical_id}: {why}");
                }
            }
        }
        panic!("no {what} matches the pattern:\n{reasons}");
    }
}
