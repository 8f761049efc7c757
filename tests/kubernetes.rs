//! Kubernetes objects as constructs: what the installer receives, and clear errors.

use hyperpod::{
    KubernetesManifest, KubernetesManifestProps, KubernetesObject, PolicyRule, Subject,
};
use hyperpod_core::Expr;
use hyperpod_core::assertions::Template;
use serde_json::json;

use crate::hyperpod::{assert_problem, cluster, fixture, json_property};

#[test]
fn objects_travel_as_json_namespaces_first_and_the_namespaces_made_elsewhere_are_waited_for() {
    let f = fixture();
    let cluster = cluster(&f);
    KubernetesManifest::new(
        &f.cluster,
        "Tools",
        KubernetesManifestProps {
            namespace_labels: vec![(
                "hyperpod-ns-vision".into(),
                vec![("team".into(), "vision".into())],
            )],
            ..KubernetesManifestProps::new(
                cluster.installer(),
                vec![
                    KubernetesObject::service_account("tools", "runner")
                        .annotation("example.com/role", cluster.execution_role().arn()),
                    KubernetesObject::role(
                        "hyperpod-ns-vision",
                        "reader",
                        &[PolicyRule::new(&[""], &["pods"], &["get"]).names(&["one"])],
                    ),
                    KubernetesObject::namespace("tools").label("purpose", "tools"),
                    KubernetesObject::role_binding(
                        "hyperpod-ns-vision",
                        "reader",
                        "reader",
                        &[Subject::ServiceAccount {
                            namespace: "tools".into(),
                            name: "runner".into(),
                        }],
                    ),
                ],
            )
        },
    );
    let template = Template::from_stack(&f.cluster);
    let resource = template
        .find_resources("Custom::KubernetesObjects", json!({}))
        .shift_remove("Tools")
        .unwrap();
    let properties = &resource["Properties"];
    assert_eq!(
        properties["ClusterName"],
        json!({ "Ref": "HyperPodEksCluster" })
    );
    assert_eq!(
        properties["WaitForNamespaces"],
        json!(["hyperpod-ns-vision"])
    );
    assert_eq!(properties["WaitTimeoutSeconds"], "600");
    assert_eq!(
        properties["NamespaceLabels"],
        json!("{\"hyperpod-ns-vision\":{\"team\":\"vision\"}}")
    );
    let objects = json_property(&properties["Objects"]);
    let kinds: Vec<&str> = objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["Namespace", "ServiceAccount", "Role", "RoleBinding"]
    );
    assert_eq!(
        objects[0]["metadata"],
        json!({ "name": "tools", "labels": { "purpose": "tools" } })
    );
    assert_eq!(
        objects[1]["metadata"]["annotations"]["example.com/role"],
        "${v0}"
    );
    assert_eq!(
        properties["Objects"]["Fn::Sub"][1]["v0"],
        json!({ "Fn::GetAtt": ["HyperPodExecutionRole", "Arn"] })
    );
    assert_eq!(
        objects[2]["rules"],
        json!([{ "apiGroups": [""], "resources": ["pods"], "resourceNames": ["one"], "verbs": ["get"] }])
    );
    assert_eq!(
        objects[3]["roleRef"],
        json!({ "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader" })
    );
    assert_eq!(
        objects[3]["subjects"],
        json!([{ "kind": "ServiceAccount", "name": "runner", "namespace": "tools" }])
    );
}

#[test]
fn literal_objects_are_a_plain_json_string() {
    let f = fixture();
    let cluster = cluster(&f);
    KubernetesManifest::new(
        &f.cluster,
        "Plain",
        KubernetesManifestProps::new(
            cluster.installer(),
            vec![KubernetesObject::new(
                "v1",
                "ConfigMap",
                Some("default"),
                "settings",
                [("data", Expr::map([("debug", Expr::from("true"))]))],
            )],
        ),
    );
    let resource = Template::from_stack(&f.cluster)
        .find_resources("Custom::KubernetesObjects", json!({}))
        .shift_remove("Plain")
        .unwrap();
    assert_eq!(
        resource["Properties"]["Objects"],
        json!(
            "[{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"settings\",\"namespace\":\"default\"},\"data\":{\"debug\":\"true\"}}]"
        )
    );
}

#[test]
fn bad_kubernetes_objects_are_reported() {
    let f = fixture();
    let cluster = cluster(&f);
    KubernetesManifest::new(
        &f.cluster,
        "Bad",
        KubernetesManifestProps {
            namespace_labels: vec![("Team_A".into(), vec![("bad key!".into(), "x".into())])],
            ..KubernetesManifestProps::new(
                cluster.installer(),
                vec![
                    KubernetesObject::service_account("Default", "Runner"),
                    KubernetesObject::service_account("tools", "runner").label("tier", "-front"),
                    KubernetesObject::service_account("tools", "runner"),
                ],
            )
        },
    );
    for code in [
        "invalid_kubernetes_name",
        "invalid_kubernetes_namespace",
        "invalid_kubernetes_label",
        "duplicate_kubernetes_object",
    ] {
        assert_problem(&f.app, "a/Cluster/Bad", code);
    }
}
