//! The Kubernetes installer of a HyperPod EKS cluster: a Lambda function, run from
//! CloudFormation custom resources, that installs Helm releases and applies Kubernetes
//! objects in the same deploy as the cluster (`installer/index.py`).

use hyperpod_cfn::{ec2, eks, lambda};
use hyperpod_core::{CfnResource, Construct, Expr, ExprMap, Node, Scope, TagFormat, Value, fns};
use hyperpod_iam::{ManagedPolicy, PolicyDocument, Principal, Role, RoleProps, Statement};
use indexmap::IndexMap;

use crate::network::NetworkRefs;

/// The bucket AWS publishes its quick-setup artefacts in, per region
/// (`aws/sagemaker-hyperpod-cluster-setup`, `eks/cloudformation/main-stack-eks-based-template.yaml`,
/// `HelmChartStack.Parameters.CustomResourceS3Bucket`).
const QUICK_SETUP_BUCKET: &str = "aws-sagemaker-hyperpod-cluster-setup-${AWS::Region}-prod";
/// The layer with kubectl, helm, git, yq and aws-iam-authenticator under `python/bin`
/// (`eks/cloudformation/helm-chart-template.yaml`, parameter `LayerS3Key`).
const QUICK_SETUP_LAYER_KEY: &str = "resources/artifacts/helm-lambda-layer.zip";
/// How long the installer may run: Lambda's maximum, since a chart's dependencies are
/// downloaded on every run.
const TIMEOUT_SECONDS: i64 = 900;

/// Where the installer's tools (kubectl, helm, git, aws-iam-authenticator) come from.
#[derive(Clone, Debug, Default)]
pub enum InstallerLayer {
    /// The layer AWS publishes for its HyperPod quick-setup templates,
    /// `s3://aws-sagemaker-hyperpod-cluster-setup-<region>-prod/resources/artifacts/helm-lambda-layer.zip`,
    /// copied into a layer version of the cluster's account (the default).
    #[default]
    AwsQuickSetup,
    /// A layer of yours, by ARN, with the same tools under `/opt/python/bin` or `/opt/bin`
    /// (and git's helpers under `/opt/python/libexec/git-core`, its libraries under
    /// `/opt/python/lib`, as AWS's layer has them).
    Arn(Value<String>),
}

/// The EKS cluster an installer reaches.
#[derive(Clone, Debug)]
pub(crate) struct ClusterConnection {
    pub(crate) name: Value<String>,
    pub(crate) arn: Value<String>,
    /// The API endpoint and certificate, when the stack creates the cluster; otherwise the
    /// installer describes the cluster.
    pub(crate) endpoint: Option<(Value<String>, Value<String>)>,
}

/// The installer of one cluster: a Lambda function in the cluster's VPC, with a role that
/// has a cluster-admin access entry (and nothing else in the account), used by
/// [`crate::KubernetesManifest`] and the cluster's Helm release.
#[derive(Clone, Debug)]
pub struct KubernetesInstaller {
    function: lambda::CfnFunction,
    connection: ClusterConnection,
}

