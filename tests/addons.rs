//! The add-ons of AWS's Terraform modules: off by default, each with the IAM and Pod
//! Identity it needs, in the documented order, and valid CloudFormation together.

use hyperpod::{
    Autoscaling, ComputeQuota, HyperPodAddons, HyperPodEksCluster, HyperPodEksClusterProps,
    HyperPodNetwork, InstanceGroup, NetworkProps, Observability, QuotaInstanceType, SharedFsx,
    TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::assertions::{Match, Template};
use serde_json::json;

use crate::hyperpod::{
    Fixture, ZONES, assert_problem, cluster_props, fixture, json_property, members,
};

fn with_addons(f: &Fixture, addons: HyperPodAddons) -> HyperPodEksCluster {
    let network = HyperPodNetwork::new(
        &f.cluster,
        "Network",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::new(ZONES)
        },
    );
    let props = HyperPodEksClusterProps {
        addons,
        ..HyperPodEksClusterProps::new(
            "ml-cluster",
            network.refs().clone(),
            vec![
                InstanceGroup::new("system", "ml.m5.2xlarge", 1),
                InstanceGroup::new("gpu-workers", "ml.g5.8xlarge", 4),
            ],
            crate::hyperpod::scripts(),
            f.assets.clone(),
        )
    };
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props)
}

fn every_addon() -> HyperPodAddons {
    HyperPodAddons {
        observability: Some(Observability::default()),
        training_operator: true,
        fsx: Some(SharedFsx::default()),
        autoscaling: Some(Autoscaling::default()),
    }
}

fn addon(template: &Template, name: &str) -> serde_json::Value {
    template
        .find_resources(
            "AWS::EKS::Addon",
            json!({ "Properties": { "AddonName": name } }),
        )
        .into_values()
        .next()
        .unwrap_or_else(|| panic!("no add-on {name}"))
}

#[test]
fn no_add_on_is_on_by_default() {
    let f = fixture();
    crate::hyperpod::cluster(&f);
    let template = Template::from_stack(&f.cluster);
    template.resource_count_is("AWS::APS::Workspace", 0);
    template.resource_count_is("AWS::FSx::FileSystem", 0);
    template.resource_count_is("AWS::EKS::Addon", 5);
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        Match::object_like([
            ("AutoScaling", Match::absent()),
            ("ClusterRole", Match::absent()),
        ]),
    );
}

#[test]
fn observability_writes_to_its_prometheus_workspace_as_a_pod_identity_role_of_this_cluster() {
    let f = fixture();
    with_addons(
        &f,
        HyperPodAddons {
            observability: Some(Observability {
                container_logs: true,
                ..Observability::default()
            }),
            ..HyperPodAddons::default()
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource(
        "AWS::APS::Workspace",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "Alias": "ml-cluster-observability" } }),
    );
    let observability = addon(&template, "amazon-sagemaker-hyperpod-observability");
    assert_eq!(
        observability["Properties"]["PodIdentityAssociations"],
        json!([{ "RoleArn": { "Fn::GetAtt": ["HyperPodObservabilityRole", "Arn"] }, "ServiceAccount": "hyperpod-observability-operator-otel-collector" }])
    );
    assert_eq!(
        observability["DependsOn"],
        json!(["HyperPodCluster", "HyperPodTaskGovernance"])
    );
    let configuration = json_property(&observability["Properties"]["ConfigurationValues"]);
    assert_eq!(configuration["ampWorkspace"]["prometheusEndpoint"], "${v0}");
    assert_eq!(
        configuration["metricsProvider"]["trainingMetrics"],
        json!({ "level": "BASIC", "scrapeInterval": 30 })
    );
    assert_eq!(
        configuration["metricsProvider"]["networkMetrics"]["level"],
        "DISABLED"
    );
    assert_eq!(configuration["logging"]["enabled"], json!(true));
    assert_eq!(
        observability["Properties"]["ConfigurationValues"]["Fn::Sub"][1]["v0"],
        json!({ "Fn::Sub": ["https://aps-workspaces.${AWS::Region}.${AWS::URLSuffix}/workspaces/${id}", { "id": { "Fn::GetAtt": ["HyperPodPrometheusWorkspace", "WorkspaceId"] } }] })
    );
    template.has_resource_properties(
        "AWS::IAM::Role",
        json!({
            "AssumeRolePolicyDocument": { "Statement": [{
                "Principal": { "Service": "pods.eks.amazonaws.com" },
                "Action": ["sts:AssumeRole", "sts:TagSession"],
                // Only the collector's service account in its namespace, on this cluster.
                "Condition": { "StringEquals": {
                    "aws:SourceAccount": { "Ref": "AWS::AccountId" },
                    "aws:RequestTag/eks-cluster-arn": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] },
                    "aws:RequestTag/kubernetes-namespace": "hyperpod-observability",
                    "aws:RequestTag/kubernetes-service-account": "hyperpod-observability-operator-otel-collector",
                } },
            }] },
        }),
    );
    let role = template
        .find_resources("AWS::IAM::Role", json!({}))
        .shift_remove("HyperPodObservabilityRole")
        .unwrap();
    assert_eq!(
        role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0],
        json!({ "Sid": "PrometheusWrite", "Effect": "Allow", "Action": "aps:RemoteWrite", "Resource": { "Fn::GetAtt": ["HyperPodPrometheusWorkspace", "Arn"] } })
    );
}

