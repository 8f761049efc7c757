//! Stacks deployed as service-managed CloudFormation StackSets: one template, deployed by
//! CloudFormation from an administrator account to every account of some organizational
//! units, with resources confined to the accounts they belong to.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How a stack deploys as a service-managed StackSet ([`crate::StackProps::stack_set`]).
///
/// The stack's stage is the administrator: the organization's management account, or an
/// account registered as a delegated administrator for StackSets
/// ([`StackSetCaller::DelegatedAdministrator`]). CloudFormation deploys the template to
/// every account of the organizational units (never to the management account), in the
/// regions given, as the operation preferences allow, and, with automatic deployment, to
/// accounts that join the units later.
///
/// The template is the same in every account. A resource below a scope confined to an
/// account ([`crate::Node::confine_to_account`]) carries a condition that the stack's
/// account is that one, so it exists in that account only; a resource outside any such
/// scope exists in every account of the units. A StackSet has no outputs another stack can
/// read, no file assets and no termination protection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSetDeployment {
    /// The organizational units (`ou-…`) or the organization's root (`r-…`) whose accounts
    /// receive the stack.
    pub organizational_units: Vec<String>,
    /// The regions each account receives the stack in; the stage's region when empty.
    pub regions: Vec<String>,
    /// Whether the stage is the management account or a delegated administrator.
    pub caller: StackSetCaller,
    /// How fast CloudFormation goes through the accounts and how many failures it accepts.
    pub operation_preferences: OperationPreferences,
    /// Deploys to accounts that join the units later, and deletes from those that leave.
    pub auto_deployment: bool,
    /// With `auto_deployment`: keeps the stack (and its resources) in an account that
    /// leaves the units, instead of deleting it.
    pub retain_stacks_on_account_removal: bool,
}

impl StackSetDeployment {
    /// A StackSet for the accounts of `organizational_units`, with the default
    /// preferences: administered from the management account, in the stage's region,
    /// automatic deployment on, and an operation that goes through a quarter of the accounts
    /// at a time and fails at the first failed account (those in flight finish).
    pub fn new<S: AsRef<str>>(organizational_units: &[S]) -> StackSetDeployment {
        StackSetDeployment {
            organizational_units: organizational_units
                .iter()
                .map(|unit| unit.as_ref().to_owned())
                .collect(),
            regions: Vec::new(),
            caller: StackSetCaller::ManagementAccount,
            operation_preferences: OperationPreferences::default(),
            auto_deployment: true,
            retain_stacks_on_account_removal: false,
        }
    }

