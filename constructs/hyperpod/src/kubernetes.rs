//! Kubernetes objects as constructs: typed enough for what the platform needs in a cluster
//! (service accounts, RBAC, namespace labels, volumes), applied by the cluster's installer
//! in the same deploy and removed when the construct or its stack goes.

use std::collections::{BTreeMap, BTreeSet};

use hyperpod_core::{CfnResource, Construct, Expr, ExprMap, Node, Scope, TagFormat, fns};
use indexmap::IndexMap;

use crate::installer::KubernetesInstaller;

/// The longest a Kubernetes namespace or label value may be.
const DNS_LABEL_MAX: usize = 63;
/// The longest a Kubernetes object name may be.
const DNS_SUBDOMAIN_MAX: usize = 253;

/// One Kubernetes object: its API version, kind, name, namespace (for namespaced kinds),
/// labels and the rest of its body. Values in the body may be references (an FSx file
/// system's DNS name, a role's ARN), resolved when the stack deploys.
#[derive(Clone, Debug)]
pub struct KubernetesObject {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, Expr)>,
    body: IndexMap<String, Expr>,
}

/// One rule of a Role or ClusterRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// The API groups (`""` is the core group).
    pub api_groups: Vec<String>,
    /// The resources, such as `pods` or `pods/log`.
    pub resources: Vec<String>,
    /// Limits the rule to objects of these names; every object when empty.
    pub resource_names: Vec<String>,
    /// The verbs, such as `get` or `create`.
    pub verbs: Vec<String>,
}

impl PolicyRule {
    /// A rule allowing `verbs` on `resources` of `api_groups`.
    pub fn new(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let owned = |items: &[&str]| items.iter().map(|item| item.to_string()).collect();
        PolicyRule {
            api_groups: owned(api_groups),
            resources: owned(resources),
            resource_names: Vec::new(),
            verbs: owned(verbs),
        }
    }

    /// Limits the rule to objects of these names.
    pub fn names(mut self, names: &[&str]) -> PolicyRule {
        self.resource_names = names.iter().map(|name| name.to_string()).collect();
        self
    }

    fn to_expr(&self) -> Expr {
        let strings =
            |items: &[String]| Expr::list(items.iter().map(|item| Expr::from(item.as_str())));
        let mut rule = vec![
            ("apiGroups", strings(&self.api_groups)),
            ("resources", strings(&self.resources)),
        ];
        if !self.resource_names.is_empty() {
            rule.push(("resourceNames", strings(&self.resource_names)));
        }
        rule.push(("verbs", strings(&self.verbs)));
        Expr::map(rule)
    }
}

/// Who a RoleBinding or ClusterRoleBinding grants its role to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// A Kubernetes group, such as one an EKS access entry puts its principal in.
    Group(String),
    /// A user name.
    User(String),
    /// A service account in a namespace.
    ServiceAccount {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
}

impl Subject {
    fn to_expr(&self) -> Expr {
        match self {
            Subject::Group(name) => Expr::map([
                ("kind", "Group".into()),
                ("name", name.as_str().into()),
                ("apiGroup", "rbac.authorization.k8s.io".into()),
            ]),
            Subject::User(name) => Expr::map([
                ("kind", "User".into()),
                ("name", name.as_str().into()),
                ("apiGroup", "rbac.authorization.k8s.io".into()),
            ]),
            Subject::ServiceAccount { namespace, name } => Expr::map([
                ("kind", "ServiceAccount".into()),
                ("name", name.as_str().into()),
                ("namespace", namespace.as_str().into()),
            ]),
        }
    }
}