impl KubernetesInstaller {
    pub(crate) fn new(
        scope: &impl Scope,
        id: &str,
        connection: ClusterConnection,
        layer: &InstallerLayer,
        network: &NetworkRefs,
    ) -> KubernetesInstaller {
        let construct = Construct::new(scope, id);
        let role = Role::new(
            &construct,
            "Role",
            RoleProps {
                description: Some("the Kubernetes installer of a HyperPod cluster".into()),
                managed_policies: vec![ManagedPolicy::aws(
                    "service-role/AWSLambdaVPCAccessExecutionRole",
                )],
                inline_policies: vec![(
                    "describe-cluster".into(),
                    PolicyDocument::new([Statement::allow()
                        .sid("DescribeCluster")
                        .action("eks:DescribeCluster")
                        .resource(connection.arn.clone())]),
                )],
                ..RoleProps::new(Principal::service("lambda.amazonaws.com").trust())
            },
        );
        let access = cluster_admin_entry(&construct, "Access", &connection.name, role.arn());

        let layer_arn = match layer {
            InstallerLayer::AwsQuickSetup => {
                let layer = lambda::CfnLayerVersion::new(
                    &construct,
                    "Tools",
                    lambda::LayerVersionProps {
                        description: Some(
                            "kubectl, helm, git and aws-iam-authenticator, from AWS's HyperPod quick-setup artefacts".into(),
                        ),
                        compatible_runtimes: Some(Value::list([
                            lambda::layer_version::CompatibleRuntimes::Python312.into(),
                        ])),
                        compatible_architectures: Some(Value::list([
                            lambda::layer_version::CompatibleArchitectures::X8664.into(),
                        ])),
                        ..lambda::LayerVersionProps::new(lambda::layer_version::Content::new(
                            fns::sub::<&str>(QUICK_SETUP_BUCKET, []),
                            QUICK_SETUP_LAYER_KEY,
                        ))
                    },
                );
                layer.ref_value()
            }
            InstallerLayer::Arn(arn) => arn.clone(),
        };

        // In the cluster's VPC, so that it reaches a private API endpoint; out through the
        // nodes' NAT to GitHub and the chart repositories.
        let group = ec2::CfnSecurityGroup::new(
            &construct,
            "SecurityGroup",
            ec2::SecurityGroupProps {
                vpc_id: Some(network.vpc_id.clone()),
                security_group_egress: Some(
                    vec![ec2::security_group::Egress {
                        cidr_ip: Some("0.0.0.0/0".into()),
                        from_port: Some(443.into()),
                        to_port: Some(443.into()),
                        description: Some(
                            "HTTPS to the cluster's API, GitHub and the chart repositories".into(),
                        ),
                        ..ec2::security_group::Egress::new("tcp")
                    }]
                    .into(),
                ),
                ..ec2::SecurityGroupProps::new("the Kubernetes installer of a HyperPod cluster")
            },
        );
        let api_ingress = ec2::CfnSecurityGroupIngress::new(
            &construct,
            "ApiFromInstaller",
            ec2::SecurityGroupIngressProps {
                group_id: Some(network.security_group_id.clone()),
                source_security_group_id: Some(group.group_id()),
                from_port: Some(443.into()),
                to_port: Some(443.into()),
                description: Some("the Kubernetes installer to the cluster's API".into()),
                ..ec2::SecurityGroupIngressProps::new("tcp")
            },
        );
        let function = crate::custom_resource_function(
            &construct,
            "Function",
            crate::CustomResourceFunction {
                description: "installs Helm releases and Kubernetes objects in a HyperPod cluster",
                code: include_str!("installer/index.py"),
                role_arn: role.arn(),
                timeout_seconds: TIMEOUT_SECONDS,
                logs_hold: "the installer logs helm and kubectl messages, never secrets",
                invoked: "CloudFormation invokes the installer once per custom resource",
            },
            |props| lambda::FunctionProps {
                memory_size: Some(1024.into()),
                ephemeral_storage: Some(lambda::function::EphemeralStorage::new(2048).into()),
                layers: Some(Value::list([layer_arn])),
                environment: Some(
                    lambda::function::Environment {
                        variables: Some(installer_environment().into()),
                    }
                    .into(),
                ),
                vpc_config: Some(
                    lambda::function::VpcConfig {
                        security_group_ids: Some(Value::list([group.group_id()])),
                        subnet_ids: Some(Value::list(network.node_subnet_ids())),
                        ..Default::default()
                    }
                    .into(),
                ),
                ..props
            },
        );
        function.node().suppress(
            "CKV_AWS_173",
            "the environment holds tool paths only, no secrets",
        );
        // The function needs its access entry and its way to the API before it can reach
        // the cluster, and the nodes' routes to reach GitHub; deleting in reverse keeps them
        // until the last release is uninstalled.
        function.add_depends_on(&access);
        function.add_depends_on(&api_ingress);
        for ready in &network.ready {
            function.add_depends_on(ready);
        }
        KubernetesInstaller {
            function,
            connection,
        }
    }

    /// Makes the installer wait for `target`, such as the add-ons its work needs.
    pub(crate) fn add_depends_on(&self, target: &impl Scope) {
        self.function.add_depends_on(target);
    }

