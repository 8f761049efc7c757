//! The HyperPod Helm chart (`aws/sagemaker-hyperpod-cli`, `helm_chart/HyperPodHelmChart`):
//! what it installs, as typed components with the chart's own defaults, pinned to a commit.

use hyperpod_core::{Expr, Pseudo};

use crate::installer::HelmChartSource;

/// The commit of `aws/sagemaker-hyperpod-cli` the chart is installed from: the last that
/// changed `helm_chart/HyperPodHelmChart` when this was written (2026-06-19, "Bump inference
/// operator helm chart version to 2.2.2"). AWS's console template pins an older one
/// (`f57185916d4f7d2fa85caf6a03c04fd17172d330`, `eks/cloudformation/helm-chart-template.yaml`).
pub const HYPERPOD_CHART_REVISION: &str = "a00b22d17ea928a6e39a43bd2efdafe01b1005ea";

/// The chart repositories its dependencies come from, added before `helm dependency
/// update` as AWS's installer does (`helm-chart-injector/lambda_function/lambda_function.py`).
pub const HYPERPOD_CHART_REPOSITORIES: &[(&str, &str)] = &[
    ("nvidia", "https://nvidia.github.io/k8s-device-plugin"),
    ("eks", "https://aws.github.io/eks-charts/"),
];

/// What the HyperPod chart installs. The defaults are the chart's own (`values.yaml` at
/// [`HYPERPOD_CHART_REVISION`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChartComponents {
    /// The health-monitoring agent (`health-monitoring-agent`), which HyperPod's automatic
    /// node recovery relies on to see GPU and Trainium faults (default on).
    pub health_monitoring_agent: bool,
    /// The NVIDIA device plugin, which makes GPUs schedulable (default on).
    pub nvidia_device_plugin: bool,
    /// The EFA device plugin (default on).
    pub efa_device_plugin: bool,
    /// The Neuron device plugin for Trainium and Inferentia (default on).
    pub neuron_device_plugin: bool,
    /// The Kubeflow training operators: PyTorchJob and others (default on).
    pub training_operators: bool,
    /// The MPI operator (default on).
    pub mpi_operator: bool,
    /// The RBAC and namespace (`aws-hyperpod`) of on-demand deep health checks (default on).
    pub deep_health_check: bool,
    /// The RBAC of automatic job restarts after node recovery (default on).
    pub job_auto_restart: bool,
    /// The RBAC HyperPod's node patching uses (default on).
    pub hyperpod_patching: bool,
    /// The chart's `team-role-and-bindings` for one team, by name (default off:
    /// [`crate::TeamNamespace`] installs the same roles for every team).
    pub team_role_and_bindings: Option<String>,
}

impl Default for ChartComponents {
    fn default() -> Self {
        ChartComponents {
            health_monitoring_agent: true,
            nvidia_device_plugin: true,
            efa_device_plugin: true,
            neuron_device_plugin: true,
            training_operators: true,
            mpi_operator: true,
            deep_health_check: true,
            job_auto_restart: true,
            hyperpod_patching: true,
            team_role_and_bindings: None,
        }
    }
}

/// The HyperPod Helm chart, as the cluster installs it.
#[derive(Clone, Debug)]
pub struct HyperPodChart {
    /// Where the chart comes from (default: `aws/sagemaker-hyperpod-cli` at
    /// [`HYPERPOD_CHART_REVISION`], `helm_chart/HyperPodHelmChart`).
    pub source: HelmChartSource,
    /// The release's name (default `dependencies`, as AWS's console names it).
    pub release_name: String,
    /// The release's namespace (default `kube-system`).
    pub namespace: String,
    /// What it installs.
    pub components: ChartComponents,
}

impl Default for HyperPodChart {
    fn default() -> Self {
        HyperPodChart {
            source: HelmChartSource {
                repository: "https://github.com/aws/sagemaker-hyperpod-cli.git".into(),
                revision: HYPERPOD_CHART_REVISION.into(),
                path: "helm_chart/HyperPodHelmChart".into(),
            },
            release_name: "dependencies".into(),
            namespace: "kube-system".into(),
            components: ChartComponents::default(),
        }
    }
}

impl ChartComponents {
    /// The chart's values for these components. The region is passed to the health-
    /// monitoring agent, as AWS's installer does (`--set health-monitoring-agent.region`).
    /// cert-manager stays off: the training-operator add-on uses EKS's cert-manager add-on.
    pub(crate) fn values(&self) -> Expr {
        let enabled = |on: bool| Expr::map([("enabled", Expr::from(on))]);
        let plugin = |on: bool| Expr::map([("devicePlugin", enabled(on))]);
        let mut values = vec![
            (
                "health-monitoring-agent",
                Expr::map([
                    ("enabled", Expr::from(self.health_monitoring_agent)),
                    ("region", Pseudo::Region.value().into_expr()),
                ]),
            ),
            ("nvidia-device-plugin", plugin(self.nvidia_device_plugin)),
            ("aws-efa-k8s-device-plugin", plugin(self.efa_device_plugin)),
            ("neuron-device-plugin", plugin(self.neuron_device_plugin)),
            ("trainingOperators", enabled(self.training_operators)),
            ("mpi-operator", enabled(self.mpi_operator)),
            ("deep-health-check", enabled(self.deep_health_check)),
            ("job-auto-restart", enabled(self.job_auto_restart)),
            ("hyperpod-patching", enabled(self.hyperpod_patching)),
            ("cert-manager", enabled(false)),
        ];
        match &self.team_role_and_bindings {
            Some(team) => values.push((
                "team-role-and-bindings",
                Expr::map([
                    ("enabled", Expr::from(true)),
                    (
                        "computeQuotaTarget",
                        Expr::map([("targetId", Expr::from(team.as_str()))]),
                    ),
                ]),
            )),
            None => values.push(("team-role-and-bindings", enabled(false))),
        }
        Expr::map(values)
    }
}