    /// What is wrong with these options, each with what to change.
    pub(crate) fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.organizational_units.is_empty() {
            problems.push("a StackSet needs at least one organizational unit to deploy to; give the `ou-…` ids of the units".to_owned());
        }
        // CloudFormation takes at most 50 units in one operation.
        if self.organizational_units.len() > 50 {
            problems.push(format!("{} organizational units are more than the 50 one StackSet operation takes; target their parent unit instead", self.organizational_units.len()));
        }
        for (what, items) in [
            ("organizational unit", &self.organizational_units),
            ("region", &self.regions),
        ] {
            let mut seen = std::collections::BTreeSet::new();
            for item in items {
                if !seen.insert(item) {
                    problems.push(format!("{what} `{item}` is given twice; give each once"));
                }
            }
        }
        for unit in &self.organizational_units {
            if !ORGANIZATIONAL_UNIT.is_match(unit) {
                problems.push(format!("`{unit}` is not an organizational unit id (`ou-` then 4 to 32 and 8 to 32 lowercase letters or digits, or a root `r-…`); copy it from the Organizations console"));
            }
        }
        for region in &self.regions {
            if !crate::stack::is_valid_region(region) {
                problems.push(format!(
                    "`{region}` is not a region name; use a name such as `us-east-1`"
                ));
            }
        }
        if self.retain_stacks_on_account_removal && !self.auto_deployment {
            problems.push("`retain_stacks_on_account_removal` applies only with `auto_deployment`; turn automatic deployment on or drop the retention".to_owned());
        }
        problems.extend(self.operation_preferences.check());
        problems
    }

    /// The manifest's form of these options, `region` standing for an empty region list.
    pub(crate) fn manifest(
        &self,
        region: &str,
        accounts: Vec<String>,
        unconfined_resources: bool,
    ) -> StackSetManifest {
        let preferences = &self.operation_preferences;
        StackSetManifest {
            organizational_units: self.organizational_units.clone(),
            regions: if self.regions.is_empty() {
                vec![region.to_owned()]
            } else {
                self.regions.clone()
            },
            call_as: match self.caller {
                StackSetCaller::ManagementAccount => "SELF",
                StackSetCaller::DelegatedAdministrator => "DELEGATED_ADMIN",
            }
            .to_owned(),
            auto_deployment: self.auto_deployment,
            retain_stacks_on_account_removal: self.retain_stacks_on_account_removal,
            operation_preferences: OperationPreferencesManifest {
                max_concurrent_count: match preferences.max_concurrent {
                    Concurrency::Accounts(count) => Some(count),
                    Concurrency::Percentage(_) => None,
                },
                max_concurrent_percentage: match preferences.max_concurrent {
                    Concurrency::Percentage(percentage) => Some(percentage),
                    Concurrency::Accounts(_) => None,
                },
                failure_tolerance_count: match preferences.failure_tolerance {
                    Concurrency::Accounts(count) => Some(count),
                    Concurrency::Percentage(_) => None,
                },
                failure_tolerance_percentage: match preferences.failure_tolerance {
                    Concurrency::Percentage(percentage) => Some(percentage),
                    Concurrency::Accounts(_) => None,
                },
                concurrency_mode: match preferences.concurrency_mode {
                    ConcurrencyMode::StrictFailureTolerance => "STRICT_FAILURE_TOLERANCE",
                    ConcurrencyMode::SoftFailureTolerance => "SOFT_FAILURE_TOLERANCE",
                }
                .to_owned(),
                region_concurrency: match preferences.region_concurrency {
                    RegionConcurrency::Sequential => "SEQUENTIAL",
                    RegionConcurrency::Parallel => "PARALLEL",
                }
                .to_owned(),
            },
            accounts,
            unconfined_resources,
        }
    }
}

/// Which account administers a StackSet (CloudFormation's `CallAs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackSetCaller {
    /// The organization's management account (`SELF`).
    ManagementAccount,
    /// A member account registered as a delegated administrator for CloudFormation
    /// StackSets (`DELEGATED_ADMIN`).
    DelegatedAdministrator,
}

/// A number of accounts, or a percentage of the accounts of a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// This many accounts.
    Accounts(u32),
    /// This percentage of the accounts (CloudFormation rounds down, and never below one
    /// account for the concurrency).
    Percentage(u32),
}

/// How CloudFormation goes through the accounts of one StackSet operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationPreferences {
    /// How many accounts are deployed to at once, per region (default 25 %).
    pub max_concurrent: Concurrency,
    /// How many accounts may fail, per region, before the operation stops (default none:
    /// it stops at the first failure).
    pub failure_tolerance: Concurrency,
    /// Whether the concurrency stays whatever fails (soft, the default: 25 % at once even
    /// with no failure tolerated) or starts at one more than may fail and drops with each
    /// failure (strict).
    pub concurrency_mode: ConcurrencyMode,
    /// Regions one after another (the default) or all at once.
    pub region_concurrency: RegionConcurrency,
}

impl Default for OperationPreferences {
    fn default() -> Self {
        OperationPreferences {
            max_concurrent: Concurrency::Percentage(25),
            failure_tolerance: Concurrency::Accounts(0),
            // Strict mode would start at one account more than may fail: one at a time.
            concurrency_mode: ConcurrencyMode::SoftFailureTolerance,
            region_concurrency: RegionConcurrency::Sequential,
        }
    }
}

impl OperationPreferences {
    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.max_concurrent {
            Concurrency::Accounts(0) => problems.push(
                "`max_concurrent` is 0 accounts; deploy to at least one account at a time"
                    .to_owned(),
            ),
            Concurrency::Percentage(percentage) if !(1..=100).contains(&percentage) => problems
                .push(format!(
                    "`max_concurrent` is {percentage} %; give a percentage from 1 to 100"
                )),
            _ => {}
        }
        if let Concurrency::Percentage(percentage) = self.failure_tolerance
            && percentage > 100
        {
            problems.push(format!(
                "`failure_tolerance` is {percentage} %; give a percentage from 0 to 100"
            ));
        }
        // CloudFormation's rule for strict failure tolerance: at most one account more at
        // once than may fail.
        if let (
            ConcurrencyMode::StrictFailureTolerance,
            Concurrency::Accounts(concurrent),
            Concurrency::Accounts(tolerated),
        ) = (
            self.concurrency_mode,
            self.max_concurrent,
            self.failure_tolerance,
        ) && concurrent > tolerated.saturating_add(1)
        {
            problems.push(format!("with strict failure tolerance, `max_concurrent` ({concurrent} accounts) may be at most one more than `failure_tolerance` ({tolerated}); lower the concurrency, raise the tolerance or use the soft mode"));
        }
        problems
    }
}

