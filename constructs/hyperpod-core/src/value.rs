//! Typed values: literals, references and CloudFormation's intrinsic functions.
//!
//! [`Expr`] is the untyped tree that synthesis renders to JSON; it holds references to
//! nodes as real handles, never as strings with hidden markers. [`Value<T>`] wraps an
//! `Expr` with the type CloudFormation will see once the value is resolved, so that a
//! list-valued attribute cannot be passed where a string is expected.

use std::borrow::Cow;
use std::marker::PhantomData;

use indexmap::IndexMap;

use crate::condition::{CfnCondition, ConditionExpr};
use crate::tree::NodeRef;

/// A value as it will appear in a template once references are resolved.
#[derive(Clone, Debug)]
pub enum Expr {
    /// JSON `null`.
    Null,
    /// A literal boolean.
    Bool(bool),
    /// A literal number.
    Number(serde_json::Number),
    /// A literal string.
    String(String),
    /// A list of values.
    List(Vec<Expr>),
    /// An object with keys in declaration order.
    Map(ExprMap),
    /// `Ref` to a resource or parameter, or the value of an output (in another stack).
    Ref(NodeRef),
    /// `Fn::GetAtt` on a resource.
    GetAtt(NodeRef, String),
    /// `Ref` to a pseudo parameter.
    Pseudo(Pseudo),
    /// `Fn::Sub` with a template and its variables. Variables are typed values; the
    /// template may also name pseudo parameters (`${AWS::Region}`).
    Sub(String, Box<ExprMap>),
    /// `Fn::Join` with a delimiter and a list.
    Join(String, Box<Expr>),
    /// `Fn::Select` with an index and a list.
    Select(Box<Expr>, Box<Expr>),
    /// `Fn::Split` with a delimiter and a source string.
    Split(String, Box<Expr>),
    /// `Fn::If` with a condition and the two branches.
    If(NodeRef, Box<Expr>, Box<Expr>),
    /// `Fn::ImportValue` of an export name.
    ImportValue(Box<Expr>),
    /// `Fn::GetStackOutput`: an output of another stack, possibly in another account.
    GetStackOutput(Box<StackOutputRef>),
    /// `Fn::Base64`.
    Base64(Box<Expr>),
    /// `Fn::GetAZs` of a region (empty string: the stack's region).
    GetAzs(Box<Expr>),
    /// `Fn::Cidr` with an IP block, a count and the number of subnet bits.
    Cidr(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `Fn::FindInMap` in a mapping with a top-level and a second-level key.
    FindInMap(NodeRef, Box<Expr>, Box<Expr>),
}

/// The key of an [`ExprMap`] entry. A key the code spells out (`"Effect"`) is borrowed and
/// costs no allocation; most keys of a template are property names.
pub type MapKey = Cow<'static, str>;

/// The entries of an object value, in declaration order.
///
/// Objects in templates are small (a resource's properties, a policy statement), and a
/// large app holds hundreds of thousands of them, so this is a list searched in order
/// rather than a hash map: each entry costs its key and value and nothing else. Inserting
/// a key that is already present replaces its value in place, as a map does.
#[derive(Clone, Debug, Default)]
pub struct ExprMap {
    entries: Vec<(MapKey, Expr)>,
}

impl ExprMap {
    /// An empty object.
    pub fn new() -> ExprMap {
        ExprMap::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Expr> {
        self.position(key).map(|at| &self.entries[at].1)
    }

    /// The value of `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Expr> {
        self.position(key).map(|at| &mut self.entries[at].1)
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key` to `value`: in place when the key is present (returning the old value),
    /// otherwise as the last entry.
    pub fn insert(&mut self, key: impl Into<MapKey>, value: Expr) -> Option<Expr> {
        let key = key.into();
        match self.position(&key) {
            Some(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            None => {
                // Objects are built once and rarely grow past a few entries: room for one
                // more at a time keeps them exactly as large as they are.
                if self.entries.len() < 8 {
                    self.entries.reserve_exact(1);
                }
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of `key`, inserted from `default` when absent.
    pub fn get_or_insert_with(
        &mut self,
        key: impl Into<MapKey>,
        default: impl FnOnce() -> Expr,
    ) -> &mut Expr {
        let key = key.into();
        let at = match self.position(&key) {
            Some(at) => at,
            None => {
                self.entries.push((key, default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[at].1
    }

    /// Removes `key`, keeping the order of the other entries.
    pub fn remove(&mut self, key: &str) -> Option<Expr> {
        self.position(key).map(|at| self.entries.remove(at).1)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Expr)> + DoubleEndedIterator {
        self.into_iter()
    }

    /// The entries in order, their values changeable.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&str, &mut Expr)> {
        self.entries.iter_mut().map(|(key, value)| (&**key, value))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(key, _)| &**key)
    }

    /// The values in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Expr> {
        self.entries.iter().map(|(_, value)| value)
    }

    /// The values in order, changeable.
    pub fn values_mut(&mut self) -> impl ExactSizeIterator<Item = &mut Expr> {
        self.entries.iter_mut().map(|(_, value)| value)
    }
}

impl<K: Into<MapKey>> FromIterator<(K, Expr)> for ExprMap {
    /// The entries in order; a key given twice keeps its first place and its last value.
    fn from_iter<I: IntoIterator<Item = (K, Expr)>>(entries: I) -> ExprMap {
        let entries = entries.into_iter();
        let mut map = ExprMap {
            entries: Vec::with_capacity(entries.size_hint().0),
        };
        map.extend(entries);
        map
    }
}

impl<K: Into<MapKey>> Extend<(K, Expr)> for ExprMap {
    fn extend<I: IntoIterator<Item = (K, Expr)>>(&mut self, entries: I) {
        for (key, value) in entries {
            let key = key.into();
            match self.position(&key) {
                Some(at) => self.entries[at].1 = value,
                None => self.entries.push((key, value)),
            }
        }
    }
}

/// An entry of an [`ExprMap`] as iteration gives it.
type EntryRef<'a> = (&'a str, &'a Expr);

impl<'a> IntoIterator for &'a ExprMap {
    type Item = EntryRef<'a>;
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (MapKey, Expr)>,
        fn(&'a (MapKey, Expr)) -> EntryRef<'a>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(key, value)| (&**key, value))
    }
}

impl IntoIterator for ExprMap {
    type Item = (MapKey, Expr);
    type IntoIter = std::vec::IntoIter<(MapKey, Expr)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// The arguments of `Fn::GetStackOutput`.
#[derive(Clone, Debug)]
pub struct StackOutputRef {
    /// The name of the stack that holds the output.
    pub stack_name: Expr,
    /// The logical id of the output in that stack.
    pub output_name: Expr,
    /// The region of that stack; the consumer's region when absent.
    pub region: Option<Expr>,
    /// A role with `cloudformation:DescribeStacks` on that stack, needed across accounts.
    pub role_arn: Option<Expr>,
}

/// CloudFormation's pseudo parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    /// `AWS::AccountId`: the account the stack is deployed to.
    AccountId,
    /// `AWS::Region`: the region the stack is deployed to.
    Region,
    /// `AWS::Partition`: `aws`, `aws-cn` or `aws-us-gov`; use it to build ARNs.
    Partition,
    /// `AWS::URLSuffix`: `amazonaws.com` in most partitions.
    UrlSuffix,
    /// `AWS::StackName`: the name of the stack.
    StackName,
    /// `AWS::StackId`: the id of the stack.
    StackId,
    /// `AWS::NotificationARNs`: the stack's notification topics.
    NotificationArns,
    /// `AWS::NoValue`: removes the property it is given to (used in `Fn::If`).
    NoValue,
}

impl Pseudo {
    /// The name CloudFormation knows this pseudo parameter by.
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::Region => "AWS::Region",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::StackId => "AWS::StackId",
            Pseudo::NotificationArns => "AWS::NotificationARNs",
            Pseudo::NoValue => "AWS::NoValue",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Pseudo> {
        [
            Pseudo::AccountId,
            Pseudo::Region,
            Pseudo::Partition,
            Pseudo::UrlSuffix,
            Pseudo::StackName,
            Pseudo::StackId,
            Pseudo::NotificationArns,
            Pseudo::NoValue,
        ]
        .into_iter()
        .find(|pseudo| pseudo.name() == name)
    }
}

impl Expr {
    /// An object from key-value pairs, in the order given.
    pub fn map<K: Into<MapKey>>(entries: impl IntoIterator<Item = (K, Expr)>) -> Expr {
        Expr::Map(entries.into_iter().collect())
    }

    /// A list from values, in the order given.
    pub fn list(items: impl IntoIterator<Item = Expr>) -> Expr {
        let mut items: Vec<Expr> = items.into_iter().collect();
        // Collecting from a vector of larger things reuses its allocation, and the list
        // lives as long as the app.
        items.shrink_to_fit();
        Expr::List(items)
    }

    /// The literal string, when this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Expr::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value is fully known at synthesis (holds no reference or function).
    pub fn is_literal(&self) -> bool {
        match self {
            Expr::Null | Expr::Bool(_) | Expr::Number(_) | Expr::String(_) => true,
            Expr::List(items) => items.iter().all(Expr::is_literal),
            Expr::Map(entries) => entries.values().all(Expr::is_literal),
            _ => false,
        }
    }

    /// The literal JSON as compact text (as `serde_json` prints it), when the value holds no
    /// reference or function; written straight from the value, without building JSON.
    pub fn to_literal_json_string(&self) -> Option<String> {
        self.is_literal().then(|| {
            let mut text =
                serde_json::to_string(&LiteralJson(self)).expect("a literal value serializes");
            // Documents written this way are kept in the tree; the serializer's doubling
            // would leave a third of each unused.
            text.shrink_to_fit();
            text
        })
    }

    /// The literal JSON, when the value holds no reference or function.
    pub fn to_literal_json(&self) -> Option<serde_json::Value> {
        Some(match self {
            Expr::Null => serde_json::Value::Null,
            Expr::Bool(b) => serde_json::Value::Bool(*b),
            Expr::Number(n) => serde_json::Value::Number(n.clone()),
            Expr::String(s) => serde_json::Value::String(s.clone()),
            Expr::List(items) => serde_json::Value::Array(
                items
                    .iter()
                    .map(Expr::to_literal_json)
                    .collect::<Option<_>>()?,
            ),
            Expr::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Some((k.to_owned(), v.to_literal_json()?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }
}

/// A literal [`Expr`] as serde sees it: what [`Expr::to_literal_json`] would build,
/// serialized in place. Only for values [`Expr::is_literal`] accepts.
struct LiteralJson<'a>(&'a Expr);

impl serde::Serialize for LiteralJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _, SerializeSeq as _};
        match self.0 {
            Expr::Null => serializer.serialize_unit(),
            Expr::Bool(b) => serializer.serialize_bool(*b),
            Expr::Number(n) => n.serialize(serializer),
            Expr::String(s) => serializer.serialize_str(s),
            Expr::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&LiteralJson(item))?;
                }
                seq.end()
            }
            Expr::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries.iter() {
                    map.serialize_entry(key, &LiteralJson(value))?;
                }
                map.end()
            }
            _ => Err(S::Error::custom("not a literal value")),
        }
    }
}

impl From<serde_json::Value> for Expr {
    /// Literal JSON. Objects that look like intrinsic functions are kept as plain objects:
    /// this is the escape hatch for what the typed layer does not cover.
    fn from(value: serde_json::Value) -> Expr {
        match value {
            serde_json::Value::Null => Expr::Null,
            serde_json::Value::Bool(b) => Expr::Bool(b),
            serde_json::Value::Number(n) => Expr::Number(n),
            serde_json::Value::String(s) => Expr::String(s),
            serde_json::Value::Array(items) => {
                Expr::List(items.into_iter().map(Expr::from).collect())
            }
            serde_json::Value::Object(entries) => Expr::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Expr::from(v)))
                    .collect(),
            ),
        }
    }
}

impl From<&str> for Expr {
    fn from(value: &str) -> Expr {
        Expr::String(value.to_owned())
    }
}

impl From<String> for Expr {
    fn from(mut value: String) -> Expr {
        // Values live as long as the app; a string built by `format!` or pushes has room
        // to spare.
        value.shrink_to_fit();
        Expr::String(value)
    }
}

impl From<bool> for Expr {
    fn from(value: bool) -> Expr {
        Expr::Bool(value)
    }
}

impl From<i64> for Expr {
    fn from(value: i64) -> Expr {
        Expr::Number(value.into())
    }
}

impl<T> From<Value<T>> for Expr {
    fn from(value: Value<T>) -> Expr {
        value.expr
    }
}

impl<T> From<&Value<T>> for Expr {
    fn from(value: &Value<T>) -> Expr {
        value.expr.clone()
    }
}

/// A value of CloudFormation type `T`: a literal, a reference, or an intrinsic function
/// whose result has that type.
///
/// ```
/// use hyperpod_core::{Value, fns, Pseudo};
/// let name: Value<String> = "training-data".into();
/// let arn = fns::join(":", [
///     "arn".into(),
///     Pseudo::Partition.value(),
///     "s3".into(),
///     "".into(),
///     "".into(),
///     name,
/// ]);
/// assert!(!arn.expr().is_literal());
/// ```
pub struct Value<T> {
    expr: Expr,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value::from_expr(self.expr.clone())
    }
}

impl<T> std::fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.expr.fmt(f)
    }
}