#[test]
fn the_training_operator_comes_after_a_pinned_cert_manager() {
    let f = fixture();
    with_addons(
        &f,
        HyperPodAddons {
            training_operator: true,
            ..HyperPodAddons::default()
        },
    );
    let template = Template::from_stack(&f.cluster);
    let cert_manager = addon(&template, "cert-manager");
    assert_eq!(
        cert_manager["Properties"]["AddonVersion"],
        "v1.18.2-eksbuild.2"
    );
    let configuration = json_property(&cert_manager["Properties"]["ConfigurationValues"]);
    assert_eq!(configuration["webhook"]["replicaCount"], json!(1));
    assert_eq!(configuration["tolerations"].as_array().unwrap().len(), 3);
    let operator = addon(&template, "amazon-sagemaker-hyperpod-training-operator");
    assert_eq!(
        operator["Properties"]["PodIdentityAssociations"][0]["ServiceAccount"],
        "hp-training-operator-controller-manager"
    );
    assert!(
        operator["DependsOn"]
            .as_array()
            .unwrap()
            .contains(&json!("HyperPodCertManager"))
    );
    template.has_resource_properties(
        "AWS::IAM::Role",
        json!({ "ManagedPolicyArns": [{ "Fn::Sub": ["arn:${AWS::Partition}:iam::aws:policy/${name}", { "name": "AmazonSageMakerHyperPodTrainingOperatorAccess" }] }] }),
    );
}

#[test]
fn the_shared_file_system_is_in_the_clusters_zone_retained_and_reaches_the_teams_that_opt_in() {
    let f = fixture();
    let cluster = with_addons(
        &f,
        HyperPodAddons {
            fsx: Some(SharedFsx::default()),
            ..HyperPodAddons::default()
        },
    );
    TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps {
            shared_fsx: true,
            ..TeamNamespaceProps::new(
                "vision",
                &cluster,
                ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
                &f.scientists,
                members(),
            )
        },
    );
    TeamNamespace::new(
        &f.cluster,
        "audio",
        TeamNamespaceProps::new(
            "audio",
            &cluster,
            ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
            &f.scientists,
            members(),
        ),
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource(
        "AWS::FSx::FileSystem",
        json!({
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "FileSystemTypeVersion": "2.15",
                "SubnetIds": [{ "Ref": "NetworkNodes1" }],
                "LustreConfiguration": { "DeploymentType": "PERSISTENT_2", "MetadataConfiguration": { "Mode": "AUTOMATIC" }, "AutomaticBackupRetentionDays": 7, "DataCompressionType": "LZ4" },
            },
        }),
    );
    let driver = addon(&template, "aws-fsx-csi-driver");
    assert_eq!(
        driver["Properties"]["PodIdentityAssociations"][0]["ServiceAccount"],
        "fsx-csi-controller-sa"
    );
    let manifests = template.find_resources("Custom::KubernetesObjects", json!({}));
    let vision = &manifests["VisionKubernetes"];
    let objects = json_property(&vision["Properties"]["Objects"]);
    let volume = objects
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == "PersistentVolume")
        .unwrap();
    assert_eq!(volume["spec"]["csi"]["volumeHandle"], "${v0}");
    assert_eq!(
        volume["spec"]["claimRef"],
        json!({ "namespace": "hyperpod-ns-vision", "name": "fsx" })
    );
    assert_eq!(volume["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(
        vision["Properties"]["Objects"]["Fn::Sub"][1]["v0"],
        json!({ "Ref": "HyperPodSharedFileSystem" })
    );
    assert!(
        vision["DependsOn"]
            .as_array()
            .unwrap()
            .contains(&json!("HyperPodFsxCsiDriver"))
    );
    let audio = json_property(&manifests["AudioKubernetes"]["Properties"]["Objects"]);
    assert!(
        audio
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["kind"] != "PersistentVolumeClaim"),
        "a team that did not opt in gets no claim"
    );
}

