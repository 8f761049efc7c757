//! Sharded stacks: units placed into shard stacks under every limit, and kept where they
//! were placed, so that a team coming or going changes one stack per account it touches.

use std::collections::{BTreeMap, BTreeSet};

use hyperpod_core::{
    App, CloudAssembly, Environment, Placement, Scope, Sharding, Stack, StackProps, Stage, limits,
};
use hyperpod_org::{BUSINESS_UNIT_ACCOUNTS, CLUSTER_ACCOUNT, DATA_ACCOUNT, app, app_with};

use crate::support::{ACCOUNT_A, REGION, accept_security_findings, problem, topic};

/// Synthesizes `app` keeping to `record`, as `synth` does with `placement.json`.
fn synth_after(app: &App, record: Option<&Placement>) -> CloudAssembly {
    if let Some(record) = record {
        app.set_placement(record.clone());
    }
    app.synth().unwrap_or_else(|error| panic!("{error}"))
}

/// Each stack's template bytes, by stack id.
fn templates(assembly: &CloudAssembly) -> BTreeMap<String, Vec<u8>> {
    assembly
        .manifest
        .stacks
        .iter()
        .map(|stack| {
            let file = assembly
                .files()
                .iter()
                .find(|file| file.path == stack.template)
                .expect("every stack has its template");
            (stack.id.clone(), file.contents().into_owned())
        })
        .collect()
}

/// The stacks that are new, changed or gone between two assemblies, by account.
fn changed_by_account(
    before: &CloudAssembly,
    after: &CloudAssembly,
) -> BTreeMap<String, BTreeSet<String>> {
    let (old, new) = (templates(before), templates(after));
    let account_of = |id: &str| {
        before
            .manifest
            .stacks
            .iter()
            .chain(&after.manifest.stacks)
            .find(|stack| stack.id == id)
            .map(|stack| stack.account.clone())
            .expect("a known stack")
    };
    let mut changed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for id in old.keys().chain(new.keys()) {
        if old.get(id) != new.get(id) {
            changed
                .entry(account_of(id))
                .or_default()
                .insert(id.clone());
        }
    }
    changed
}

/// The stack of an assembly that holds a team's resources in `stage`.
fn shard_holding(assembly: &CloudAssembly, stage: &str, team: &str) -> String {
    assembly
        .manifest
        .stacks
        .iter()
        .find(|stack| {
            stack.stage == stage
                && stack
                    .shard
                    .as_ref()
                    .is_some_and(|shard| shard.units.iter().any(|unit| unit == team))
        })
        .map(|stack| stack.id.clone())
        .unwrap_or_else(|| panic!("no shard of {stage} holds {team}"))
}

/// An app with one stack sharded at `max_resources`, the rule pack's findings accepted.
fn sharded_stack(max_resources: usize) -> (App, Stack) {
    let app = App::new("test");
    let stage = Stage::new(&app, "a", Environment::new(ACCOUNT_A, REGION));
    let stack = Stack::new(
        &stage,
        "Main",
        StackProps {
            sharding: Some(Sharding {
                max_resources,
                ..Sharding::default()
            }),
            ..StackProps::default()
        },
    );
    accept_security_findings(&stack);
    (app, stack)
}

/// Small shards, so that boundaries come after a few teams: two teams in a shard of the
/// cluster's account (six resources each), twelve in the others (one each).
fn small() -> Sharding {
    Sharding {
        max_resources: 12,
        ..Sharding::default()
    }
}

fn unit_stage(team: usize) -> String {
    format!("unit-{}", hyperpod_org::business_unit(team) + 1)
}

/// The accounts a team's resources live in, each with exactly the one stack that changes.
fn assert_one_shard_per_account(
    changed: &BTreeMap<String, BTreeSet<String>>,
    assembly: &CloudAssembly,
    team: usize,
) {
    let name = hyperpod_org::team_name(team);
    let unit_account = BUSINESS_UNIT_ACCOUNTS[hyperpod_org::business_unit(team)];
    let expected: BTreeMap<String, BTreeSet<String>> = [
        (CLUSTER_ACCOUNT, shard_holding(assembly, "cluster", &name)),
        (
            unit_account,
            shard_holding(assembly, &unit_stage(team), &name),
        ),
        (DATA_ACCOUNT, shard_holding(assembly, "data", &name)),
    ]
    .into_iter()
    .map(|(account, stack)| (account.to_owned(), BTreeSet::from([stack])))
    .collect();
    assert_eq!(changed, &expected);
}

