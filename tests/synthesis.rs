//! Synthesis output: layout, determinism, the manifest, and writing to disk.

use hyperpod_core::{
    App, CfnCondition, CfnOutput, CfnParameter, OutputProps, ParameterProps, ParameterType, Pseudo,
    fns,
};
use sha2::{Digest, Sha256};

use crate::support::{one_stack, template, topic};

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sample_app() -> App {
    let (app, stack) = one_stack();
    let env = CfnParameter::new(
        &stack,
        "Env",
        ParameterProps {
            default: Some("dev".into()),
            ..ParameterProps::new(ParameterType::String)
        },
    );
    let condition = CfnCondition::new(
        &stack,
        "IsProd",
        fns::equals(env.value_as_string(), "prod".into()),
    );
    let resource = topic(&stack, "Topic");
    resource.set_condition(&condition);
    CfnOutput::new(&stack, "Region", OutputProps::new(Pseudo::Region.value()));
    let other = hyperpod_core::Stack::new(&stack.stage(), "Other", Default::default());
    topic(&other, "User").set_property("Target", resource.ref_value());
    app
}

#[test]
fn sections_appear_in_the_conventional_order() {
    let json = template(&sample_app(), "a/Main");
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "AWSTemplateFormatVersion",
            "Parameters",
            "Conditions",
            "Resources",
            "Outputs"
        ]
    );
}

#[test]
fn synthesizing_twice_gives_byte_identical_files() {
    let first = sample_app().synth().unwrap();
    let second = sample_app().synth().unwrap();
    assert_eq!(first.files(), second.files());
    let app = sample_app();
    assert_eq!(app.synth().unwrap().files(), app.synth().unwrap().files());
}

#[test]
fn the_assembly_has_a_manifest_and_one_template_per_stack_in_stage_folders() {
    let assembly = sample_app().synth().unwrap();
    let paths: Vec<&str> = assembly.files().iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "manifest.json",
            "a/Main.template.json",
            "a/Other.template.json"
        ]
    );
    for file in assembly.files() {
        assert!(
            file.contents().ends_with(b"}\n"),
            "{} ends with a newline",
            file.path
        );
    }
}

#[test]
fn the_manifest_records_stages_stacks_hashes_and_sizes() {
    let assembly = sample_app().synth().unwrap();
    let manifest = &assembly.manifest;
    assert_eq!(manifest.app, "test");
    assert_eq!(manifest.stages[0].account, "111111111111");
    assert_eq!(manifest.stages[0].region, "us-east-1");
    for stack in &manifest.stacks {
        let file = assembly
            .files()
            .iter()
            .find(|f| f.path == stack.template)
            .unwrap();
        assert_eq!(stack.template_sha256, sha256_hex(&file.contents()));
        assert_eq!(stack.template_bytes, file.contents().len() as u64);
        assert_eq!(stack.stage, "a");
    }
    assert_eq!(manifest.stacks[0].construct_paths["Topic"], "a/Main/Topic");
    let written: hyperpod_core::Manifest =
        serde_json::from_slice(&assembly.files()[0].contents()).unwrap();
    assert_eq!(&written, manifest);
}

#[test]
fn writing_replaces_an_earlier_assembly_and_leaves_other_folders_alone() {
    let out = tempfile::tempdir().unwrap();
    let folder = sample_app().synth().unwrap().write_to(out.path()).unwrap();
    std::fs::write(folder.join("a/Stale.template.json"), "{}").unwrap();
    sample_app().synth().unwrap().write_to(out.path()).unwrap();
    assert!(
        !folder.join("a/Stale.template.json").exists(),
        "a stale template is removed"
    );
    assert!(folder.join("a/Main.template.json").is_file());

    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "mine").unwrap();
    let error = sample_app()
        .synth()
        .unwrap()
        .write_to(out.path())
        .unwrap_err();
    assert!(error.to_string().contains("no manifest.json"), "{error}");
    assert!(folder.join("notes.txt").is_file());
}