impl<T> Value<T> {
    /// Wraps an untyped expression. The caller vouches that it resolves to a `T`; the
    /// generated resource layer uses this for attributes it knows the type of.
    pub fn from_expr(expr: Expr) -> Value<T> {
        Value {
            expr,
            kind: PhantomData,
        }
    }

    /// The untyped expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// Consumes the value and returns the untyped expression.
    pub fn into_expr(self) -> Expr {
        self.expr
    }

    /// `AWS::NoValue`: as a branch of [`fns::if_`], removes the property.
    pub fn no_value() -> Value<T> {
        Value::from_expr(Expr::Pseudo(Pseudo::NoValue))
    }
}

impl Value<String> {
    /// The literal string, when the value is one.
    pub fn as_literal(&self) -> Option<&str> {
        self.expr.as_str()
    }
}

impl<T> Value<Vec<T>> {
    /// A list of typed values.
    pub fn list(items: impl IntoIterator<Item = Value<T>>) -> Value<Vec<T>> {
        Value::from_expr(Expr::list(items.into_iter().map(Value::into_expr)))
    }
}

impl From<&str> for Value<String> {
    fn from(value: &str) -> Self {
        Value::from_expr(value.into())
    }
}

impl From<String> for Value<String> {
    fn from(value: String) -> Self {
        Value::from_expr(value.into())
    }
}

