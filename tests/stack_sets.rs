//! Stacks deployed as service-managed StackSets: what synthesis makes of them (each team's
//! resources confined to its account, a placeholder for the other accounts, the manifest's
//! options), what it refuses, and the deploy engine against the emulator with an
//! organization whose unit holds the business units' accounts.

use std::process::Command;

use hyperpod_core::{
    App, CfnOutput, CfnResource, Concurrency, Construct, Environment, Expr, ExprMap, OutputProps,
    Scope, Stack, StackProps, StackSetCaller, StackSetDeployment, Stage, TagFormat, Value,
};
use hyperpod_deploy::engine::{self, DeployOptions, Outcome};
use hyperpod_org::{BUSINESS_UNIT_ACCOUNTS, OrgOptions, RolesStackSet};

use crate::deploy::{Moto, options, small_shards, write_org};

/// The organization's management account in these tests, which administers the StackSet.
const MANAGEMENT: &str = "666666666666";
/// The organizational unit holding the business units' accounts.
const UNIT: &str = "ou-ab12-units001";

fn stack_set_options() -> OrgOptions {
    OrgOptions {
        sharding: small_shards(),
        roles_stack_set: Some(RolesStackSet {
            administrator: Environment::new(MANAGEMENT, hyperpod_org::REGION),
            delegated: false,
            organizational_units: vec![UNIT.into()],
        }),
        ..OrgOptions::default()
    }
}

fn problems(app: &App) -> Vec<(String, String, String)> {
    match app.synth() {
        Ok(_) => Vec::new(),
        Err(hyperpod_core::SynthError::Invalid(problems)) => problems
            .into_iter()
            .map(|p| (p.path, p.code, p.message))
            .collect(),
        Err(other) => panic!("{other}"),
    }
}

fn has(problems: &[(String, String, String)], code: &str, path_part: &str) -> bool {
    problems
        .iter()
        .any(|(path, c, _)| c == code && path.contains(path_part))
}

#[test]
fn each_team_role_is_confined_to_its_units_account() {
    let assembly = hyperpod_org::app_with_options(1..=4, &stack_set_options())
        .synth()
        .unwrap();
    let stacks: Vec<&str> = assembly
        .manifest
        .stacks
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert!(
        !stacks.iter().any(|id| id.starts_with("unit-")),
        "no per-unit stacks: {stacks:?}"
    );
    let shard = assembly
        .manifest
        .stacks
        .iter()
        .find(|s| s.id == "units/DataScientists-shard1")
        .expect("the StackSet's first shard");
    assert_eq!(shard.account, MANAGEMENT);
    let set = shard.stack_set.as_ref().expect("deployed as a StackSet");
    assert_eq!(set.organizational_units, [UNIT]);
    assert_eq!(set.regions, ["us-east-1"]);
    assert_eq!(set.call_as, "SELF");
    assert!(set.auto_deployment && !set.retain_stacks_on_account_removal);
    assert_eq!(set.accounts, BUSINESS_UNIT_ACCOUNTS);
    assert_eq!(
        set.operation_preferences.max_concurrent_percentage,
        Some(25)
    );
    assert_eq!(set.operation_preferences.failure_tolerance_count, Some(0));

    let template = assembly.template("units/DataScientists-shard1").unwrap();
    for number in 1..=4 {
        let account = BUSINESS_UNIT_ACCOUNTS[hyperpod_org::business_unit(number)];
        let role = &template["Resources"][format!("TeamTeam{number:04}DataScientistRole")];
        assert_eq!(
            role["Condition"],
            format!("InAccount{account}"),
            "team {number}"
        );
        assert_eq!(
            template["Conditions"][format!("InAccount{account}")],
            serde_json::json!({ "Fn::Equals": [{ "Ref": "AWS::AccountId" }, account] })
        );
    }
    // Every other account of the unit gets a stack with nothing in it but this.
    assert_eq!(
        template["Resources"]["StackSetPlaceholder"],
        serde_json::json!({ "Type": "AWS::CloudFormation::WaitConditionHandle" })
    );
    // The cluster's trust names each team's role in its own account, by ARN: automatic
    // deployment may make the role again, and a trust bound to the old role's id would
    // no longer admit it.
    let cluster = assembly.template("cluster/Cluster-shard1").unwrap();
    let trust = &cluster["Resources"]["Team0001ClusterAccessRole"]["Properties"]["AssumeRolePolicyDocument"]
        ["Statement"][0];
    let account = BUSINESS_UNIT_ACCOUNTS[1];
    assert_eq!(
        trust["Principal"]["AWS"]["Fn::Sub"][1]["account"], account,
        "{trust}"
    );
    assert!(
        trust["Principal"]["AWS"]["Fn::Sub"][0]
            .as_str()
            .is_some_and(|arn| arn.ends_with(":root")),
        "{trust}"
    );
    let arn = &trust["Condition"]["ArnEquals"]["aws:PrincipalArn"]["Fn::Sub"];
    assert_eq!(arn[0], "arn:${AWS::Partition}:iam::${account}:role/${name}");
    assert_eq!(
        arn[1],
        serde_json::json!({ "account": account, "name": "team-0001-data-scientist" })
    );
    assert_eq!(
        trust["Condition"]["Null"]["sts:SourceIdentity"], "false",
        "{trust}"
    );
    let depends: Vec<&str> = assembly
        .manifest
        .stacks
        .iter()
        .find(|s| s.id == "cluster/Cluster-shard1")
        .unwrap()
        .dependencies
        .iter()
        .map(String::as_str)
        .collect();
    assert!(
        depends.contains(&"units/DataScientists-shard1"),
        "{depends:?}"
    );
}

