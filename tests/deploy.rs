//! The deploy engine end to end against moto's server, started here on 127.0.0.1 with the
//! patch layer of `tests/moto/server.py`, across accounts reached by `sts:AssumeRole`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::config::Credentials;
use hyperpod_deploy::engine::{
    self, DeployError, DeployOptions, Outcome, PlannedAction, RequireApproval,
};
use tests::{MotoServer, workspace_root};

/// A moto server on a free port of 127.0.0.1, stopped when dropped.
pub(crate) struct Moto {
    server: MotoServer,
    pub(crate) endpoint: String,
}

impl Moto {
    /// Starts the server, or returns `None` (loudly) when moto is not installed outside CI.
    pub(crate) fn start() -> Option<Moto> {
        Moto::start_with(&[])
    }

    /// [`Moto::start`] with environment variables for the patch layer.
    pub(crate) fn start_with(env: &[(&str, String)]) -> Option<Moto> {
        let python = tests::python_tools()?;
        // The server's log goes to target/, to read when a test fails.
        let server = MotoServer::start_with(&python, &workspace_root().join("target"), env)
            .unwrap_or_else(|e| panic!("{e}"));
        Some(Moto {
            endpoint: server.endpoint(),
            server,
        })
    }

    /// The base configuration: static test keys, one attempt per call (moto's retried 500s
    /// can "succeed" on half-applied state).
    pub(crate) async fn base(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .load()
            .await
    }
}

/// The CloudFormation names of the example app's stacks: `<app>-<stage>-<id>`.
const STORAGE_STACK: &str = "example-shared-bucket-data-Storage";
const ACCESS_STACK: &str = "example-shared-bucket-analytics-Access";

pub(crate) fn options() -> DeployOptions {
    DeployOptions {
        yes: true,
        poll_interval: Duration::from_millis(20),
        max_attempts: 1,
        ..DeployOptions::default()
    }
}

/// Synthesizes the example app into a fresh folder and returns it.
fn assembly() -> (tempfile::TempDir, PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let folder = example_shared_bucket::app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    (out, folder)
}

/// A CloudFormation client acting in an account, through the same role the engine assumes.
pub(crate) async fn client_in(base: &SdkConfig, account: &str) -> aws_sdk_cloudformation::Client {
    let provider = aws_config::sts::AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
    ))
    .configure(base)
    .build()
    .await;
    let config = base
        .to_builder()
        .credentials_provider(
            aws_sdk_cloudformation::config::SharedCredentialsProvider::new(provider),
        )
        .build();
    aws_sdk_cloudformation::Client::new(&config)
}