impl From<&String> for Value<String> {
    fn from(value: &String) -> Self {
        Value::from_expr(value.as_str().into())
    }
}

impl From<bool> for Value<bool> {
    fn from(value: bool) -> Self {
        Value::from_expr(value.into())
    }
}

macro_rules! number_values {
    ($target:ty: $($source:ty),*) => {$(
        impl From<$source> for Value<$target> {
            fn from(value: $source) -> Self {
                Value::from_expr(Expr::Number(value.into()))
            }
        }
    )*};
}

// Integer properties are `Value<i64>`; any integer literal converts into one.
number_values!(i64: i64, i32, u32, u16, u8);

impl From<i32> for Value<f64> {
    fn from(value: i32) -> Self {
        Value::from_expr(Expr::Number(value.into()))
    }
}

impl From<serde_json::Value> for Value<serde_json::Value> {
    /// Literal JSON for a property typed as JSON (policy documents and the like).
    fn from(value: serde_json::Value) -> Self {
        Value::from_expr(value.into())
    }
}

impl From<Expr> for Value<serde_json::Value> {
    /// A JSON-typed property built from values that may hold references (a policy
    /// document naming a bucket's ARN, for example).
    fn from(value: Expr) -> Self {
        Value::from_expr(value)
    }
}

impl<T, U: Into<Value<T>>> From<Vec<U>> for Value<Vec<T>> {
    fn from(items: Vec<U>) -> Self {
        Value::list(items.into_iter().map(Into::into))
    }
}

