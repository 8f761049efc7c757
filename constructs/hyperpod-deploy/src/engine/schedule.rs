//! A deploy: the plan of every selected stack, shown and approved once, then a scheduler
//! that starts stacks when their dependencies have deployed, with bounded concurrency; a
//! failure stops its dependents only.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use tokio::sync::{Mutex, Semaphore};

use super::accounts::{Accounts, accounts_involved};
use super::plan::{PlannedAction, plan, read_templates};
use super::selection::{Pull, select};
use super::stack::{Approved, deploy_stack};
use super::{
    DeployError, DeployOptions, Outcome, RequireApproval, StackResult, Summary, approve,
    read_manifest, result,
};

/// Deploys the selected stacks of the assembly in `assembly_dir` (the folder holding
/// `manifest.json`), in dependency order across accounts.
pub async fn deploy(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Summary, DeployError> {
    // From the start: a signal while planning stops the run before anything changes.
    let mut interrupt = options
        .handle_signals
        .then(super::interrupt::Interrupt::listen);
    let manifest = read_manifest(assembly_dir)?;
    let stacks = select(
        &manifest,
        &options.select,
        options.exclusively,
        Pull::Dependencies,
    )?;
    let accounts = accounts_involved(&manifest, &stacks);
    let accounts = Arc::new(Accounts::connect(base, &accounts, options).await?);
    let templates = read_templates(assembly_dir, &stacks)?;

    // One plan for the whole run, shown and approved once, before anything changes.
    let plan = plan(&accounts, &manifest, &stacks, &templates, options).await;
    print!("{}", plan.render());
    let concerns = plan.needs_approval(options.require_approval);
    if !concerns.is_empty() {
        for concern in &concerns {
            println!("  needs approval: {concern}");
        }
        let question = format!(
            "deploy this plan ({} change(s) need approval)?",
            concerns.len()
        );
        if !approve(options, question).await {
            let reason = "the plan needs approval and got none; nothing was changed. Review it (`diff`), then run again with --yes, at a terminal, or with a lower --require-approval";
            return Ok(Summary {
                stacks: stacks
                    .iter()
                    .map(|s| result(s, Outcome::Refused(reason.into())))
                    .collect(),
            });
        }
    }
    let approve_all = options.yes || options.require_approval == RequireApproval::Never;

    let results: Arc<Mutex<BTreeMap<String, StackResult>>> = Arc::default();
    let limits = Arc::new(Limits::new(
        options.concurrency,
        options.account_concurrency,
        stacks.iter().map(|s| (s.account.clone(), s.region.clone())),
    ));
    let selected_ids: BTreeSet<String> = stacks.iter().map(|s| s.id.clone()).collect();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut running = tokio::task::JoinSet::new();
    let mut interrupted = interrupt.as_mut().is_some_and(|signal| signal.stopped());
    while !interrupted {
        // Start every stack whose dependencies have deployed; a stack behind a failure is
        // not attempted, while unrelated stacks go on.
        let mut progressed = false;
        let settled = results.lock().await.clone();
        for stack in &stacks {
            if started.contains(&stack.id) {
                continue;
            }
            let dependencies: Vec<&String> = stack
                .dependencies
                .iter()
                .filter(|d| selected_ids.contains(*d))
                .collect();
            if let Some(failed) = dependencies.iter().find(|d| {
                settled
                    .get(**d)
                    .is_some_and(|r| !matches!(r.outcome, Outcome::Deployed | Outcome::Unchanged))
            }) {
                started.insert(stack.id.clone());
                results.lock().await.insert(
                    stack.id.clone(),
                    result(
                        stack,
                        Outcome::NotAttempted(format!("{failed} did not deploy")),
                    ),
                );
                progressed = true;
            } else if dependencies.iter().all(|d| settled.contains_key(*d)) {
                started.insert(stack.id.clone());
                progressed = true;
                let planned = plan
                    .stack(&stack.id)
                    .expect("every selected stack is planned");
                let refusal = match &planned.action {
                    PlannedAction::Refused(reason) => Some(Outcome::Refused(reason.clone())),
                    PlannedAction::Failed(reason) => Some(Outcome::Failed(reason.clone())),
                    _ => None,
                };
                if let Some(outcome) = refusal {
                    results
                        .lock()
                        .await
                        .insert(stack.id.clone(), result(stack, outcome));
                    continue;
                }
                let approved = Approved {
                    all: approve_all,
                    replacements: planned
                        .changes
                        .replaced()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                    widened: planned.changes.widened.iter().cloned().collect(),
                    recreate: planned.action == PlannedAction::Recreate,
                    removals: planned
                        .changes
                        .removed
                        .iter()
                        .map(|(id, _)| id.clone())
                        .chain(planned.changes.renamed.iter().map(|(id, _, _)| id.clone()))
                        .collect(),
                    changes_expected: planned.changes_anything(),
                };
                let (stack, body, accounts, results, limits, options, manifest) = (
                    (*stack).clone(),
                    templates.bodies[&stack.id].clone(),
                    accounts.clone(),
                    results.clone(),
                    limits.clone(),
                    options.clone(),
                    manifest.clone(),
                );
                let assembly = assembly_dir.to_path_buf();
                running.spawn(async move {
                    let _permits = limits.acquire(&stack.account, &stack.region).await;
                    let (outcome, outputs, uploads) = deploy_stack(
                        &accounts, &manifest, &assembly, &stack, &body, &options, &results,
                        &approved,
                    )
                    .await;
                    super::progress::done(&stack, &outcome_word(&outcome));
                    let mut done = result(&stack, outcome);
                    done.outputs = outputs;
                    done.uploads = uploads;
                    results.lock().await.insert(stack.id.clone(), done);
                });
            }
        }
        let finished = match interrupt.as_mut() {
            Some(signal) => tokio::select! {
                next = running.join_next() => next.is_some(),
                () = signal.first() => {
                    interrupted = true;
                    break;
                }
            },
            None => running.join_next().await.is_some(),
        };
        if !finished && !progressed {
            break;
        }
    }
    if interrupted {
        // Stop waiting: what CloudFormation is changing goes on there, and the next run
        // follows it. A second signal ends the process at once.
        running.abort_all();
        let done = results.lock().await.clone();
        let mut results = results.lock().await;
        for stack in &stacks {
            if done.contains_key(&stack.id) {
                continue;
            }
            let outcome = if started.contains(&stack.id) {
                Outcome::Interrupted(format!(
                    "stopped while deploying; CloudFormation may still be changing stack {} in account {} {}, and the next `deploy` follows it",
                    stack.stack_name, stack.account, stack.region
                ))
            } else {
                Outcome::NotAttempted("the run was stopped before it started".into())
            };
            results.insert(stack.id.clone(), result(stack, outcome));
        }
    }
    let results = results.lock().await;
    // A stack without a result (its task died) is reported, never silently left out.
    let summary = Summary {
        stacks: stacks
            .iter()
            .map(|s| {
                results.get(&s.id).cloned().unwrap_or_else(|| {
                    result(
                        s,
                        Outcome::NotAttempted("the engine stopped before reaching it".into()),
                    )
                })
            })
            .collect(),
    };
    if let Some(path) = &options.outputs_file {
        let outputs: BTreeMap<&String, &BTreeMap<String, String>> =
            summary.stacks.iter().map(|s| (&s.id, &s.outputs)).collect();
        let json = serde_json::to_string_pretty(&outputs).expect("outputs serialize");
        std::fs::write(path, json + "\n").map_err(|source| DeployError::Assembly {
            path: path.clone(),
            source,
        })?;
    }
    Ok(summary)
}

/// The bounds on stacks deploying at once: in the whole run, and per account and region,
/// where CloudFormation's request rates apply.
struct Limits {
    run: Arc<Semaphore>,
    per_account: BTreeMap<(String, String), Arc<Semaphore>>,
}

/// What a deploying stack holds until it ends.
struct Permits {
    _account: tokio::sync::OwnedSemaphorePermit,
    _run: tokio::sync::OwnedSemaphorePermit,
}

impl Limits {
    fn new(
        run: usize,
        per_account: usize,
        environments: impl IntoIterator<Item = (String, String)>,
    ) -> Limits {
        Limits {
            run: Arc::new(Semaphore::new(run.max(1))),
            per_account: environments
                .into_iter()
                .map(|env| (env, Arc::new(Semaphore::new(per_account.max(1)))))
                .collect(),
        }
    }

    /// Waits for room in the account, then in the run: a stack waiting for its busy
    /// account never holds a place another account could use.
    async fn acquire(&self, account: &str, region: &str) -> Permits {
        let account = self.per_account[&(account.to_owned(), region.to_owned())]
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphores are never closed");
        let run = self
            .run
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphores are never closed");
        Permits {
            _account: account,
            _run: run,
        }
    }
}

/// How a stack ended, in the word its line in the live view ends with.
fn outcome_word(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Deployed => "deployed".into(),
        Outcome::Unchanged => "unchanged".into(),
        Outcome::Destroyed => "destroyed".into(),
        Outcome::Failed(_) => "FAILED (see above)".into(),
        Outcome::Refused(_) => "refused (see the summary)".into(),
        Outcome::NotAttempted(_) => "not attempted".into(),
        Outcome::Interrupted(_) => "interrupted".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Stacks of two accounts deploying "at once": at most two per account, three in all.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stacks_deploy_within_the_account_and_run_bounds() {
        let environments = [
            ("1".to_owned(), "r".to_owned()),
            ("2".to_owned(), "r".to_owned()),
        ];
        let limits = Arc::new(Limits::new(3, 2, environments.clone()));
        let in_flight: Arc<[AtomicUsize; 2]> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let most: Arc<[AtomicUsize; 3]> = Arc::default();
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..12 {
            let (limits, in_flight, total, most) = (
                limits.clone(),
                in_flight.clone(),
                total.clone(),
                most.clone(),
            );
            let account = n % 2;
            tasks.spawn(async move {
                let _permits = limits.acquire(&(account + 1).to_string(), "r").await;
                let now = in_flight[account].fetch_add(1, Ordering::SeqCst) + 1;
                most[account].fetch_max(now, Ordering::SeqCst);
                let all = total.fetch_add(1, Ordering::SeqCst) + 1;
                most[2].fetch_max(all, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                in_flight[account].fetch_sub(1, Ordering::SeqCst);
                total.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while tasks.join_next().await.is_some() {}
        assert_eq!(most[0].load(Ordering::SeqCst), 2, "account 1");
        assert_eq!(most[1].load(Ordering::SeqCst), 2, "account 2");
        assert_eq!(most[2].load(Ordering::SeqCst), 3, "the run");
    }
}
