//! An internal Network Load Balancer in front of a Slurm cluster's login nodes.

use hyperpod_cfn::{ec2, elbv2, ssm};
use hyperpod_core::{CfnOutput, Construct, Node, OutputProps, Scope, Stack, Value};
use hyperpod_iam::{PolicyDocument, Statement};

use crate::cidr::Cidr;
use crate::slurm::SlurmHyperPodCluster;

/// Who may reach the login nodes over SSH.
#[derive(Clone, Debug)]
pub enum SshSource {
    /// A private CIDR block, such as the Client VPN's client range.
    Cidr(String),
    /// Members of a security group, such as the Client VPN endpoint's.
    SecurityGroup(Value<String>),
}

/// The options of a [`LoginNodeLoadBalancer`].
#[derive(Clone, Debug)]
pub struct LoginNodeLoadBalancerProps {
    /// The Slurm cluster, with a login group, in the same stack: its login nodes register
    /// themselves with the load balancer as they start.
    pub cluster: SlurmHyperPodCluster,
    /// Who may connect; SSH from anywhere is refused.
    pub allowed_sources: Vec<SshSource>,
}

/// An internal Network Load Balancer in the cluster's node subnets, forwarding TCP 22 to
/// the login nodes (target type `ip`, TCP health checks), with a security group that admits
/// SSH only from the given sources and an SSH rule on the cluster's group from the
/// balancer.
///
/// The targets follow node replacement without anyone editing the app: every login node,
/// as it starts, reads the target group's ARN from a parameter this construct writes,
/// registers its own address and deregisters those of login nodes that are gone (the
/// lifecycle script the Slurm cluster adds). The cluster is created after the parameter
/// and the login role's permission, so the first nodes find both.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// # let scripts = std::env::temp_dir().join("hyperpod-doc-slurm-lcs");
/// # std::fs::create_dir_all(&scripts).unwrap();
/// # std::fs::write(scripts.join("on_init_complete.sh"), "#!/bin/bash\n").unwrap();
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let assets = Stack::new(&a, "Assets", StackProps::default());
/// let stack = Stack::new(&a, "Access", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::new(&["use1-az2", "use1-az4"]));
/// let cluster = SlurmHyperPodCluster::new(&stack, "Slurm", SlurmHyperPodClusterProps {
///     cluster_name: "ml-slurm".into(),
///     network: network.refs().clone(),
///     availability_zone_id: None,
///     controller: SlurmGroup::new("controller", "ml.m5.2xlarge", 1),
///     login: Some(SlurmGroup::new("login", "ml.m5.xlarge", 2)),
///     compute: vec![SlurmGroup::new("gpu-workers", "ml.g5.8xlarge", 2)],
///     lifecycle_scripts: scripts,
///     lifecycle_bucket_stack: assets,
///     script_writers: vec![DEFAULT_SCRIPT_WRITER.into()],
///     fsx: None,
/// });
/// let balancer = LoginNodeLoadBalancer::new(&stack, "LoginNodes", LoginNodeLoadBalancerProps {
///     cluster,
///     allowed_sources: vec![SshSource::Cidr("10.100.0.0/22".into())],
/// });
/// let _ssh_to = balancer.dns_name();
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct LoginNodeLoadBalancer {
    construct: Construct,
    balancer: elbv2::CfnLoadBalancer,
}

