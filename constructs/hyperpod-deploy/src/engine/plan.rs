//! The plan of a run: for every selected stack, read from what is deployed, what the run
//! will do (create, update, re-create, leave alone, refuse) and what changes, so that the
//! whole run is shown and approved once before anything changes.

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::StackStatus;
use hyperpod_core::{Manifest, StackManifest};

use super::accounts::{Accounts, accounts_involved};
use super::assets::upload_template;
use super::change_set::change_set_replacements;
use super::ownership::check_owner;
use super::parameters::resolve_parameters;
use super::selection::{Pull, select};
use super::stack::{current, deployed_template, unchanged};
use super::{DeployError, DeployOptions, RequireApproval, read_manifest};
use crate::diff::StackDiff;

/// What a run will do to one stack.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "action", content = "reason")]
pub enum PlannedAction {
    /// Create it.
    Create,
    /// Delete it (left in ROLLBACK_COMPLETE by a failed first create) and create it again.
    Recreate,
    /// Update it.
    Update,
    /// Nothing: template, parameters and tags are deployed.
    Unchanged,
    /// Leave it: it is not this app's (or cannot be changed), with the reason.
    Refused(String),
    /// It could not be read or is stuck, with the reason.
    Failed(String),
}

/// The plan of one stack.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackPlan {
    /// The stack's id (`<stage>/<stack>`).
    pub id: String,
    /// Its CloudFormation name.
    pub stack_name: String,
    /// Its account.
    pub account: String,
    /// Its region.
    pub region: String,
    /// What the run will do.
    #[serde(flatten)]
    pub action: PlannedAction,
    /// What changes in its template.
    pub changes: StackDiff,
    /// The removed resources that are retained (kept by their deletion policy).
    pub retained: Vec<String>,
    /// What the plan could not tell (CloudFormation's own verdict on replacements, when it
    /// could not be asked).
    pub notes: Vec<String>,
}

impl StackPlan {
    /// The plan of `stack`, without notes.
    fn of(
        stack: &StackManifest,
        action: PlannedAction,
        changes: StackDiff,
        retained: Vec<String>,
    ) -> StackPlan {
        StackPlan {
            id: stack.id.clone(),
            stack_name: stack.stack_name.clone(),
            account: stack.account.clone(),
            region: stack.region.clone(),
            action,
            changes,
            retained,
            notes: Vec::new(),
        }
    }

    /// Whether the run changes the stack.
    pub fn changes_anything(&self) -> bool {
        matches!(
            self.action,
            PlannedAction::Create | PlannedAction::Recreate | PlannedAction::Update
        )
    }

    /// What the run destroys in this stack: replaced resources, removed ones that are not
    /// retained, the stack itself when re-created.
    pub fn destroys(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.action == PlannedAction::Recreate {
            out.push(format!("re-creates {} (left by a failed create)", self.id));
        }
        out.extend(
            self.changes
                .replaced()
                .into_iter()
                .map(|id| format!("replaces {}/{id}", self.id)),
        );
        out.extend(
            self.changes
                .renamed
                .iter()
                .filter(|(old, _, _)| !self.retained.contains(old))
                .map(|(old, new, _)| format!("replaces {}/{old}, renamed {new}", self.id)),
        );
        out.extend(
            self.changes
                .removed
                .iter()
                .filter(|(id, _)| !self.retained.contains(id))
                .map(|(id, kind)| format!("deletes {}/{id} ({kind})", self.id)),
        );
        out
    }

    /// What the run grants in this stack that the deployed one does not, in one line.
    pub fn widens(&self) -> Option<String> {
        let count = self.changes.widened.len();
        (count > 0).then(|| {
            format!(
                "{}: grants {count} permission(s) or network rule(s) it did not have",
                self.id
            )
        })
    }
}

/// The plan of a whole run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Plan {
    /// Per selected stack, in manifest order.
    pub stacks: Vec<StackPlan>,
}

impl Plan {
    /// The plan of one stack.
    pub fn stack(&self, id: &str) -> Option<&StackPlan> {
        self.stacks.iter().find(|s| s.id == id)
    }