#[test]
fn list_long_says_where_a_stack_set_goes() {
    let out = tempfile::tempdir().unwrap();
    let mut listed = Vec::new();
    hyperpod_deploy::execute(
        &hyperpod_org::app_with_options(1..=3, &stack_set_options()),
        hyperpod_deploy::cli::Command::List(hyperpod_deploy::cli::ListArgs {
            long: true,
            output: out.path().to_owned(),
            ..hyperpod_deploy::cli::ListArgs::default()
        }),
        false,
        &mut listed,
    )
    .unwrap();
    let listed = String::from_utf8(listed).unwrap();
    assert!(
        listed.contains(&format!(
            "  StackSet (management account) to the accounts of {UNIT} in us-east-1; resources confined to {}, a placeholder elsewhere",
            BUSINESS_UNIT_ACCOUNTS.join(", ")
        )),
        "{listed}"
    );
}

#[test]
fn stack_set_templates_pass_cfn_lint_and_checkov() {
    let out = tempfile::tempdir().unwrap();
    let folder = hyperpod_org::app_with_options(1..=4, &stack_set_options())
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    let units = folder.join("units");
    let templates: Vec<_> = tests::files_below(&units)
        .into_iter()
        .map(|file| units.join(file))
        .collect();
    assert!(!templates.is_empty());
    if let Some(cfn_lint) = tests::cfn_lint()
        && let Some(report) = tests::lint(&cfn_lint, &templates)
    {
        panic!("{report}");
    }
    if let Some(checkov) = tests::checkov() {
        let failures = tests::checkov_failures(&checkov, &folder.join("units"));
        assert!(failures.is_empty(), "{failures:#?}");
    }
}

/// A one-stage app with a StackSet stack, for the rules below.
fn stack_set_app(deployment: StackSetDeployment) -> (App, Stack) {
    let app = App::new("rules");
    let stage = Stage::new(&app, "org", Environment::new(MANAGEMENT, "us-east-1"));
    let stack = Stack::new(
        &stage,
        "Roles",
        StackProps {
            stack_set: Some(deployment),
            ..StackProps::default()
        },
    );
    (app, stack)
}

fn wait_handle(scope: &impl Scope, id: &str) -> CfnResource {
    CfnResource::new(
        scope,
        id,
        "AWS::CloudFormation::WaitConditionHandle",
        TagFormat::NotTaggable,
        ExprMap::new(),
    )
}

