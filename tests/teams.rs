//! Teams on a shared cluster: quotas, the Kubernetes objects of their namespaces, who may
//! reach them, and their data in another account; and one clear error per bad input.

use hyperpod::{
    ComputeQuota, CrossAccountDataAccess, CrossAccountDataAccessProps, DataBucket, DataNetworkPath,
    DataScope, HyperPodEksCluster, NamespaceAccess, PodSecurity, QuotaInstanceType,
    SharingStrategy, TeamDataAccess, TeamMembers, TeamNamespace, TeamNamespaceProps,
};
use hyperpod_core::assertions::{Match, Template};
use serde_json::{Value as Json, json};

use crate::hyperpod::{
    A, B, C, Fixture, assert_problem, cluster, cluster_props, dependencies, fixture, json_property,
    members, message,
};

fn team_props(f: &Fixture, cluster: &HyperPodEksCluster, name: &str) -> TeamNamespaceProps {
    TeamNamespaceProps::new(
        name,
        cluster,
        ComputeQuota {
            fair_share_weight: 30,
            ..ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 2)])
        },
        &f.scientists,
        members(),
    )
}

fn team(f: &Fixture, cluster: &HyperPodEksCluster, name: &str) -> TeamNamespace {
    TeamNamespace::new(&f.cluster, name, team_props(f, cluster, name))
}

fn data_props(f: &Fixture, team: &TeamNamespace) -> CrossAccountDataAccessProps {
    CrossAccountDataAccessProps {
        data_stack: f.data.clone(),
        bucket: DataBucket::Create {
            bucket_name: None,
            kms: false,
        },
        teams: vec![TeamDataAccess::read_only(
            team,
            "training",
            &format!("datasets/{}/", team.team_name()),
        )],
        network_path: DataNetworkPath::ClusterS3Endpoint,
    }
}

/// The objects of a team's `Custom::KubernetesObjects`, with its resource.
fn team_objects(template: &Template, logical_id: &str) -> (Json, Vec<Json>) {
    let resources = template.find_resources("Custom::KubernetesObjects", json!({}));
    let resource = resources
        .get(logical_id)
        .unwrap_or_else(|| panic!("no {logical_id} among {:?}", resources.keys()))
        .clone();
    let objects = json_property(&resource["Properties"]["Objects"]);
    (resource, objects.as_array().unwrap().clone())
}

fn object<'a>(objects: &'a [Json], kind: &str) -> &'a Json {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {objects:#?}"))
}

#[test]
fn a_team_gets_a_quota_after_the_cluster_policy() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = team(&f, &cluster, "ml-research");
    assert_eq!(team.namespace(), "hyperpod-ns-ml-research");
    Template::from_stack(&f.cluster).has_resource(
        "AWS::SageMaker::ComputeQuota",
        json!({
            "DependsOn": ["HyperPodSchedulerConfig"],
            "Properties": {
                "ClusterArn": { "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] },
                "ComputeQuotaTarget": { "TeamName": "ml-research", "FairShareWeight": 30 },
                "ComputeQuotaConfig": { "ComputeQuotaResources": [{ "InstanceType": "ml.g5.8xlarge", "Count": 2 }], "ResourceSharingConfig": { "Strategy": "LendAndBorrow", "BorrowLimit": 50 }, "PreemptTeamTasks": "LowerPriority" },
            },
        }),
    );
}

