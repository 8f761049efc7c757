//! Committed artefacts: `synth-out/` is what the apps synthesize today, and every template
//! passes the pinned cfn-lint.

use std::path::PathBuf;

use hyperpod_core::{
    App, CfnCondition, CfnMapping, CfnOutput, CfnParameter, CfnResource, Expr, ExprMap,
    OutputProps, ParameterProps, ParameterType, Placement, Pseudo, TagFormat, Tags, Value, fns,
};
use indexmap::IndexMap;
use serde_json::json;
use tests::{cfn_lint, checkov, checkov_failures, files_below, lint, workspace_root};

use crate::support::{ACCOUNT_B, REGION, accept_security_findings, one_stack};

/// Every app of the workspace, by the name of its folder under `apps/`.
fn apps() -> Vec<(&'static str, App)> {
    vec![
        ("example-shared-bucket", example_shared_bucket::app()),
        (
            "hyperpod-org",
            hyperpod_org::app(1..=hyperpod_org::DEFAULT_TEAMS),
        ),
        ("hyperpod-platform", hyperpod_platform::app()),
        ("slurm-login-access", slurm_login_access::app()),
    ]
}

const REFRESH: &str = "run `cargo xtask synth` and commit synth-out/";

#[test]
fn every_app_folder_is_covered_by_the_freshness_test() {
    let mut folders: Vec<String> = std::fs::read_dir(workspace_root().join("apps"))
        .unwrap()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    let mut known: Vec<String> = apps()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    known.sort();
    assert_eq!(
        folders, known,
        "add the new app to `apps()` in tests/committed.rs"
    );
}