#[test]
fn file_assets_are_staged_in_the_assembly_and_recorded_for_upload() {
    let source = tempfile::tempdir().unwrap();
    std::fs::write(
        source.path().join("on_create.sh"),
        "#!/bin/bash\necho ready\n",
    )
    .unwrap();
    std::fs::create_dir(source.path().join("utils")).unwrap();
    std::fs::write(source.path().join("utils/motd.sh"), "echo hi\n").unwrap();
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    let destination = hyperpod_core::AssetDestination {
        bucket_name: "sagemaker-scripts".into(),
        key_prefix: "lifecycle/".into(),
    };
    let asset =
        hyperpod_core::FileAsset::new(&stack, "Scripts", source.path(), destination.clone());
    let assembly = app.synth().unwrap();
    let recorded = &assembly.manifest.stacks[0].assets[0];
    assert_eq!(recorded.id, "a/Main/Scripts");
    assert_eq!(recorded.files, ["on_create.sh", "utils/motd.sh"]);
    assert_eq!(recorded.bucket_name, "sagemaker-scripts");
    assert_eq!(
        recorded.object_key_prefix,
        format!("lifecycle/{}/", recorded.sha256)
    );
    assert_eq!(
        asset.s3_uri(),
        format!("s3://sagemaker-scripts/lifecycle/{}/", recorded.sha256)
    );
    let staged = assembly
        .files()
        .iter()
        .find(|f| f.path == format!("{}/utils/motd.sh", recorded.source))
        .expect("staged");
    assert_eq!(*staged.contents(), *b"echo hi\n");

    // A change of content changes the hash, so the new files go to a new prefix.
    std::fs::write(
        source.path().join("on_create.sh"),
        "#!/bin/bash\necho changed\n",
    )
    .unwrap();
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    hyperpod_core::FileAsset::new(&stack, "Scripts", source.path(), destination);
    assert_ne!(
        app.synth().unwrap().manifest.stacks[0].assets[0].sha256,
        recorded.sha256
    );
}

#[test]
fn an_unreadable_asset_is_reported() {
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    let destination = hyperpod_core::AssetDestination {
        bucket_name: "b".into(),
        key_prefix: "no-slash".into(),
    };
    hyperpod_core::FileAsset::new(
        &stack,
        "Missing",
        std::path::Path::new("/nonexistent/scripts"),
        destination,
    );
    let codes: Vec<String> = crate::support::codes(&app);
    assert!(
        codes.contains(&"asset_unreadable".to_owned())
            && codes.contains(&"invalid_asset_prefix".to_owned()),
        "{codes:?}"
    );
}

#[test]
fn generated_files_join_an_asset_and_may_not_shadow_the_users() {
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("setup.sh"), "#!/bin/bash\n").unwrap();
    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    let destination = hyperpod_core::AssetDestination {
        bucket_name: "sagemaker-scripts".into(),
        key_prefix: "lifecycle/".into(),
    };
    hyperpod_core::FileAsset::with_generated(
        &stack,
        "Scripts",
        source.path(),
        vec![("cluster.env".into(), b"NAME=ml\n".to_vec())],
        destination.clone(),
    );
    let assembly = app.synth().unwrap();
    let recorded = &assembly.manifest.stacks[0].assets[0];
    assert_eq!(recorded.files, ["cluster.env", "setup.sh"]);
    let staged = assembly
        .files()
        .iter()
        .find(|f| f.path == format!("{}/cluster.env", recorded.source))
        .expect("staged");
    assert_eq!(*staged.contents(), *b"NAME=ml\n");

    let (app, stack) = one_stack();
    topic(&stack, "Topic");
    hyperpod_core::FileAsset::with_generated(
        &stack,
        "Scripts",
        source.path(),
        vec![("setup.sh".into(), Vec::new())],
        destination,
    );
    assert!(crate::support::codes(&app).contains(&"asset_file_conflict".to_owned()));
}