#[test]
fn a_team_member_is_in_the_team_group_bound_to_the_official_team_roles_in_its_namespace_only() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "vision");
    let template = Template::from_stack(&f.cluster);
    template.has_resource(
        "AWS::EKS::AccessEntry",
        json!({
            "DependsOn": ["VisionComputeQuota", "VisionKubernetes"],
            "Properties": { "Type": "STANDARD", "PrincipalArn": { "Fn::GetAtt": ["VisionClusterAccessRole", "Arn"] }, "KubernetesGroups": ["hyperpod-ns-vision-namespace-level-group"] },
        }),
    );
    template.has_resource_properties(
        "AWS::EKS::AccessEntry",
        Match::object_like([
            (
                "KubernetesGroups",
                json!(["hyperpod-ns-vision-namespace-level-group"]).into(),
            ),
            ("AccessPolicies", Match::absent()),
        ]),
    );
    let (resource, objects) = team_objects(&template, "VisionKubernetes");
    // Task governance creates the namespace from the quota: the objects follow it.
    assert_eq!(resource["DependsOn"], json!(["VisionComputeQuota"]));
    assert_eq!(
        resource["Properties"]["WaitForNamespaces"],
        json!(["hyperpod-ns-vision"])
    );
    assert_eq!(
        resource["Properties"]["ServiceToken"],
        json!({ "Fn::GetAtt": ["HyperPodInstallerFunction", "Arn"] })
    );

    let role = object(&objects, "Role");
    assert_eq!(role["metadata"]["namespace"], "hyperpod-ns-vision");
    let rules = role["rules"].as_array().unwrap();
    let allows = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|rule| {
            rule["apiGroups"]
                .as_array()
                .unwrap()
                .contains(&json!(group))
                && rule["resources"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(resource))
                && rule["verbs"].as_array().unwrap().contains(&json!(verb))
        })
    };
    for (group, resource, verb) in [
        ("kubeflow.org", "pytorchjobs", "create"),
        ("sagemaker.amazonaws.com", "hyperpodpytorchjobs", "create"),
        ("kueue.x-k8s.io", "workloads", "patch"),
        ("batch", "jobs", "create"),
        ("", "pods", "create"),
        ("", "pods/log", "get"),
    ] {
        assert!(
            allows(group, resource, verb),
            "{verb} {group}/{resource} missing: {rules:#?}"
        );
    }
    assert!(!allows("", "pods/exec", "create"), "no exec into pods");
    assert_eq!(
        object(&objects, "RoleBinding")["subjects"],
        json!([{ "kind": "Group", "name": "hyperpod-ns-vision-namespace-level-group", "apiGroup": "rbac.authorization.k8s.io" }])
    );
    let cluster_role = object(&objects, "ClusterRole");
    let queue = cluster_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["resources"] == json!(["clusterqueues"]))
        .unwrap();
    assert_eq!(
        queue["resourceNames"],
        json!(["hyperpod-ns-vision-clusterqueue"])
    );
    assert_eq!(queue["verbs"], json!(["list", "get", "watch"]));
    // Nothing cluster-wide that reaches another team's objects.
    for rule in cluster_role["rules"].as_array().unwrap() {
        for resource in rule["resources"].as_array().unwrap() {
            assert!(
                [
                    "namespaces",
                    "clusterqueues",
                    "resourceflavors",
                    "workloadpriorityclasses",
                    "nodes",
                    "nodes/status",
                    "customresourcedefinitions"
                ]
                .contains(&resource.as_str().unwrap()),
                "cluster-wide {resource}"
            );
        }
        for verb in rule["verbs"].as_array().unwrap() {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().unwrap()),
                "cluster-wide {verb}"
            );
        }
    }
    assert_eq!(
        object(&objects, "ServiceAccount")["metadata"],
        json!({ "name": "training", "namespace": "hyperpod-ns-vision" })
    );
}

#[test]
fn the_edit_policy_is_added_on_request_scoped_to_the_namespace() {
    let f = fixture();
    let cluster = cluster(&f);
    TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps {
            access: NamespaceAccess::TeamRoleAndEditPolicy,
            ..team_props(&f, &cluster, "vision")
        },
    );
    Template::from_stack(&f.cluster).has_resource_properties(
        "AWS::EKS::AccessEntry",
        json!({ "KubernetesGroups": ["hyperpod-ns-vision-namespace-level-group"], "AccessPolicies": [{ "AccessScope": { "Type": "namespace", "Namespaces": ["hyperpod-ns-vision"] }, "PolicyArn": { "Fn::Sub": "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSEditPolicy" } }] }),
    );
}

#[test]
fn a_team_can_use_kubernetes_groups_bound_elsewhere() {
    let f = fixture();
    let cluster = cluster(&f);
    TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps {
            access: NamespaceAccess::KubernetesGroups(vec!["vision-users".into()]),
            ..team_props(&f, &cluster, "vision")
        },
    );
    let template = Template::from_stack(&f.cluster);
    template.has_resource_properties(
        "AWS::EKS::AccessEntry",
        json!({ "KubernetesGroups": ["vision-users"] }),
    );
    let (_, objects) = team_objects(&template, "VisionKubernetes");
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["ServiceAccount", "NetworkPolicy", "NetworkPolicy"],
        "no roles of ours"
    );
}

