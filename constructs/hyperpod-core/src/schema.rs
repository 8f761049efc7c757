//! What a resource type's provider schema says, as static data: the constraints synthesis
//! checks on literal values, and the metadata diff needs (create-only properties, primary
//! identifier).
//!
//! The generated typed layer (`hyperpod-cfn`) emits one [`ResourceSpec`] per resource type
//! and attaches it to each resource it creates; the checks here run at synthesis on the
//! rendered properties, so they also cover raw resources and property overrides.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde_json::Value as Json;

use crate::resource::TagFormat;
use crate::validation::Issue;

/// The JSON type a schema node expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything: several types are allowed, or the schema does not say.
    Any,
    /// A string.
    String,
    /// An integer (a numeric string is accepted, as CloudFormation does).
    Integer,
    /// A number.
    Number,
    /// A boolean (`"true"` and `"false"` are accepted).
    Boolean,
    /// A list.
    Array,
    /// An object.
    Object,
}

/// The constraints of one schema node.
#[derive(Debug)]
pub struct Rule {
    /// The expected type.
    pub kind: Kind,
    /// The allowed string values; empty when any value is allowed.
    pub enum_values: &'static [&'static str],
    /// A regular expression a string must contain a match for.
    pub pattern: Option<&'static str>,
    /// The shortest string allowed, in characters.
    pub min_length: Option<u64>,
    /// The longest string allowed, in characters.
    pub max_length: Option<u64>,
    /// The smallest number allowed.
    pub minimum: Option<f64>,
    /// The largest number allowed.
    pub maximum: Option<f64>,
    /// The fewest items a list may hold.
    pub min_items: Option<u64>,
    /// The most items a list may hold.
    pub max_items: Option<u64>,
    /// The rule of each item of a list.
    pub items: Option<&'static Rule>,
    /// The known keys of an object and their rules.
    pub properties: &'static [(&'static str, &'static Rule)],
    /// The keys an object must have.
    pub required: &'static [&'static str],
    /// Whether keys other than `properties` are refused.
    pub closed: bool,
}

impl Rule {
    /// A rule that accepts anything; generated rules start from it.
    pub const ANY: Rule = Rule {
        kind: Kind::Any,
        enum_values: &[],
        pattern: None,
        min_length: None,
        max_length: None,
        minimum: None,
        maximum: None,
        min_items: None,
        max_items: None,
        items: None,
        properties: &[],
        required: &[],
        closed: false,
    };
}

/// What the provider schema of one resource type says.
#[derive(Debug)]
pub struct ResourceSpec {
    /// The type name, such as `AWS::S3::Bucket`.
    pub type_name: &'static str,
    /// The rule of the `Properties` object.
    pub properties: &'static Rule,
    /// Properties whose change replaces the resource, as `/`-separated paths below
    /// `Properties` (`Name`, `ComputeQuotaTarget/TeamName`).
    pub create_only: &'static [&'static str],
    /// The properties that identify a deployed resource.
    pub primary_identifier: &'static [&'static str],
    /// How the type takes tags.
    pub tag_format: TagFormat,
    /// The AWS documentation page of the type.
    pub documentation: &'static str,
}

impl ResourceSpec {
    /// Whether changing the property at `path` (`/`-separated, below `Properties`)
    /// replaces the resource: the path is create-only or lies below a create-only one.
    pub fn replaces_on_change(&self, path: &str) -> bool {
        self.create_only
            .iter()
            .any(|create_only| path == *create_only || path.starts_with(&format!("{create_only}/")))
    }
}

/// Checks rendered properties against a resource's schema. Values that are references
/// or intrinsic functions are not known at synthesis and are skipped. With
/// `enums_checked_by_types`, enum constraints are left to the Rust types, which also
/// let the user pass a value newer than the schema.
pub fn check_properties(
    spec: &ResourceSpec,
    properties: &Json,
    enums_checked_by_types: bool,
) -> Vec<Issue> {
    let mut issues = Vec::new();
    let checker = Checker {
        check_enums: !enums_checked_by_types,
        type_name: spec.type_name,
    };
    checker.check(spec.properties, properties, "", &mut issues);
    issues
}