#[test]
fn adding_a_team_changes_one_shard_per_account_it_touches() {
    // Team 4 fits beside team 1 in the cluster's account's second shard; team 3 opened it.
    let before = synth_after(&app_with(1..=3, &small()), None);
    let after = synth_after(&app_with(1..=4, &small()), Some(&before.placement));
    let changed = changed_by_account(&before, &after);
    assert_one_shard_per_account(&changed, &after, 4);
    assert_eq!(
        shard_holding(&after, "cluster", "team-0004"),
        "cluster/Cluster-shard2"
    );
}

#[test]
fn adding_a_team_at_a_shard_boundary_opens_a_shard_and_changes_nothing_else() {
    // Two teams fill the cluster's account's first shard: the third opens a second.
    let before = synth_after(&app_with(1..=2, &small()), None);
    let after = synth_after(&app_with(1..=3, &small()), Some(&before.placement));
    let changed = changed_by_account(&before, &after);
    assert_one_shard_per_account(&changed, &after, 3);
    assert!(
        !templates(&before).contains_key("cluster/Cluster-shard2"),
        "team 3 opens the shard"
    );
    assert_eq!(
        shard_holding(&after, "cluster", "team-0003"),
        "cluster/Cluster-shard2"
    );
}

#[test]
fn removing_a_team_changes_only_the_shards_that_held_it() {
    let before = synth_after(&app_with(1..=9, &small()), None);
    let after = synth_after(
        &app_with((1..=9).filter(|&team| team != 5), &small()),
        Some(&before.placement),
    );
    let changed = changed_by_account(&before, &after);
    assert_one_shard_per_account(&changed, &before, 5);
    // Nobody moved into the hole: every other team is where it was.
    for team in (1..=9).filter(|&team| team != 5) {
        let name = hyperpod_org::team_name(team);
        for stage in ["cluster".to_owned(), unit_stage(team), "data".to_owned()] {
            assert_eq!(
                shard_holding(&before, &stage, &name),
                shard_holding(&after, &stage, &name)
            );
        }
    }
}

#[test]
fn a_new_team_fills_the_room_a_removed_one_left_without_moving_anyone() {
    let first = synth_after(&app_with(1..=6, &small()), None);
    let without_two = synth_after(&app_with([1, 3, 4, 5, 6], &small()), Some(&first.placement));
    let with_seven = synth_after(
        &app_with([1, 3, 4, 5, 6, 7], &small()),
        Some(&without_two.placement),
    );
    assert_eq!(
        shard_holding(&with_seven, "cluster", "team-0007"),
        shard_holding(&first, "cluster", "team-0002"),
        "the lowest shard with room"
    );
    let changed = changed_by_account(&without_two, &with_seven);
    assert_one_shard_per_account(&changed, &with_seven, 7);
}

#[test]
fn without_a_record_units_are_placed_in_declaration_order_and_the_output_is_the_same_each_time() {
    let once = synth_after(&app_with(1..=7, &small()), None);
    let again = synth_after(&app_with(1..=7, &small()), None);
    assert_eq!(templates(&once), templates(&again));
    assert_eq!(once.placement, again.placement);
    let cluster = &once.placement.stacks["cluster/Cluster"];
    assert_eq!(cluster[&1], ["team-0001", "team-0002"]);
    assert_eq!(cluster[&4], ["team-0007"]);
    let record = once
        .files()
        .iter()
        .find(|file| file.path == Placement::FILE)
        .expect("the record is part of the assembly");
    assert_eq!(
        Placement::from_json(&record.contents()).unwrap(),
        once.placement
    );
}