impl<T, U: Into<Value<T>>> From<IndexMap<String, U>> for Value<IndexMap<String, T>> {
    fn from(entries: IndexMap<String, U>) -> Self {
        Value::from_expr(Expr::Map(
            entries
                .into_iter()
                .map(|(key, value)| (key, value.into().into_expr()))
                .collect(),
        ))
    }
}

impl From<f64> for Value<f64> {
    /// A literal number. A non-finite number has no JSON form and becomes `null`, which
    /// CloudFormation rejects; pass finite numbers.
    fn from(value: f64) -> Self {
        Value::from_expr(
            serde_json::Number::from_f64(value)
                .map(Expr::Number)
                .unwrap_or(Expr::Null),
        )
    }
}

impl Pseudo {
    /// This pseudo parameter as a string value (`AWS::NotificationARNs` is a list: use
    /// [`Pseudo::list_value`] for it).
    pub fn value(self) -> Value<String> {
        Value::from_expr(Expr::Pseudo(self))
    }

    /// This pseudo parameter as a list value.
    pub fn list_value(self) -> Value<Vec<String>> {
        Value::from_expr(Expr::Pseudo(self))
    }
}

/// CloudFormation's intrinsic functions, typed by what they return.
pub mod fns {
    use super::*;

    /// `Fn::Join`: the parts joined with a delimiter.
    pub fn join(delimiter: &str, parts: impl IntoIterator<Item = Value<String>>) -> Value<String> {
        join_list(delimiter, Value::list(parts))
    }