    /// The ARN of the installer's function, the service token of its custom resources.
    pub fn service_token(&self) -> Value<String> {
        self.function.arn()
    }

    /// Makes `resource` a request to this installer: its service token and the cluster it
    /// works on.
    pub(crate) fn connect(&self, resource: &CfnResource) {
        resource.set_property("ServiceToken", self.service_token());
        resource.set_property("ClusterName", self.connection.name.clone());
        if let Some((endpoint, authority)) = &self.connection.endpoint {
            resource.set_property("Endpoint", endpoint.clone());
            resource.set_property("CertificateAuthorityData", authority.clone());
        }
    }
}

impl Scope for KubernetesInstaller {
    fn node(&self) -> &Node {
        self.function.node()
    }
}

/// An EKS access entry giving `principal` cluster-admin rights over the whole cluster.
pub(crate) fn cluster_admin_entry(
    scope: &impl Scope,
    id: &str,
    cluster_name: &Value<String>,
    principal: Value<String>,
) -> eks::CfnAccessEntry {
    let admin = eks::access_entry::AccessPolicy::new(
        eks::access_entry::AccessScope::new(eks::access_entry::AccessScopeType::Cluster),
        fns::sub::<&str>(
            "arn:${AWS::Partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            [],
        ),
    );
    eks::CfnAccessEntry::new(
        scope,
        id,
        eks::AccessEntryProps {
            access_policies: Some(vec![admin].into()),
            type_: Some("STANDARD".into()),
            ..eks::AccessEntryProps::new(cluster_name.clone(), principal)
        },
    )
}

/// A Helm chart from a git repository, pinned to a commit.
#[derive(Clone, Debug)]
pub struct HelmChartSource {
    /// The repository's clone URL.
    pub repository: String,
    /// The commit to check out: 40 hexadecimal digits, never a branch or tag, so that a
    /// deploy installs what was reviewed.
    pub revision: String,
    /// The chart's folder in the repository.
    pub path: String,
}

/// What a Helm release installs, and where.
pub(crate) struct HelmRelease<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) chart: &'a HelmChartSource,
    /// The chart repositories its dependencies come from: name and URL.
    pub(crate) repositories: &'a [(&'a str, &'a str)],
    pub(crate) values: Expr,
}

/// A Helm release installed by the cluster's installer (`Custom::HyperPodHelmRelease`):
/// installed with the stack, upgraded when its properties change, uninstalled with it.
pub(crate) fn helm_release(
    scope: &impl Scope,
    id: &str,
    installer: &KubernetesInstaller,
    release: HelmRelease,
) -> CfnResource {
    let HelmRelease {
        name,
        namespace,
        chart,
        repositories,
        values,
    } = release;
    let resource = CfnResource::new(
        scope,
        id,
        "Custom::HyperPodHelmRelease",
        TagFormat::NotTaggable,
        ExprMap::new(),
    );
    installer.connect(&resource);
    resource.set_property("Release", name);
    resource.set_property("Namespace", namespace);
    resource.set_property(
        "Chart",
        Expr::map([
            ("Repository", chart.repository.as_str().into()),
            ("Revision", chart.revision.as_str().into()),
            ("Path", chart.path.as_str().into()),
        ]),
    );
    resource.set_property(
        "Repositories",
        Expr::list(repositories.iter().map(|(name, url)| {
            Expr::map([("Name", Expr::from(*name)), ("Url", Expr::from(*url))])
        })),
    );
    resource.set_property("Values", fns::to_json(values));
    resource
}

/// Whether `revision` is a full git commit id.
pub(crate) fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// Where the tools of AWS's layer are: its binaries, git's helpers and its libraries.
fn installer_environment() -> IndexMap<String, serde_json::Value> {
    [
        (
            "PATH",
            "/opt/python/bin:/opt/bin:/var/lang/bin:/usr/local/bin:/usr/bin:/bin",
        ),
        ("GIT_EXEC_PATH", "/opt/python/libexec/git-core"),
        (
            "LD_LIBRARY_PATH",
            "/opt/python/lib:/var/lang/lib:/lib64:/usr/lib64",
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), serde_json::Value::from(value)))
    .collect()
}