#[test]
fn the_record_pins_a_unit_to_the_shard_it_names() {
    let first = synth_after(&app_with(1..=4, &small()), None);
    let mut pinned = first.placement.clone();
    // Moved by hand: team 1 to a shard of its own in the cluster's account.
    let cluster = pinned.stacks.get_mut("cluster/Cluster").unwrap();
    for units in cluster.values_mut() {
        units.retain(|unit| unit != "team-0001");
    }
    cluster.insert(9, vec!["team-0001".into()]);
    let after = synth_after(&app_with(1..=4, &small()), Some(&pinned));
    assert_eq!(
        shard_holding(&after, "cluster", "team-0001"),
        "cluster/Cluster-shard9"
    );
    assert_eq!(after.placement.stacks["cluster/Cluster"][&9], ["team-0001"]);
}

#[test]
fn a_thousand_teams_fit_under_every_limit() {
    let assembly = synth_after(&app(1..=hyperpod_org::MAX_TEAMS), None);
    let mut teams_placed = 0;
    for stack in &assembly.manifest.stacks {
        let template = assembly.template(&stack.id).unwrap();
        let count = |section: &str| template[section].as_object().map_or(0, |map| map.len());
        assert!(count("Resources") <= limits::RESOURCES, "{}", stack.id);
        assert!(count("Outputs") <= limits::OUTPUTS, "{}", stack.id);
        assert!(count("Parameters") <= limits::PARAMETERS, "{}", stack.id);
        assert!(
            stack.template_bytes as usize <= limits::TEMPLATE_BYTES,
            "{}",
            stack.id
        );
        if stack.stage == "cluster" {
            teams_placed += stack.shard.as_ref().map_or(0, |shard| shard.units.len());
        }
    }
    assert_eq!(teams_placed, hyperpod_org::MAX_TEAMS);
    // Every team once in the cluster's account, in its unit's account and in the data's.
    for (stack, shards) in &assembly.placement.stacks {
        let units: usize = shards.values().map(Vec::len).sum();
        let expected = (1..=hyperpod_org::MAX_TEAMS)
            .filter(|&team| !stack.starts_with("unit-") || stack.starts_with(&unit_stage(team)))
            .count();
        assert_eq!(units, expected, "{stack}");
    }
}