impl LoginNodeLoadBalancer {
    /// Creates the load balancer.
    pub fn new(
        scope: &impl Scope,
        id: &str,
        props: LoginNodeLoadBalancerProps,
    ) -> LoginNodeLoadBalancer {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let network = props.cluster.network().clone();
        check_sources(&node, &props.allowed_sources);
        let login = props.cluster.login_nodes().cloned();
        if login.is_none() {
            node.report("no_login_group", "the cluster has no login group, so no node would register with the load balancer; give the cluster a `login` group");
        }
        let same_stack = match (Stack::of(&construct), Stack::of(&props.cluster)) {
            (Some(here), Some(there)) => here.node().path() == there.node().path(),
            _ => true,
        };
        if !same_stack {
            node.report("load_balancer_in_other_stack", "the login nodes' load balancer must be in the cluster's stack: the cluster waits for its target group before creating login nodes; create it in that stack");
        }

        let group = ec2::CfnSecurityGroup::new(
            &construct,
            "SecurityGroup",
            ec2::SecurityGroupProps {
                vpc_id: Some(network.vpc_id.clone()),
                security_group_egress: Some(
                    network
                        .vpc_cidrs
                        .iter()
                        .map(|cidr| ec2::security_group::Egress {
                            cidr_ip: Some(cidr.as_str().into()),
                            from_port: Some(22.into()),
                            to_port: Some(22.into()),
                            description: Some("SSH to the login nodes".into()),
                            ..ec2::security_group::Egress::new("tcp")
                        })
                        .collect::<Vec<_>>()
                        .into(),
                ),
                ..ec2::SecurityGroupProps::new(
                    "login-node load balancer: SSH from the allowed sources only",
                )
            },
        );
        for (index, source) in props.allowed_sources.iter().enumerate() {
            let rule = ec2::SecurityGroupIngressProps {
                group_id: Some(group.group_id()),
                from_port: Some(22.into()),
                to_port: Some(22.into()),
                description: Some("SSH from an allowed source".into()),
                ..ec2::SecurityGroupIngressProps::new("tcp")
            };
            let rule = match source {
                SshSource::Cidr(cidr) => ec2::SecurityGroupIngressProps {
                    cidr_ip: Some(cidr.as_str().into()),
                    ..rule
                },
                SshSource::SecurityGroup(id) => ec2::SecurityGroupIngressProps {
                    source_security_group_id: Some(id.clone()),
                    ..rule
                },
            };
            ec2::CfnSecurityGroupIngress::new(&construct, &format!("SshFrom{}", index + 1), rule);
        }
        // The balancer has a security group, so the nodes see it as the source.
        ec2::CfnSecurityGroupIngress::new(
            &construct,
            "NodesFromBalancer",
            ec2::SecurityGroupIngressProps {
                group_id: Some(network.security_group_id.clone()),
                source_security_group_id: Some(group.group_id()),
                from_port: Some(22.into()),
                to_port: Some(22.into()),
                description: Some("SSH from the login-node load balancer".into()),
                ..ec2::SecurityGroupIngressProps::new("tcp")
            },
        );

        let balancer = elbv2::CfnLoadBalancer::new(
            &construct,
            "LoadBalancer",
            elbv2::LoadBalancerProps {
                type_: Some(elbv2::load_balancer::Type::Network.into()),
                scheme: Some(elbv2::load_balancer::Scheme::Internal.into()),
                subnets: Some(Value::list(network.node_subnet_ids())),
                // Security groups can only be given when a network load balancer is created.
                security_groups: Some(Value::list([group.group_id()])),
                ..Default::default()
            },
        );
        balancer.node().suppress(
            "CKV_AWS_91",
            "a TCP-only load balancer: ELB access logs cover TLS listeners only; the VPC's flow logs record the SSH connections",
        );
        let target_group = elbv2::CfnTargetGroup::new(
            &construct,
            "LoginNodes",
            elbv2::TargetGroupProps {
                target_type: Some(elbv2::target_group::TargetType::Ip.into()),
                protocol: Some(elbv2::target_group::Protocol::Tcp.into()),
                port: Some(22.into()),
                vpc_id: Some(network.vpc_id.clone()),
                health_check_protocol: Some(elbv2::target_group::HealthCheckProtocol::Tcp.into()),
                health_check_port: Some("22".into()),
                healthy_threshold_count: Some(3.into()),
                unhealthy_threshold_count: Some(3.into()),
                health_check_interval_seconds: Some(10.into()),
                ..Default::default()
            },
        );
        elbv2::CfnListener::new(
            &construct,
            "Ssh",
            elbv2::ListenerProps {
                port: Some(22.into()),
                protocol: Some(elbv2::listener::Protocol::Tcp.into()),
                ..elbv2::ListenerProps::new(
                    vec![elbv2::listener::Action {
                        target_group_arn: Some(target_group.ref_value()),
                        ..elbv2::listener::Action::new(elbv2::listener::ActionType::Forward)
                    }],
                    balancer.ref_value(),
                )
            },
        );

        if let Some(login) = &login {
            // The login nodes read the target group's ARN from this parameter and manage
            // their own targets in it.
            let parameter = ssm::CfnParameter::new(
                &construct,
                "TargetGroupParameter",
                ssm::ParameterProps {
                    name: Some(login.target_group_parameter.as_str().into()),
                    description: Some(
                        "the target group the Slurm login nodes register themselves with".into(),
                    ),
                    ..ssm::ParameterProps::new(
                        ssm::parameter::Type::String,
                        target_group.ref_value(),
                    )
                },
            );
            let policy = hyperpod_cfn::iam::CfnRolePolicy::new(
                &construct,
                "LoginNodesRegister",
                hyperpod_cfn::iam::RolePolicyProps {
                    policy_document: Some(
                        PolicyDocument::new([Statement::allow()
                            .sid("OwnTargets")
                            .actions([
                                "elasticloadbalancing:RegisterTargets",
                                "elasticloadbalancing:DeregisterTargets",
                            ])
                            .resource(target_group.ref_value())])
                        .into(),
                    ),
                    ..hyperpod_cfn::iam::RolePolicyProps::new(
                        "login-node-targets",
                        login.role.role_name(),
                    )
                },
            );
            if same_stack {
                props.cluster.hyperpod_cluster().add_depends_on(&parameter);
                props.cluster.hyperpod_cluster().add_depends_on(&policy);
            }
        }
        CfnOutput::new(
            &construct,
            "DnsName",
            OutputProps {
                description: Some("connect with ssh to this name through the VPN".into()),
                ..OutputProps::new(balancer.dns_name())
            },
        );
        LoginNodeLoadBalancer {
            construct,
            balancer,
        }
    }

    /// The load balancer's DNS name, for users' SSH configuration.
    pub fn dns_name(&self) -> Value<String> {
        self.balancer.dns_name()
    }
}

impl Scope for LoginNodeLoadBalancer {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

fn check_sources(node: &Node, sources: &[SshSource]) {
    if sources.is_empty() {
        node.report("no_ssh_sources", "no source may reach the login nodes; allow the Client VPN's security group or client range");
    }
    for source in sources {
        if let SshSource::Cidr(cidr) = source {
            match Cidr::parse(cidr) {
                Ok(parsed) if parsed.prefix() == 0 => node.report("ssh_open_to_the_world", format!("{cidr} would open SSH to everyone; allow the VPN's range or security group instead")),
                Ok(_) => {}
                Err(reason) => node.report("invalid_ssh_source", reason),
            }
        }
    }
}
