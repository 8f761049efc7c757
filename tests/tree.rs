//! The construct tree: ids, paths, stages and the validations collected at synthesis.

use hyperpod_core::{App, Construct, Environment, Issue, Scope, Stack, StackProps, Stage};

use crate::support::{ACCOUNT_A, REGION, codes, one_stack, problem, problems, topic};

#[test]
fn paths_run_from_the_root_through_stage_and_stack() {
    let (_app, stack) = one_stack();
    let group = Construct::new(&stack, "Network");
    let vpc = topic(&group, "Vpc");
    assert_eq!(vpc.node().path(), "a/Main/Network/Vpc");
    assert_eq!(stack.node().path(), "a/Main");
}

#[test]
fn duplicate_sibling_id_is_reported_with_the_parents_path() {
    let (app, stack) = one_stack();
    let group = Construct::new(&stack, "Network");
    topic(&group, "Vpc");
    topic(&group, "Vpc");
    let found = problem(&app, "duplicate_id");
    assert_eq!(found.path, "a/Main/Network/Vpc");
    assert!(
        found.message.contains("a/Main/Network"),
        "{}",
        found.message
    );
}

#[test]
fn the_same_id_under_different_parents_is_fine() {
    let (app, stack) = one_stack();
    topic(&Construct::new(&stack, "One"), "Topic");
    topic(&Construct::new(&stack, "Two"), "Topic");
    assert!(problems(&app).is_empty(), "{:?}", problems(&app));
}

#[test]
fn an_id_with_a_slash_or_empty_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "a/b");
    topic(&stack, "");
    let codes = codes(&app);
    assert_eq!(
        codes.iter().filter(|c| *c == "invalid_id").count(),
        2,
        "{codes:?}"
    );
}

#[test]
fn invalid_account_ids_are_reported() {
    for account in ["12345678901", "1234567890123", "12345678901a", ""] {
        let app = App::new("test");
        let stage = Stage::new(&app, "a", Environment::new(account, REGION));
        topic(&Stack::new(&stage, "Main", StackProps::default()), "Topic");
        let found = problem(&app, "invalid_account");
        assert_eq!(found.path, "a");
        assert!(found.message.contains("12 digits"), "{}", found.message);
    }
}

#[test]
fn invalid_regions_are_reported_and_real_ones_pass() {
    for region in ["us-east", "US-EAST-1", "useast1", "us_east_1", ""] {
        let app = App::new("test");
        let stage = Stage::new(&app, "a", Environment::new(ACCOUNT_A, region));
        topic(&Stack::new(&stage, "Main", StackProps::default()), "Topic");
        assert!(
            codes(&app).contains(&"invalid_region".to_owned()),
            "{region} should be refused"
        );
    }
    for region in [
        "us-east-1",
        "eu-central-2",
        "us-gov-west-1",
        "ap-southeast-3",
        "cn-north-1",
    ] {
        let app = App::new("test");
        let stage = Stage::new(&app, "a", Environment::new(ACCOUNT_A, region));
        topic(&Stack::new(&stage, "Main", StackProps::default()), "Topic");
        assert!(
            problems(&app).is_empty(),
            "{region} should pass: {:?}",
            problems(&app)
        );
    }
}

#[test]
fn an_app_name_that_cannot_be_a_folder_is_reported() {
    let app = App::new("My App");
    assert!(codes(&app).contains(&"invalid_app_name".to_owned()));
}

#[test]
fn an_invalid_stack_name_is_reported() {
    let (app, stack) = one_stack();
    let stage = stack.stage();
    let bad = Stack::new(
        &stage,
        "Other",
        StackProps {
            stack_name: Some("1-starts-with-digit".into()),
            ..StackProps::default()
        },
    );
    topic(&stack, "Topic");
    topic(&bad, "Topic");
    assert_eq!(problem(&app, "invalid_stack_name").path, "a/Other");
}

#[test]
fn two_stacks_with_one_name_in_one_account_and_region_are_reported() {
    let app = App::new("test");
    let one = Stage::new(&app, "one", Environment::new(ACCOUNT_A, REGION));
    let two = Stage::new(&app, "two", Environment::new(ACCOUNT_A, REGION));
    // Distinct by default (`test-one-Main`, `test-two-Main`); the same when named.
    let named = || StackProps {
        stack_name: Some("shared-main".into()),
        ..StackProps::default()
    };
    topic(&Stack::new(&one, "Main", named()), "Topic");
    topic(&Stack::new(&two, "Main", named()), "Topic");
    let found = problem(&app, "duplicate_stack_name");
    assert!(
        found.message.contains("one/Main") && found.message.contains("two/Main"),
        "{}",
        found.message
    );
}

#[test]
fn validations_added_by_constructs_run_at_synthesis_and_all_problems_come_together() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    let group = Construct::new(&stack, "Team");
    group
        .node()
        .add_validation(|| vec![Issue::new("team_name_invalid", "rename the team")]);
    group.node().report("quota_too_large", "lower the quota");
    Stage::new(&app, "bad", Environment::new("1", REGION));
    let found = problems(&app);
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|p| (p.path.as_str(), p.code.as_str()))
        .collect();
    assert!(
        pairs.contains(&("a/Main/Team", "team_name_invalid")),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("a/Main/Team", "quota_too_large")),
        "{pairs:?}"
    );
    assert!(pairs.contains(&("bad", "invalid_account")), "{pairs:?}");
}

#[test]
fn the_synthesis_error_lists_every_problem_with_path_code_and_message() {
    let app = App::new("test");
    Stage::new(&app, "bad", Environment::new("1", "nowhere"));
    let error = app.synth().unwrap_err().to_string();
    assert!(error.contains("bad: [invalid_account]"), "{error}");
    assert!(error.contains("bad: [invalid_region]"), "{error}");
}

#[test]
fn a_resource_outside_any_stack_is_reported() {
    let app = App::new("test");
    let stage = Stage::new(&app, "a", Environment::new(ACCOUNT_A, REGION));
    topic(&stage, "Loose");
    assert_eq!(problem(&app, "element_outside_stack").path, "a/Loose");
}

#[test]
fn a_stack_without_resources_is_reported() {
    let (app, _stack) = one_stack();
    assert_eq!(problem(&app, "stack_without_resources").path, "a/Main");
}

#[test]
fn a_stage_id_that_cannot_be_a_folder_is_reported() {
    let app = App::new("test");
    let stage = Stage::new(&app, "../escape", Environment::new(ACCOUNT_A, REGION));
    topic(&Stack::new(&stage, "Main", StackProps::default()), "Topic");
    assert_eq!(problem(&app, "invalid_stage_id").path, "../escape");
}

#[test]
fn a_stack_description_over_1024_bytes_is_reported() {
    let (app, stack) = one_stack();
    let long = Stack::new(
        &stack.stage(),
        "Long",
        StackProps {
            description: Some("d".repeat(1025)),
            ..StackProps::default()
        },
    );
    topic(&stack, "Topic");
    topic(&long, "Topic");
    assert_eq!(problem(&app, "stack_description_too_long").path, "a/Long");
}

#[test]
fn a_stack_that_depends_on_itself_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    stack.add_dependency(&stack);
    assert_eq!(problem(&app, "stack_depends_on_itself").path, "a/Main");
}