    /// `Fn::Join` over a list-valued expression (an attribute or `Fn::Split`).
    pub fn join_list(delimiter: &str, list: Value<Vec<String>>) -> Value<String> {
        Value::from_expr(Expr::Join(delimiter.to_owned(), Box::new(list.into_expr())))
    }

    /// `Fn::Sub`: substitutes `${name}` in the template with the typed variables given.
    /// The template may also name pseudo parameters (`${AWS::Region}`) and escape a literal
    /// `${` as `${!`. Naming anything else (such as a logical id) is a synthesis error: pass
    /// the value as a variable instead.
    pub fn sub<K: Into<MapKey>>(
        template: &str,
        variables: impl IntoIterator<Item = (K, Value<String>)>,
    ) -> Value<String> {
        Value::from_expr(Expr::Sub(
            template.to_owned(),
            Box::new(
                variables
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into_expr()))
                    .collect(),
            ),
        ))
    }

    /// A JSON document as one string, keeping its numbers and booleans. CloudFormation turns
    /// every value it passes to a custom resource into a string, so a document that must
    /// keep its types travels as JSON text. A fully literal document becomes a literal
    /// string; otherwise `Fn::Sub`, where each reference or function sits inside a JSON
    /// string and must resolve to text without quotes or backslashes (ids, ARNs, names,
    /// DNS names).
    pub fn to_json(document: impl Into<Expr>) -> Value<String> {
        let document = document.into();
        if let Some(literal) = document.to_literal_json_string() {
            return Value::from_expr(Expr::String(literal));
        }
        let mut template = String::new();
        let mut variables = ExprMap::new();
        write_json(&document, &mut template, &mut variables);
        template.shrink_to_fit();
        Value::from_expr(Expr::Sub(template, Box::new(variables)))
    }

    /// Writes `expr` as JSON into an `Fn::Sub` template: literals escaped for `Fn::Sub`,
    /// everything else as a quoted variable.
    fn write_json(expr: &Expr, template: &mut String, variables: &mut ExprMap) {
        match expr {
            Expr::List(items) => {
                template.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        template.push(',');
                    }
                    write_json(item, template, variables);
                }
                template.push(']');
            }
            Expr::Map(entries) => {
                template.push('{');
                for (index, (key, value)) in entries.iter().enumerate() {
                    if index > 0 {
                        template.push(',');
                    }
                    let key = serde_json::Value::String(key.to_owned()).to_string();
                    template.push_str(&key.replace("${", "${!"));
                    template.push(':');
                    write_json(value, template, variables);
                }
                template.push('}');
            }
            literal if literal.is_literal() => {
                let text = literal.to_literal_json_string().expect("a literal scalar");
                template.push_str(&text.replace("${", "${!"));
            }
            reference => {
                let name = format!("v{}", variables.len());
                template.push_str(&format!("\"${{{name}}}\""));
                variables.insert(name, reference.clone());
            }
        }
    }

    /// `Fn::Select`: the item at `index` of a list.
    pub fn select<T>(index: u32, list: Value<Vec<T>>) -> Value<T> {
        Value::from_expr(Expr::Select(
            Box::new(Expr::Number(index.into())),
            Box::new(list.into_expr()),
        ))
    }

    /// `Fn::Split`: a string split on a delimiter.
    pub fn split(delimiter: &str, source: Value<String>) -> Value<Vec<String>> {
        Value::from_expr(Expr::Split(
            delimiter.to_owned(),
            Box::new(source.into_expr()),
        ))
    }

    /// `Fn::If`: `then` when the condition holds, otherwise `otherwise`. Use
    /// [`Value::no_value`] as a branch to remove the property.
    pub fn if_<T>(condition: &CfnCondition, then: Value<T>, otherwise: Value<T>) -> Value<T> {
        Value::from_expr(Expr::If(
            condition.node_ref(),
            Box::new(then.into_expr()),
            Box::new(otherwise.into_expr()),
        ))
    }

    /// `Fn::ImportValue`: the value of an export of another stack in the same account and
    /// region. References between stacks of one app produce this on their own; use it for
    /// exports of stacks outside the app.
    pub fn import_value(export_name: Value<String>) -> Value<String> {
        Value::from_expr(Expr::ImportValue(Box::new(export_name.into_expr())))
    }

    /// `Fn::GetStackOutput`: an output of a stack outside the app, possibly in another
    /// account (give `role_arn`) or region.
    pub fn get_stack_output(
        stack_name: Value<String>,
        output_name: Value<String>,
        region: Option<Value<String>>,
        role_arn: Option<Value<String>>,
    ) -> Value<String> {
        Value::from_expr(Expr::GetStackOutput(Box::new(StackOutputRef {
            stack_name: stack_name.into_expr(),
            output_name: output_name.into_expr(),
            region: region.map(Value::into_expr),
            role_arn: role_arn.map(Value::into_expr),
        })))
    }

    /// `Fn::Base64`: the string encoded in base64 (for EC2 user data).
    pub fn base64(value: Value<String>) -> Value<String> {
        Value::from_expr(Expr::Base64(Box::new(value.into_expr())))
    }

    /// `Fn::GetAZs`: the availability zones of a region. Pass `None` for the stack's region.
    pub fn get_azs(region: Option<Value<String>>) -> Value<Vec<String>> {
        let region = region.map_or(Expr::String(String::new()), Value::into_expr);
        Value::from_expr(Expr::GetAzs(Box::new(region)))
    }

    /// `Fn::Cidr`: `count` CIDR blocks of `cidr_bits` host bits carved from `ip_block`.
    pub fn cidr(
        ip_block: Value<String>,
        count: Value<i64>,
        cidr_bits: Value<i64>,
    ) -> Value<Vec<String>> {
        Value::from_expr(Expr::Cidr(
            Box::new(ip_block.into_expr()),
            Box::new(count.into_expr()),
            Box::new(cidr_bits.into_expr()),
        ))
    }

    /// `Fn::Equals` as a condition expression.
    pub fn equals<T>(left: Value<T>, right: Value<T>) -> ConditionExpr {
        ConditionExpr::Equals(left.into_expr(), right.into_expr())
    }
}