    /// Why the plan needs approval at `level`; empty when it does not.
    pub fn needs_approval(&self, level: RequireApproval) -> Vec<String> {
        match level {
            RequireApproval::Never => Vec::new(),
            RequireApproval::AnyChange => self
                .stacks
                .iter()
                .filter(|s| s.changes_anything())
                .map(|s| format!("changes {}", s.id))
                .collect(),
            RequireApproval::Broadening => self
                .stacks
                .iter()
                .flat_map(|s| s.destroys().into_iter().chain(s.widens()))
                .collect(),
        }
    }

    /// The plan as the terminal shows it: a line per stack, then its changes.
    pub fn render(&self) -> String {
        let mut out = String::from("plan:\n");
        for stack in &self.stacks {
            let action = match &stack.action {
                PlannedAction::Create => "create".to_owned(),
                PlannedAction::Recreate => "delete and create again".to_owned(),
                PlannedAction::Update => "update".to_owned(),
                PlannedAction::Unchanged => "unchanged".to_owned(),
                PlannedAction::Refused(reason) => format!("refused: {reason}"),
                PlannedAction::Failed(reason) => format!("cannot plan: {reason}"),
            };
            out.push_str(&format!(
                "  {} (stack {}, {} {}): {action}\n",
                stack.id, stack.stack_name, stack.account, stack.region
            ));
            if stack.changes_anything() {
                for line in stack.changes.render().lines() {
                    out.push_str(&format!("  {line}\n"));
                }
                for id in &stack.retained {
                    out.push_str(&format!("      {id} leaves the template and is retained\n"));
                }
                for note in &stack.notes {
                    out.push_str(&format!("    note: {note}\n"));
                }
            }
        }
        out
    }
}

/// Reads what is deployed and plans every stack of `stacks`. A stack that cannot be read
/// is planned as failed; nothing is changed.
pub(super) async fn plan(
    accounts: &Accounts,
    manifest: &Manifest,
    stacks: &[&StackManifest],
    templates: &Templates,
    options: &DeployOptions,
) -> Plan {
    let mut plan = Plan::default();
    for stack in stacks {
        let wanted = &templates.parsed[&stack.id];
        let planned = if stack.stack_set.is_some() {
            let client = accounts.client(&stack.account, &stack.region);
            super::stack_set::plan_stack_set(&client, stack, wanted, options).await
        } else {
            plan_stack(accounts, manifest, stack, wanted, options)
                .await
                .map(|(action, changes, retained)| (action, changes, retained, Vec::new()))
        };
        let (action, changes, retained, notes) = planned.unwrap_or_else(|reason| {
            (
                PlannedAction::Failed(reason),
                StackDiff::default(),
                Vec::new(),
                Vec::new(),
            )
        });
        let mut planned = StackPlan::of(stack, action, changes, retained);
        planned.notes.extend(notes);
        if stack.stack_set.is_some() {
            // A StackSet has no change sets: the template diff is the whole plan.
            planned.notes.push(super::stack_set::plan_note(stack));
        } else if planned.action == PlannedAction::Update {
            ask_cloudformation(
                accounts,
                manifest,
                stack,
                &templates.bodies[&stack.id],
                &mut planned,
                options,
            )
            .await;
        }
        plan.stacks.push(planned);
    }
    refuse_unit_moves(&mut plan, stacks);
    plan
}

/// A unit of a sharded stack leaving one deployed shard for another (the placement record
/// lost or edited) would be deleted and created again, and its named resources would
/// collide with themselves: both shards are refused, with the way back.
fn refuse_unit_moves(plan: &mut Plan, stacks: &[&StackManifest]) {
    let family = |stack: &StackManifest| {
        stack.shard.as_ref().map(|shard| {
            (
                shard.of.clone(),
                stack.account.clone(),
                stack.region.clone(),
            )
        })
    };
    let mut leaving: BTreeMap<(String, String, String, String), String> = BTreeMap::new();
    for (planned, stack) in plan.stacks.iter().zip(stacks) {
        if let Some((of, account, region)) = family(stack) {
            for (logical_id, _) in &planned.changes.removed {
                leaving.insert(
                    (
                        of.clone(),
                        account.clone(),
                        region.clone(),
                        logical_id.clone(),
                    ),
                    stack.id.clone(),
                );
            }
        }
    }
    let mut refused: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (planned, stack) in plan.stacks.iter().zip(stacks) {
        let Some((of, account, region)) = family(stack) else {
            continue;
        };
        for (logical_id, _) in &planned.changes.added {
            let key = (
                of.clone(),
                account.clone(),
                region.clone(),
                logical_id.clone(),
            );
            if let Some(from) = leaving.get(&key) {
                let line = format!("{logical_id} from {from} to {}", stack.id);
                refused
                    .entry(stack.id.clone())
                    .or_default()
                    .push(line.clone());
                refused.entry(from.clone()).or_default().push(line);
            }
        }
    }
    for planned in &mut plan.stacks {
        if let Some(moves) = refused.get(&planned.id) {
            let shown: Vec<&str> = moves.iter().take(3).map(String::as_str).collect();
            planned.action = PlannedAction::Refused(format!(
                "units would move between shards ({}{}), deleting their resources and creating them again under the same names, which collide; the placement record (placement.json in the assembly's folder) was lost or edited: restore it from version control, or put the units back in the shards they are deployed in, then deploy again",
                shown.join("; "),
                if moves.len() > shown.len() {
                    format!("; {} more", moves.len() - shown.len())
                } else {
                    String::new()
                }
            ));
        }
    }
}

