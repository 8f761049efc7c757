//! Policy documents, statements, principals and conditions.

use hyperpod_core::{Expr, ExprMap, Issue, Value, fns};
use indexmap::IndexMap;

/// Whether a statement allows or denies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// Who a statement applies to, in a resource policy or a trust policy.
#[derive(Clone, Debug)]
pub enum Principal {
    /// Anyone (`"*"`); narrow it with conditions.
    Any,
    /// Every identity of an account that its own policies allow (`arn:<partition>:iam::<id>:root`).
    Account(String),
    /// A role by account and name; its ARN is built at synthesis.
    Role {
        /// The account of the role.
        account: String,
        /// The role's name (with its path, if it has one, as `path/name`).
        name: String,
    },
    /// An ARN given as is, with the account it must belong to, which is checked when the
    /// ARN is a literal.
    Arn {
        /// The principal's ARN.
        arn: Value<String>,
        /// The account the ARN must name.
        account: String,
    },
    /// An AWS service, such as `sagemaker.amazonaws.com`.
    Service(String),
    /// A federated identity provider, by name (`cognito-identity.amazonaws.com`) or ARN.
    Federated(String),
    /// A SAML identity provider of an account, by account and name.
    SamlProvider {
        /// The account that holds the provider.
        account: String,
        /// The provider's name.
        name: String,
    },
}

impl Principal {
    /// Every identity of an account.
    pub fn account(account: &str) -> Principal {
        Principal::Account(account.to_owned())
    }

    /// A role by account and name.
    pub fn role(account: &str, name: &str) -> Principal {
        Principal::Role {
            account: account.to_owned(),
            name: name.to_owned(),
        }
    }

    /// An AWS service.
    pub fn service(service: &str) -> Principal {
        Principal::Service(service.to_owned())
    }

    /// A trust policy that lets this principal assume a role (`sts:AssumeRole`).
    pub fn trust(self) -> PolicyDocument {
        PolicyDocument::new([Statement::allow().principal(self).action("sts:AssumeRole")])
    }

    fn key(&self) -> &'static str {
        match self {
            Principal::Any => "*",
            Principal::Account(_) | Principal::Role { .. } | Principal::Arn { .. } => "AWS",
            Principal::Service(_) => "Service",
            Principal::Federated(_) | Principal::SamlProvider { .. } => "Federated",
        }
    }

    fn value(&self) -> Value<String> {
        match self {
            Principal::Any => "*".into(),
            Principal::Account(account) => fns::sub(
                "arn:${AWS::Partition}:iam::${account}:root",
                [("account", account.into())],
            ),
            Principal::Role { account, name } => role_arn(account, name),
            Principal::Arn { arn, .. } => arn.clone(),
            Principal::Service(service) | Principal::Federated(service) => service.into(),
            Principal::SamlProvider { account, name } => fns::sub(
                "arn:${AWS::Partition}:iam::${account}:saml-provider/${name}",
                [("account", account.into()), ("name", name.into())],
            ),
        }
    }

    fn check(&self, issues: &mut Vec<Issue>) {
        match self {
            Principal::Account(account)
            | Principal::Role { account, .. }
            | Principal::Arn { account, .. }
            | Principal::SamlProvider { account, .. }
                if !is_account(account) =>
            {
                issues.push(Issue::new("invalid_principal_account", format!("principal account `{account}` is not a 12-digit account id; give the account's id")));
            }
            _ => {}
        }
        if let Principal::Arn { arn, account } = self
            && let Some(literal) = arn.as_literal()
        {
            match check_arn(literal) {
                Err(reason) => issues.push(Issue::new(
                    "malformed_arn",
                    format!("principal ARN `{literal}` {reason}"),
                )),
                Ok(()) => {
                    let named = literal.split(':').nth(4).unwrap_or_default();
                    if named != account {
                        issues.push(Issue::new(
                            "principal_account_mismatch",
                            format!("principal ARN `{literal}` names account {named} but is declared for account {account}; fix the ARN or the account"),
                        ));
                    }
                }
            }
        }
        if let Principal::Service(service) = self
            && !(service.ends_with(".amazonaws.com") || service.ends_with(".amazonaws.com.cn"))
        {
            issues.push(Issue::new("invalid_service_principal", format!("service principal `{service}` does not end with `.amazonaws.com`; use the service's principal name")));
        }
    }
}