#[test]
fn autoscaling_gives_the_cluster_a_karpenter_role_and_a_node_pool_for_the_groups_at_zero() {
    let f = fixture();
    let mut props = cluster_props(&f);
    let mut scaled = InstanceGroup::new("auto-g5", "ml.g5.8xlarge", 0);
    scaled.deep_health_checks.clear();
    props.instance_groups.push(scaled);
    props.addons.autoscaling = Some(Autoscaling::default());
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::SageMaker::Cluster",
        json!({ "AutoScaling": { "Mode": "Enable", "AutoScalerType": "Karpenter" }, "ClusterRole": { "Fn::GetAtt": ["HyperPodAutoscalingRole", "Arn"] }, "NodeProvisioningMode": "Continuous" }),
    );
    template.has_resource_properties(
        "AWS::IAM::Role",
        json!({ "AssumeRolePolicyDocument": { "Statement": [{ "Principal": { "Service": "hyperpod.sagemaker.amazonaws.com" }, "Action": "sts:AssumeRole" }] } }),
    );
    let manifest = template
        .find_resources("Custom::KubernetesObjects", json!({}))
        .shift_remove("HyperPodAutoscaling")
        .unwrap();
    assert_eq!(
        manifest["Properties"]["WaitForDefinitions"],
        json!([
            "hyperpodnodeclasses.karpenter.sagemaker.amazonaws.com",
            "nodepools.karpenter.sh"
        ])
    );
    assert_eq!(manifest["DependsOn"], json!(["HyperPodCluster"]));
    let objects = json_property(&manifest["Properties"]["Objects"]);
    assert_eq!(objects[0]["kind"], "HyperpodNodeClass");
    assert_eq!(objects[0]["spec"]["instanceGroups"], json!(["auto-g5"]));
    assert_eq!(
        objects[1]["spec"]["template"]["spec"]["nodeClassRef"]["kind"],
        "HyperpodNodeClass"
    );
}

#[test]
fn bad_add_on_inputs_are_reported() {
    let f = fixture();
    let mut props = cluster_props(&f);
    props.instance_groups = vec![InstanceGroup::new("auto", "ml.g5.8xlarge", 0)];
    props.addons = HyperPodAddons {
        autoscaling: Some(Autoscaling::default()),
        fsx: Some(SharedFsx {
            storage_capacity_gib: 1000,
            throughput_per_tib: 300,
            backup_retention_days: 91,
        }),
        ..HyperPodAddons::default()
    };
    HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    let mut props = cluster_props(&f);
    props.cluster_name = "other".into();
    props.addons.autoscaling = Some(Autoscaling::default());
    HyperPodEksCluster::new(&f.cluster, "Nothing", props);
    for (path, code) in [
        (
            "a/Cluster/HyperPod",
            "deep_health_checks_on_autoscaled_group",
        ),
        ("a/Cluster/HyperPod", "no_system_nodes"),
        ("a/Cluster/HyperPod", "invalid_fsx_capacity"),
        ("a/Cluster/HyperPod", "invalid_fsx_throughput"),
        ("a/Cluster/HyperPod", "invalid_fsx_backup_retention"),
        ("a/Cluster/HyperPod", "fsx_ports_closed"),
        ("a/Cluster/Nothing", "nothing_to_autoscale"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn a_cluster_with_every_add_on_passes_cfn_lint() {
    let f = fixture();
    let mut props = cluster_props(&f);
    let network = HyperPodNetwork::new(
        &f.cluster,
        "Network2",
        NetworkProps {
            fsx_lustre: true,
            ..NetworkProps::new(ZONES)
        },
    );
    props.network = network.refs().clone();
    let mut scaled = InstanceGroup::new("auto-g5", "ml.g5.8xlarge", 0);
    scaled.deep_health_checks.clear();
    props.instance_groups.push(scaled);
    props.addons = every_addon();
    let cluster = HyperPodEksCluster::new(&f.cluster, "HyperPod", props);
    TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps {
            shared_fsx: true,
            ..TeamNamespaceProps::new(
                "vision",
                &cluster,
                ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
                &f.scientists,
                members(),
            )
        },
    );
    let assembly = f.app.synth().unwrap_or_else(|e| panic!("{e}"));
    let Some(cfn_lint) = tests::cfn_lint() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let folder = assembly.write_to(out.path()).unwrap();
    if let Some(report) = tests::lint(&cfn_lint, &[folder.join("a/Cluster.template.json")]) {
        panic!("cfn-lint found errors or warnings:\n{report}");
    }
}
