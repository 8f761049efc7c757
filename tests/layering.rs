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
fn the_construct_libraries_never_depend_on_the_aws_sdk_tokio_clap_or_a_network_stack() {
    for library in ["hyperpod-core", "hyperpod-cfn", "hyperpod-iam", "hyperpod"] {
        let dependencies = normal_dependencies(library);
        let forbidden: Vec<&String> = dependencies
            .iter()
            .filter(|name| {
                name.starts_with("aws-")
                    || ["tokio", "clap", "hyper", "reqwest", "hyperpod-deploy"]
                        .contains(&name.as_str())
            })
            .collect();
        assert!(
            forbidden.is_empty(),
            "{library} depends on {forbidden:?}; keep I/O and AWS out of the construct libraries"
        );
        assert!(
            dependencies.contains("serde_json"),
            "the walk found the real dependencies of {library}"
        );
    }
}

#[test]
fn dependencies_between_the_libraries_point_one_way() {
    assert!(
        !normal_dependencies("hyperpod-core")
            .iter()
            .any(|name| name.starts_with("hyperpod")),
        "the core depends on no other crate of the workspace"
    );
    let cfn = normal_dependencies("hyperpod-cfn");
    assert!(
        !cfn.contains("hyperpod-iam") && !cfn.contains("hyperpod"),
        "{cfn:?}"
    );
    let iam = normal_dependencies("hyperpod-iam");
    assert!(!iam.contains("hyperpod"), "{iam:?}");
}

#[test]
fn libraries_never_depend_on_apps() {
    for library in [
        "hyperpod-core",
        "hyperpod-cfn",
        "hyperpod-iam",
        "hyperpod",
        "hyperpod-deploy",
    ] {
        let dependencies = normal_dependencies(library);
        let apps = [
            "example-shared-bucket",
            "hyperpod-platform",
            "slurm-login-access",
        ];
        assert!(
            !dependencies
                .iter()
                .any(|name| apps.contains(&name.as_str())),
            "{library}: {dependencies:?}"
        );
    }
}