/// The ARN of a role from its account and name, built at synthesis in the partition of the
/// stack that uses it.
pub fn role_arn(account: &str, name: &str) -> Value<String> {
    fns::sub(
        "arn:${AWS::Partition}:iam::${account}:role/${name}",
        [("account", account.into()), ("name", name.into())],
    )
}

fn is_account(account: &str) -> bool {
    account.len() == 12 && account.chars().all(|c| c.is_ascii_digit())
}

/// Checks the shape of a literal ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`.
pub fn check_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" {
        return Err(
            "is not an ARN; write `arn:<partition>:<service>:<region>:<account>:<resource>`"
                .to_owned(),
        );
    }
    if !matches!(
        parts[1],
        "aws"
            | "aws-cn"
            | "aws-us-gov"
            | "aws-iso"
            | "aws-iso-b"
            | "aws-iso-e"
            | "aws-iso-f"
            | "aws-eusc"
    ) && !parts[1].contains('*')
    {
        return Err(format!(
            "names partition `{}`, which does not exist; use `aws`, `aws-cn` or `aws-us-gov`",
            parts[1]
        ));
    }
    if parts[2].is_empty() {
        return Err("has no service; name the service after the partition".to_owned());
    }
    let account = parts[4];
    if !(account.is_empty() || account == "aws" || account.contains('*') || is_account(account)) {
        return Err(format!(
            "names account `{account}`, which is not 12 digits; fix the account"
        ));
    }
    if parts[5].is_empty() {
        return Err("has no resource part; end it with the resource".to_owned());
    }
    Ok(())
}

/// A condition operator, with its `IfExists` and set qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionOperator {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringLike`.
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `ArnEquals`.
    ArnEquals,
    /// `ArnLike`.
    ArnLike,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `Bool`.
    Bool,
    /// `NumericEquals`.
    NumericEquals,
    /// `NumericLessThanEquals`.
    NumericLessThanEquals,
    /// `NumericGreaterThanEquals`.
    NumericGreaterThanEquals,
    /// `DateGreaterThan`.
    DateGreaterThan,
    /// `DateLessThan`.
    DateLessThan,
    /// `IpAddress`.
    IpAddress,
    /// `NotIpAddress`.
    NotIpAddress,
    /// `Null`: whether the key is absent (`"true"`) or present (`"false"`).
    Null,
}

impl ConditionOperator {
    fn name(self) -> &'static str {
        match self {
            ConditionOperator::StringEquals => "StringEquals",
            ConditionOperator::StringNotEquals => "StringNotEquals",
            ConditionOperator::StringEqualsIgnoreCase => "StringEqualsIgnoreCase",
            ConditionOperator::StringLike => "StringLike",
            ConditionOperator::StringNotLike => "StringNotLike",
            ConditionOperator::ArnEquals => "ArnEquals",
            ConditionOperator::ArnLike => "ArnLike",
            ConditionOperator::ArnNotLike => "ArnNotLike",
            ConditionOperator::Bool => "Bool",
            ConditionOperator::NumericEquals => "NumericEquals",
            ConditionOperator::NumericLessThanEquals => "NumericLessThanEquals",
            ConditionOperator::NumericGreaterThanEquals => "NumericGreaterThanEquals",
            ConditionOperator::DateGreaterThan => "DateGreaterThan",
            ConditionOperator::DateLessThan => "DateLessThan",
            ConditionOperator::IpAddress => "IpAddress",
            ConditionOperator::NotIpAddress => "NotIpAddress",
            ConditionOperator::Null => "Null",
        }
    }
}

/// One condition: an operator, a context key and the values it is compared with.
#[derive(Clone, Debug)]
pub struct Condition {
    /// The operator.
    pub operator: ConditionOperator,
    /// Prefixes the operator with `ForAllValues:` or `ForAnyValue:` for multivalued keys.
    pub set_qualifier: Option<&'static str>,
    /// Appends `IfExists`: the condition holds when the key is absent.
    pub if_exists: bool,
    /// The context key, such as `aws:SecureTransport`.
    pub key: String,
    /// The values; any of them may match.
    pub values: Vec<Value<String>>,
}

impl Condition {
    /// A condition with one or more values.
    pub fn new(
        operator: ConditionOperator,
        key: &str,
        values: impl IntoIterator<Item = Value<String>>,
    ) -> Condition {
        Condition {
            operator,
            set_qualifier: None,
            if_exists: false,
            key: key.to_owned(),
            values: values.into_iter().collect(),
        }
    }

