//! Small builders shared by the test modules, so that an API change touches one place.

use hyperpod_core::{App, Environment, Problem, Scope, Stack, StackProps, Stage};
use serde_json::Value as Json;

pub const ACCOUNT_A: &str = "111111111111";
pub const ACCOUNT_B: &str = "222222222222";
pub const REGION: &str = "us-east-1";

/// An app with one stage in account A and one stack in it.
pub fn one_stack() -> (App, Stack) {
    let app = App::new("test");
    let stage = Stage::new(&app, "a", Environment::new(ACCOUNT_A, REGION));
    let stack = Stack::new(&stage, "Main", StackProps::default());
    (app, stack)
}

/// Synthesizes and returns the problems, as `(path, code)` pairs; empty when valid.
pub fn problems(app: &App) -> Vec<Problem> {
    match app.synth() {
        Ok(_) => Vec::new(),
        Err(error) => error.problems().to_vec(),
    }
}

/// The codes of the problems synthesis finds.
pub fn codes(app: &App) -> Vec<String> {
    problems(app).into_iter().map(|p| p.code).collect()
}

/// The problem with `code`; panics listing all problems when there is none.
pub fn problem(app: &App, code: &str) -> Problem {
    let all = problems(app);
    all.iter()
        .find(|p| p.code == code)
        .cloned()
        .unwrap_or_else(|| panic!("no `{code}` problem among {all:#?}"))
}

/// The template of a stack of a valid app.
pub fn template(app: &App, stack_id: &str) -> Json {
    let assembly = app.synth().unwrap_or_else(|e| panic!("{e}"));
    assembly
        .template(stack_id)
        .unwrap_or_else(|| panic!("no stack {stack_id}"))
}

/// A minimal valid resource, so that a stack has something to deploy.
pub fn topic(scope: &impl hyperpod_core::Scope, id: &str) -> hyperpod_core::CfnResource {
    hyperpod_core::CfnResource::raw(
        scope,
        id,
        "AWS::SNS::Topic",
        hyperpod_core::TagFormat::KeyValueList,
        serde_json::json!({}),
    )
}

/// Accepts every finding of the security rule pack below `scope`, for the minimal fixtures
/// of tests about other features (schemas, tags, assertions). `rules.rs` tests the pack.
pub fn accept_security_findings(scope: &impl Scope) {
    for rule in hyperpod_core::rules::RULES {
        scope
            .node()
            .suppress(rule.id, "a minimal fixture of a test about another feature");
    }
}