#[test]
fn synth_out_is_what_the_apps_synthesize_now() {
    let synth_out = workspace_root().join("synth-out");
    let mut expected_folders = Vec::new();
    for (name, app) in apps() {
        // As `synth` does: units of sharded stacks stay where the committed record has them.
        if let Ok(record) = std::fs::read(synth_out.join(name).join(Placement::FILE)) {
            app.set_placement(Placement::from_json(&record).unwrap());
        }
        let assembly = app.synth().unwrap_or_else(|e| panic!("app {name}: {e}"));
        assert_eq!(
            assembly.app(),
            name,
            "an app's name is the name of its folder"
        );
        expected_folders.push(name.to_owned());
        let folder = synth_out.join(name);
        let expected: Vec<PathBuf> = assembly
            .files()
            .iter()
            .map(|f| PathBuf::from(&f.path))
            .collect();
        let mut sorted = expected.clone();
        sorted.sort();
        assert_eq!(
            files_below(&folder),
            sorted,
            "synth-out/{name} holds other files than the app synthesizes; {REFRESH}"
        );
        for file in assembly.files() {
            let committed = std::fs::read(folder.join(&file.path)).unwrap_or_default();
            assert!(
                *committed == *file.contents(),
                "synth-out/{name}/{} is stale; {REFRESH}",
                file.path
            );
        }
    }
    let mut folders: Vec<String> = std::fs::read_dir(&synth_out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    expected_folders.sort();
    assert_eq!(
        folders, expected_folders,
        "synth-out/ holds the folder of an app that no longer exists; remove it"
    );
}

/// The paths of every template in `synth-out/`; at least one.
fn committed_templates() -> Vec<PathBuf> {
    let synth_out = workspace_root().join("synth-out");
    let templates: Vec<PathBuf> = files_below(&synth_out)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .map(|p| synth_out.join(p))
        .collect();
    assert!(!templates.is_empty(), "synth-out/ holds no template");
    templates
}

/// Every committed template, with an ignore list that is empty: each entry would need a
/// written reason.
#[test]
fn every_committed_template_passes_cfn_lint() {
    let Some(cfn_lint) = cfn_lint() else {
        return;
    };
    let templates = committed_templates();
    if let Some(report) = lint(&cfn_lint, &templates) {
        panic!("cfn-lint found errors or warnings:\n{report}");
    }
}

/// The informational check I3011 asks for a deletion policy on every stateful resource;
/// the data promise ("never lost data") makes that a requirement here, not an aside.
#[test]
fn every_stateful_resource_of_the_committed_templates_sets_a_deletion_policy() {
    let Some(cfn_lint) = cfn_lint() else {
        return;
    };
    let templates = committed_templates();
    let output = std::process::Command::new(&cfn_lint)
        .args(["--format", "parseable", "--include-checks", "I3011", "--"])
        .args(&templates)
        .output()
        .expect("cfn-lint runs");
    let report = String::from_utf8_lossy(&output.stdout);
    let unprotected: Vec<&str> = report
        .lines()
        .filter(|line| line.contains("I3011"))
        .collect();
    assert!(
        unprotected.is_empty(),
        "stateful resources without a deletion policy:\n{}",
        unprotected.join("\n")
    );
}

/// checkov's CloudFormation checks, the tool security reviewers run, fail nothing in the
/// committed templates. A check the design accepts is skipped in the template itself, by a
/// suppression with its reason (`Node::suppress`), never by an ignore list here.
#[test]
fn every_committed_template_passes_checkov() {
    let Some(checkov) = checkov() else {
        return;
    };
    let failures = checkov_failures(&checkov, &workspace_root().join("synth-out"));
    assert!(
        failures.is_empty(),
        "checkov failed {} check(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The shapes synthesis produces on its own (exports, deploy-time parameters, conditions,
/// mappings, tags) must pass cfn-lint too, not only the ones the apps happen to use.
#[test]
fn what_synthesis_generates_passes_cfn_lint() {
    let Some(cfn_lint) = cfn_lint() else {
        return;
    };
    let (app, stack) = one_stack();
    accept_security_findings(&app);
    Tags::of(&app).add("owner", "platform");
    let env = CfnParameter::new(
        &stack,
        "Env",
        ParameterProps {
            default: Some("dev".into()),
            allowed_values: vec!["dev".into(), "prod".into()],
            ..ParameterProps::new(ParameterType::String)
        },
    );
    let is_prod = CfnCondition::new(
        &stack,
        "IsProd",
        fns::equals(env.value_as_string(), "prod".into()),
    );
    let sizes = CfnMapping::new(
        &stack,
        "Sizes",
        IndexMap::from([
            (
                "dev".to_owned(),
                IndexMap::from([("Retention".to_owned(), Expr::from(7))]),
            ),
            (
                "prod".to_owned(),
                IndexMap::from([("Retention".to_owned(), Expr::from(90))]),
            ),
        ]),
    );
    let log_group = CfnResource::new(
        &stack,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        ExprMap::new(),
    );
    log_group.set_property(
        "RetentionInDays",
        sizes.find_in_map::<i64>(env.value_as_string(), "Retention".into()),
    );
    log_group.set_property(
        "LogGroupName",
        fns::sub(
            "/platform/${AWS::StackName}/${env}",
            [("env", env.value_as_string())],
        ),
    );
    log_group.retain_on_delete_and_replace();
    let topic = CfnResource::raw(
        &stack,
        "Alerts",
        "AWS::SNS::Topic",
        TagFormat::KeyValueList,
        json!({}),
    );
    topic.set_property(
        "DisplayName",
        fns::if_(&is_prod, Value::from("prod-alerts"), Value::no_value()),
    );
    let prod_only = CfnResource::raw(
        &stack,
        "ProdAlerts",
        "AWS::SNS::Topic",
        TagFormat::KeyValueList,
        json!({}),
    );
    prod_only.set_condition(&is_prod);
    CfnOutput::new(
        &stack,
        "LogGroupArn",
        OutputProps {
            description: Some("the log group".into()),
            ..OutputProps::new(log_group.get_att("Arn"))
        },
    );

    let same_account = hyperpod_core::Stack::new(&stack.stage(), "Reader", Default::default());
    let reader_logs = CfnResource::new(
        &same_account,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        ExprMap::new(),
    );
    reader_logs.set_property(
        "LogGroupName",
        fns::join("-", [log_group.ref_value(), "reader".into()]),
    );
    let other = hyperpod_core::Stage::new(
        &app,
        "b",
        hyperpod_core::Environment::new(ACCOUNT_B, REGION),
    );
    let other_stack = hyperpod_core::Stack::new(&other, "Consumer", Default::default());
    let remote = CfnResource::new(
        &other_stack,
        "Logs",
        "AWS::Logs::LogGroup",
        TagFormat::KeyValueList,
        ExprMap::new(),
    );
    remote.set_property(
        "LogGroupName",
        fns::join("-", [log_group.ref_value(), Pseudo::AccountId.value()]),
    );

    let out = tempfile::tempdir().unwrap();
    let folder = app.synth().unwrap().write_to(out.path()).unwrap();
    let templates: Vec<PathBuf> = files_below(&folder)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".template.json"))
        .map(|p| folder.join(p))
        .collect();
    assert_eq!(templates.len(), 3);
    if let Some(report) = lint(&cfn_lint, &templates) {
        panic!("cfn-lint found errors or warnings:\n{report}");
    }
}