    fn operator_name(&self) -> String {
        let mut name = String::new();
        if let Some(qualifier) = self.set_qualifier {
            name.push_str(qualifier);
            name.push(':');
        }
        name.push_str(self.operator.name());
        if self.if_exists {
            name.push_str("IfExists");
        }
        name
    }
}

/// One statement of a policy.
#[derive(Clone, Debug)]
pub struct Statement {
    /// An optional identifier, letters and digits only.
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// The actions (`Action`), or with `not_actions` every action but these (`NotAction`).
    pub actions: Vec<String>,
    /// Whether `actions` is a `NotAction` list.
    pub not_actions: bool,
    /// The resources (`Resource`); empty in trust policies.
    pub resources: Vec<Value<String>>,
    /// Whether `resources` is a `NotResource` list.
    pub not_resources: bool,
    /// The principals (resource and trust policies only).
    pub principals: Vec<Principal>,
    /// The conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

impl Statement {
    fn with_effect(effect: Effect) -> Statement {
        Statement {
            sid: None,
            effect,
            actions: Vec::new(),
            not_actions: false,
            resources: Vec::new(),
            not_resources: false,
            principals: Vec::new(),
            conditions: Vec::new(),
        }
    }

    /// An empty `Allow` statement.
    pub fn allow() -> Statement {
        Statement::with_effect(Effect::Allow)
    }

    /// An empty `Deny` statement.
    pub fn deny() -> Statement {
        Statement::with_effect(Effect::Deny)
    }

    /// Sets the statement id.
    pub fn sid(mut self, sid: &str) -> Statement {
        self.sid = Some(sid.to_owned());
        self
    }

    /// Adds an action (`service:Action`, wildcards allowed).
    pub fn action(mut self, action: &str) -> Statement {
        self.actions.push(action.to_owned());
        self
    }

    /// Adds actions.
    pub fn actions<'s>(mut self, actions: impl IntoIterator<Item = &'s str>) -> Statement {
        self.actions.extend(actions.into_iter().map(str::to_owned));
        self
    }

    /// Makes the actions a `NotAction` list.
    pub fn not_actions(mut self) -> Statement {
        self.not_actions = true;
        self
    }

    /// Adds a resource.
    pub fn resource(mut self, resource: impl Into<Value<String>>) -> Statement {
        self.resources.push(resource.into());
        self
    }

    /// Adds resources.
    pub fn resources(mut self, resources: impl IntoIterator<Item = Value<String>>) -> Statement {
        self.resources.extend(resources);
        self
    }

    /// Makes the resources a `NotResource` list.
    pub fn not_resources(mut self) -> Statement {
        self.not_resources = true;
        self
    }

    /// Adds a principal.
    pub fn principal(mut self, principal: Principal) -> Statement {
        self.principals.push(principal);
        self
    }

    /// Adds a condition.
    pub fn condition(mut self, condition: Condition) -> Statement {
        self.conditions.push(condition);
        self
    }

    fn into_expr(self) -> Expr {
        let mut out = ExprMap::new();
        if let Some(sid) = self.sid {
            out.insert("Sid", sid.into());
        }
        out.insert(
            "Effect",
            if self.effect == Effect::Allow {
                "Allow"
            } else {
                "Deny"
            }
            .into(),
        );
        if !self.principals.is_empty() {
            if self.principals.iter().any(|p| matches!(p, Principal::Any)) {
                out.insert("Principal", "*".into());
            } else {
                let mut grouped: IndexMap<&'static str, Vec<Expr>> = IndexMap::new();
                for principal in &self.principals {
                    grouped
                        .entry(principal.key())
                        .or_default()
                        .push(principal.value().into_expr());
                }
                out.insert(
                    "Principal",
                    Expr::Map(
                        grouped
                            .into_iter()
                            .map(|(k, v)| (k, one_or_list(v)))
                            .collect(),
                    ),
                );
            }
        }
        let action_key = if self.not_actions {
            "NotAction"
        } else {
            "Action"
        };
        out.insert(
            action_key,
            one_or_list(self.actions.into_iter().map(Expr::from).collect()),
        );
        if !self.resources.is_empty() {
            let key = if self.not_resources {
                "NotResource"
            } else {
                "Resource"
            };
            out.insert(
                key,
                one_or_list(self.resources.into_iter().map(Value::into_expr).collect()),
            );
        }
        if !self.conditions.is_empty() {
            let mut by_operator: IndexMap<String, ExprMap> = IndexMap::new();
            for condition in self.conditions {
                let operator = condition.operator_name();
                let values =
                    one_or_list(condition.values.into_iter().map(Value::into_expr).collect());
                by_operator
                    .entry(operator)
                    .or_default()
                    .insert(condition.key, values);
            }
            out.insert(
                "Condition",
                Expr::Map(
                    by_operator
                        .into_iter()
                        .map(|(k, v)| (k, Expr::Map(v)))
                        .collect(),
                ),
            );
        }
        Expr::Map(out)
    }

