//! An internal Network Load Balancer in front of a Slurm cluster's login nodes.

use hyperpod_cfn::{ec2, elbv2, secretsmanager};
use hyperpod_core::{CfnOutput, Construct, Node, OutputProps, Scope, Value};
use hyperpod_iam::{PolicyDocument, Statement};

use crate::cidr::{Cidr, parse_address};
use crate::network::NetworkRefs;

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
    /// The cluster's network; the load balancer goes into its private subnets.
    pub network: NetworkRefs,
    /// The private IPv4 addresses of the login nodes (they change when HyperPod replaces a
    /// node: update them then).
    pub login_node_addresses: Vec<String>,
    /// Who may connect; SSH from anywhere is refused.
    pub allowed_sources: Vec<SshSource>,
    /// Shares one set of SSH host keys between the login nodes through a Secrets Manager
    /// secret that the nodes' lifecycle scripts read (and the first node fills), so users
    /// do not see "REMOTE HOST IDENTIFICATION HAS CHANGED" when the balancer picks another
    /// node. Give the name of the nodes' execution role.
    pub shared_host_keys_for_role: Option<Value<String>>,
}

/// An internal Network Load Balancer in the private subnets, forwarding TCP 22 to the
/// login nodes' addresses (target type `ip`, TCP health checks), with a security group
/// that admits SSH only from the given sources, and an SSH rule on the cluster's group from
/// the balancer.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let stack = Stack::new(&a, "Access", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::default());
/// let balancer = LoginNodeLoadBalancer::new(&stack, "LoginNodes", LoginNodeLoadBalancerProps {
///     network: network.refs().clone(),
///     login_node_addresses: vec!["10.192.0.10".into(), "10.192.64.10".into()],
///     allowed_sources: vec![SshSource::Cidr("10.100.0.0/22".into())],
///     shared_host_keys_for_role: None,
/// });
/// let _ssh_to = balancer.dns_name();
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct LoginNodeLoadBalancer {
    construct: Construct,
    balancer: elbv2::CfnLoadBalancer,
    host_keys: Option<secretsmanager::CfnSecret>,
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
        let vpc_cidrs: Vec<Cidr> = props
            .network
            .vpc_cidrs
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect();
        let targets = check_targets(&node, &props.login_node_addresses, &vpc_cidrs);
        check_sources(&node, &props.allowed_sources);

        let group = ec2::CfnSecurityGroup::new(
            &construct,
            "SecurityGroup",
            ec2::SecurityGroupProps {
                vpc_id: Some(props.network.vpc_id.clone()),
                security_group_egress: Some(
                    props
                        .network
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
                group_id: Some(props.network.security_group_id.clone()),
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
                subnets: Some(Value::list(
                    props.network.private_subnet_ids.iter().cloned(),
                )),
                // Security groups can only be given when a network load balancer is created.
                security_groups: Some(Value::list([group.group_id()])),
                ..Default::default()
            },
        );
        let target_group = elbv2::CfnTargetGroup::new(
            &construct,
            "LoginNodes",
            elbv2::TargetGroupProps {
                target_type: Some(elbv2::target_group::TargetType::Ip.into()),
                protocol: Some(elbv2::target_group::Protocol::Tcp.into()),
                port: Some(22.into()),
                vpc_id: Some(props.network.vpc_id.clone()),
                health_check_protocol: Some(elbv2::target_group::HealthCheckProtocol::Tcp.into()),
                health_check_port: Some("22".into()),
                healthy_threshold_count: Some(3.into()),
                unhealthy_threshold_count: Some(3.into()),
                health_check_interval_seconds: Some(10.into()),
                targets: Some(Value::list(targets.into_iter().map(
                    |(address, outside_vpc)| {
                        elbv2::target_group::TargetDescription {
                            port: Some(22.into()),
                            // An address outside the VPC's ranges must name all zones.
                            availability_zone: outside_vpc.then(|| "all".into()),
                            ..elbv2::target_group::TargetDescription::new(address)
                        }
                        .into()
                    },
                ))),
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

        let host_keys = props.shared_host_keys_for_role.as_ref().map(|role_name| {
            let secret = secretsmanager::CfnSecret::new(&construct, "HostKeys", secretsmanager::SecretProps { description: Some("SSH host keys shared by the login nodes; the first login node stores them".into()), ..Default::default() });
            secret.retain_on_delete_and_replace();
            hyperpod_cfn::iam::CfnRolePolicy::new(
                &construct,
                "HostKeysAccess",
                hyperpod_cfn::iam::RolePolicyProps {
                    policy_document: Some(PolicyDocument::new([Statement::allow().actions(["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]).resource(secret.ref_value())]).into()),
                    ..hyperpod_cfn::iam::RolePolicyProps::new("login-host-keys", role_name.clone())
                },
            );
            CfnOutput::new(&construct, "HostKeysSecret", OutputProps { description: Some("the secret the login nodes' lifecycle scripts read their SSH host keys from".into()), ..OutputProps::new(secret.ref_value()) });
            secret
        });
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
            host_keys,
        }
    }

    /// The load balancer's DNS name, for users' SSH configuration.
    pub fn dns_name(&self) -> Value<String> {
        self.balancer.dns_name()
    }

    /// The secret holding the shared host keys, when asked for.
    pub fn host_keys_secret(&self) -> Option<Value<String>> {
        self.host_keys.as_ref().map(|secret| secret.ref_value())
    }
}

impl Scope for LoginNodeLoadBalancer {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

/// The private ranges a load balancer accepts as `ip` targets (RFC 1918 and RFC 6598).
const PRIVATE_RANGES: &[&str] = &[
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
];

fn check_targets(node: &Node, addresses: &[String], vpc_cidrs: &[Cidr]) -> Vec<(String, bool)> {
    if addresses.is_empty() {
        node.report(
            "no_login_nodes",
            "give the addresses of the login nodes; the target group would be empty",
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for address in addresses {
        if !seen.insert(address) {
            node.report(
                "duplicate_login_node",
                format!("login node address {address} is given twice; list each once"),
            );
            continue;
        }
        let Some(parsed) = parse_address(address) else {
            node.report(
                "invalid_login_node_address",
                format!(
                    "`{address}` is not an IPv4 address; give the login node's private address"
                ),
            );
            continue;
        };
        let in_vpc = vpc_cidrs.iter().any(|cidr| cidr.contains(parsed));
        let private = PRIVATE_RANGES
            .iter()
            .any(|range| Cidr::parse(range).expect("a valid range").contains(parsed));
        if !in_vpc && !private {
            node.report("public_login_node_address", format!("{address} is neither in the VPC nor in a private range; a load balancer only forwards to private addresses, so give the node's private address"));
            continue;
        }
        out.push((address.clone(), !in_vpc));
    }
    out
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