#[test]
fn shards_depend_on_what_their_stack_depends_on_and_dependents_wait_for_every_shard() {
    let assembly = synth_after(&app_with(1..=6, &small()), None);
    let stack = |id: &str| {
        assembly
            .manifest
            .stacks
            .iter()
            .find(|stack| stack.id == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    // The teams' cluster roles trust their data-scientist roles: every shard of every
    // business unit deploys first.
    let cluster_shard = stack("cluster/Cluster-shard1");
    for unit in ["unit-1", "unit-2", "unit-3"] {
        assert!(
            cluster_shard
                .dependencies
                .contains(&format!("{unit}/DataScientists-shard1")),
            "{:?}",
            cluster_shard.dependencies
        );
    }
    // The business units' stacks hold nothing of their own: only their shards deploy.
    assert!(
        assembly
            .manifest
            .stacks
            .iter()
            .all(|stack| stack.id != "unit-1/DataScientists")
    );
    // The access points name the pod roles: the data's shards wait for all the cluster's.
    let data_shard = stack("data/TrainingData-shard1");
    let cluster_shards: Vec<&str> = assembly
        .manifest
        .stacks
        .iter()
        .filter(|stack| stack.id.starts_with("cluster/Cluster-shard"))
        .map(|stack| stack.id.as_str())
        .collect();
    assert!(cluster_shards.len() >= 3);
    for shard in cluster_shards {
        assert!(
            data_shard.dependencies.iter().any(|d| d == shard),
            "{shard}"
        );
    }
    // A shard keeps its stack's settings.
    assert!(cluster_shard.termination_protection);
    assert_eq!(
        cluster_shard.stack_name,
        "hyperpod-org-cluster-Cluster-shard1"
    );
    assert_eq!(cluster_shard.shard.as_ref().unwrap().of, "cluster/Cluster");
}

#[test]
fn sharded_data_grants_by_name_pattern_so_that_a_team_never_changes_the_bucket() {
    let assembly = synth_after(&app_with(1..=3, &small()), None);
    let data = assembly.template("data/TrainingData").unwrap();
    let text = data.to_string();
    assert!(
        !text.contains("team-0001"),
        "no team is named in the bucket's or the key's policy"
    );
    assert!(text.contains(r#""ArnLike""#), "{text}");
    assert!(text.contains("accesspoint/${name}"), "{text}");
    assert!(text.contains(r#""name":"*-data""#), "{text}");
    assert!(text.contains("role/*${suffix}"), "{text}");
}

#[test]
fn limits_that_leave_no_room_or_pass_cloudformation_are_refused() {
    let (app, stack) = sharded_stack(501);
    topic(&stack, "Topic");
    let found = problem(&app, "invalid_sharding");
    assert_eq!(found.path, "a/Main");
    assert!(found.message.contains("501"), "{}", found.message);
}

#[test]
fn units_of_any_construct_are_sharded_and_the_rest_stays_in_the_stack() {
    let (app, stack) = sharded_stack(3);
    let shared = topic(&stack, "Shared");
    for unit in ["a", "b", "c"] {
        let scope = hyperpod_core::Construct::new(&stack, unit);
        scope.node().set_shard_unit(unit);
        topic(&scope, "One");
        topic(&scope, "Two").set_property("DisplayName", shared.get_att::<String>("TopicName"));
    }
    let assembly = app.synth().unwrap();
    let ids: Vec<&str> = assembly
        .manifest
        .stacks
        .iter()
        .map(|stack| stack.id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["a/Main", "a/Main-shard1", "a/Main-shard2", "a/Main-shard3"]
    );
    let first = assembly.template("a/Main-shard1").unwrap();
    assert_eq!(
        first["Resources"]["ATwo"]["Properties"]["DisplayName"],
        serde_json::json!({ "Fn::ImportValue": "test-a-Main:ExportSharedTopicName" })
    );
    assert_eq!(
        assembly.template("a/Main").unwrap()["Resources"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn synth_keeps_to_the_record_in_its_output_folder_and_list_shows_the_shards() {
    use hyperpod_deploy::cli::{ListArgs, SynthArgs};
    use hyperpod_deploy::{Command, execute};
    let out = tempfile::tempdir().unwrap();
    let synth = |teams: Vec<usize>| {
        let mut printed = Vec::new();
        execute(
            &app_with(teams, &small()),
            Command::Synth(SynthArgs {
                output: out.path().to_owned(),
                ..SynthArgs::default()
            }),
            false,
            &mut printed,
        )
        .unwrap();
        String::from_utf8(printed).unwrap()
    };
    let printed = synth(vec![1, 2, 3, 4]);
    assert!(
        printed.contains("sharded: cluster/Cluster: 4 unit(s) in 2 shard(s) (placement.json)"),
        "{printed}"
    );
    // Team 1 goes; team 5 takes its room, where a fresh placement would put team 2.
    synth(vec![2, 3, 4, 5]);
    let record = Placement::from_json(
        &std::fs::read(out.path().join("hyperpod-org").join(Placement::FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(
        record.stacks["cluster/Cluster"][&1],
        ["team-0002", "team-0005"]
    );
    assert_eq!(
        record.stacks["cluster/Cluster"][&2],
        ["team-0003", "team-0004"]
    );
    let mut listed = Vec::new();
    execute(
        &app_with([2, 3, 4, 5], &small()),
        Command::List(ListArgs {
            long: true,
            output: out.path().to_owned(),
            ..ListArgs::default()
        }),
        false,
        &mut listed,
    )
    .unwrap();
    let listed = String::from_utf8(listed).unwrap();
    assert!(
        listed.contains("  shard 1 of cluster/Cluster, holding team-0002, team-0005"),
        "{listed}"
    );
    // A record that is not one is an error that says what to do, not a fresh placement.
    std::fs::write(out.path().join("hyperpod-org").join(Placement::FILE), "{").unwrap();
    let error = execute(
        &app_with([2, 3, 4, 5], &small()),
        Command::Synth(SynthArgs {
            output: out.path().to_owned(),
            ..SynthArgs::default()
        }),
        false,
        &mut Vec::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("restore it from version control"), "{error}");
}

#[test]
fn a_shard_every_team_left_stays_empty_so_that_deploying_it_deletes_what_they_had() {
    let before = synth_after(&app_with(1..=4, &small()), None);
    let after = synth_after(&app_with(1..=2, &small()), Some(&before.placement));
    let emptied = after.template("cluster/Cluster-shard2").unwrap();
    assert_eq!(
        emptied["Resources"],
        serde_json::json!({ "EmptyShard": { "Type": "AWS::CloudFormation::WaitConditionHandle" } })
    );
    assert_eq!(
        after.placement.stacks["cluster/Cluster"][&2],
        Vec::<String>::new()
    );
    // The next team fills the lowest shard with room: the empty one.
    let refilled = synth_after(&app_with([1, 2, 5], &small()), Some(&after.placement));
    assert_eq!(
        shard_holding(&refilled, "cluster", "team-0005"),
        "cluster/Cluster-shard2"
    );
}

#[test]
fn shards_stay_when_every_unit_is_gone() {
    let sharded = |units: &[&str]| {
        let (app, stack) = sharded_stack(1);
        topic(&stack, "Shared");
        for unit in units {
            let scope = hyperpod_core::Construct::new(&stack, unit);
            scope.node().set_shard_unit(unit);
            topic(&scope, "Topic");
        }
        app
    };
    let before = synth_after(&sharded(&["a", "b"]), None);
    let after = synth_after(&sharded(&[]), Some(&before.placement));
    let ids: Vec<&str> = after
        .manifest
        .stacks
        .iter()
        .map(|stack| stack.id.as_str())
        .collect();
    assert_eq!(ids, ["a/Main", "a/Main-shard1", "a/Main-shard2"]);
    assert!(
        after.template("a/Main-shard2").unwrap()["Resources"]
            .get("EmptyShard")
            .is_some()
    );
}

#[test]
fn a_sharded_stack_s_id_selects_its_shards() {
    let assembly = synth_after(&app_with(1..=4, &small()), None);
    let selected = |pattern: &str| -> Vec<String> {
        hyperpod_deploy::engine::select(
            &assembly.manifest,
            &[pattern.to_owned()],
            true,
            hyperpod_deploy::engine::Pull::Nothing,
        )
        .unwrap()
        .into_iter()
        .map(|stack| stack.id.clone())
        .collect()
    };
    // The business unit's stack holds nothing of its own: its id names its shard.
    assert_eq!(
        selected("unit-2/DataScientists"),
        ["unit-2/DataScientists-shard1"]
    );
    assert_eq!(
        selected("cluster/Cluster"),
        [
            "cluster/Cluster",
            "cluster/Cluster-shard1",
            "cluster/Cluster-shard2"
        ]
    );
    assert_eq!(
        selected("cluster/Cluster-shard2"),
        ["cluster/Cluster-shard2"]
    );
}

/// `diff --against` (two assemblies, no AWS) refuses units that would move between
/// shards, as the live plan does: a lost record shows as a refusal, not as deletions.
#[test]
fn diff_against_an_earlier_assembly_refuses_units_moving_between_shards() {
    let before = tempfile::tempdir().unwrap();
    let after = tempfile::tempdir().unwrap();
    let first = synth_after(&app_with([1, 2, 3, 4, 5], &small()), None);
    let earlier = first.write_to(before.path()).unwrap();
    let options = hyperpod_deploy::engine::DeployOptions::default();

    // Team 1 leaves and the record is lost: team 3 would move to shard 1.
    let moved = synth_after(&app_with([2, 3, 4, 5], &small()), None)
        .write_to(after.path())
        .unwrap();
    let plan = hyperpod_deploy::engine::diff_against(&earlier, &moved, &options).unwrap();
    for id in ["cluster/Cluster-shard1", "cluster/Cluster-shard2"] {
        assert!(
            matches!(&plan.stack(id).unwrap().action, hyperpod_deploy::engine::PlannedAction::Refused(reason) if reason.contains("placement.json")),
            "{id}: {}",
            plan.render()
        );
    }

    // With the record, team 1's shard changes and nothing is refused.
    let kept = synth_after(&app_with([2, 3, 4, 5], &small()), Some(&first.placement))
        .write_to(after.path())
        .unwrap();
    let plan = hyperpod_deploy::engine::diff_against(&earlier, &kept, &options).unwrap();
    assert!(
        !plan
            .stacks
            .iter()
            .any(|s| matches!(s.action, hyperpod_deploy::engine::PlannedAction::Refused(_))),
        "{}",
        plan.render()
    );
}