    fn check(&self, index: usize, issues: &mut Vec<Issue>) {
        let at = format!(
            "statement {}",
            self.sid.clone().unwrap_or_else(|| format!("#{index}"))
        );
        if self.actions.is_empty() {
            issues.push(Issue::new(
                "statement_without_actions",
                format!("{at} has no action; add the actions it allows or denies"),
            ));
        }
        for action in &self.actions {
            let valid = action == "*"
                || action.split_once(':').is_some_and(|(service, name)| {
                    !service.is_empty()
                        && !name.is_empty()
                        && service
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-')
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
                });
            if !valid {
                issues.push(Issue::new("invalid_action", format!("{at}: action `{action}` is not `service:Action`; write it as, for example, `s3:GetObject`")));
            }
        }
        if let Some(sid) = &self.sid
            && (sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            issues.push(Issue::new(
                "invalid_sid",
                format!("statement id `{sid}` may hold only letters and digits; rename it"),
            ));
        }
        for resource in &self.resources {
            if let Some(literal) = resource.as_literal()
                && literal != "*"
                && let Err(reason) = check_arn(literal)
            {
                issues.push(Issue::new(
                    "malformed_arn",
                    format!("{at}: resource `{literal}` {reason}"),
                ));
            }
        }
        for principal in &self.principals {
            principal.check(issues);
        }
        for condition in &self.conditions {
            if condition.values.is_empty() {
                issues.push(Issue::new(
                    "condition_without_values",
                    format!(
                        "{at}: condition on `{}` has no value; give at least one",
                        condition.key
                    ),
                ));
            }
        }
    }
}

fn one_or_list(mut items: Vec<Expr>) -> Expr {
    if items.len() == 1 {
        items.remove(0)
    } else {
        // The list may be the statement's own, grown by pushes, and stays in the tree.
        items.shrink_to_fit();
        Expr::List(items)
    }
}

/// A policy document: version 2012-10-17 and its statements.
#[derive(Clone, Debug, Default)]
pub struct PolicyDocument {
    /// The statements, in order.
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// A document of the given statements.
    pub fn new(statements: impl IntoIterator<Item = Statement>) -> PolicyDocument {
        PolicyDocument {
            statements: statements.into_iter().collect(),
        }
    }

    /// Adds a statement.
    pub fn add(&mut self, statement: Statement) {
        self.statements.push(statement);
    }

    /// The document as a template value.
    pub fn to_expr(&self) -> Expr {
        self.clone().into_expr()
    }

    /// The document as a template value, its statements moved rather than copied.
    pub fn into_expr(self) -> Expr {
        Expr::map([
            ("Version", Expr::from("2012-10-17")),
            (
                "Statement",
                Expr::list(self.statements.into_iter().map(Statement::into_expr)),
            ),
        ])
    }

    /// What IAM would refuse in this document. Constructs that take a document report
    /// these on their node.
    pub fn check(&self) -> Vec<Issue> {
        let mut issues = Vec::new();
        if self.statements.is_empty() {
            issues.push(Issue::new(
                "empty_policy",
                "the policy has no statement; add one or leave the policy out",
            ));
        }
        for (index, statement) in self.statements.iter().enumerate() {
            statement.check(index, &mut issues);
        }
        let mut sids = std::collections::HashSet::new();
        for sid in self.statements.iter().filter_map(|s| s.sid.as_ref()) {
            if !sids.insert(sid) {
                issues.push(Issue::new(
                    "duplicate_sid",
                    format!("statement id `{sid}` is used twice; give each statement its own"),
                ));
            }
        }
        issues
    }
}

impl From<PolicyDocument> for Value<serde_json::Value> {
    fn from(document: PolicyDocument) -> Self {
        Value::from_expr(document.into_expr())
    }
}

impl From<&PolicyDocument> for Value<serde_json::Value> {
    fn from(document: &PolicyDocument) -> Self {
        Value::from_expr(document.to_expr())
    }
}
