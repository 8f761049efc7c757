//! The deploy engine under faults: a proxy on 127.0.0.1 (`tests::FaultProxy`) in front of
//! moto's server injects throttling, gateway errors, calls applied but answered with an
//! error, dropped connections, slow answers and an outage; each run is followed by a plain
//! rerun that must converge: every stack deployed, termination protection where the
//! manifest wants it, no stack twice, and nothing past its bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::Credentials;
use hyperpod_deploy::engine::{self, DeployOptions, Outcome};
use tests::{Fault, FaultPlan, FaultProxy, MotoServer, chance, workspace_root};

/// The engine's own retry and timeout settings, as the command line uses them, against
/// `endpoint`.
pub(crate) async fn base_at(endpoint: &str, options: &DeployOptions) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(engine::retry_config(options))
        .timeout_config(engine::timeout_config(options))
        .load()
        .await
}

/// The defaults of the command line, but for the poll interval and the approval.
fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        poll_interval: Duration::from_millis(50),
        ..DeployOptions::default()
    }
}

fn assembly() -> (tempfile::TempDir, std::path::PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let folder = example_shared_bucket::app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    (out, folder)
}

/// Deploys the example through a proxy with `plan`, within `bound`; then reruns without
/// faults and checks that everything converged. Returns the faulty run's summary.
async fn deploy_through(plan: FaultPlan, bound: Duration) -> Option<engine::Summary> {
    let python = tests::python_tools()?;
    let moto = MotoServer::start(&python, &workspace_root().join("target")).unwrap();
    let proxy = FaultProxy::start(&moto.endpoint(), plan);
    let (_out, folder) = assembly();
    let options = options();
    let started = Instant::now();
    let faulty = tokio::time::timeout(
        bound,
        engine::deploy(
            &base_at(&proxy.endpoint(), &options).await,
            &folder,
            &options,
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("the run went past its bound of {bound:?}"))
    .unwrap_or_else(|e| panic!("{e}"));
    let (requests, faults) = *proxy.counts.lock().unwrap();
    println!(
        "faulty run: {:.1} s, {requests} requests, {faults} faults\n{}",
        started.elapsed().as_secs_f64(),
        faulty.render()
    );
    // A plain rerun finishes whatever is left, and after it nothing changes.
    let direct = base_at(&moto.endpoint(), &options).await;
    let rerun = engine::deploy(&direct, &folder, &options).await.unwrap();
    assert!(rerun.succeeded(), "{}", rerun.render());
    if faulty.succeeded() {
        for stack in &rerun.stacks {
            assert_eq!(stack.outcome, Outcome::Unchanged, "{}", rerun.render());
        }
    }
    let settled = engine::deploy(&direct, &folder, &options).await.unwrap();
    for stack in &settled.stacks {
        assert_eq!(stack.outcome, Outcome::Unchanged, "{}", settled.render());
    }
    converged(&direct).await;
    Some(faulty)
}

/// Every stack of the example once, and the storage stack protected.
async fn converged(base: &SdkConfig) {
    for (account, names) in [
        (
            "111111111111",
            &[
                "example-shared-bucket-data-Storage",
                "example-shared-bucket-data-LocalReaders",
            ][..],
        ),
        (
            "222222222222",
            &["example-shared-bucket-analytics-Access"][..],
        ),
    ] {
        let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
        .configure(base)
        .build()
        .await;
        let client = aws_sdk_cloudformation::Client::new(
            &base
                .to_builder()
                .credentials_provider(
                    aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
                )
                .build(),
        );
        let listed = client.list_stacks().send().await.unwrap();
        for name in names {
            let live: Vec<_> = listed
                .stack_summaries()
                .iter()
                .filter(|s| {
                    s.stack_name() == Some(*name)
                        && s.stack_status().map(|x| x.as_str()) != Some("DELETE_COMPLETE")
                })
                .collect();
            assert_eq!(live.len(), 1, "{name}: {live:?}");
        }
        if account == "111111111111" {
            let storage = client
                .describe_stacks()
                .stack_name("example-shared-bucket-data-Storage")
                .send()
                .await
                .unwrap();
            assert_eq!(
                storage.stacks()[0].enable_termination_protection(),
                Some(true)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_of_calls_throttled_deploy_without_flags() {
    let plan: FaultPlan = Arc::new(|_, _, n| {
        if chance(30, n) < 0.3 {
            Fault::Throttle
        } else {
            Fault::None
        }
    });
    let Some(faulty) = deploy_through(plan, Duration::from_secs(240)).await else {
        return;
    };
    assert!(faulty.succeeded(), "{}", faulty.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_errors_and_dropped_connections_deploy_without_flags() {
    let plan: FaultPlan = Arc::new(|_, _, n| match chance(7, n) {
        x if x < 0.1 => Fault::Unavailable,
        x if x < 0.2 => Fault::Drop,
        _ => Fault::None,
    });
    let Some(faulty) = deploy_through(plan, Duration::from_secs(240)).await else {
        return;
    };
    assert!(faulty.succeeded(), "{}", faulty.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_sets_created_and_executed_but_answered_with_an_error_are_followed_not_repeated() {
    // Every first attempt of a CreateChangeSet or ExecuteChangeSet is applied, then
    // answered with a 500: the SDK's retry meets the change set that exists, or the
    // execution that ran.
    let attempts = Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        u64,
    >::new()));
    let plan: FaultPlan = Arc::new(move |action, _, _| match action {
        "CreateChangeSet" | "ExecuteChangeSet" => {
            let mut attempts = attempts.lock().unwrap();
            let count = attempts.entry(action.to_owned()).or_default();
            *count += 1;
            if *count % 2 == 1 {
                Fault::AppliedThenFail
            } else {
                Fault::None
            }
        }
        _ => Fault::None,
    });
    let Some(faulty) = deploy_through(plan, Duration::from_secs(240)).await else {
        return;
    };
    assert!(faulty.succeeded(), "{}", faulty.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_deploy_without_flags() {
    let plan: FaultPlan = Arc::new(|_, _, n| {
        if chance(3, n) < 0.2 {
            Fault::Slow(Duration::from_millis(1500))
        } else {
            Fault::None
        }
    });
    let Some(faulty) = deploy_through(plan, Duration::from_secs(240)).await else {
        return;
    };
    assert!(faulty.succeeded(), "{}", faulty.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_20_seconds_is_ridden_through() {
    let start = Instant::now();
    let plan: FaultPlan = Arc::new(move |_, _, _| {
        let elapsed = start.elapsed();
        if elapsed > Duration::from_secs(2) && elapsed < Duration::from_secs(22) {
            Fault::Drop
        } else {
            Fault::None
        }
    });
    let Some(faulty) = deploy_through(plan, Duration::from_secs(300)).await else {
        return;
    };
    assert!(faulty.succeeded(), "{}", faulty.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_busy_with_another_operation_is_waited_for_then_updated() {
    let Some(python) = tests::python_tools() else {
        return;
    };
    let moto = MotoServer::start(&python, &workspace_root().join("target")).unwrap();
    let (_out, folder) = assembly();
    let options = options();
    let direct = base_at(&moto.endpoint(), &options).await;
    assert!(
        engine::deploy(&direct, &folder, &options)
            .await
            .unwrap()
            .succeeded()
    );
    // A change to the access stack, while its first six reads show another update running.
    let path = folder.join("analytics/Access.template.json");
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    template["Outputs"]["Note"] = serde_json::json!({ "Value": "reviewed" });
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    let busy_reads = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = busy_reads.clone();
    // Reads of the access stack: the plan's first, then six that show it busy.
    let plan: FaultPlan = Arc::new(move |action, request, _| {
        let read = action == "DescribeStacks" && request.contains("analytics-Access");
        if read && (1..=6).contains(&counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst)) {
            Fault::Rewrite(
                "<StackStatus>CREATE_COMPLETE</StackStatus>",
                "<StackStatus>UPDATE_IN_PROGRESS</StackStatus>",
            )
        } else {
            Fault::None
        }
    });
    let proxy = FaultProxy::start(&moto.endpoint(), plan);
    let started = Instant::now();
    let summary = tokio::time::timeout(
        Duration::from_secs(120),
        engine::deploy(
            &base_at(&proxy.endpoint(), &options).await,
            &folder,
            &options,
        ),
    )
    .await
    .expect("the wait has a bound")
    .unwrap();
    assert!(summary.succeeded(), "{}", summary.render());
    assert!(
        busy_reads.load(std::sync::atomic::Ordering::SeqCst) > 6,
        "the engine read the busy stack until it was free"
    );
    assert_eq!(
        summary.outcome("analytics/Access"),
        Some(&Outcome::Deployed),
        "{}",
        summary.render()
    );
    println!(
        "busy stack: {:.1} s, {} busy reads",
        started.elapsed().as_secs_f64(),
        busy_reads
            .load(std::sync::atomic::Ordering::SeqCst)
            .saturating_sub(1)
            .min(6)
    );
    let settled = engine::deploy(&direct, &folder, &options).await.unwrap();
    for stack in &settled.stacks {
        assert_eq!(stack.outcome, Outcome::Unchanged, "{}", settled.render());
    }
}
