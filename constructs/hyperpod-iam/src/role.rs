//! Roles.

use hyperpod_cfn::iam::{CfnRole, RoleProps as CfnRoleProps, role};
use hyperpod_core::{Issue, Scope, Value, fns};

use crate::policy::{PolicyDocument, check_arn};

/// A managed policy attached to a role.
#[derive(Clone, Debug)]
pub enum ManagedPolicy {
    /// A policy managed by AWS, by name (`AmazonEKSClusterPolicy`); its ARN is built with
    /// the stack's partition.
    Aws(String),
    /// Any policy by ARN.
    Arn(Value<String>),
}

impl ManagedPolicy {
    /// A policy managed by AWS.
    pub fn aws(name: &str) -> ManagedPolicy {
        ManagedPolicy::Aws(name.to_owned())
    }

    /// The policy's ARN.
    pub fn arn(&self) -> Value<String> {
        match self {
            ManagedPolicy::Aws(name) => fns::sub(
                "arn:${AWS::Partition}:iam::aws:policy/${name}",
                [("name", name.into())],
            ),
            ManagedPolicy::Arn(arn) => arn.clone(),
        }
    }
}

/// The options of a [`Role`]. `RoleProps::new(trust)` gives a role with only a trust
/// policy.
#[derive(Clone, Debug)]
pub struct RoleProps {
    /// Who may assume the role.
    pub assumed_by: PolicyDocument,
    /// The role's name; CloudFormation generates one when absent. A name is needed when
    /// another account's policy names the role.
    pub role_name: Option<String>,
    /// What the role is for.
    pub description: Option<String>,
    /// Managed policies to attach.
    pub managed_policies: Vec<ManagedPolicy>,
    /// Inline policies, by name.
    pub inline_policies: Vec<(String, PolicyDocument)>,
    /// The role's path (`/` when absent).
    pub path: Option<String>,
    /// The ARN of a managed policy that bounds the role's permissions.
    pub permissions_boundary: Option<Value<String>>,
    /// The longest session, in seconds: 3600 to 43200 (3600 when absent).
    pub max_session_duration: Option<u32>,
}

impl RoleProps {
    /// A role with a trust policy and nothing else.
    pub fn new(assumed_by: PolicyDocument) -> RoleProps {
        RoleProps {
            assumed_by,
            role_name: None,
            description: None,
            managed_policies: Vec::new(),
            inline_policies: Vec::new(),
            path: None,
            permissions_boundary: None,
            max_session_duration: None,
        }
    }
}

/// An IAM role with its trust policy, managed and inline policies.
#[derive(Clone, Debug)]
pub struct Role {
    resource: CfnRole,
    name: Option<String>,
}

impl Role {
    /// Declares a role. Its documents, name, path and session length are checked and the
    /// problems reported at synthesis.
    pub fn new(scope: &impl Scope, id: &str, mut props: RoleProps) -> Role {
        let issues = check_role(&props);
        // Checked: the documents move into the template values.
        let assumed_by = std::mem::take(&mut props.assumed_by);
        let inline_policies = std::mem::take(&mut props.inline_policies);
        let resource = CfnRole::new(
            scope,
            id,
            CfnRoleProps {
                role_name: props.role_name.as_ref().map(Value::from),
                description: props.description.as_ref().map(Value::from),
                managed_policy_arns: (!props.managed_policies.is_empty())
                    .then(|| Value::list(props.managed_policies.iter().map(ManagedPolicy::arn))),
                policies: (!inline_policies.is_empty()).then(|| {
                    Value::list(
                        inline_policies
                            .into_iter()
                            .map(|(name, document)| role::Policy::new(document, name).into()),
                    )
                }),
                path: props.path.as_ref().map(Value::from),
                permissions_boundary: props.permissions_boundary.clone(),
                max_session_duration: props.max_session_duration.map(Value::from),
                ..CfnRoleProps::new(assumed_by)
            },
        );
        resource.node().report_all(issues);
        Role {
            resource,
            name: props.role_name,
        }
    }

    /// The role's ARN.
    pub fn arn(&self) -> Value<String> {
        self.resource.arn()
    }

    /// The role's name as deployed (`Ref`).
    pub fn role_name(&self) -> Value<String> {
        self.resource.ref_value()
    }

    /// The name given at construction, if any.
    pub fn given_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The generated resource, for escape hatches.
    pub fn resource(&self) -> &CfnRole {
        &self.resource
    }
}

impl Scope for Role {
    fn node(&self) -> &hyperpod_core::Node {
        self.resource.node()
    }
}

fn check_role(props: &RoleProps) -> Vec<Issue> {
    let mut issues = props.assumed_by.check();
    if props
        .assumed_by
        .statements
        .iter()
        .any(|s| s.principals.is_empty())
    {
        issues.push(Issue::new(
            "trust_without_principal",
            "every statement of a trust policy needs a principal; say who may assume the role",
        ));
    }
    for (name, document) in &props.inline_policies {
        for issue in document.check() {
            issues.push(Issue::new(
                issue.code,
                format!("inline policy `{name}`: {}", issue.message),
            ));
        }
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            issues.push(Issue::new("invalid_policy_name", format!("inline policy name `{name}` must be 1 to 128 letters, digits and `+=,.@_-`; rename it")));
        }
    }
    if let Some(name) = &props.role_name {
        // IAM role names: 1 to 64 characters of letters, digits and `+=,.@_-`.
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            issues.push(Issue::new("invalid_role_name", format!("role name `{name}` must be 1 to 64 letters, digits and `+=,.@_-`; rename the role")));
        }
    }
    if let Some(path) = &props.path
        && !(path.starts_with('/')
            && path.ends_with('/')
            && path.len() <= 512
            && !path.contains("//"))
    {
        issues.push(Issue::new(
            "invalid_role_path",
            format!(
                "role path `{path}` must start and end with `/` (for example `/teams/`); fix it"
            ),
        ));
    }
    if let Some(seconds) = props.max_session_duration
        && !(3600..=43200).contains(&seconds)
    {
        issues.push(Issue::new("invalid_max_session_duration", format!("max_session_duration {seconds} is outside 3600 to 43200 seconds; choose a value in that range")));
    }
    for policy in &props.managed_policies {
        if let ManagedPolicy::Arn(arn) = policy
            && let Some(literal) = arn.as_literal()
            && let Err(reason) = check_arn(literal)
        {
            issues.push(Issue::new(
                "malformed_arn",
                format!("managed policy `{literal}` {reason}"),
            ));
        }
        if let ManagedPolicy::Aws(name) = policy
            && (name.is_empty() || name.contains(':') || name.starts_with('/'))
        {
            issues.push(Issue::new("invalid_managed_policy_name", format!("`{name}` is not the name of an AWS managed policy; give the name only, such as `AmazonEKSClusterPolicy`")));
        }
    }
    issues
}