#[test]
fn stack_set_options_are_checked() {
    let mut deployment = StackSetDeployment::new(&["ou-1"]);
    deployment.operation_preferences.max_concurrent = Concurrency::Accounts(4);
    deployment.operation_preferences.concurrency_mode =
        hyperpod_core::ConcurrencyMode::StrictFailureTolerance;
    deployment.regions = vec!["mars-1".into()];
    let (app, stack) = stack_set_app(deployment);
    wait_handle(&stack, "Handle");
    let found = problems(&app);
    let messages: Vec<&str> = found
        .iter()
        .filter(|(_, code, _)| code == "invalid_stack_set")
        .map(|(_, _, m)| m.as_str())
        .collect();
    assert_eq!(messages.len(), 3, "{found:#?}");
    assert!(messages[0].contains("`ou-1`"));
    assert!(messages[1].contains("`mars-1`"));
    assert!(messages[2].contains("at most one more"));

    let app = App::new("rules");
    let stage = Stage::new(&app, "org", Environment::new(MANAGEMENT, "us-east-1"));
    let protected = Stack::new(
        &stage,
        "Roles",
        StackProps {
            termination_protection: true,
            stack_set: Some(StackSetDeployment::new(&[UNIT])),
            ..StackProps::default()
        },
    );
    wait_handle(&protected, "Handle");
    assert!(has(
        &problems(&app),
        "stack_set_termination_protection",
        "org/Roles"
    ));
}

#[test]
fn a_stack_set_refuses_outputs_references_and_conditions_it_cannot_keep() {
    let (app, stack) = stack_set_app(StackSetDeployment::new(&[UNIT]));
    let team_a = Construct::new(&stack, "TeamA");
    team_a.node().confine_to_account("222222222222");
    let team_b = Construct::new(&stack, "TeamB");
    team_b.node().confine_to_account("444444444444");
    let handle_a = wait_handle(&team_a, "Handle");
    // A resource of team B reading team A's: it would not exist in B's account.
    let reader = wait_handle(&team_b, "Reader");
    reader.set_property("Value", handle_a.ref_value());
    // A resource of team B waiting for team A's: not created in B's account.
    wait_handle(&team_b, "Waiter").add_depends_on(&handle_a);
    // An output: nothing reads a StackSet's outputs.
    CfnOutput::new(&stack, "Out", OutputProps::new(Value::from("x")));
    // Another stack reading the StackSet's resource.
    let stage = Stage::new(
        &app,
        "cluster",
        Environment::new("111111111111", "us-east-1"),
    );
    let consumer = Stack::new(&stage, "Consumer", StackProps::default());
    let elsewhere = wait_handle(&consumer, "Reader");
    elsewhere.set_property("Value", handle_a.ref_value());
    // A scope confined to an account its plain stack is not in.
    let stray = Construct::new(&consumer, "Stray");
    stray.node().confine_to_account("222222222222");
    wait_handle(&stray, "Handle");
    let found = problems(&app);
    assert!(
        has(
            &found,
            "reference_across_accounts",
            "org/Roles/TeamB/Reader"
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "output_in_stack_set", "org/Roles/Out"),
        "{found:#?}"
    );
    assert!(
        has(
            &found,
            "depends_on_across_accounts",
            "org/Roles/TeamB/Waiter"
        ),
        "{found:#?}"
    );
    assert!(
        has(&found, "stack_set_reference", "cluster/Consumer/Reader"),
        "{found:#?}"
    );
    assert!(
        has(&found, "account_outside_stack", "cluster/Consumer/Stray"),
        "{found:#?}"
    );
}

#[test]
fn what_a_stack_set_cannot_deploy_is_refused_at_synthesis() {
    let mut deployment = StackSetDeployment::new(&[UNIT]);
    deployment.regions = vec!["us-east-1".into(), "eu-west-1".into()];
    let (app, stack) = stack_set_app(deployment);
    // A confined stack: only scopes inside a stack can be confined.
    stack.node().confine_to_account("222222222222");
    // A parameter nobody can fill.
    hyperpod_core::CfnParameter::new(
        &stack,
        "Unfilled",
        hyperpod_core::ParameterProps::new(hyperpod_core::ParameterType::String),
    );
    // A named role in two regions: IAM names are global to the account.
    let team = Construct::new(&stack, "Team");
    team.node().confine_to_account("222222222222");
    let role = CfnResource::new(
        &team,
        "Role",
        "AWS::IAM::Role",
        TagFormat::KeyValueList,
        ExprMap::new(),
    );
    role.set_property("RoleName", Expr::from("team-role"));
    role.set_property(
        "AssumeRolePolicyDocument",
        Expr::from(serde_json::json!({ "Version": "2012-10-17", "Statement": [] })),
    );
    // The management account: StackSets never deploy there.
    let own = Construct::new(&stack, "Own");
    own.node().confine_to_account(MANAGEMENT);
    wait_handle(&own, "Handle");
    let found = problems(&app);
    for (code, path) in [
        ("confined_scope_not_below_a_stack", "org/Roles"),
        ("parameter_in_stack_set", "org/Roles/Unfilled"),
        ("named_iam_in_many_regions", "org/Roles/Team/Role"),
        ("confined_to_management_account", "org/Roles/Own"),
    ] {
        assert!(has(&found, code, path), "{code} at {path}: {found:#?}");
    }
}