/// CloudFormation's `ConcurrencyMode` of a StackSet operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConcurrencyMode {
    /// The concurrency drops by one with each failed account.
    StrictFailureTolerance,
    /// The concurrency stays, whatever fails.
    SoftFailureTolerance,
}

/// CloudFormation's `RegionConcurrencyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionConcurrency {
    /// One region after another.
    Sequential,
    /// All regions at once.
    Parallel,
}

/// A stack deployed as a StackSet, as the manifest gives it to the deploy engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSetManifest {
    /// The organizational units whose accounts receive the stack.
    pub organizational_units: Vec<String>,
    /// The regions each account receives it in.
    pub regions: Vec<String>,
    /// CloudFormation's `CallAs`: `SELF` or `DELEGATED_ADMIN`.
    pub call_as: String,
    /// Automatic deployment to accounts joining the units.
    pub auto_deployment: bool,
    /// Keeps the stack in accounts leaving the units.
    pub retain_stacks_on_account_removal: bool,
    /// The operation preferences, as CloudFormation takes them.
    pub operation_preferences: OperationPreferencesManifest,
    /// The accounts its resources are confined to, sorted.
    pub accounts: Vec<String>,
    /// Whether some of its resources are confined to no account, and so go to every
    /// account of the units (otherwise the other accounts get only a placeholder).
    #[serde(default)]
    pub unconfined_resources: bool,
}

/// CloudFormation's `StackSetOperationPreferences`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationPreferencesManifest {
    /// `MaxConcurrentCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_count: Option<u32>,
    /// `MaxConcurrentPercentage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent_percentage: Option<u32>,
    /// `FailureToleranceCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_tolerance_count: Option<u32>,
    /// `FailureTolerancePercentage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_tolerance_percentage: Option<u32>,
    /// `ConcurrencyMode`.
    pub concurrency_mode: String,
    /// `RegionConcurrencyType`.
    pub region_concurrency: String,
}

static ORGANIZATIONAL_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$").expect("a valid pattern")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(
            StackSetDeployment::new(&["ou-ab12-cdef3456"])
                .check()
                .is_empty()
        );
    }

    #[test]
    fn strict_tolerance_bounds_the_concurrency() {
        let mut deployment = StackSetDeployment::new(&["r-ab12"]);
        deployment.operation_preferences.concurrency_mode = ConcurrencyMode::StrictFailureTolerance;
        deployment.operation_preferences.max_concurrent = Concurrency::Accounts(3);
        deployment.operation_preferences.failure_tolerance = Concurrency::Accounts(1);
        let problems = deployment.check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("at most one more"), "{problems:?}");
        deployment.operation_preferences.concurrency_mode = ConcurrencyMode::SoftFailureTolerance;
        assert!(deployment.check().is_empty());
    }

    #[test]
    fn units_and_regions_are_given_once_and_fifty_units_at_most() {
        let mut deployment = StackSetDeployment::new(&["ou-ab12-units001", "ou-ab12-units001"]);
        deployment.regions = vec!["us-east-1".into(), "us-east-1".into()];
        let problems = deployment.check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("`ou-ab12-units001` is given twice"));
        assert!(problems[1].contains("`us-east-1` is given twice"));
        let units: Vec<String> = (0..51).map(|n| format!("ou-ab12-unit{n:04}")).collect();
        let problems = StackSetDeployment::new(&units).check();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("51 organizational units"));
    }

    #[test]
    fn bad_units_and_percentages_are_named() {
        let mut deployment = StackSetDeployment::new(&["ou-1", "123456789012"]);
        deployment.operation_preferences.max_concurrent = Concurrency::Percentage(0);
        deployment.operation_preferences.failure_tolerance = Concurrency::Percentage(101);
        let problems = deployment.check();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("`ou-1`"));
        assert!(problems[1].contains("`123456789012`"));
    }
}