struct Checker {
    check_enums: bool,
    type_name: &'static str,
}

/// Whether a value is an intrinsic function or a reference, resolved only at deploy time.
fn is_intrinsic(value: &Json) -> bool {
    match value {
        Json::Object(entries) if entries.len() == 1 => {
            let key = entries.keys().next().expect("one entry");
            key == "Ref" || key == "Condition" || key.starts_with("Fn::")
        }
        _ => false,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Checker {
    fn report(&self, issues: &mut Vec<Issue>, code: &str, path: &str, message: String) {
        let at = if path.is_empty() {
            "Properties".to_owned()
        } else {
            format!("property `{path}`")
        };
        issues.push(Issue::new(
            code,
            format!("{at} of {}: {message}", self.type_name),
        ));
    }

    fn check(&self, rule: &Rule, value: &Json, path: &str, issues: &mut Vec<Issue>) {
        if is_intrinsic(value) {
            return;
        }
        match rule.kind {
            Kind::Any => {}
            Kind::String => self.check_string(rule, value, path, issues),
            Kind::Integer | Kind::Number => self.check_number(rule, value, path, issues),
            Kind::Boolean => {
                let ok = value.is_boolean() || matches!(value.as_str(), Some("true" | "false"));
                if !ok {
                    self.report(
                        issues,
                        "property_type_mismatch",
                        path,
                        format!("expected a boolean, found {value}; pass true or false"),
                    );
                }
            }
            Kind::Array => self.check_array(rule, value, path, issues),
            Kind::Object => self.check_object(rule, value, path, issues),
        }
    }

    fn check_string(&self, rule: &Rule, value: &Json, path: &str, issues: &mut Vec<Issue>) {
        let text: std::borrow::Cow<'_, str> = match value {
            Json::String(s) => s.as_str().into(),
            // CloudFormation turns scalars into strings where a string is expected.
            Json::Number(n) => n.to_string().into(),
            Json::Bool(b) => b.to_string().into(),
            _ => {
                self.report(
                    issues,
                    "property_type_mismatch",
                    path,
                    format!("expected a string, found {value}; pass a string"),
                );
                return;
            }
        };
        if self.check_enums && !rule.enum_values.is_empty() && !rule.enum_values.contains(&&*text) {
            let shown: Vec<&str> = rule.enum_values.iter().take(12).copied().collect();
            let more = if rule.enum_values.len() > shown.len() {
                ", ..."
            } else {
                ""
            };
            self.report(
                issues,
                "property_value_not_allowed",
                path,
                format!(
                    "`{text}` is not one of {}{more}; use one of the allowed values",
                    shown.join(", ")
                ),
            );
        }
        let length = text.chars().count() as u64;
        if let Some(min) = rule.min_length
            && length < min
        {
            self.report(
                issues,
                "property_too_short",
                path,
                format!(
                    "`{text}` has {length} characters, fewer than the minimum of {min}; lengthen it"
                ),
            );
        }
        if let Some(max) = rule.max_length
            && length > max
        {
            self.report(
                issues,
                "property_too_long",
                path,
                format!(
                    "the value has {length} characters, more than the maximum of {max}; shorten it"
                ),
            );
        }
        if let Some(pattern) = rule.pattern
            && let Some(regex) = compiled(pattern)
            && regex.is_match(&*text).is_ok_and(|matched| !matched)
        {
            self.report(
                issues,
                "property_pattern_mismatch",
                path,
                format!(
                    "`{text}` does not match the pattern `{pattern}`; change the value to fit it"
                ),
            );
        }
    }

    fn check_number(&self, rule: &Rule, value: &Json, path: &str, issues: &mut Vec<Issue>) {
        let number = match value {
            Json::Number(n) => n.as_f64(),
            // CloudFormation accepts numbers written as strings.
            Json::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        let Some(number) = number else {
            self.report(
                issues,
                "property_type_mismatch",
                path,
                format!("expected a number, found {value}; pass a number"),
            );
            return;
        };
        if rule.kind == Kind::Integer && number.fract() != 0.0 {
            self.report(
                issues,
                "property_type_mismatch",
                path,
                format!("expected an integer, found {number}; pass a whole number"),
            );
        }
        if let Some(min) = rule.minimum
            && number < min
        {
            self.report(
                issues,
                "property_out_of_range",
                path,
                format!("{number} is below the minimum of {min}; raise it"),
            );
        }
        if let Some(max) = rule.maximum
            && number > max
        {
            self.report(
                issues,
                "property_out_of_range",
                path,
                format!("{number} is above the maximum of {max}; lower it"),
            );
        }
    }

    fn check_array(&self, rule: &Rule, value: &Json, path: &str, issues: &mut Vec<Issue>) {
        let Json::Array(items) = value else {
            self.report(
                issues,
                "property_type_mismatch",
                path,
                format!("expected a list, found {value}; pass a list"),
            );
            return;
        };
        let count = items.len() as u64;
        if let Some(min) = rule.min_items
            && count < min
        {
            self.report(
                issues,
                "property_too_few_items",
                path,
                format!("the list has {count} item(s), fewer than the minimum of {min}; add items"),
            );
        }
        if let Some(max) = rule.max_items
            && count > max
        {
            self.report(
                issues,
                "property_too_many_items",
                path,
                format!("the list has {count} items, more than the maximum of {max}; remove items"),
            );
        }
        if let Some(item_rule) = rule.items {
            for (index, item) in items.iter().enumerate() {
                self.check(item_rule, item, &format!("{path}[{index}]"), issues);
            }
        }
    }

    fn check_object(&self, rule: &Rule, value: &Json, path: &str, issues: &mut Vec<Issue>) {
        let Json::Object(entries) = value else {
            self.report(
                issues,
                "property_type_mismatch",
                path,
                format!("expected an object, found {value}; pass an object"),
            );
            return;
        };
        for required in rule.required {
            if !entries.contains_key(*required) {
                self.report(
                    issues,
                    "property_required",
                    &join(path, required),
                    "is required but missing; set it".to_owned(),
                );
            }
        }
        for (key, item) in entries {
            match rule.properties.iter().find(|(name, _)| name == key) {
                Some((_, item_rule)) => self.check(item_rule, item, &join(path, key), issues),
                None if rule.closed => {
                    let known: Vec<&str> = rule.properties.iter().map(|(name, _)| *name).collect();
                    let close = known.iter().find(|name| name.eq_ignore_ascii_case(key));
                    let hint = match close {
                        Some(name) => format!("did you mean `{name}`?"),
                        None => format!("the known properties are {}", known.join(", ")),
                    };
                    self.report(
                        issues,
                        "property_unknown",
                        &join(path, key),
                        format!("is not a property here; {hint}"),
                    );
                }
                None => {}
            }
        }
    }
}

/// Compiles a schema pattern once. The schemas write ECMAScript patterns, lookaround
/// included, hence `fancy_regex`; the generator emits only patterns it compiles, so a
/// pattern that still fails here is left unchecked rather than refusing valid values.
/// Each compiled pattern lives for the process (there are a few hundred at most) and is
/// shared, never cloned: a clone starts without the match caches, and building those
/// cost more than the match.
fn compiled(pattern: &'static str) -> Option<&'static fancy_regex::Regex> {
    static CACHE: LazyLock<Mutex<HashMap<&'static str, Option<&'static fancy_regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *cache.entry(pattern).or_insert_with(|| {
        fancy_regex::Regex::new(pattern)
            .ok()
            .map(|regex| &*Box::leak(Box::new(regex)))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    static NAME: Rule = Rule {
        kind: Kind::String,
        min_length: Some(3),
        max_length: Some(5),
        pattern: Some("^[a-z]+$"),
        ..Rule::ANY
    };
    static MODE: Rule = Rule {
        kind: Kind::String,
        enum_values: &["On", "Off"],
        ..Rule::ANY
    };
    static COUNT: Rule = Rule {
        kind: Kind::Integer,
        minimum: Some(1.0),
        maximum: Some(10.0),
        ..Rule::ANY
    };
    static NAMES: Rule = Rule {
        kind: Kind::Array,
        max_items: Some(2),
        items: Some(&NAME),
        ..Rule::ANY
    };
    static PROPERTIES: Rule = Rule {
        kind: Kind::Object,
        properties: &[
            ("Name", &NAME),
            ("Mode", &MODE),
            ("Count", &COUNT),
            ("Names", &NAMES),
        ],
        required: &["Name"],
        closed: true,
        ..Rule::ANY
    };
    static SPEC: ResourceSpec = ResourceSpec {
        type_name: "Test::Thing::Widget",
        properties: &PROPERTIES,
        create_only: &["Name", "Config/Id"],
        primary_identifier: &["Name"],
        tag_format: TagFormat::NotTaggable,
        documentation: "",
    };

    fn codes(properties: Json, typed: bool) -> Vec<String> {
        check_properties(&SPEC, &properties, typed)
            .into_iter()
            .map(|issue| issue.code)
            .collect()
    }

    #[test]
    fn valid_literals_and_intrinsics_pass() {
        assert!(
            codes(
                json!({ "Name": "abc", "Mode": "On", "Count": 3, "Names": ["abc"] }),
                false
            )
            .is_empty()
        );
        assert!(
            codes(
                json!({ "Name": { "Ref": "Param" }, "Count": { "Fn::GetAtt": ["X", "Y"] } }),
                false
            )
            .is_empty()
        );
        assert!(codes(json!({ "Name": "abc", "Count": "4" }), false).is_empty());
    }

    #[test]
    fn each_constraint_is_reported() {
        assert_eq!(
            codes(json!({ "Name": "ab" }), false),
            ["property_too_short"]
        );
        assert_eq!(
            codes(json!({ "Name": "abcdef" }), false),
            ["property_too_long"]
        );
        assert_eq!(
            codes(json!({ "Name": "ABC" }), false),
            ["property_pattern_mismatch"]
        );
        assert_eq!(
            codes(json!({ "Name": "abc", "Mode": "Maybe" }), false),
            ["property_value_not_allowed"]
        );
        assert_eq!(
            codes(json!({ "Name": "abc", "Count": 11 }), false),
            ["property_out_of_range"]
        );
        assert_eq!(
            codes(json!({ "Name": "abc", "Count": 1.5 }), false),
            ["property_type_mismatch"]
        );
        assert_eq!(
            codes(
                json!({ "Name": "abc", "Names": ["abc", "abd", "abe"] }),
                false
            ),
            ["property_too_many_items"]
        );
        assert_eq!(codes(json!({}), false), ["property_required"]);
        assert_eq!(
            codes(json!({ "Name": "abc", "name": "x" }), false),
            ["property_unknown"]
        );
    }

    #[test]
    fn enums_are_left_to_the_types_of_typed_resources() {
        assert!(codes(json!({ "Name": "abc", "Mode": "Later" }), true).is_empty());
    }

    #[test]
    fn messages_name_the_property_path_and_the_fix() {
        let issues = check_properties(
            &SPEC,
            &json!({ "Name": "abc", "Names": ["abc", "AB"] }),
            false,
        );
        assert_eq!(issues.len(), 2);
        assert!(
            issues[0]
                .message
                .starts_with("property `Names[1]` of Test::Thing::Widget"),
            "{}",
            issues[0].message
        );
        let unknown = check_properties(&SPEC, &json!({ "Name": "abc", "count": 1 }), false);
        assert!(
            unknown[0].message.contains("did you mean `Count`?"),
            "{}",
            unknown[0].message
        );
    }

    #[test]
    fn create_only_paths_and_their_children_replace() {
        assert!(SPEC.replaces_on_change("Name"));
        assert!(SPEC.replaces_on_change("Config/Id"));
        assert!(SPEC.replaces_on_change("Config/Id/Part"));
        assert!(!SPEC.replaces_on_change("Config"));
        assert!(!SPEC.replaces_on_change("Names"));
    }
}