async fn change_set_count(client: &aws_sdk_cloudformation::Client, stack: &str) -> usize {
    client
        .list_change_sets()
        .stack_name(stack)
        .send()
        .await
        .map(|o| o.summaries().len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploys_across_accounts_in_order_passes_parameters_and_skips_what_is_unchanged() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    let outputs_file = folder.join("outputs.json");

    let first = engine::deploy(
        &base,
        &folder,
        &DeployOptions {
            outputs_file: Some(outputs_file.clone()),
            ..options()
        },
    )
    .await
    .unwrap();
    assert!(first.succeeded(), "{}", first.render());
    for id in ["data/Storage", "data/LocalReaders", "analytics/Access"] {
        assert_eq!(
            first.outcome(id),
            Some(&Outcome::Deployed),
            "{}",
            first.render()
        );
    }
    // The cross-account parameter carries the producer's output to the consumer.
    let bucket_arn = first
        .stacks
        .iter()
        .find(|s| s.id == "data/Storage")
        .unwrap()
        .outputs["ExportBucketArn"]
        .clone();
    assert!(bucket_arn.starts_with("arn:aws:s3:::"), "{bucket_arn}");
    let analytics = client_in(&base, "222222222222").await;
    let access = analytics
        .describe_stacks()
        .stack_name(ACCESS_STACK)
        .send()
        .await
        .unwrap();
    let parameter = &access.stacks()[0].parameters()[0];
    assert_eq!(
        (parameter.parameter_key(), parameter.parameter_value()),
        (Some("StorageBucketArn"), Some(bucket_arn.as_str()))
    );
    // The stack of the data account was created there, with termination protection.
    let data = client_in(&base, "111111111111").await;
    let storage = data
        .describe_stacks()
        .stack_name(STORAGE_STACK)
        .send()
        .await
        .unwrap();
    assert_eq!(
        storage.stacks()[0].enable_termination_protection(),
        Some(true)
    );
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&outputs_file).unwrap()).unwrap();
    assert_eq!(
        written["data/Storage"]["ExportBucketArn"],
        bucket_arn.as_str()
    );

    // A second deploy changes nothing and creates no change set.
    let before = change_set_count(&data, STORAGE_STACK).await
        + change_set_count(&analytics, ACCESS_STACK).await;
    let second = engine::deploy(&base, &folder, &options()).await.unwrap();
    for id in ["data/Storage", "data/LocalReaders", "analytics/Access"] {
        assert_eq!(
            second.outcome(id),
            Some(&Outcome::Unchanged),
            "{}",
            second.render()
        );
    }
    let after = change_set_count(&data, STORAGE_STACK).await
        + change_set_count(&analytics, ACCESS_STACK).await;
    assert_eq!(
        before, after,
        "no change set is created for an unchanged stack"
    );

    // Destroy goes in reverse order; the protected stack refuses, and what it serves stays.
    let destroyed = engine::destroy(&base, &folder, &options()).await.unwrap();
    let order: Vec<&str> = destroyed.stacks.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order.last(),
        Some(&"data/Storage"),
        "producers go last: {order:?}"
    );
    assert_eq!(
        destroyed.outcome("analytics/Access"),
        Some(&Outcome::Destroyed)
    );
    assert_eq!(
        destroyed.outcome("data/LocalReaders"),
        Some(&Outcome::Destroyed)
    );
    assert!(
        matches!(destroyed.outcome("data/Storage"), Some(Outcome::Refused(reason)) if reason.contains("termination protection")),
        "{}",
        destroyed.render()
    );
    assert!(
        analytics
            .describe_stacks()
            .stack_name(ACCESS_STACK)
            .send()
            .await
            .is_err()
            || analytics
                .describe_stacks()
                .stack_name(ACCESS_STACK)
                .send()
                .await
                .unwrap()
                .stacks()[0]
                .stack_status()
                .map(|s| s.as_str())
                == Some("DELETE_COMPLETE")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_for_the_wrong_account_stop_everything_before_any_change() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    let wrong = DeployOptions {
        role_arns: [(
            "222222222222".to_owned(),
            "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole".to_owned(),
        )]
        .into(),
        ..options()
    };
    let error = engine::deploy(&base, &folder, &wrong).await.unwrap_err();
    assert!(
        matches!(&error, DeployError::WrongAccount { expected, actual } if expected == "222222222222" && actual == "333333333333"),
        "{error}"
    );
    assert!(error.to_string().contains("nothing was changed"));
    let data = client_in(&base, "111111111111").await;
    assert!(
        data.describe_stacks()
            .stack_name(STORAGE_STACK)
            .send()
            .await
            .is_err(),
        "no stack was created"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_stack_stops_its_dependents_and_is_recreated_after_its_rollback() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    // Break the producer: a property refers to a resource that does not exist.
    let path = folder.join("data/Storage.template.json");
    let good = std::fs::read(&path).unwrap();
    let mut template: serde_json::Value = serde_json::from_slice(&good).unwrap();
    template["Resources"]["Bucket"]["Properties"]["BucketName"] =
        serde_json::json!({ "Fn::GetAtt": ["Missing", "Arn"] });
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    let summary = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(!summary.succeeded());
    assert!(
        matches!(summary.outcome("data/Storage"), Some(Outcome::Failed(reason)) if reason.contains("ROLLBACK_COMPLETE")),
        "{}",
        summary.render()
    );
    assert!(
        matches!(summary.outcome("analytics/Access"), Some(Outcome::NotAttempted(reason)) if reason.contains("data/Storage")),
        "{}",
        summary.render()
    );
    assert!(
        matches!(
            summary.outcome("data/LocalReaders"),
            Some(Outcome::NotAttempted(_))
        ),
        "{}",
        summary.render()
    );

    // Fixed, the stack left in ROLLBACK_COMPLETE is replaced only with approval.
    std::fs::write(&path, &good).unwrap();
    let refused = engine::deploy(
        &base,
        &folder,
        &DeployOptions {
            yes: false,
            ..options()
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(refused.outcome("data/Storage"), Some(Outcome::Refused(reason)) if reason.contains("--yes")),
        "{}",
        refused.render()
    );
    let recovered = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(recovered.succeeded(), "{}", recovered.render());
    assert_eq!(recovered.outcome("data/Storage"), Some(&Outcome::Deployed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platform_deploys_across_the_three_accounts_then_changes_nothing() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let folder = hyperpod_platform::app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    // The cluster's template (the installer's code is inline) passes the 51,200-byte inline
    // limit: it deploys from the staging bucket, which `bootstrap` creates once.
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let calls_before = moto.server.api_calls();
    let started = Instant::now();
    let first = engine::deploy(&base, &folder, &options()).await.unwrap();
    let first_time = started.elapsed();
    let first_calls = moto.server.api_calls() - calls_before;
    assert!(first.succeeded(), "{}", first.render());
    let order: Vec<&str> = first.stacks.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        order,
        [
            "cluster/ClusterAssets",
            "cluster/Cluster",
            "science/DataScientists",
            "data/TrainingData"
        ],
        "the manifest's order is kept in the summary"
    );
    for stack in &first.stacks {
        assert_eq!(stack.outcome, Outcome::Deployed, "{}", first.render());
    }
    // The lifecycle scripts went up between the bucket's stack and the cluster's.
    let cluster = first
        .stacks
        .iter()
        .find(|s| s.id == "cluster/Cluster")
        .unwrap();
    assert_eq!(cluster.uploads, (2, 0));
    let started = Instant::now();
    let second = engine::deploy(&base, &folder, &options()).await.unwrap();
    let second_time = started.elapsed();
    let second_calls = moto.server.api_calls() - calls_before - first_calls;
    for stack in &second.stacks {
        assert_eq!(stack.outcome, Outcome::Unchanged, "{}", second.render());
    }
    assert_eq!(
        second
            .stacks
            .iter()
            .find(|s| s.id == "cluster/Cluster")
            .unwrap()
            .uploads,
        (0, 2),
        "unchanged assets are not sent again"
    );
    eprintln!(
        "hyperpod-platform against moto: first deploy {first_time:?} with {first_calls} API calls, no-op redeploy {second_time:?} with {second_calls} API calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slurm_app_deploys_then_changes_nothing() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let folder = slurm_login_access::app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let first = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(first.succeeded(), "{}", first.render());
    for stack in &first.stacks {
        assert_eq!(stack.outcome, Outcome::Deployed, "{}", first.render());
    }
    let cluster = first
        .stacks
        .iter()
        .find(|s| s.id == "cluster/SlurmCluster")
        .unwrap();
    assert_eq!(
        cluster.uploads,
        (4, 0),
        "the cluster's scripts and the generated ones"
    );
    let second = engine::deploy(&base, &folder, &options()).await.unwrap();
    for stack in &second.stacks {
        assert_eq!(stack.outcome, Outcome::Unchanged, "{}", second.render());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_widens_permissions_is_shown_and_needs_approval() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    assert!(
        engine::deploy(&base, &folder, &options())
            .await
            .unwrap()
            .succeeded()
    );

    // Grant the reader role a write action it did not have.
    let path = folder.join("analytics/Access.template.json");
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    template["Resources"]["ReaderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [0]["Action"] = serde_json::json!(["s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();

    let analytics = client_in(&base, "222222222222").await;
    let change_sets_before = change_set_count(&analytics, ACCESS_STACK).await;
    let diffs = engine::diff(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        change_set_count(&analytics, ACCESS_STACK).await,
        change_sets_before,
        "diff leaves no change set behind"
    );
    let access = diffs.stack("analytics/Access").unwrap();
    assert_eq!(access.action, PlannedAction::Update);
    assert_eq!(access.changes.modified.len(), 1, "{}", diffs.render());
    assert!(
        access
            .changes
            .widened
            .iter()
            .any(|grant| grant.contains("s3:PutObject")),
        "{}",
        diffs.render()
    );
    assert_eq!(
        diffs.stack("data/Storage").unwrap().action,
        PlannedAction::Unchanged
    );

    // Without a terminal and without --yes, the whole run is refused before any change.
    let refused = engine::deploy(
        &base,
        &folder,
        &DeployOptions {
            yes: false,
            ..options()
        },
    )
    .await
    .unwrap();
    for stack in &refused.stacks {
        assert!(
            matches!(&stack.outcome, Outcome::Refused(reason) if reason.contains("nothing was changed")),
            "{}",
            refused.render()
        );
    }
    assert!(
        refused
            .render()
            .contains("refused: the plan needs approval")
    );
    assert!(!refused.render().contains("FAILED"));
    let deployed = analytics
        .get_template()
        .stack_name(ACCESS_STACK)
        .send()
        .await
        .unwrap();
    assert!(!deployed.template_body().unwrap().contains("s3:PutObject"));
    let approved = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        approved.outcome("analytics/Access"),
        Some(&Outcome::Deployed),
        "{}",
        approved.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_needs_approval_follows_the_level() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    assert!(
        engine::deploy(&base, &folder, &options())
            .await
            .unwrap()
            .succeeded()
    );
    let unattended = |level| DeployOptions {
        yes: false,
        require_approval: level,
        ..options()
    };
    // A change that widens nothing and destroys nothing: a new output.
    let path = folder.join("analytics/Access.template.json");
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    template["Outputs"]["Note"] = serde_json::json!({ "Value": "reviewed" });
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    // The outcome of the access stack in a run without a terminal at `level`.
    let access_at = |level| {
        let (base, folder) = (&base, &folder);
        async move {
            let summary = engine::deploy(base, folder, &unattended(level))
                .await
                .unwrap();
            let outcome = summary.outcome("analytics/Access").unwrap().clone();
            (outcome, summary.render())
        }
    };
    let (strict, shown) = access_at(RequireApproval::AnyChange).await;
    assert!(matches!(strict, Outcome::Refused(_)), "{shown}");
    let (broadening, shown) = access_at(RequireApproval::Broadening).await;
    assert_eq!(broadening, Outcome::Deployed, "{shown}");
    // A change that widens: refused at the default level, carried out at `never`.
    template["Resources"]["ReaderRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        [0]["Action"] = serde_json::json!(["s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    let (refused, shown) = access_at(RequireApproval::Broadening).await;
    assert!(matches!(refused, Outcome::Refused(_)), "{shown}");
    let (never, shown) = access_at(RequireApproval::Never).await;
    assert_eq!(never, Outcome::Deployed, "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_over_the_inline_limit_deploys_from_the_staging_bucket_after_bootstrap() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let app = hyperpod_core::App::new("big");
    let stage = hyperpod_core::Stage::new(
        &app,
        "a",
        hyperpod_core::Environment::new("111111111111", "us-east-1"),
    );
    let stack = hyperpod_core::Stack::new(&stage, "Big", Default::default());
    let topic = hyperpod_core::CfnResource::raw(
        &stack,
        "Topic",
        "AWS::SNS::Topic",
        hyperpod_core::TagFormat::NotTaggable,
        serde_json::json!({}),
    );
    topic.add_metadata("Notes", "n".repeat(60_000));
    let out = tempfile::tempdir().unwrap();
    let assembly = app.synth().unwrap();
    assert!(assembly.manifest.stacks[0].template_requires_upload);
    let folder = assembly.write_to(out.path()).unwrap();

    let without = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(
        matches!(without.outcome("a/Big"), Some(Outcome::Failed(reason)) if reason.contains("bootstrap")),
        "{}",
        without.render()
    );
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let deployed = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        deployed.outcome("a/Big"),
        Some(&Outcome::Deployed),
        "{}",
        deployed.render()
    );
    let again = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        again.outcome("a/Big"),
        Some(&Outcome::Unchanged),
        "{}",
        again.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_one_account_leaves_the_unrelated_stacks_deploying() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let folder = hyperpod_platform::app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    // Break the lifecycle bucket's stack: the cluster and the data behind it cannot follow,
    // while the data scientists' roles in the other account do not depend on it.
    let path = folder.join("cluster/ClusterAssets.template.json");
    let mut template: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let resources = template["Resources"].as_object_mut().unwrap();
    let bucket = resources
        .keys()
        .find(|k| k.ends_with("Bucket"))
        .unwrap()
        .clone();
    resources[&bucket]["Properties"]["BucketName"] =
        serde_json::json!({ "Fn::GetAtt": ["Missing", "Arn"] });
    std::fs::write(&path, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    let summary = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(
        matches!(summary.outcome("cluster/ClusterAssets"), Some(Outcome::Failed(reason)) if reason.contains("Missing")),
        "{}",
        summary.render()
    );
    assert!(
        matches!(
            summary.outcome("cluster/Cluster"),
            Some(Outcome::NotAttempted(_))
        ),
        "{}",
        summary.render()
    );
    assert!(
        matches!(
            summary.outcome("data/TrainingData"),
            Some(Outcome::NotAttempted(_))
        ),
        "{}",
        summary.render()
    );
    assert_eq!(
        summary.outcome("science/DataScientists"),
        Some(&Outcome::Deployed),
        "{}",
        summary.render()
    );
    assert!(
        summary
            .render()
            .contains("222222222222 us-east-1 science/DataScientists: deployed")
    );
}

/// An app of one stage in the example's data account, with one stack named `name`.
fn intruder(name: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let app = hyperpod_core::App::new("intruder");
    let stage = hyperpod_core::Stage::new(
        &app,
        "data",
        hyperpod_core::Environment::new(example_shared_bucket::DATA_ACCOUNT, "us-east-1"),
    );
    let stack = hyperpod_core::Stack::new(
        &stage,
        "Loose",
        hyperpod_core::StackProps {
            stack_name: name.map(str::to_owned),
            ..Default::default()
        },
    );
    hyperpod_core::CfnResource::raw(
        &stack,
        "Topic",
        "AWS::SNS::Topic",
        hyperpod_core::TagFormat::KeyValueList,
        serde_json::json!({}),
    );
    let out = tempfile::tempdir().unwrap();
    let folder = app.synth().unwrap().write_to(out.path()).unwrap();
    (out, folder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_of_another_app_is_neither_changed_nor_deleted() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    let first = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(first.succeeded(), "{}", first.render());

    // Another app that names its stack like the example's storage stack.
    let (_other, other) = intruder(Some(STORAGE_STACK));
    for summary in [
        engine::deploy(&base, &other, &options()).await.unwrap(),
        engine::destroy(&base, &other, &options()).await.unwrap(),
    ] {
        assert!(
            matches!(summary.outcome("data/Loose"), Some(Outcome::Refused(reason))
                if reason.contains("belongs to app `example-shared-bucket`, not `intruder`")
                    && reason.contains("nothing was changed")),
            "{}",
            summary.render()
        );
    }
    let data = client_in(&base, example_shared_bucket::DATA_ACCOUNT).await;
    let template = data
        .get_template()
        .stack_name(STORAGE_STACK)
        .send()
        .await
        .unwrap();
    assert!(
        template.template_body().unwrap().contains("\"Bucket\""),
        "the example's stack is as it was"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_no_app_deployed_is_taken_over_only_when_adopted() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let data = client_in(&base, example_shared_bucket::DATA_ACCOUNT).await;
    data.create_stack()
        .stack_name("intruder-data-Loose")
        .template_body(
            r#"{"Resources": {"Handmade": {"Type": "AWS::SNS::Topic", "Properties": {}}}}"#,
        )
        .send()
        .await
        .unwrap();
    let (_out, folder) = intruder(None);
    let refused = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(
        matches!(refused.outcome("data/Loose"), Some(Outcome::Refused(reason))
            if reason.contains("no app of this tool deployed it") && reason.contains("--adopt")),
        "{}",
        refused.render()
    );
    let adopted = engine::deploy(
        &base,
        &folder,
        &DeployOptions {
            adopt: true,
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        adopted.outcome("data/Loose"),
        Some(&Outcome::Deployed),
        "{}",
        adopted.render()
    );
    let stack = data
        .describe_stacks()
        .stack_name("intruder-data-Loose")
        .send()
        .await
        .unwrap();
    let owner = stack.stacks()[0]
        .tags()
        .iter()
        .find(|tag| tag.key() == Some(hyperpod_core::APP_TAG))
        .and_then(|tag| tag.value());
    assert_eq!(
        owner,
        Some("intruder"),
        "adopted stacks carry the app's tag"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn termination_protection_lost_between_runs_is_put_back_on_an_unchanged_stack() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    assert!(
        engine::deploy(&base, &folder, &options())
            .await
            .unwrap()
            .succeeded()
    );
    // As if a run had stopped between the stack and its protection.
    let data = client_in(&base, example_shared_bucket::DATA_ACCOUNT).await;
    data.update_termination_protection()
        .stack_name(STORAGE_STACK)
        .enable_termination_protection(false)
        .send()
        .await
        .unwrap();
    let again = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        again.outcome("data/Storage"),
        Some(&Outcome::Unchanged),
        "{}",
        again.render()
    );
    let stack = data
        .describe_stacks()
        .stack_name(STORAGE_STACK)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stack.stacks()[0].enable_termination_protection(),
        Some(true)
    );
}

/// A base configuration for an endpoint that is not moto.
async fn base_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// An endpoint on 127.0.0.1 that answers every request with `status` and `body`, for
/// `requests` requests at most.
fn canned_endpoint(status: &str, content_type: &str, body: &str, requests: usize) -> String {
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 65536];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    format!("http://{address}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_flight_that_fails_says_why_in_words_and_what_to_do() {
    let (_out, folder) = assembly();
    // Nothing listens: the connection is refused.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let error = engine::deploy(&base_at(&closed).await, &folder, &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("GetCallerIdentity: the connection was refused")
            && error.contains("AWS could not be reached")
            && !error.contains("DispatchFailure"),
        "{error}"
    );
    // A gateway's error page, with no AWS error code.
    let gateway = canned_endpoint(
        "503 Service Unavailable",
        "text/html",
        "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>\n",
        4,
    );
    let error = engine::deploy(&base_at(&gateway).await, &folder, &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "GetCallerIdentity: HTTP 503 with no error code: 503 Service Temporarily Unavailable"
        ),
        "{error}"
    );
    // Throttling, as STS words it.
    let throttled = canned_endpoint(
        "400 Bad Request",
        "text/xml",
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>\n",
        4,
    );
    let error = engine::deploy(&base_at(&throttled).await, &folder, &options())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("GetCallerIdentity: Throttling: Rate exceeded")
            && error.contains("AWS throttled the call"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_lifts_termination_protection_only_when_told_and_names_the_account() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    assert!(
        engine::deploy(&base, &folder, &options())
            .await
            .unwrap()
            .succeeded()
    );
    let kept = engine::destroy(&base, &folder, &options()).await.unwrap();
    assert_eq!(kept.outcome("analytics/Access"), Some(&Outcome::Destroyed));
    assert!(
        matches!(kept.outcome("data/Storage"), Some(Outcome::Refused(reason))
            if reason.contains(STORAGE_STACK)
                && reason.contains(example_shared_bucket::DATA_ACCOUNT)
                && reason.contains("--lift-termination-protection")),
        "{}",
        kept.render()
    );
    let lifted = engine::destroy(
        &base,
        &folder,
        &DeployOptions {
            lift_termination_protection: true,
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        lifted.outcome("data/Storage"),
        Some(&Outcome::Destroyed),
        "{}",
        lifted.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_stopped_half_way_is_resumed_by_running_it_again() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    // As if the run had stopped after its first stack.
    let first = engine::deploy(
        &base,
        &folder,
        &DeployOptions {
            select: vec!["data/Storage".into()],
            exclusively: true,
            ..options()
        },
    )
    .await
    .unwrap();
    assert_eq!(first.stacks.len(), 1, "{}", first.render());
    let resumed = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert_eq!(resumed.outcome("data/Storage"), Some(&Outcome::Unchanged));
    assert_eq!(
        resumed.outcome("analytics/Access"),
        Some(&Outcome::Deployed)
    );
    assert!(
        resumed
            .render()
            .contains("1 stack(s) were already deployed as they are and were left alone"),
        "{}",
        resumed.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_models_change_sets_as_cloudformation_does() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let data = client_in(&base, example_shared_bucket::DATA_ACCOUNT).await;
    let template = r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "t"}}}}"#;
    let create = |name: &'static str| {
        data.create_change_set()
            .stack_name("emulated")
            .change_set_name(name)
            .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
            .template_body(template)
            .send()
    };
    create("first").await.unwrap();
    // A second change set of the same name: refused.
    let duplicate = create("first").await.unwrap_err();
    assert_eq!(
        duplicate.as_service_error().and_then(|e| e.meta().code()),
        Some("AlreadyExistsException")
    );
    // A CREATE change set on the stack left in REVIEW_IN_PROGRESS reuses it.
    let second = create("second").await.unwrap();
    let stacks = data.list_stacks().send().await.unwrap();
    let named: Vec<_> = stacks
        .stack_summaries()
        .iter()
        .filter(|s| s.stack_name() == Some("emulated"))
        .collect();
    assert_eq!(named.len(), 1, "{named:?}");
    data.execute_change_set()
        .change_set_name(second.id().unwrap())
        .send()
        .await
        .unwrap();
    // A change set runs once.
    let again = data
        .execute_change_set()
        .change_set_name(second.id().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        again.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidChangeSetStatus")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_left_waiting_for_review_by_an_earlier_run_is_taken_over() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let (_out, folder) = assembly();
    // An earlier run created the storage stack's change set, then stopped.
    let data = client_in(&base, example_shared_bucket::DATA_ACCOUNT).await;
    data.create_change_set()
        .stack_name(STORAGE_STACK)
        .change_set_name("hyperpod-1")
        .change_set_type(aws_sdk_cloudformation::types::ChangeSetType::Create)
        .template_body(r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}"#)
        .tags(
            aws_sdk_cloudformation::types::Tag::builder()
                .key(hyperpod_core::APP_TAG)
                .value("example-shared-bucket")
                .build(),
        )
        .tags(
            aws_sdk_cloudformation::types::Tag::builder()
                .key(hyperpod_core::STAGE_TAG)
                .value("data")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let summary = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(summary.succeeded(), "{}", summary.render());
    assert_eq!(summary.outcome("data/Storage"), Some(&Outcome::Deployed));
}

/// `hyperpod-org` with these teams and options, placed by `record` when given, written
/// below `out`: the new placement record and the assembly's folder.
pub(crate) fn write_org(
    out: &std::path::Path,
    teams: Vec<usize>,
    options: &hyperpod_org::OrgOptions,
    record: Option<&hyperpod_core::Placement>,
) -> (hyperpod_core::Placement, PathBuf) {
    let app = hyperpod_org::app_with_options(teams, options);
    if let Some(record) = record {
        app.set_placement(record.clone());
    }
    let assembly = app.synth().unwrap();
    let folder = assembly.write_to(out).unwrap();
    (assembly.placement, folder)
}

/// Small shards of `hyperpod-org`: two teams per shard in the cluster's account.
pub(crate) fn small_shards() -> hyperpod_core::Sharding {
    hyperpod_core::Sharding {
        max_resources: 12,
        ..hyperpod_core::Sharding::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_deploy_and_a_new_team_changes_one_shard_per_account_and_a_lost_record_is_refused() {
    let Some(moto) = Moto::start() else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let org = hyperpod_org::OrgOptions {
        sharding: small_shards(),
        ..hyperpod_org::OrgOptions::default()
    };
    let synth = |teams: Vec<usize>, record: Option<&hyperpod_core::Placement>| {
        write_org(out.path(), teams, &org, record)
    };
    let (record, folder) = synth(vec![1, 2, 3, 4], None);
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let first = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(first.succeeded(), "{}", first.render());
    assert!(
        first
            .stacks
            .iter()
            .any(|s| s.id == "cluster/Cluster-shard2"),
        "{}",
        first.render()
    );

    // Team 5 joins: one shard changes in the cluster's account, in its unit's and in C.
    let (record, folder) = synth(vec![1, 2, 3, 4, 5], Some(&record));
    let second = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(second.succeeded(), "{}", second.render());
    let deployed: Vec<&str> = second
        .stacks
        .iter()
        .filter(|s| s.outcome == Outcome::Deployed)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(
        deployed,
        [
            "cluster/Cluster-shard3",
            "unit-3/DataScientists-shard1",
            "data/TrainingData-shard1"
        ],
        "{}",
        second.render()
    );
    drop(record);

    // The record is lost and team 1 left: placed afresh, team 3 would move from shard 2
    // to shard 1. Both shards are refused; nothing is deleted.
    let (_, folder) = synth(vec![2, 3, 4, 5], None);
    let refused = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(!refused.succeeded(), "{}", refused.render());
    for id in ["cluster/Cluster-shard1", "cluster/Cluster-shard2"] {
        assert!(
            matches!(refused.outcome(id), Some(Outcome::Refused(reason)) if reason.contains("placement.json")),
            "{id}: {}",
            refused.render()
        );
    }
    let client = client_in(&base, hyperpod_org::CLUSTER_ACCOUNT).await;
    let resources = client
        .describe_stack_resources()
        .stack_name("hyperpod-org-cluster-Cluster-shard2")
        .send()
        .await
        .unwrap();
    assert!(
        resources
            .stack_resources()
            .iter()
            .any(|r| r.logical_resource_id() == Some("Team0003ClusterAccessRole")),
        "team 3's role is still where it was deployed"
    );
}