#[test]
fn the_manifest_says_whether_resources_reach_every_account() {
    let (app, stack) = stack_set_app(StackSetDeployment::new(&[UNIT]));
    let team = Construct::new(&stack, "Team");
    team.node().confine_to_account("222222222222");
    wait_handle(&team, "Confined");
    let confined_only = app.synth().unwrap();
    let set = confined_only.manifest.stacks[0].stack_set.clone().unwrap();
    assert_eq!(set.accounts, ["222222222222"]);
    assert!(!set.unconfined_resources);
    let template = confined_only.template("org/Roles").unwrap();
    assert!(template["Resources"]["StackSetPlaceholder"].is_object());

    wait_handle(&stack, "Everywhere");
    let with_unconfined = app.synth().unwrap();
    let set = with_unconfined.manifest.stacks[0]
        .stack_set
        .clone()
        .unwrap();
    assert!(set.unconfined_resources);
    let template = with_unconfined.template("org/Roles").unwrap();
    assert!(template["Resources"].get("StackSetPlaceholder").is_none());
}

#[test]
fn deploy_account_tells_where_a_scope_deploys() {
    let (_app, stack) = stack_set_app(StackSetDeployment::new(&[UNIT]));
    let team = Construct::new(&stack, "Team");
    team.node().confine_to_account("222222222222");
    let inner = Construct::new(&team, "Inner");
    assert_eq!(
        inner.node().deploy_account().as_deref(),
        Some("222222222222")
    );
    assert_eq!(
        stack.node().deploy_account(),
        None,
        "every account of the units"
    );
    let app = App::new("plain");
    let stage = Stage::new(&app, "a", Environment::new("111111111111", "us-east-1"));
    let plain = Stack::new(&stage, "S", StackProps::default());
    assert_eq!(
        plain.node().deploy_account().as_deref(),
        Some("111111111111")
    );
}

#[test]
fn an_org_without_business_units_is_refused_not_a_panic() {
    let options = OrgOptions {
        business_units: Vec::new(),
        ..stack_set_options()
    };
    let found = problems(&hyperpod_org::app_with_options(1..=2, &options));
    assert!(has(&found, "no_business_units", "<app>"), "{found:#?}");
}

#[test]
fn a_team_in_a_stack_set_needs_its_account() {
    let app = App::new("needs-account");
    let a = Stage::new(
        &app,
        "cluster",
        Environment::new("111111111111", "us-east-1"),
    );
    let org = Stage::new(&app, "org", Environment::new(MANAGEMENT, "us-east-1"));
    let assets = Stack::new(&a, "Assets", StackProps::default());
    let platform = Stack::new(&a, "Cluster", StackProps::default());
    let roles = Stack::new(
        &org,
        "Roles",
        StackProps {
            stack_set: Some(StackSetDeployment {
                caller: StackSetCaller::DelegatedAdministrator,
                ..StackSetDeployment::new(&[UNIT])
            }),
            ..StackProps::default()
        },
    );
    let scripts = tempfile::tempdir().unwrap();
    std::fs::write(scripts.path().join("on_create.sh"), "#!/bin/bash\n").unwrap();
    let network = hyperpod::HyperPodNetwork::new(
        &platform,
        "Network",
        hyperpod::NetworkProps::new(&["use1-az2", "use1-az4"]),
    );
    let cluster = hyperpod::HyperPodEksCluster::new(
        &platform,
        "HyperPod",
        hyperpod::HyperPodEksClusterProps::new(
            "ml-cluster",
            network.refs().clone(),
            vec![hyperpod::InstanceGroup::new("gpu", "ml.g5.8xlarge", 2)],
            scripts.path().to_path_buf(),
            assets,
        ),
    );
    hyperpod::TeamNamespace::new(
        &platform,
        "research",
        hyperpod::TeamNamespaceProps::new(
            "research",
            &cluster,
            hyperpod::ComputeQuota::new(vec![(hyperpod::QuotaInstanceType::MlG58xlarge, 1)]),
            &roles,
            hyperpod::TeamMembers::PermissionSet("Research".into()),
        ),
    );
    let found = problems(&app);
    let missing = found
        .iter()
        .find(|(_, code, _)| code == "data_scientist_account_required")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        missing.0.contains("cluster/Cluster/research"),
        "{missing:?}"
    );
    assert!(missing.2.contains("data_scientist_account"), "{missing:?}");
}