impl KubernetesObject {
    /// Any object, from its API version, kind, namespace (`None` for cluster-scoped kinds),
    /// name and the fields beside `apiVersion`, `kind` and `metadata`.
    pub fn new(
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        body: impl IntoIterator<Item = (&'static str, Expr)>,
    ) -> KubernetesObject {
        KubernetesObject {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.map(str::to_owned),
            name: name.to_owned(),
            labels: Vec::new(),
            annotations: Vec::new(),
            body: body
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value))
                .collect(),
        }
    }

    /// A namespace. Never use it for `hyperpod-ns-<team>`: task governance owns those; label
    /// them with [`KubernetesManifestProps::namespace_labels`].
    pub fn namespace(name: &str) -> KubernetesObject {
        KubernetesObject::new("v1", "Namespace", None, name, [])
    }

    /// A service account.
    pub fn service_account(namespace: &str, name: &str) -> KubernetesObject {
        KubernetesObject::new("v1", "ServiceAccount", Some(namespace), name, [])
    }

    /// A Role in a namespace.
    pub fn role(namespace: &str, name: &str, rules: &[PolicyRule]) -> KubernetesObject {
        KubernetesObject::new(
            "rbac.authorization.k8s.io/v1",
            "Role",
            Some(namespace),
            name,
            [("rules", Expr::list(rules.iter().map(PolicyRule::to_expr)))],
        )
    }

    /// A ClusterRole.
    pub fn cluster_role(name: &str, rules: &[PolicyRule]) -> KubernetesObject {
        KubernetesObject::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            None,
            name,
            [("rules", Expr::list(rules.iter().map(PolicyRule::to_expr)))],
        )
    }

    /// A RoleBinding of the Role `role` in its namespace.
    pub fn role_binding(
        namespace: &str,
        name: &str,
        role: &str,
        subjects: &[Subject],
    ) -> KubernetesObject {
        KubernetesObject::new(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            Some(namespace),
            name,
            [
                (
                    "subjects",
                    Expr::list(subjects.iter().map(Subject::to_expr)),
                ),
                ("roleRef", role_ref("Role", role)),
            ],
        )
    }

    /// A ClusterRoleBinding of the ClusterRole `role`.
    pub fn cluster_role_binding(name: &str, role: &str, subjects: &[Subject]) -> KubernetesObject {
        KubernetesObject::new(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            None,
            name,
            [
                (
                    "subjects",
                    Expr::list(subjects.iter().map(Subject::to_expr)),
                ),
                ("roleRef", role_ref("ClusterRole", role)),
            ],
        )
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> KubernetesObject {
        self.labels.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Adds an annotation; its value may be a reference.
    pub fn annotation(mut self, key: &str, value: impl Into<Expr>) -> KubernetesObject {
        self.annotations.push((key.to_owned(), value.into()));
        self
    }

    /// The kind, such as `Role`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace, for namespaced objects.
    pub fn namespace_name(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The object as Kubernetes reads it.
    pub fn to_expr(&self) -> Expr {
        self.clone().into_expr()
    }

    /// The object as Kubernetes reads it, its body moved rather than copied.
    pub fn into_expr(self) -> Expr {
        let mut metadata = vec![("name", Expr::from(self.name.as_str()))];
        if let Some(namespace) = &self.namespace {
            metadata.push(("namespace", namespace.as_str().into()));
        }
        if !self.labels.is_empty() {
            metadata.push((
                "labels",
                Expr::map(
                    self.labels
                        .iter()
                        .map(|(key, value)| (key.clone(), Expr::from(value.as_str()))),
                ),
            ));
        }
        if !self.annotations.is_empty() {
            metadata.push(("annotations", Expr::map(self.annotations.iter().cloned())));
        }
        let mut object = ExprMap::new();
        object.insert("apiVersion", Expr::from(self.api_version.as_str()));
        object.insert("kind", self.kind.as_str().into());
        object.insert("metadata", Expr::map(metadata));
        object.extend(self.body);
        Expr::Map(object)
    }

    /// What identifies the object in a cluster: group and kind, namespace and name.
    fn identity(&self) -> String {
        let group = self
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group);
        format!(
            "{group}/{}/{}/{}",
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        )
    }

    fn check(&self, node: &Node) {
        let what = format!("{} `{}`", self.kind, self.name);
        if !is_dns_subdomain(&self.name) {
            node.report("invalid_kubernetes_name", format!("{what}: the name must be 1 to 253 lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit; rename it"));
        }
        if let Some(namespace) = &self.namespace
            && !is_dns_label(namespace)
        {
            node.report("invalid_kubernetes_namespace", format!("{what}: namespace `{namespace}` must be 1 to 63 lowercase letters, digits and `-`, starting and ending with a letter or digit"));
        }
        if self.api_version.is_empty() || self.kind.is_empty() {
            node.report(
                "invalid_kubernetes_object",
                format!("{what}: give the object an API version and a kind"),
            );
        }
        for (key, value) in &self.labels {
            check_label(node, &what, key, value);
        }
    }
}

fn role_ref(kind: &str, name: &str) -> Expr {
    Expr::map([
        ("apiGroup", "rbac.authorization.k8s.io".into()),
        ("kind", kind.into()),
        ("name", name.into()),
    ])
}

/// The options of a [`KubernetesManifest`].
#[derive(Clone, Debug)]
pub struct KubernetesManifestProps {
    /// The installer of the cluster to apply to ([`crate::HyperPodEksCluster::installer`]).
    pub installer: KubernetesInstaller,
    /// The objects, applied in order (namespaces first).
    pub objects: Vec<KubernetesObject>,
    /// Labels set on namespaces this manifest does not create (such as the
    /// `hyperpod-ns-<team>` namespaces of task governance), removed again when the manifest
    /// goes: namespace, then key and value.
    pub namespace_labels: Vec<(String, Vec<(String, String)>)>,
    /// Custom resource definitions (such as `nodepools.karpenter.sh`) to wait for before
    /// applying, when something outside this deploy installs them.
    pub wait_for_definitions: Vec<String>,
    /// How long to wait for namespaces and definitions created elsewhere to appear
    /// (default 600 s).
    pub wait_timeout_seconds: u32,
}

impl KubernetesManifestProps {
    /// Objects to apply with `installer`.
    pub fn new(
        installer: &KubernetesInstaller,
        objects: Vec<KubernetesObject>,
    ) -> KubernetesManifestProps {
        KubernetesManifestProps {
            installer: installer.clone(),
            objects,
            namespace_labels: Vec::new(),
            wait_for_definitions: Vec::new(),
            wait_timeout_seconds: 600,
        }
    }
}

/// Kubernetes objects applied to an EKS cluster by its installer (a custom resource of type
/// `Custom::KubernetesObjects`), in the same deploy: created with the stack, updated
/// server-side when they change (objects an update drops are deleted), deleted with the
/// construct or its stack. Namespaces the objects need and the manifest does not create
/// are waited for, since task governance creates team namespaces some time after their
/// quota: make the manifest depend on what creates them.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// # let scripts = std::env::temp_dir().join("hyperpod-doc-lcs");
/// # std::fs::create_dir_all(&scripts).unwrap();
/// # std::fs::write(scripts.join("on_create.sh"), "#!/bin/bash\n").unwrap();
/// let app = App::new("demo");
/// let a = Stage::new(&app, "a", Environment::new("111111111111", "us-east-1"));
/// let assets = Stack::new(&a, "Assets", StackProps::default());
/// let stack = Stack::new(&a, "Cluster", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::new(&["use1-az2", "use1-az4"]));
/// let cluster = HyperPodEksCluster::new(&stack, "HyperPod", HyperPodEksClusterProps::new(
///     "ml-cluster", network.refs().clone(),
///     vec![InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 2)], scripts, assets,
/// ));
/// KubernetesManifest::new(&stack, "Reader", KubernetesManifestProps::new(cluster.installer(), vec![
///     KubernetesObject::cluster_role("node-reader", &[PolicyRule::new(&[""], &["nodes"], &["get", "list"])]),
///     KubernetesObject::cluster_role_binding("node-reader", "node-reader", &[Subject::Group("auditors".into())]),
/// ]));
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct KubernetesManifest {
    resource: CfnResource,
}

impl KubernetesManifest {
    /// Declares the objects.
    pub fn new(scope: &impl Scope, id: &str, props: KubernetesManifestProps) -> KubernetesManifest {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let mut seen = BTreeSet::new();
        for object in &props.objects {
            object.check(&node);
            if !seen.insert(object.identity()) {
                node.report(
                    "duplicate_kubernetes_object",
                    format!(
                        "{} `{}` is declared twice in this manifest; declare each object once",
                        object.kind, object.name
                    ),
                );
            }
        }
        let created: BTreeSet<&str> = props
            .objects
            .iter()
            .filter(|object| object.kind == "Namespace")
            .map(|object| object.name.as_str())
            .collect();
        let mut labels: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for (namespace, pairs) in &props.namespace_labels {
            if !is_dns_label(namespace) {
                node.report(
                    "invalid_kubernetes_namespace",
                    format!(
                        "namespace `{namespace}` must be 1 to 63 lowercase letters, digits and `-`"
                    ),
                );
            }
            for (key, value) in pairs {
                check_label(&node, &format!("namespace `{namespace}`"), key, value);
                labels
                    .entry(namespace.clone())
                    .or_default()
                    .insert(key.clone(), value.clone());
            }
        }
        let waited: BTreeSet<String> = props
            .objects
            .iter()
            .filter_map(|object| object.namespace.as_deref())
            .chain(labels.keys().map(String::as_str))
            .filter(|namespace| !created.contains(namespace))
            .map(str::to_owned)
            .collect();

        // Namespaces first, so that the objects in them can be applied in one go.
        let mut ordered = props.objects;
        ordered.sort_by_key(|object| object.kind != "Namespace");
        let resource = CfnResource::new(
            &construct,
            "Resource",
            "Custom::KubernetesObjects",
            TagFormat::NotTaggable,
            ExprMap::new(),
        );
        props.installer.connect(&resource);
        resource.set_property(
            "Objects",
            fns::to_json(Expr::list(
                ordered.into_iter().map(KubernetesObject::into_expr),
            )),
        );
        let waits = !waited.is_empty() || !props.wait_for_definitions.is_empty();
        if !waited.is_empty() {
            resource.set_property(
                "WaitForNamespaces",
                Expr::list(waited.into_iter().map(Expr::from)),
            );
        }
        if !props.wait_for_definitions.is_empty() {
            resource.set_property(
                "WaitForDefinitions",
                Expr::list(
                    props
                        .wait_for_definitions
                        .iter()
                        .map(|name| Expr::from(name.as_str())),
                ),
            );
        }
        if waits {
            resource.set_property("WaitTimeoutSeconds", props.wait_timeout_seconds.to_string());
        }
        if !labels.is_empty() {
            let labels = serde_json::to_value(&labels).expect("labels are plain strings");
            resource.set_property("NamespaceLabels", fns::to_json(Expr::from(labels)));
        }
        KubernetesManifest { resource }
    }

    /// The custom resource, to order other resources around it.
    pub fn resource(&self) -> &CfnResource {
        &self.resource
    }

    /// Applies the objects only after `target` (a resource or construct) exists.
    pub fn add_depends_on(&self, target: &impl Scope) {
        self.resource.add_depends_on(target);
    }
}

impl Scope for KubernetesManifest {
    fn node(&self) -> &Node {
        self.resource.node()
    }
}

fn check_label(node: &Node, what: &str, key: &str, value: &str) {
    let name = key.rsplit_once('/').map_or(key, |(_, name)| name);
    let prefix_ok = key
        .rsplit_once('/')
        .is_none_or(|(prefix, _)| is_dns_subdomain(prefix));
    let name_ok = !name.is_empty()
        && name.len() <= DNS_LABEL_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !prefix_ok || !name_ok {
        node.report("invalid_kubernetes_label", format!("{what}: label key `{key}` must be an optional DNS prefix and `/`, then 1 to 63 letters, digits, `-`, `_` and `.`"));
    }
    let value_ok = value.is_empty()
        || (value.len() <= DNS_LABEL_MAX
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()));
    if !value_ok {
        node.report("invalid_kubernetes_label", format!("{what}: label `{key}` has value `{value}`; use at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or digit"));
    }
}

/// A DNS-1123 label: a Kubernetes namespace or a service account's namespace.
pub(crate) fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= DNS_LABEL_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// A DNS-1123 subdomain: the name of most Kubernetes objects.
pub(crate) fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= DNS_SUBDOMAIN_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
}
