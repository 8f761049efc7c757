//! Who may become a team's data scientist in the data scientists' account, and the trust
//! policies of the chain from there to the cluster: every hop requires a source identity,
//! so that CloudTrail and the EKS audit log in the cluster's account name the person.

use hyperpod_core::{Node, Value, fns};
use hyperpod_iam::{Condition, ConditionOperator, PolicyDocument, Principal, Statement};

/// The principals of the data scientists' account that may assume a team's role there.
/// There is no default that trusts the whole account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TeamMembers {
    /// The roles IAM Identity Center creates for a permission set (by the permission set's
    /// name, `AWSReservedSSO_<name>_…`): the people assigned to it in the account.
    PermissionSet(String),
    /// Principals of the account tagged `key=value` (an IAM user or role tag, or a session
    /// tag from the identity provider).
    PrincipalTag {
        /// The tag's key, such as `team`.
        key: String,
        /// The tag's value, such as `vision`.
        value: String,
    },
    /// People federated through a SAML provider of the account, by the provider's name.
    SamlProvider(String),
    /// Roles of the account by name (with their path, if any, as `path/name`).
    Roles(Vec<String>),
}

/// Requires a source identity: the person's name, set on the first hop and kept by every
/// later one ("The value that is set persists when a role is used to assume another role",
/// id_credentials_temp_control-access_monitor).
pub(crate) fn requires_source_identity() -> Condition {
    Condition::new(
        ConditionOperator::Null,
        "sts:SourceIdentity",
        ["false".into()],
    )
}

impl TeamMembers {
    /// The trust policy of the team's role in `account`.
    pub(crate) fn trust(&self, account: &str) -> PolicyDocument {
        let statement = match self {
            TeamMembers::SamlProvider(provider) => Statement::allow()
                .principal(Principal::SamlProvider {
                    account: account.to_owned(),
                    name: provider.clone(),
                })
                .actions(["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"])
                .condition(Condition::new(
                    ConditionOperator::StringEquals,
                    "SAML:aud",
                    ["https://signin.aws.amazon.com/saml".into()],
                )),
            other => {
                let statement = Statement::allow()
                    .principal(Principal::account(account))
                    .actions(["sts:AssumeRole", "sts:SetSourceIdentity"]);
                match other {
                    // Identity Center names the role `AWSReservedSSO_<set>_<16 hex digits>`:
                    // sixteen `?`, not `*`, so that the set `Ml` does not also admit `Ml_Admins`.
                    TeamMembers::PermissionSet(name) => statement.condition(Condition::new(
                        ConditionOperator::ArnLike,
                        "aws:PrincipalArn",
                        [fns::sub(
                            "arn:${AWS::Partition}:iam::${account}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_${name}_????????????????",
                            [("account", Value::from(account)), ("name", Value::from(name.as_str()))],
                        )],
                    )),
                    TeamMembers::PrincipalTag { key, value } => statement.condition(Condition::new(
                        ConditionOperator::StringEquals,
                        &format!("aws:PrincipalTag/{key}"),
                        [value.as_str().into()],
                    )),
                    TeamMembers::Roles(names) => statement.condition(Condition::new(
                        ConditionOperator::ArnEquals,
                        "aws:PrincipalArn",
                        names.iter().map(|name| hyperpod_iam::role_arn(account, name)),
                    )),
                    TeamMembers::SamlProvider(_) => unreachable!("handled above"),
                }
            }
        };
        PolicyDocument::new([statement
            .sid("TeamMembers")
            .condition(requires_source_identity())])
    }

    /// Reports what IAM would refuse.
    pub(crate) fn check(&self, node: &Node, team: &str) {
        let name_chars = |name: &str| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        };
        match self {
            TeamMembers::PermissionSet(name) if name.is_empty() || name.len() > 32 || !name_chars(name) => node.report("invalid_permission_set", format!("team `{team}`: `{name}` is not a permission set name (1 to 32 letters, digits and `+=,.@_-`); give the name IAM Identity Center shows")),
            TeamMembers::PrincipalTag { key, value } if key.is_empty() || value.is_empty() => node.report("invalid_principal_tag", format!("team `{team}`: the principal tag needs a key and a value, such as `team` = `{team}`")),
            TeamMembers::SamlProvider(name) if name.is_empty() || !name_chars(name) => node.report("invalid_saml_provider", format!("team `{team}`: `{name}` is not a SAML provider name; give the name the IAM console shows")),
            TeamMembers::Roles(names) if names.is_empty() => node.report("no_team_members", format!("team `{team}`: name at least one role that may become the team's data scientist")),
            TeamMembers::Roles(names) => {
                for name in names.iter().filter(|name| name.is_empty() || !name.split('/').all(|part| !part.is_empty() && name_chars(part))) {
                    node.report("invalid_role_name", format!("team `{team}`: `{name}` is not a role name; give it as `name` or `path/name`"));
                }
            }
            _ => {}
        }
    }
}