/// Runs `code` with `iam`, a boto3 IAM client acting in `account` of the emulator (through
/// the tools' Python); returns what it prints.
fn with_iam(endpoint: &str, account: &str, code: &str) -> String {
    let python = tests::python_tools().expect("moto runs, so its Python does");
    let script = format!(
        r#"
import boto3
sts = boto3.client("sts", endpoint_url="{endpoint}", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
c = sts.assume_role(RoleArn="arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="tests")["Credentials"]
iam = boto3.client("iam", endpoint_url="{endpoint}", region_name="us-east-1", aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
{code}
"#
    );
    let output = Command::new(python).arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The data-scientist roles of `account` in the emulator, sorted.
fn scientist_roles(endpoint: &str, account: &str) -> Vec<String> {
    let listed = with_iam(
        endpoint,
        account,
        "for role in iam.list_roles()[\"Roles\"]:\n    print(role[\"RoleName\"])",
    );
    let mut roles: Vec<String> = listed
        .lines()
        .filter(|role| role.ends_with("-data-scientist"))
        .map(str::to_owned)
        .collect();
    roles.sort();
    roles
}

/// An organization of the management account with these units and accounts.
fn organization_of(units: &[(&str, &[&str])]) -> Vec<(&'static str, String)> {
    let units: Vec<serde_json::Value> = units
        .iter()
        .map(|(id, accounts)| serde_json::json!({ "id": id, "accounts": accounts }))
        .collect();
    vec![(
        "HYPERPOD_MOTO_ORGANIZATION",
        serde_json::json!({ "management": MANAGEMENT, "units": units }).to_string(),
    )]
}

fn organization(accounts: &[&str]) -> Vec<(&'static str, String)> {
    vec![(
        "HYPERPOD_MOTO_ORGANIZATION",
        serde_json::json!({
            "management": MANAGEMENT,
            "units": [{ "id": UNIT, "accounts": accounts }],
        })
        .to_string(),
    )]
}

fn deployed_ids(summary: &engine::Summary) -> Vec<&str> {
    summary
        .stacks
        .iter()
        .filter(|s| s.outcome == Outcome::Deployed)
        .map(|s| s.id.as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roles_stack_set_reaches_each_units_account_and_converges() {
    let Some(moto) = Moto::start_with(&organization(&BUSINESS_UNIT_ACCOUNTS)) else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let org = stack_set_options();
    let synth = |teams: Vec<usize>, record: Option<&hyperpod_core::Placement>| {
        write_org(out.path(), teams, &org, record)
    };
    let (record, folder) = synth(vec![1, 2, 3, 4], None);
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let first = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(first.succeeded(), "{}", first.render());
    assert_eq!(
        first.outcome("units/DataScientists-shard1"),
        Some(&Outcome::Deployed)
    );
    let endpoint = moto.endpoint.clone();
    let (b1, b2, b3) = (
        BUSINESS_UNIT_ACCOUNTS[0],
        BUSINESS_UNIT_ACCOUNTS[1],
        BUSINESS_UNIT_ACCOUNTS[2],
    );
    // Team n belongs to unit n % 3: teams 1 and 4 to B2, 2 to B3, 3 to B1; each role only
    // in its own account.
    let scientists = |account: &str| scientist_roles(&endpoint, account);
    assert_eq!(scientists(b1), ["team-0003-data-scientist"]);
    assert_eq!(
        scientists(b2),
        ["team-0001-data-scientist", "team-0004-data-scientist"]
    );
    assert_eq!(scientists(b3), ["team-0002-data-scientist"]);
    assert!(
        scientists(MANAGEMENT).is_empty(),
        "never in the management account"
    );

    // Deployed again as it is: nothing changes, the StackSet included.
    let again = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(again.succeeded(), "{}", again.render());
    assert!(deployed_ids(&again).is_empty(), "{}", again.render());

    // Team 5 (unit B3) joins: its shard in the cluster's account, in the StackSet and in C.
    let (_, folder) = synth(vec![1, 2, 3, 4, 5], Some(&record));
    let plan = engine::diff(&base, &folder, &options()).await.unwrap();
    let planned = plan.stack("units/DataScientists-shard1").unwrap();
    assert_eq!(
        planned.action,
        engine::PlannedAction::Update,
        "{}",
        plan.render()
    );
    assert_eq!(
        planned.changes.added,
        [(
            "TeamTeam0005DataScientistRole".to_owned(),
            "AWS::IAM::Role".to_owned()
        )],
        "{}",
        plan.render()
    );
    let second = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(second.succeeded(), "{}", second.render());
    assert!(
        deployed_ids(&second).contains(&"units/DataScientists-shard1"),
        "{}",
        second.render()
    );
    assert_eq!(
        scientists(b3),
        ["team-0002-data-scientist", "team-0005-data-scientist"]
    );
    assert_eq!(scientists(b1), ["team-0003-data-scientist"]);

    // Team 5 leaves and comes back: the StackSet goes to the template of four teams and
    // back to the one of five, an update of the same content as an earlier one.
    let (_, folder) = synth(vec![1, 2, 3, 4], Some(&record));
    let left = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(left.succeeded(), "{}", left.render());
    assert_eq!(scientists(b3), ["team-0002-data-scientist"]);
    let (_, folder) = synth(vec![1, 2, 3, 4, 5], Some(&record));
    let back = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(back.succeeded(), "{}", back.render());
    assert!(
        deployed_ids(&back).contains(&"units/DataScientists-shard1"),
        "{}",
        back.render()
    );
    assert_eq!(
        scientists(b3),
        ["team-0002-data-scientist", "team-0005-data-scientist"]
    );

    // Destroyed: its instances first, then the StackSet; the roles are gone.
    let destroyed = engine::destroy(
        &base,
        &folder,
        &DeployOptions {
            select: vec!["units/*".into()],
            exclusively: true,
            ..options()
        },
    )
    .await
    .unwrap();
    assert!(destroyed.succeeded(), "{}", destroyed.render());
    assert!(scientists(b2).is_empty());
    let rerun = engine::diff(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        rerun.stack("units/DataScientists-shard1").unwrap().action,
        engine::PlannedAction::Create
    );

    // Deployed again as it was: a new StackSet of the old name, the roles back.
    let again = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(again.succeeded(), "{}", again.render());
    assert_eq!(
        scientists(b2),
        ["team-0001-data-scientist", "team-0004-data-scientist"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_outside_the_unit_fails_the_stack_set_by_name() {
    // B3 is not in the unit: its team's role would silently be missing.
    let Some(moto) = Moto::start_with(&organization(&BUSINESS_UNIT_ACCOUNTS[..2])) else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let folder = hyperpod_org::app_with_options(1..=3, &stack_set_options())
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let summary = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(!summary.succeeded(), "{}", summary.render());
    match summary.outcome("units/DataScientists-shard1") {
        Some(Outcome::Failed(reason)) => {
            assert!(reason.contains(BUSINESS_UNIT_ACCOUNTS[2]), "{reason}");
            assert!(reason.contains(UNIT), "{reason}");
        }
        other => panic!("{other:?}\n{}", summary.render()),
    }
    // The cluster, whose trust needs the roles, waits.
    assert!(
        matches!(
            summary.outcome("cluster/Cluster-shard1"),
            Some(Outcome::NotAttempted(_))
        ),
        "{}",
        summary.render()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_the_stack_set_fails_in_is_named_and_a_rerun_after_the_fix_converges() {
    let Some(moto) = Moto::start_with(&organization(&BUSINESS_UNIT_ACCOUNTS)) else {
        return;
    };
    let base = moto.base().await;
    let b1 = BUSINESS_UNIT_ACCOUNTS[0];
    // Someone made team 3's role by hand in B1: the StackSet's stack there cannot.
    let by_hand =
        "iam.create_role(RoleName=\"team-0003-data-scientist\", AssumeRolePolicyDocument=\"{}\")";
    with_iam(&moto.endpoint, b1, by_hand);
    let out = tempfile::tempdir().unwrap();
    let folder = hyperpod_org::app_with_options(1..=3, &stack_set_options())
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap();
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let failed = engine::deploy(&base, &folder, &options()).await.unwrap();
    match failed.outcome("units/DataScientists-shard1") {
        Some(Outcome::Failed(reason)) => {
            assert!(
                reason.contains(&format!("{b1} us-east-1: FAILED")),
                "{reason}"
            );
            assert!(reason.contains("team-0003-data-scientist"), "{reason}");
            assert!(reason.contains("retries"), "{reason}");
        }
        other => panic!("{other:?}\n{}", failed.render()),
    }
    // The other units' accounts got their roles; the cluster waits.
    assert_eq!(
        scientist_roles(&moto.endpoint, BUSINESS_UNIT_ACCOUNTS[1]),
        ["team-0001-data-scientist"]
    );
    assert!(matches!(
        failed.outcome("cluster/Cluster-shard1"),
        Some(Outcome::NotAttempted(_))
    ));

    // The hand-made role is removed; the next deploy retries B1 and everything converges.
    with_iam(
        &moto.endpoint,
        b1,
        "iam.delete_role(RoleName=\"team-0003-data-scientist\")",
    );
    let plan = engine::diff(&base, &folder, &options()).await.unwrap();
    assert_eq!(
        plan.stack("units/DataScientists-shard1").unwrap().action,
        engine::PlannedAction::Update,
        "{}",
        plan.render()
    );
    let fixed = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(fixed.succeeded(), "{}", fixed.render());
    assert_eq!(
        scientist_roles(&moto.endpoint, b1),
        ["team-0003-data-scientist"]
    );
    let again = engine::deploy(&base, &folder, &options()).await.unwrap();
    assert!(deployed_ids(&again).is_empty(), "{}", again.render());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_set_calls_applied_but_answered_with_errors_converge_without_duplicates() {
    let Some(python) = tests::python_tools() else {
        return;
    };
    let moto = tests::MotoServer::start_with(
        &python,
        &tests::workspace_root().join("target"),
        &organization(&BUSINESS_UNIT_ACCOUNTS),
    )
    .unwrap();
    // Every first call that starts something of a StackSet is applied, then answered with
    // a 500; a fifth of all calls are throttled.
    let attempts = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::<
        String,
        u64,
    >::new()));
    let plan: tests::FaultPlan = std::sync::Arc::new(move |action, _, n| match action {
        "CreateStackSet" | "CreateStackInstances" | "UpdateStackSet" => {
            let mut attempts = attempts.lock().unwrap();
            let count = attempts.entry(action.to_owned()).or_default();
            *count += 1;
            if *count % 2 == 1 {
                tests::Fault::AppliedThenFail
            } else {
                tests::Fault::None
            }
        }
        _ if tests::chance(41, n) < 0.2 => tests::Fault::Throttle,
        _ => tests::Fault::None,
    });
    let proxy = tests::FaultProxy::start(&moto.endpoint(), plan);
    let engine_options = DeployOptions {
        yes: true,
        poll_interval: std::time::Duration::from_millis(50),
        ..DeployOptions::default()
    };
    let out = tempfile::tempdir().unwrap();
    let synth = |teams: Vec<usize>| {
        hyperpod_org::app_with_options(teams, &stack_set_options())
            .synth()
            .unwrap()
            .write_to(out.path())
            .unwrap()
    };
    let folder = synth(vec![1, 2, 3]);
    let faulty_base = crate::faults::base_at(&proxy.endpoint(), &engine_options).await;
    let direct = crate::faults::base_at(&moto.endpoint(), &engine_options).await;
    let bootstrapped = engine::bootstrap(&direct, &folder, &engine_options)
        .await
        .unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let faulty = engine::deploy(&faulty_base, &folder, &engine_options)
        .await
        .unwrap();
    assert!(faulty.succeeded(), "{}", faulty.render());
    // A team added through the same faults: the StackSet is updated.
    let folder = synth(vec![1, 2, 3, 4]);
    let grown = engine::deploy(&faulty_base, &folder, &engine_options)
        .await
        .unwrap();
    assert!(grown.succeeded(), "{}", grown.render());
    // A plain rerun finishes what is left, and after it nothing changes.
    let rerun = engine::deploy(&direct, &folder, &engine_options)
        .await
        .unwrap();
    assert!(rerun.succeeded(), "{}", rerun.render());
    let settled = engine::deploy(&direct, &folder, &engine_options)
        .await
        .unwrap();
    assert!(deployed_ids(&settled).is_empty(), "{}", settled.render());
    // One StackSet of the name, each role once, in its account only.
    let endpoint = moto.endpoint();
    assert_eq!(
        scientist_roles(&endpoint, BUSINESS_UNIT_ACCOUNTS[1]),
        ["team-0001-data-scientist", "team-0004-data-scientist"]
    );
    assert_eq!(
        scientist_roles(&endpoint, BUSINESS_UNIT_ACCOUNTS[0]),
        ["team-0003-data-scientist"]
    );
    assert!(scientist_roles(&endpoint, MANAGEMENT).is_empty());
    let client = crate::deploy::client_in(&direct, MANAGEMENT).await;
    let sets = client.list_stack_sets().send().await.unwrap();
    let live: Vec<_> = sets
        .summaries()
        .iter()
        .filter(|s| s.status().map(|s| s.as_str()) == Some("ACTIVE"))
        .map(|s| s.stack_set_name().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        live,
        ["hyperpod-org-units-DataScientists-shard1"],
        "{live:?}"
    );
}

/// A unit dropped from the options is a removal in the plan: refused without approval,
/// then its instances deleted with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unit_dropped_from_the_stack_set_needs_approval_and_loses_its_instances() {
    const OTHER: &str = "ou-ab12-others01";
    const OTHER_ACCOUNT: &str = "777777777777";
    let Some(moto) = Moto::start_with(&organization_of(&[
        (UNIT, &BUSINESS_UNIT_ACCOUNTS),
        (OTHER, &[OTHER_ACCOUNT]),
    ])) else {
        return;
    };
    let base = moto.base().await;
    let out = tempfile::tempdir().unwrap();
    let synth = |units: &[&str]| {
        let mut options = stack_set_options();
        if let Some(set) = options.roles_stack_set.as_mut() {
            set.organizational_units = units.iter().map(|u| (*u).to_owned()).collect();
        }
        hyperpod_org::app_with_options(1..=3, &options)
            .synth()
            .unwrap()
            .write_to(out.path())
            .unwrap()
    };
    let folder = synth(&[UNIT, OTHER]);
    let selected = |options: DeployOptions| DeployOptions {
        select: vec!["units/*".into()],
        exclusively: true,
        ..options
    };
    let bootstrapped = engine::bootstrap(&base, &folder, &options()).await.unwrap();
    assert!(bootstrapped.succeeded(), "{}", bootstrapped.render());
    let first = engine::deploy(&base, &folder, &selected(options()))
        .await
        .unwrap();
    assert!(first.succeeded(), "{}", first.render());
    let client = crate::deploy::client_in(&base, MANAGEMENT).await;
    let instances = || async {
        let listed = client
            .list_stack_instances()
            .stack_set_name("hyperpod-org-units-DataScientists-shard1")
            .send()
            .await
            .unwrap();
        let mut accounts: Vec<String> = listed
            .summaries()
            .iter()
            .filter_map(|s| s.account().map(str::to_owned))
            .collect();
        accounts.sort();
        accounts
    };
    assert_eq!(
        instances().await,
        [
            "222222222222",
            "444444444444",
            "555555555555",
            OTHER_ACCOUNT
        ]
    );

    let folder = synth(&[UNIT]);
    let plan = engine::diff(&base, &folder, &selected(options()))
        .await
        .unwrap();
    let concerns = plan.needs_approval(engine::RequireApproval::Broadening);
    assert_eq!(
        concerns,
        [format!(
            "deletes units/DataScientists-shard1/instances in {OTHER} (StackSet instances)"
        )],
        "{}",
        plan.render()
    );
    let unapproved = DeployOptions {
        yes: false,
        ..selected(options())
    };
    let refused = engine::deploy(&base, &folder, &unapproved).await.unwrap();
    assert!(
        matches!(
            refused.outcome("units/DataScientists-shard1"),
            Some(Outcome::Refused(_))
        ),
        "{}",
        refused.render()
    );
    assert_eq!(
        instances().await.len(),
        4,
        "nothing deleted without approval"
    );
    let approved = engine::deploy(&base, &folder, &selected(options()))
        .await
        .unwrap();
    assert!(approved.succeeded(), "{}", approved.render());
    assert_eq!(
        instances().await,
        ["222222222222", "444444444444", "555555555555"]
    );
}