/// Adds to an update's plan the replacements only CloudFormation can tell (a name another
/// property derives from, a value a parameter fills): a change set is created, read and
/// deleted, nothing is changed. A template over the inline limit is staged first (content
/// addressed, as the deploy stages it).
async fn ask_cloudformation(
    accounts: &Accounts,
    manifest: &Manifest,
    stack: &StackManifest,
    body: &str,
    planned: &mut StackPlan,
    options: &DeployOptions,
) {
    let client = accounts.client(&stack.account, &stack.region);
    let template_url = if stack.template_requires_upload {
        match upload_template(&accounts.s3(&stack.account, &stack.region), stack, body).await {
            Ok(url) => Some(url),
            Err(reason) => {
                planned.notes.push(format!(
                    "CloudFormation could not be asked what it replaces: {reason}"
                ));
                return;
            }
        }
    } else {
        None
    };
    let parameters = resolve_parameters(accounts, manifest, stack, None)
        .await
        .unwrap_or_default();
    match change_set_replacements(
        &client,
        stack,
        body,
        template_url.as_deref(),
        &parameters,
        options,
    )
    .await
    {
        Ok(replaced) => {
            for id in replaced {
                match planned
                    .changes
                    .modified
                    .iter_mut()
                    .find(|(logical_id, _, _)| *logical_id == id)
                {
                    Some((_, _, paths)) if paths.is_empty() => {
                        paths.push("(per CloudFormation)".into())
                    }
                    Some(_) => {}
                    None => planned.changes.modified.push((
                        id,
                        "?".into(),
                        vec!["(per CloudFormation)".into()],
                    )),
                }
            }
        }
        Err(reason) => planned.notes.push(format!(
            "CloudFormation could not be asked what it replaces: {reason}"
        )),
    }
}

async fn plan_stack(
    accounts: &Accounts,
    manifest: &Manifest,
    stack: &StackManifest,
    wanted: &serde_json::Value,
    options: &DeployOptions,
) -> Result<(PlannedAction, StackDiff, Vec<String>), String> {
    let client = accounts.client(&stack.account, &stack.region);
    let Some(deployed) = current(&client, &stack.stack_name).await? else {
        return Ok((
            PlannedAction::Create,
            crate::diff::diff(None, wanted),
            Vec::new(),
        ));
    };
    if let Err(reason) = check_owner(&deployed, stack, options.adopt) {
        return Ok((
            PlannedAction::Refused(reason),
            StackDiff::default(),
            Vec::new(),
        ));
    }
    match deployed.stack_status() {
        Some(StackStatus::ReviewInProgress) => {
            return Ok((
                PlannedAction::Create,
                crate::diff::diff(None, wanted),
                Vec::new(),
            ));
        }
        Some(StackStatus::RollbackComplete) => {
            return Ok((
                PlannedAction::Recreate,
                crate::diff::diff(None, wanted),
                Vec::new(),
            ));
        }
        Some(StackStatus::UpdateRollbackFailed) => {
            return Ok((
                PlannedAction::Failed(format!(
                    "the stack is in UPDATE_ROLLBACK_FAILED; continue the rollback with `aws cloudformation continue-update-rollback --stack-name {}` (skipping the resources that cannot roll back), then deploy again",
                    stack.stack_name
                )),
                StackDiff::default(),
                Vec::new(),
            ));
        }
        _ => {}
    }
    let template = deployed_template(&client, &stack.stack_name).await?;
    // Parameters as the producers' deployed outputs give them now; a producer this run
    // changes may give others, which the deploy then shows.
    let parameters = resolve_parameters(accounts, manifest, stack, None)
        .await
        .unwrap_or_default();
    if unchanged(&deployed, &template, wanted, &parameters, &stack.tags) {
        return Ok((PlannedAction::Unchanged, StackDiff::default(), Vec::new()));
    }
    let changes = crate::diff::diff(Some(&template), wanted);
    let retained = retained(&changes, &template);
    Ok((PlannedAction::Update, changes, retained))
}

