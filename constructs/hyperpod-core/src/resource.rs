//! Resources: a type, typed properties and the resource attributes.

use crate::condition::CfnCondition;
use crate::element::{ElementBody, TemplateElement, add_element};
use crate::schema::ResourceSpec;
use crate::tree::{Node, NodeRef, Scope};
use crate::value::{Expr, ExprMap, Value};

pub(crate) struct ResourceData {
    pub(crate) type_name: String,
    pub(crate) properties: ExprMap,
    pub(crate) overrides: Vec<PropertyOverride>,
    pub(crate) depends_on: Vec<NodeRef>,
    pub(crate) deletion_policy: Option<DeletionPolicy>,
    pub(crate) update_replace_policy: Option<DeletionPolicy>,
    pub(crate) condition: Option<NodeRef>,
    pub(crate) metadata: ExprMap,
    pub(crate) tag_format: TagFormat,
    pub(crate) spec: Option<SpecAttachment>,
}

#[derive(Clone, Copy)]
pub(crate) struct SpecAttachment {
    pub(crate) spec: &'static ResourceSpec,
    pub(crate) enums_checked_by_types: bool,
}

pub(crate) struct PropertyOverride {
    pub(crate) path: Vec<String>,
    /// `None` deletes the property.
    pub(crate) value: Option<Expr>,
}

/// What CloudFormation does with a resource when it leaves the template (`DeletionPolicy`)
/// or is replaced (`UpdateReplacePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Delete the resource.
    Delete,
    /// Keep the resource and its data; it leaves CloudFormation's management.
    Retain,
    /// Keep it, except when the stack's creation fails and rolls back.
    RetainExceptOnCreate,
    /// Take a snapshot before deleting (for the types that support snapshots).
    Snapshot,
}

impl DeletionPolicy {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DeletionPolicy::Delete => "Delete",
            DeletionPolicy::Retain => "Retain",
            DeletionPolicy::RetainExceptOnCreate => "RetainExceptOnCreate",
            DeletionPolicy::Snapshot => "Snapshot",
        }
    }
}

/// How a resource type takes tags in its `Tags` property, if it takes any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagFormat {
    /// The type has no `Tags` property; inherited tags are not applied.
    NotTaggable,
    /// `Tags` is a list of `{"Key": .., "Value": ..}` objects (most types).
    KeyValueList,
    /// `Tags` is an object from key to value (for example `AWS::SSM::Parameter`).
    Map,
}

/// A resource in a stack's `Resources` section.
///
/// The generated typed layer builds on this type; use it directly, through
/// [`CfnResource::raw`], for a type the typed layer does not cover.
#[derive(Clone, Debug)]
pub struct CfnResource {
    node: Node,
}

impl CfnResource {
    /// Declares a resource of `type_name` (such as `AWS::S3::Bucket`) with typed properties.
    pub fn new(
        scope: &impl Scope,
        id: &str,
        type_name: &str,
        tag_format: TagFormat,
        properties: ExprMap,
    ) -> CfnResource {
        let node = add_element(
            scope,
            id,
            ElementBody::Resource(ResourceData {
                type_name: type_name.to_owned(),
                properties,
                overrides: Vec::new(),
                depends_on: Vec::new(),
                deletion_policy: None,
                update_replace_policy: None,
                condition: None,
                metadata: ExprMap::new(),
                tag_format,
                spec: None,
            }),
        );
        if !is_valid_type_name(type_name) {
            node.report(
                "invalid_resource_type",
                format!(
                    "`{type_name}` is not a resource type name; use `Service::Provider::Type` (such as `AWS::S3::Bucket`) or `Custom::Name`"
                ),
            );
        }
        CfnResource { node }
    }

    /// The escape hatch: declares a resource from literal JSON properties (an object).
    /// Inherited tags are applied when `tag_format` says how the type takes them.
    pub fn raw(
        scope: &impl Scope,
        id: &str,
        type_name: &str,
        tag_format: TagFormat,
        properties: serde_json::Value,
    ) -> CfnResource {
        let (properties, not_an_object) = match properties {
            serde_json::Value::Object(entries) => (
                entries
                    .into_iter()
                    .map(|(k, v)| (k, Expr::from(v)))
                    .collect(),
                false,
            ),
            serde_json::Value::Null => (ExprMap::new(), false),
            _ => (ExprMap::new(), true),
        };
        let resource = CfnResource::new(scope, id, type_name, tag_format, properties);
        if not_an_object {
            resource.node.report(
                "invalid_raw_properties",
                "the properties of a raw resource must be a JSON object; pass `json!({ .. })` with one key per property",
            );
        }
        resource
    }

    /// The resource declared with `id` directly below `scope`, if there is one: for
    /// constructs that share one resource per stack (such as a log bucket) and look for it
    /// before creating it.
    pub fn find(scope: &impl Scope, id: &str) -> Option<CfnResource> {
        scope
            .node()
            .children()
            .into_iter()
            .find(|child| child.id() == id)
            .filter(|child| {
                child
                    .with_element(|element| matches!(element.body, ElementBody::Resource(_)))
                    .unwrap_or(false)
            })
            .map(|node| CfnResource { node })
    }

