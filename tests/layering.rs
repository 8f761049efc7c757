//! Dependencies point one way: the construct core never reaches the AWS SDK, tokio, clap or
//! the network.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value as Json;
use tests::workspace_root;

/// The names of every package `package` depends on for its library (normal dependencies,
/// transitively).
fn normal_dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1"])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Json = serde_json::from_slice(&output.stdout).unwrap();
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &Json> = metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let start = names
        .iter()
        .find(|(_, name)| **name == package)
        .map(|(id, _)| *id)
        .unwrap_or_else(|| panic!("no package {package}"));
    let mut seen = BTreeSet::new();
    let mut pending = vec![start];
    while let Some(id) = pending.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[dep_id].to_owned()) {
                pending.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn the_core_never_depends_on_the_aws_sdk_tokio_clap_or_a_network_stack() {
    let dependencies = normal_dependencies("hyperpod-core");
    let forbidden: Vec<&String> = dependencies
        .iter()
        .filter(|name| {
            name.starts_with("aws-")
                || ["tokio", "clap", "hyper", "reqwest", "hyperpod-deploy"].contains(&name.as_str())
        })
        .collect();
    assert!(
        forbidden.is_empty(),
        "hyperpod-core depends on {forbidden:?}; keep I/O and AWS out of the core"
    );
    assert!(
        dependencies.contains("serde_json"),
        "the walk found the core's real dependencies"
    );
}

#[test]
fn libraries_never_depend_on_apps() {
    let dependencies = normal_dependencies("hyperpod-deploy");
    assert!(
        !dependencies.iter().any(|name| name.starts_with("example-")),
        "{dependencies:?}"
    );
}
