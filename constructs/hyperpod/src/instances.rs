//! What the constructs know about HyperPod instance types: which exist, which have
//! accelerators, which have EFA, and so which take deep health checks.

use std::sync::LazyLock;

use hyperpod_cfn::sagemaker;
use hyperpod_core::schema::Rule;

/// The instance types HyperPod clusters take: the enum of `InstanceType` in
/// `AWS::SageMaker::ComputeQuota`'s provider schema (a cluster's own `InstanceType` is a
/// plain string in CloudFormation's schema, but quotas name the same types).
pub static HYPERPOD_INSTANCE_TYPES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let path = [
        "ComputeQuotaConfig",
        "ComputeQuotaResources",
        "*",
        "InstanceType",
    ];
    let mut rule: &Rule = sagemaker::COMPUTE_QUOTA_SPEC.properties;
    for step in path {
        rule = if step == "*" {
            rule.items.expect("a list of quota resources")
        } else {
            rule.properties
                .iter()
                .find(|(name, _)| *name == step)
                .map(|(_, rule)| *rule)
                .expect("the quota schema names this property")
        };
    }
    rule.enum_values.to_vec()
});

/// The types the EFA device plugin of the HyperPod Helm chart serves
/// (`aws/sagemaker-hyperpod-cli` @ a00b22d1, `helm_chart/HyperPodHelmChart/values.yaml`,
/// `aws-efa-k8s-device-plugin.supportedInstanceLabels`).
const EFA_TYPES: &[&str] = &[
    "ml.c5n.9xlarge",
    "ml.c5n.18xlarge",
    "ml.g5.8xlarge",
    "ml.g5.12xlarge",
    "ml.g5.16xlarge",
    "ml.g5.24xlarge",
    "ml.g5.48xlarge",
    "ml.g6.8xlarge",
    "ml.g6.12xlarge",
    "ml.g6.16xlarge",
    "ml.g6.24xlarge",
    "ml.g6.48xlarge",
    "ml.g6e.8xlarge",
    "ml.g6e.12xlarge",
    "ml.g6e.16xlarge",
    "ml.g6e.24xlarge",
    "ml.g6e.48xlarge",
    "ml.g7e.8xlarge",
    "ml.g7e.12xlarge",
    "ml.g7e.24xlarge",
    "ml.g7e.48xlarge",
    "ml.gr6.8xlarge",
    "ml.i3en.12xlarge",
    "ml.i3en.24xlarge",
    "ml.m7i.48xlarge",
    "ml.p4d.24xlarge",
    "ml.p4de.24xlarge",
    "ml.p5.4xlarge",
    "ml.p5.48xlarge",
    "ml.p5e.48xlarge",
    "ml.p5en.48xlarge",
    "ml.p6-b200.48xlarge",
    "ml.p6-b300.48xlarge",
    "ml.p6e-gb200.36xlarge",
    "ml.r7i.48xlarge",
    "ml.trn1.32xlarge",
    "ml.trn1n.32xlarge",
    "ml.trn2.3xlarge",
    "ml.trn2.48xlarge",
];

/// Whether HyperPod knows the type.
pub fn is_hyperpod_instance_type(instance_type: &str) -> bool {
    HYPERPOD_INSTANCE_TYPES.contains(&instance_type)
}

/// Whether the type has GPUs (`ml.g*`, `ml.p*`) or Trainium chips (`ml.trn*`): the
/// accelerators HyperPod's deep health checks and health-monitoring agent support ("The
/// HyperPod deep health check and health monitoring agent supports GPU and Trn instances",
/// sagemaker-hyperpod-eks-prerequisites).
pub fn is_accelerated(instance_type: &str) -> bool {
    let family = instance_type.strip_prefix("ml.").unwrap_or(instance_type);
    family.starts_with('g') || family.starts_with('p') || family.starts_with("trn")
}

/// Whether the type has EFA, which multi-node connectivity tests need.
pub fn has_efa(instance_type: &str) -> bool {
    EFA_TYPES.contains(&instance_type)
}

/// Whether HyperPod runs the deep health check `InstanceStress` (instance-level GPU or
/// Trainium tests) on the type.
pub fn supports_instance_stress(instance_type: &str) -> bool {
    is_accelerated(instance_type)
}

/// Whether HyperPod runs `InstanceConnectivity` (NCCL or NCCOM tests between instances
/// over EFA; "only supported on instances with multi-node GPU communication capabilities",
/// sagemaker-hyperpod-resiliency-slurm-deep-health-checks) on the type.
pub fn supports_instance_connectivity(instance_type: &str) -> bool {
    is_accelerated(instance_type) && has_efa(instance_type)
}

/// The known type closest to `instance_type` by edit distance, when one is close enough
/// to be a typing mistake.
pub fn closest_instance_type(instance_type: &str) -> Option<&'static str> {
    HYPERPOD_INSTANCE_TYPES
        .iter()
        .map(|known| (edit_distance(instance_type, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The message for a type HyperPod does not know, with the likely intended one.
pub(crate) fn unknown_type_message(instance_type: &str, group: &str) -> String {
    match closest_instance_type(instance_type) {
        Some(close) => format!(
            "instance type `{instance_type}` of group `{group}` is not one HyperPod offers; did you mean `{close}`?"
        ),
        None => format!(
            "instance type `{instance_type}` of group `{group}` is not one HyperPod offers (such as `ml.g5.8xlarge` or `ml.p5.48xlarge`); see the instance types of SageMaker HyperPod pricing"
        ),
    }
}