    fn with_data<R>(&self, f: impl FnOnce(&ResourceData) -> R) -> R {
        self.node
            .with_element(|element| match &element.body {
                ElementBody::Resource(data) => f(data),
                _ => unreachable!("a CfnResource handle always points at a resource"),
            })
            .expect("a CfnResource handle always points at an element")
    }

    fn with_data_mut<R>(&self, f: impl FnOnce(&mut ResourceData) -> R) -> R {
        self.node
            .with_element_mut(|element| match &mut element.body {
                ElementBody::Resource(data) => f(data),
                _ => unreachable!("a CfnResource handle always points at a resource"),
            })
            .expect("a CfnResource handle always points at an element")
    }

    /// Attaches the type's schema: synthesis then checks the rendered properties (including
    /// overrides) against its constraints. The typed layer attaches it to every resource it
    /// creates, with `enums_checked_by_types` set since its enums are Rust types.
    pub fn attach_spec(&self, spec: &'static ResourceSpec, enums_checked_by_types: bool) {
        self.with_data_mut(|data| {
            data.spec = Some(SpecAttachment {
                spec,
                enums_checked_by_types,
            })
        });
    }

    /// The schema attached to this resource, if any.
    pub fn spec(&self) -> Option<&'static ResourceSpec> {
        self.with_data(|data| data.spec.map(|attachment| attachment.spec))
    }

    /// The CloudFormation type name.
    pub fn resource_type(&self) -> String {
        self.with_data(|data| data.type_name.clone())
    }

    /// Sets (or replaces) one top-level property.
    pub fn set_property(&self, name: &str, value: impl Into<Expr>) {
        let value = value.into();
        self.with_data_mut(|data| {
            data.properties.insert(name.to_owned(), value);
        });
    }

    /// The escape hatch for a typed resource: sets the property at a dotted path
    /// (`"VersioningConfiguration.Status"`) in the synthesized properties, creating objects
    /// on the way. A numeric segment indexes an existing list. Overrides apply after
    /// everything else, in the order they were added.
    pub fn add_property_override(&self, path: &str, value: impl Into<Expr>) {
        let value = value.into();
        self.push_override(path, Some(value));
    }

    /// Removes the property at a dotted path from the synthesized properties.
    pub fn add_property_deletion_override(&self, path: &str) {
        self.push_override(path, None);
    }

    fn push_override(&self, path: &str, value: Option<Expr>) {
        let segments: Vec<String> = path.split('.').map(str::to_owned).collect();
        if segments.iter().any(String::is_empty) {
            self.node.report(
                "invalid_override_path",
                format!("override path `{path}` has an empty segment; write property names separated by single dots"),
            );
            return;
        }
        self.with_data_mut(|data| {
            data.overrides.push(PropertyOverride {
                path: segments,
                value,
            })
        });
    }

    /// Makes this resource wait for `target`: a resource, or every resource below a
    /// construct. A target in another stack makes this resource's stack depend on that one.
    pub fn add_depends_on(&self, target: &impl Scope) {
        let target = target.node().downgrade();
        self.with_data_mut(|data| data.depends_on.push(target));
    }

    /// Sets `DeletionPolicy`.
    pub fn set_deletion_policy(&self, policy: DeletionPolicy) {
        self.with_data_mut(|data| data.deletion_policy = Some(policy));
    }

    /// Sets `UpdateReplacePolicy`.
    pub fn set_update_replace_policy(&self, policy: DeletionPolicy) {
        self.with_data_mut(|data| data.update_replace_policy = Some(policy));
    }

    /// Keeps the resource, and its data, when it leaves the template or is replaced. Every
    /// resource that holds data the user cannot recreate should get this.
    pub fn retain_on_delete_and_replace(&self) {
        self.set_deletion_policy(DeletionPolicy::Retain);
        self.set_update_replace_policy(DeletionPolicy::Retain);
    }

    /// Creates the resource only when the condition holds.
    pub fn set_condition(&self, condition: &CfnCondition) {
        let condition = condition.node_ref();
        self.with_data_mut(|data| data.condition = Some(condition));
    }

    /// Adds an entry to the resource's `Metadata`.
    pub fn add_metadata(&self, key: &str, value: impl Into<Expr>) {
        let value = value.into();
        self.with_data_mut(|data| {
            data.metadata.insert(key.to_owned(), value);
        });
    }

    /// `Ref` of this resource. What it returns depends on the type (a name, an id or an
    /// ARN); the typed layer documents it per type.
    pub fn ref_value(&self) -> Value<String> {
        Value::from_expr(Expr::Ref(self.node.downgrade()))
    }

    /// `Fn::GetAtt` of an attribute of this resource, typed by the caller.
    pub fn get_att<T>(&self, attribute: &str) -> Value<T> {
        Value::from_expr(Expr::GetAtt(self.node.downgrade(), attribute.to_owned()))
    }
}

impl Scope for CfnResource {
    fn node(&self) -> &Node {
        &self.node
    }
}

impl TemplateElement for CfnResource {}

fn is_valid_type_name(type_name: &str) -> bool {
    let parts: Vec<&str> = type_name.split("::").collect();
    let alphanumeric =
        |part: &&str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric());
    match parts.as_slice() {
        ["Custom", name] => {
            !name.is_empty()
                && name.len() <= 60
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_@-".contains(c))
        }
        [_, _, _] => parts.iter().all(alphanumeric),
        _ => false,
    }
}