/// The resources a change removes (or renames) from `deployed` that CloudFormation keeps
/// in the account: their deletion policy is `Retain`.
pub(super) fn retained(changes: &StackDiff, deployed: &serde_json::Value) -> Vec<String> {
    changes
        .removed
        .iter()
        .map(|(id, _)| id)
        .chain(changes.renamed.iter().map(|(old, _, _)| old))
        .filter(|id| deployed["Resources"][*id]["DeletionPolicy"] == "Retain")
        .cloned()
        .collect()
}

/// The selected stacks' templates from the assembly, by stack id: as read, and parsed.
pub(super) struct Templates {
    /// The text, as deployed.
    pub(super) bodies: BTreeMap<String, String>,
    /// The parsed template, to compare.
    pub(super) parsed: BTreeMap<String, serde_json::Value>,
}

/// Reads the templates of `stacks` from the assembly.
pub(super) fn read_templates(
    assembly_dir: &Path,
    stacks: &[&StackManifest],
) -> Result<Templates, DeployError> {
    let mut templates = Templates {
        bodies: BTreeMap::new(),
        parsed: BTreeMap::new(),
    };
    for stack in stacks {
        let (body, json) = read_template(&assembly_dir.join(&stack.template))?;
        templates.bodies.insert(stack.id.clone(), body);
        templates.parsed.insert(stack.id.clone(), json);
    }
    Ok(templates)
}

/// A template file of an assembly: its text and the parsed template.
fn read_template(path: &Path) -> Result<(String, serde_json::Value), DeployError> {
    let body = std::fs::read_to_string(path).map_err(|source| DeployError::Assembly {
        path: path.to_owned(),
        source,
    })?;
    let json = serde_json::from_str(&body).map_err(|e| DeployError::Assembly {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    Ok((body, json))
}

/// The plan of a deploy of the selected stacks, without changing anything (what deploy
/// shows before it asks).
pub async fn diff(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Plan, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = select(
        &manifest,
        &options.select,
        options.exclusively,
        Pull::Dependencies,
    )?;
    let accounts = accounts_involved(&manifest, &stacks);
    let accounts = Accounts::connect(base, &accounts, options).await?;
    let templates = read_templates(assembly_dir, &stacks)?;
    let plan = plan(&accounts, &manifest, &stacks, &templates, options).await;
    Ok(plan)
}

/// The plan against an earlier assembly of the app (`previous`, its folder) instead of what
/// is deployed: the templates only, without an AWS call, for code review. A stack the
/// earlier assembly does not have is planned as created; units moving between shards are
/// refused as the live plan refuses them.
pub fn diff_against(
    previous: &Path,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Plan, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let before = read_manifest(previous)?;
    let stacks = select(
        &manifest,
        &options.select,
        options.exclusively,
        Pull::Dependencies,
    )?;
    let templates = read_templates(assembly_dir, &stacks)?;
    let mut plan = Plan::default();
    for stack in &stacks {
        let wanted = &templates.parsed[&stack.id];
        let old = match before.stacks.iter().find(|s| s.id == stack.id) {
            Some(earlier) => Some(read_template(&previous.join(&earlier.template))?.1),
            None => None,
        };
        let changes = crate::diff::diff(old.as_ref(), wanted);
        let action = match &old {
            None => PlannedAction::Create,
            Some(old) if old == wanted => PlannedAction::Unchanged,
            Some(_) => PlannedAction::Update,
        };
        let retained = match &old {
            Some(old) => retained(&changes, old),
            None => Vec::new(),
        };
        plan.stacks
            .push(StackPlan::of(stack, action, changes, retained));
    }
    refuse_unit_moves(&mut plan, &stacks);
    Ok(plan)
}