#[test]
fn the_roles_of_a_team_trust_exactly_each_other_and_allow_what_the_hyperpod_cli_calls() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "ml-research");
    let a = Template::from_stack(&f.cluster);
    a.has_resource_properties(
        "AWS::IAM::Role",
        json!({
            "RoleName": "ml-research-cluster-access",
            "AssumeRolePolicyDocument": { "Statement": [{
                "Effect": "Allow",
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": B, "name": "ml-research-data-scientist" }] } },
                "Condition": { "Null": { "sts:SourceIdentity": "false" } },
            }] },
        }),
    );
    let role = a
        .find_resources(
            "AWS::IAM::Role",
            json!({ "Properties": { "RoleName": "ml-research-cluster-access" } }),
        )
        .into_values()
        .next()
        .unwrap();
    let statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let resource_of = |action: &str| {
        statements
            .iter()
            .find(|s| s["Action"] == action)
            .unwrap_or_else(|| panic!("{action} missing from {statements:#?}"))["Resource"]
            .clone()
    };
    assert_eq!(
        resource_of("sagemaker:DescribeCluster"),
        json!({ "Fn::GetAtt": ["HyperPodCluster", "ClusterArn"] })
    );
    assert_eq!(
        resource_of("eks:DescribeCluster"),
        json!({ "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] })
    );
    assert_eq!(resource_of("sagemaker:ListClusters"), json!("*"));
    assert!(
        resource_of("eks:DescribeAccessEntry")
            .to_string()
            .contains("access-entry/${cluster}/role/${AWS::AccountId}/${role}/*")
    );
    assert!(
        resource_of("iam:GetRole")
            .to_string()
            .contains("ml-research-cluster-access")
    );
    let b = Template::from_stack(&f.scientists);
    b.resource_count_is("AWS::IAM::Role", 1);
    b.has_resource_properties(
        "AWS::IAM::Role",
        json!({
            "RoleName": "ml-research-data-scientist",
            "AssumeRolePolicyDocument": { "Statement": [{
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:root", { "account": B }] } },
                "Condition": {
                    "ArnLike": { "aws:PrincipalArn": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/aws-reserved/sso.amazonaws.com/*AWSReservedSSO_${name}_????????????????", { "account": B, "name": "Scientists" }] } },
                    "Null": { "sts:SourceIdentity": "false" },
                },
            }] },
            "Policies": [{ "PolicyDocument": { "Statement": [{ "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"], "Resource": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": A, "name": "ml-research-cluster-access" }] } }] } }],
        }),
    );
    assert!(
        dependencies(&f.app, "a/Cluster").contains(&"b/Scientists".to_owned()),
        "B deploys before A"
    );
}

#[test]
fn a_duplicate_team_is_one_problem_naming_the_team() {
    let f = fixture();
    let cluster = cluster(&f);
    let first = team(&f, &cluster, "vision");
    let second = team(&f, &cluster, "vision");
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            teams: vec![
                TeamDataAccess::read_only(&first, "training", "datasets/vision/"),
                TeamDataAccess::read_only(&second, "training", "datasets/vision-2/"),
            ],
            ..data_props(&f, &first)
        },
    );
    let found = crate::support::problems(&f.app);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "a/Cluster/vision");
    assert!(
        found[0].message.contains("`vision`"),
        "{}",
        found[0].message
    );
    assert!(!second.is_declared());
}

#[test]
fn the_same_team_under_two_ids_is_one_problem() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "vision");
    TeamNamespace::new(
        &f.cluster,
        "VisionAgain",
        team_props(&f, &cluster, "vision"),
    );
    let found = crate::support::problems(&f.app);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "duplicate_team");
    assert!(
        found[0]
            .message
            .contains("team `vision` is already declared on cluster `ml-cluster`")
    );
}

#[test]
fn a_team_name_too_long_is_one_problem_with_the_limit() {
    let f = fixture();
    let cluster = cluster(&f);
    let long = "a".repeat(41);
    let team = team(&f, &cluster, &long);
    CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &team));
    let found = crate::support::problems(&f.app);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].code, "invalid_team_name");
    assert!(found[0].message.contains("1 to 40"), "{}", found[0].message);
}

#[test]
fn quotas_that_add_up_to_more_than_the_cluster_has_are_refused() {
    let f = fixture();
    let cluster = cluster(&f);
    for (name, count) in [("ml-research", 3), ("vision", 2)] {
        TeamNamespace::new(
            &f.cluster,
            name,
            TeamNamespaceProps::new(
                name,
                &cluster,
                ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, count)]),
                &f.scientists,
                members(),
            ),
        );
    }
    assert_problem(&f.app, "a/Cluster/HyperPod", "quotas_exceed_capacity");
    assert_eq!(
        message(&f.app, "quotas_exceed_capacity"),
        "teams' quotas of ml.g5.8xlarge add up to 5 (ml-research 3, vision 2) but the cluster has 4; lower a quota or add instances"
    );
}

#[test]
fn a_quota_of_a_type_the_cluster_does_not_have_is_refused() {
    let f = fixture();
    let cluster = cluster(&f);
    TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps::new(
            "vision",
            &cluster,
            ComputeQuota::new(vec![(QuotaInstanceType::MlP548xlarge, 1)]),
            &f.scientists,
            members(),
        ),
    );
    assert_problem(&f.app, "a/Cluster/vision", "quota_type_not_in_cluster");
    assert!(message(&f.app, "quota_type_not_in_cluster").contains("ml.m5.2xlarge, ml.g5.8xlarge"));
}

#[test]
fn bad_team_inputs_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    let without_governance = HyperPodEksCluster::new(
        &f.cluster,
        "NoGovernance",
        hyperpod::HyperPodEksClusterProps {
            cluster_name: "other".into(),
            task_governance: None,
            ..cluster_props(&f)
        },
    );
    TeamNamespace::new(&f.cluster, "Upper", team_props(&f, &cluster, "ML-Research"));
    TeamNamespace::new(&f.cluster, "Hyphen", team_props(&f, &cluster, "team-"));
    TeamNamespace::new(
        &f.cluster,
        "NoGov",
        team_props(&f, &without_governance, "nogov"),
    );
    TeamNamespace::new(
        &f.cluster,
        "Quota",
        TeamNamespaceProps {
            quota: ComputeQuota {
                fair_share_weight: 101,
                borrow_limit: Some(600),
                sharing: SharingStrategy::Lend,
                ..ComputeQuota::new(vec![])
            },
            ..team_props(&f, &cluster, "quota")
        },
    );
    TeamNamespace::new(
        &f.cluster,
        "Groups",
        TeamNamespaceProps {
            access: NamespaceAccess::KubernetesGroups(vec![]),
            data_scientist_stack: f.assets.clone(),
            ..team_props(&f, &cluster, "groups")
        },
    );
    TeamNamespace::new(
        &f.cluster,
        "System",
        TeamNamespaceProps {
            access: NamespaceAccess::KubernetesGroups(vec!["system:masters".into()]),
            service_accounts: vec!["Bad SA".into()],
            shared_fsx: true,
            ..team_props(&f, &cluster, "system")
        },
    );
    for (path, code) in [
        ("a/Cluster/Upper", "invalid_team_name"),
        ("a/Cluster/Hyphen", "invalid_team_name"),
        ("a/Cluster/NoGov", "task_governance_off"),
        ("a/Cluster/Quota", "invalid_quota_instances"),
        ("a/Cluster/Quota", "invalid_fair_share_weight"),
        ("a/Cluster/Quota", "invalid_borrow_limit"),
        ("a/Cluster/Quota", "borrow_limit_without_borrowing"),
        ("a/Cluster/Groups", "no_kubernetes_groups"),
        ("a/Cluster/Groups", "data_scientists_in_cluster_account"),
        ("a/Cluster/System", "reserved_kubernetes_group"),
        ("a/Cluster/System", "invalid_service_account"),
        ("a/Cluster/System", "no_shared_fsx"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

#[test]
fn data_access_delegates_to_one_access_point_per_team_granting_only_its_pod_role() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = team(&f, &cluster, "ml-research");
    let access = CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &team));
    assert!(access.pod_role("ml-research").is_some());
    let a = Template::from_stack(&f.cluster);
    a.has_resource_properties(
        "AWS::IAM::Role",
        json!({ "RoleName": "ml-research-data-access", "AssumeRolePolicyDocument": { "Statement": [{
            "Principal": { "Service": "pods.eks.amazonaws.com" },
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": { "StringEquals": {
                "aws:SourceAccount": A,
                "aws:RequestTag/eks-cluster-arn": { "Fn::GetAtt": ["HyperPodEksCluster", "Arn"] },
                "aws:RequestTag/kubernetes-namespace": "hyperpod-ns-ml-research",
                "aws:RequestTag/kubernetes-service-account": "training",
            } },
        }] } }),
    );
    a.has_resource_properties("AWS::EKS::PodIdentityAssociation", json!({ "Namespace": "hyperpod-ns-ml-research", "ServiceAccount": "training", "ClusterName": { "Ref": "HyperPodEksCluster" } }));
    let c = Template::from_stack(&f.data);
    c.has_resource(
        "AWS::S3::Bucket",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "VersioningConfiguration": { "Status": "Enabled" }, "PublicAccessBlockConfiguration": { "BlockPublicPolicy": true } } }),
    );
    c.has_resource_properties(
        "AWS::S3::BucketPolicy",
        Match::object_like([(
            "PolicyDocument",
            Match::object_like([("Statement", Match::array_with([json!({ "Sid": "DelegateToAccessPoints", "Principal": "*", "Condition": { "StringEquals": { "s3:DataAccessPointAccount": C } } }).into()]))]),
        )]),
    );
    c.has_resource_properties(
        "AWS::S3::AccessPoint",
        json!({
            "Name": "ml-research-data",
            "Policy": { "Statement": [
                { "Sid": "Objects", "Action": "s3:GetObject", "Principal": { "AWS": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": A, "name": "ml-research-data-access" }] } } },
                { "Sid": "List", "Action": "s3:ListBucket", "Condition": { "StringLike": { "s3:prefix": "datasets/ml-research/*" } } },
            ] },
        }),
    );
    assert!(
        dependencies(&f.app, "c/Data").contains(&"a/Cluster".to_owned()),
        "A deploys before C"
    );
}

/// The `aws:SourceVpce` condition of each statement of a policy document.
fn endpoint_conditions(document: &Json) -> Vec<Json> {
    document["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| statement["Condition"]["StringEquals"]["aws:SourceVpce"].clone())
        .collect()
}

#[test]
fn team_data_is_reachable_only_through_the_clusters_s3_endpoint() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = team(&f, &cluster, "ml-research");
    CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &team));
    // The role in A: both grants only through the endpoint of the cluster's VPC.
    let a = Template::from_stack(&f.cluster);
    let role = a
        .find_resources(
            "AWS::IAM::Role",
            json!({ "Properties": { "RoleName": "ml-research-data-access" } }),
        )
        .shift_remove("DataMlResearchPodRole")
        .expect("the team's data role");
    assert_eq!(
        endpoint_conditions(&role["Properties"]["Policies"][0]["PolicyDocument"]),
        [
            json!({ "Ref": "NetworkS3Endpoint" }),
            json!({ "Ref": "NetworkS3Endpoint" })
        ]
    );
    // The access point in C: the same endpoint, passed across accounts at deploy time.
    let c = Template::from_stack(&f.data);
    let access_point = c
        .find_resources("AWS::S3::AccessPoint", json!({}))
        .into_values()
        .next()
        .unwrap();
    let conditions = endpoint_conditions(&access_point["Properties"]["Policy"]);
    assert_eq!(conditions.len(), 2);
    for condition in &conditions {
        let parameter = condition["Ref"].as_str().expect("a deploy-time parameter");
        assert!(
            c.json()["Parameters"][parameter].is_object(),
            "{parameter} is not a parameter of C"
        );
    }
    let manifest = f.app.synth().unwrap().manifest;
    let parameters = serde_json::to_string(&manifest).unwrap();
    assert!(parameters.contains("NetworkS3Endpoint"), "{parameters}");
}

#[test]
fn any_network_path_is_a_choice_and_the_endpoint_path_needs_an_endpoint_in_the_datas_region() {
    let f = fixture();
    let cluster = cluster(&f);
    let research = team(&f, &cluster, "ml-research");
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            network_path: DataNetworkPath::AnyNetwork,
            ..data_props(&f, &research)
        },
    );
    let c = Template::from_stack(&f.data);
    let access_point = c
        .find_resources("AWS::S3::AccessPoint", json!({}))
        .into_values()
        .next()
        .unwrap();
    assert_eq!(
        endpoint_conditions(&access_point["Properties"]["Policy"]),
        [Json::Null, Json::Null]
    );

    // A cluster in another region than the data: its gateway endpoint cannot reach it.
    let f = crate::hyperpod::fixture_in("us-west-2");
    let cluster = HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        hyperpod::HyperPodEksClusterProps::new(
            "ml-cluster",
            hyperpod::HyperPodNetwork::new(
                &f.cluster,
                "Network",
                hyperpod::NetworkProps::new(&["usw2-az1", "usw2-az2"]),
            )
            .refs()
            .clone(),
            vec![hyperpod::InstanceGroup::new(
                "gpu-workers",
                "ml.g5.8xlarge",
                4,
            )],
            crate::hyperpod::scripts(),
            f.assets.clone(),
        ),
    );
    let research = team(&f, &cluster, "ml-research");
    CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &research));
    assert_problem(&f.app, "a/Cluster/Data", "data_outside_endpoint_region");

    // A network brought in without its endpoint.
    let f = fixture();
    let network = hyperpod::HyperPodNetwork::existing(
        &f.cluster,
        "Existing",
        hyperpod::ExistingNetwork {
            vpc_id: "vpc-0123456789abcdef0".into(),
            vpc_cidrs: vec!["10.0.0.0/16".into()],
            node_subnets: vec![("use1-az2".into(), "subnet-0123456789abcdef0".into())],
            control_plane_subnet_ids: vec![
                "subnet-0123456789abcdef1".into(),
                "subnet-0123456789abcdef2".into(),
            ],
            security_group_id: "sg-0123456789abcdef0".into(),
            fsx_lustre: false,
            s3_endpoint_id: None,
        },
    );
    let cluster = HyperPodEksCluster::new(
        &f.cluster,
        "HyperPod",
        hyperpod::HyperPodEksClusterProps::new(
            "ml-cluster",
            network.refs().clone(),
            vec![hyperpod::InstanceGroup::new(
                "gpu-workers",
                "ml.g5.8xlarge",
                4,
            )],
            crate::hyperpod::scripts(),
            f.assets.clone(),
        ),
    );
    let research = team(&f, &cluster, "ml-research");
    CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &research));
    assert_problem(&f.app, "a/Cluster/Data", "no_s3_endpoint");
}

#[test]
fn the_bucket_delegates_only_what_teams_use_to_the_named_access_points_and_logs_access() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = team(&f, &cluster, "ml-research");
    CrossAccountDataAccess::new(&f.cluster, "Data", data_props(&f, &team));
    let c = Template::from_stack(&f.data);
    let policies = c.find_resources(
        "AWS::S3::BucketPolicy",
        json!({ "Properties": { "Bucket": { "Ref": "DataBucket" } } }),
    );
    let statements =
        policies.values().next().expect("the data bucket's policy")["Properties"]["PolicyDocument"]
            ["Statement"]
            .clone();
    let delegation = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "DelegateToAccessPoints")
        .unwrap();
    // Read-only teams: no write action is delegated, and only the teams' access points
    // may use the delegation, not any future access point of the account.
    assert_eq!(
        delegation["Action"],
        json!(["s3:GetObject", "s3:ListBucket"])
    );
    assert_eq!(
        delegation["Condition"]["ArnEquals"]["s3:DataAccessPointArn"],
        json!({ "Fn::Sub": ["arn:${AWS::Partition}:s3:${region}:${account}:accesspoint/${name}", { "region": "us-east-1", "account": C, "name": "ml-research-data" }] })
    );
    // Server access logs go to the data account's own retained log bucket.
    c.has_resource_properties(
        "AWS::S3::Bucket",
        json!({ "VersioningConfiguration": { "Status": "Enabled" }, "LoggingConfiguration": { "DestinationBucketName": { "Ref": "AccessLogsBucket" } } }),
    );
    c.has_resource(
        "AWS::S3::Bucket",
        json!({ "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": { "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] } } }),
    );
    c.has_resource_properties(
        "AWS::S3::BucketPolicy",
        json!({ "Bucket": { "Ref": "AccessLogsBucket" } }),
    );
}

#[test]
fn write_access_and_kms_encryption_are_granted_when_asked() {
    let f = fixture();
    let cluster = cluster(&f);
    let vision = TeamNamespace::new(
        &f.cluster,
        "vision",
        TeamNamespaceProps {
            service_accounts: vec!["trainer".into()],
            ..team_props(&f, &cluster, "vision")
        },
    );
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            bucket: DataBucket::Create {
                bucket_name: Some("training-data-333333333333".into()),
                kms: true,
            },
            teams: vec![TeamDataAccess {
                write: true,
                ..TeamDataAccess::read_only(&vision, "trainer", "datasets/vision/")
            }],
            ..data_props(&f, &vision)
        },
    );
    let a = Template::from_stack(&f.cluster);
    let role = a.find_resources(
        "AWS::IAM::Role",
        json!({ "Properties": { "RoleName": "vision-data-access" } }),
    );
    let statements =
        role.values().next().unwrap()["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .clone();
    assert!(
        statements.to_string().contains("s3:PutObject"),
        "{statements}"
    );
    // Writing an SSE-KMS object needs a data key as well as decryption, through S3 only.
    let decrypt = statements
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "Decrypt")
        .unwrap();
    assert_eq!(
        decrypt["Action"],
        json!(["kms:Decrypt", "kms:GenerateDataKey"])
    );
    assert_eq!(
        decrypt["Condition"]["StringEquals"]["kms:ViaService"],
        "s3.us-east-1.amazonaws.com"
    );
    let c = Template::from_stack(&f.data);
    c.has_resource(
        "AWS::KMS::Key",
        json!({ "DeletionPolicy": "Retain", "Properties": { "EnableKeyRotation": true } }),
    );
    let key = c
        .find_resources("AWS::KMS::Key", json!({}))
        .into_values()
        .next()
        .unwrap();
    let key_statements = &key["Properties"]["KeyPolicy"]["Statement"];
    assert_eq!(key_statements[1]["Action"], "kms:Decrypt");
    assert_eq!(
        key_statements[2]["Sid"],
        "WritingTeamPodRolesEncryptThroughS3"
    );
    assert_eq!(key_statements[2]["Action"], "kms:GenerateDataKey");
    for statement in [&key_statements[1], &key_statements[2]] {
        assert_eq!(
            statement["Condition"]["StringEquals"]["kms:ViaService"],
            "s3.us-east-1.amazonaws.com"
        );
    }
    c.has_resource_properties("AWS::S3::Bucket", json!({ "BucketName": "training-data-333333333333", "BucketEncryption": { "ServerSideEncryptionConfiguration": [{ "ServerSideEncryptionByDefault": { "SSEAlgorithm": "aws:kms" }, "BucketKeyEnabled": true }] } }));
}

#[test]
fn the_whole_bucket_is_granted_only_when_chosen() {
    let f = fixture();
    let cluster = cluster(&f);
    let vision = team(&f, &cluster, "vision");
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            teams: vec![TeamDataAccess {
                scope: DataScope::WholeBucket,
                ..TeamDataAccess::read_only(&vision, "training", "unused/")
            }],
            ..data_props(&f, &vision)
        },
    );
    let c = Template::from_stack(&f.data);
    let point = c
        .find_resources("AWS::S3::AccessPoint", json!({}))
        .into_values()
        .next()
        .unwrap();
    let statements = &point["Properties"]["Policy"]["Statement"];
    assert_eq!(statements[1]["Sid"], "List");
    // No prefix condition: only the network path's.
    assert!(
        statements[1]["Condition"]["StringLike"].is_null()
            && statements[1]["Condition"]["StringEquals"]["aws:SourceVpce"].is_object(),
        "{statements}"
    );
    assert!(
        statements[0]["Resource"]
            .to_string()
            .contains("/object/${prefix}*")
    );
    assert_eq!(statements[0]["Resource"]["Fn::Sub"][1]["prefix"], "");
}

#[test]
fn a_data_prefix_that_is_empty_or_open_ended_is_refused() {
    let f = fixture();
    let cluster = cluster(&f);
    let vision = team(&f, &cluster, "vision");
    let audio = team(&f, &cluster, "audio");
    let text = team(&f, &cluster, "text");
    CrossAccountDataAccess::new(
        &f.cluster,
        "Data",
        CrossAccountDataAccessProps {
            teams: vec![
                TeamDataAccess::read_only(&vision, "training", ""),
                TeamDataAccess::read_only(&audio, "training", "datasets/audio"),
                TeamDataAccess::read_only(&text, "training", "/datasets/*/"),
            ],
            ..data_props(&f, &vision)
        },
    );
    assert_problem(&f.app, "a/Cluster/Data", "empty_data_prefix");
    assert_problem(&f.app, "a/Cluster/Data", "data_prefix_without_slash");
    assert_problem(&f.app, "a/Cluster/Data", "invalid_data_prefix");
    assert!(message(&f.app, "empty_data_prefix").contains("DataScope::WholeBucket"));
    assert!(message(&f.app, "data_prefix_without_slash").contains("`datasets/audio-private/`"));
}

#[test]
fn bad_data_access_inputs_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    let team = team(&f, &cluster, "dup");
    CrossAccountDataAccess::new(
        &f.cluster,
        "Empty",
        CrossAccountDataAccessProps {
            teams: vec![],
            ..data_props(&f, &team)
        },
    );
    CrossAccountDataAccess::new(
        &f.cluster,
        "Bad",
        CrossAccountDataAccessProps {
            bucket: DataBucket::Existing {
                bucket_name: "Not_A_Bucket".into(),
                kms_encrypted: true,
            },
            teams: vec![
                TeamDataAccess::read_only(&team, "reader", "datasets/dup/"),
                TeamDataAccess::read_only(&team, "training", "datasets/dup/"),
            ],
            data_stack: f.assets.clone(),
            network_path: DataNetworkPath::ClusterS3Endpoint,
        },
    );
    for (path, code) in [
        ("a/Cluster/Empty", "no_teams"),
        ("a/Cluster/Bad", "kms_bucket_not_managed"),
        ("a/Cluster/Bad", "invalid_bucket_name"),
        ("a/Cluster/Bad", "duplicate_team"),
        ("a/Cluster/Bad", "unknown_service_account"),
        ("a/Cluster/Bad", "data_in_cluster_account"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

fn scientist_trust(f: &Fixture, name: &str) -> Json {
    Template::from_stack(&f.scientists)
        .find_resources(
            "AWS::IAM::Role",
            json!({ "Properties": { "RoleName": format!("{name}-data-scientist") } }),
        )
        .into_values()
        .next()
        .unwrap()["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        .clone()
}

#[test]
fn every_kind_of_team_member_is_named_and_must_give_a_source_identity() {
    let f = fixture();
    let cluster = cluster(&f);
    for (name, members) in [
        (
            "tagged",
            TeamMembers::PrincipalTag {
                key: "team".into(),
                value: "tagged".into(),
            },
        ),
        (
            "federated",
            TeamMembers::SamlProvider("corporate-idp".into()),
        ),
        ("named", TeamMembers::Roles(vec!["scientists/alice".into()])),
    ] {
        TeamNamespace::new(
            &f.cluster,
            name,
            TeamNamespaceProps {
                members,
                quota: ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
                ..team_props(&f, &cluster, name)
            },
        );
    }
    let tagged = scientist_trust(&f, "tagged");
    assert_eq!(
        tagged[0]["Condition"]["StringEquals"],
        json!({ "aws:PrincipalTag/team": "tagged" })
    );
    let federated = scientist_trust(&f, "federated");
    assert_eq!(
        federated[0]["Principal"],
        json!({ "Federated": { "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:saml-provider/${name}", { "account": B, "name": "corporate-idp" }] } })
    );
    assert_eq!(
        federated[0]["Action"],
        json!(["sts:AssumeRoleWithSAML", "sts:SetSourceIdentity"])
    );
    let named = scientist_trust(&f, "named");
    assert_eq!(
        named[0]["Condition"]["ArnEquals"]["aws:PrincipalArn"],
        json!({ "Fn::Sub": ["arn:${AWS::Partition}:iam::${account}:role/${name}", { "account": B, "name": "scientists/alice" }] })
    );
    for trust in [tagged, federated, named] {
        assert_eq!(trust.as_array().unwrap().len(), 1);
        assert_eq!(
            trust[0]["Condition"]["Null"],
            json!({ "sts:SourceIdentity": "false" }),
            "{trust}"
        );
    }
}

#[test]
fn no_team_role_trusts_the_data_scientists_account_without_a_condition() {
    let manifest_app = hyperpod_platform::app();
    let assembly = manifest_app.synth().unwrap();
    let template = assembly.template("science/DataScientists").unwrap();
    for (id, role) in template["Resources"].as_object().unwrap() {
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
        {
            let conditions = statement["Condition"]
                .as_object()
                .map(|c| c.len())
                .unwrap_or(0);
            assert!(
                conditions >= 2,
                "{id} trusts without naming who: {statement}"
            );
        }
    }
}

#[test]
fn bad_team_members_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    for (name, members) in [
        ("set", TeamMembers::PermissionSet("Data Scientists!".into())),
        (
            "tag",
            TeamMembers::PrincipalTag {
                key: String::new(),
                value: "x".into(),
            },
        ),
        ("saml", TeamMembers::SamlProvider(String::new())),
        ("none", TeamMembers::Roles(vec![])),
        ("path", TeamMembers::Roles(vec!["a//b".into()])),
    ] {
        TeamNamespace::new(
            &f.cluster,
            name,
            TeamNamespaceProps {
                members,
                ..team_props(&f, &cluster, name)
            },
        );
    }
    for (path, code) in [
        ("a/Cluster/set", "invalid_permission_set"),
        ("a/Cluster/tag", "invalid_principal_tag"),
        ("a/Cluster/saml", "invalid_saml_provider"),
        ("a/Cluster/none", "no_team_members"),
        ("a/Cluster/path", "invalid_role_name"),
    ] {
        assert_problem(&f.app, path, code);
    }
}

/// What Pod Security admission refuses at a level, for the fields the tests' pods use
/// (<https://kubernetes.io/docs/concepts/security/pod-security-standards/>).
fn pod_security_violations(level: &str, pod: &Json) -> Vec<String> {
    let spec = &pod["spec"];
    let mut found = Vec::new();
    for host in ["hostNetwork", "hostPID", "hostIPC"] {
        if spec[host] == json!(true) {
            found.push(host.to_owned());
        }
    }
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        if volume.get("hostPath").is_some() {
            found.push("hostPath".into());
        }
    }
    let baseline_capabilities = [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ];
    for container in spec["containers"].as_array().into_iter().flatten() {
        let context = &container["securityContext"];
        if context["privileged"] == json!(true) {
            found.push("privileged".into());
        }
        for added in context["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if !baseline_capabilities.contains(&added.as_str().unwrap_or_default()) {
                found.push(format!("capability {added}"));
            }
        }
        if level == "restricted" {
            if context["allowPrivilegeEscalation"] != json!(false) {
                found.push("allowPrivilegeEscalation".into());
            }
            if context["runAsNonRoot"] != json!(true)
                && spec["securityContext"]["runAsNonRoot"] != json!(true)
            {
                found.push("runAsNonRoot".into());
            }
            if !context["capabilities"]["drop"]
                .as_array()
                .is_some_and(|drop| drop.contains(&json!("ALL")))
            {
                found.push("capabilities drop ALL".into());
            }
            if context["seccompProfile"]["type"] != json!("RuntimeDefault")
                && spec["securityContext"]["seccompProfile"]["type"] != json!("RuntimeDefault")
            {
                found.push("seccompProfile".into());
            }
        }
    }
    found
}

/// The level a team's objects enforce on its namespace.
fn enforced_level(template: &Template, logical_id: &str) -> String {
    let (resource, _) = team_objects(template, logical_id);
    let labels = json_property(&resource["Properties"]["NamespaceLabels"]);
    let labels = labels.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    labels["pod-security.kubernetes.io/enforce"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_pod_that_reaches_the_node_is_refused_in_every_team_namespace() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "vision");
    TeamNamespace::new(
        &f.cluster,
        "audio",
        TeamNamespaceProps {
            pod_security: PodSecurity::Restricted,
            quota: ComputeQuota::new(vec![(QuotaInstanceType::MlG58xlarge, 1)]),
            ..team_props(&f, &cluster, "audio")
        },
    );
    let template = Template::from_stack(&f.cluster);
    let escape = json!({ "spec": {
        "hostPID": true,
        "volumes": [{ "name": "root", "hostPath": { "path": "/" } }],
        "containers": [{ "name": "shell", "image": "busybox", "securityContext": { "privileged": true } }],
    } });
    let plain = json!({ "spec": { "containers": [{ "name": "train", "image": "pytorch" }] } });
    let hardened = json!({ "spec": {
        "securityContext": { "runAsNonRoot": true, "seccompProfile": { "type": "RuntimeDefault" } },
        "containers": [{ "name": "train", "image": "pytorch", "securityContext": { "allowPrivilegeEscalation": false, "capabilities": { "drop": ["ALL"] } } }],
    } });
    let vision = enforced_level(&template, "VisionKubernetes");
    assert_eq!(vision, "baseline");
    assert_eq!(
        pod_security_violations(&vision, &escape),
        ["hostPID", "hostPath", "privileged"]
    );
    assert!(pod_security_violations(&vision, &plain).is_empty());
    let audio = enforced_level(&template, "AudioKubernetes");
    assert_eq!(audio, "restricted");
    assert!(!pod_security_violations(&audio, &plain).is_empty());
    assert!(pod_security_violations(&audio, &hardened).is_empty());
    // Admission never evicts a pod created before the labels: the members' access entry
    // waits for them.
    template.has_resource(
        "AWS::EKS::AccessEntry",
        Match::object_like([(
            "DependsOn",
            Match::array_with([json!("VisionKubernetes").into()]),
        )]),
    );
}

#[test]
fn team_pods_cannot_reach_the_nodes_instance_metadata() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "vision");
    let template = Template::from_stack(&f.cluster);
    let (_, objects) = team_objects(&template, "VisionKubernetes");
    let policy = object(&objects, "NetworkPolicy");
    assert_eq!(policy["metadata"]["namespace"], "hyperpod-ns-vision");
    assert_eq!(policy["spec"]["podSelector"], json!({}));
    assert_eq!(policy["spec"]["policyTypes"], json!(["Egress"]));
    assert_eq!(
        policy["spec"]["egress"][1]["to"][0]["ipBlock"],
        json!({ "cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"] })
    );
}

#[test]
fn a_team_admits_no_traffic_from_another_teams_pods() {
    let f = fixture();
    let cluster = cluster(&f);
    team(&f, &cluster, "vision");
    let template = Template::from_stack(&f.cluster);
    let (resource, objects) = team_objects(&template, "VisionKubernetes");
    // The namespace is marked as a team's, which only cluster admins can change.
    let labels = json_property(&resource["Properties"]["NamespaceLabels"]);
    assert_eq!(
        labels["hyperpod-ns-vision"][hyperpod::TEAM_NAMESPACE_LABEL],
        "vision"
    );
    let isolation = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "isolate-from-other-teams")
        .expect("the isolation policy");
    assert_eq!(isolation["kind"], "NetworkPolicy");
    assert_eq!(isolation["spec"]["podSelector"], json!({}));
    assert_eq!(isolation["spec"]["policyTypes"], json!(["Ingress"]));
    // From the team's own pods, and from namespaces that are no team's.
    assert_eq!(
        isolation["spec"]["ingress"],
        json!([{ "from": [
            { "podSelector": {} },
            { "namespaceSelector": { "matchExpressions": [{ "key": "hyperpod.platform/team", "operator": "DoesNotExist" }] } },
        ] }])
    );
}
