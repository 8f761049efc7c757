//! The network HyperPod runs in, placed by Availability Zone ID: per zone, a node subnet of
//! its own secondary CIDR block (routed through a NAT gateway in the same zone), a small
//! subnet for the EKS control plane and a public subnet for the NAT gateway; or an existing
//! network brought in.
//!
//! The layout follows AWS's own templates (`aws/sagemaker-hyperpod-cluster-setup`,
//! `eks/cloudformation/private-subnet-template.yaml`, and `awsome-distributed-training`'s
//! Terraform `modules/private_subnet`): node subnets by zone ID in secondary /16 blocks,
//! control-plane subnets tagged for internal load balancers.

use hyperpod_cfn::{ec2, logs};
use hyperpod_core::{
    CfnOutput, CfnResource, Construct, Node, OutputProps, Pseudo, Scope, Stack, Value, fns,
};
use hyperpod_iam::{
    Condition, ConditionOperator, PolicyDocument, Principal, Role, RoleProps, Statement,
};

use crate::cidr::Cidr;

/// The options of a new network.
#[derive(Clone, Debug)]
pub struct NetworkProps {
    /// The VPC's primary CIDR block, a /16 to /20 (default `10.192.0.0/16`). It holds the
    /// public and control-plane subnets: it is divided into eight, and zone `n` takes the
    /// first /24 of part `n` for its public subnet and the first /24 of that part's second
    /// half for its control-plane subnet (10.192.0.0/24 and 10.192.16.0/24 for the first
    /// zone, as AWS's quick-setup template lays them out).
    pub vpc_cidr: String,
    /// The Availability Zones by ID (such as `use1-az2`: IDs name the same zone in every
    /// account, names do not), 2 to 4 of them, in the stage's region. Put the zone where
    /// your HyperPod capacity is (a reservation or training plan) first: clusters place
    /// their instance groups there unless told otherwise. EKS needs two zones for its
    /// control plane.
    pub availability_zone_ids: Vec<String>,
    /// The secondary CIDR block of each zone's node subnet, in the order of the zones
    /// (default `10.1.0.0/16`, `10.2.0.0/16`, …). Every pod gets an address from it.
    pub node_cidrs: Vec<String>,
    /// Opens the FSx for Lustre ports (TCP 988 and 1018–1023) between members of the
    /// security group.
    pub fsx_lustre: bool,
}

impl NetworkProps {
    /// A network over the given Availability Zone IDs, with the default address plan.
    pub fn new(availability_zone_ids: &[&str]) -> NetworkProps {
        NetworkProps {
            vpc_cidr: "10.192.0.0/16".into(),
            availability_zone_ids: availability_zone_ids
                .iter()
                .map(|z| z.to_string())
                .collect(),
            node_cidrs: (1..=availability_zone_ids.len())
                .map(|n| format!("10.{n}.0.0/16"))
                .collect(),
            fsx_lustre: false,
        }
    }
}

/// A subnet in one Availability Zone.
#[derive(Clone, Debug)]
pub struct ZoneSubnet {
    /// The zone's ID, such as `use1-az2`.
    pub availability_zone_id: String,
    /// The subnet.
    pub subnet_id: Value<String>,
}

/// What the HyperPod constructs need of a network, whether created here or brought in.
#[derive(Clone, Debug)]
pub struct NetworkRefs {
    /// The VPC's id.
    pub vpc_id: Value<String>,
    /// The VPC's CIDR blocks, primary and secondary, for overlap and range checks.
    pub vpc_cidrs: Vec<String>,
    /// The subnets where nodes run, one per Availability Zone, each routed to the internet
    /// through a NAT gateway and to S3 through the gateway endpoint.
    pub node_subnets: Vec<ZoneSubnet>,
    /// The subnets of the EKS control plane, in at least two zones.
    pub control_plane_subnet_ids: Vec<Value<String>>,
    /// The HyperPod security group: all traffic between its members (EFA needs both
    /// directions).
    pub security_group_id: Value<String>,
    /// Whether the security group admits FSx for Lustre (TCP 988 and 1018–1023) between
    /// its members.
    pub fsx_lustre: bool,
    /// What must exist before a node starts: the node subnets' routes, NAT gateways and the
    /// S3 endpoint (lifecycle scripts download from S3 as the node starts). Empty for a
    /// network brought in.
    pub ready: Vec<CfnResource>,
    /// The S3 gateway endpoint of the node subnets, when known.
    pub s3_endpoint_id: Option<Value<String>>,
}

impl NetworkRefs {
    /// The node subnet in the zone `availability_zone_id`.
    pub fn node_subnet(&self, availability_zone_id: &str) -> Option<&Value<String>> {
        self.node_subnets
            .iter()
            .find(|subnet| subnet.availability_zone_id == availability_zone_id)
            .map(|subnet| &subnet.subnet_id)
    }

    /// Every node subnet, in the order of the zones.
    pub fn node_subnet_ids(&self) -> Vec<Value<String>> {
        self.node_subnets
            .iter()
            .map(|subnet| subnet.subnet_id.clone())
            .collect()
    }

    /// The zone of the first node subnet: where capacity is, by convention.
    pub fn primary_zone_id(&self) -> Option<&str> {
        self.node_subnets
            .first()
            .map(|subnet| subnet.availability_zone_id.as_str())
    }
}

/// An existing network to bring in.
#[derive(Clone, Debug)]
pub struct ExistingNetwork {
    /// The VPC's id (`vpc-…`).
    pub vpc_id: String,
    /// The VPC's CIDR blocks, primary and secondary.
    pub vpc_cidrs: Vec<String>,
    /// The node subnets (`subnet-…`), each with its Availability Zone ID, at most one per
    /// zone, routed to the internet and to S3.
    pub node_subnets: Vec<(String, String)>,
    /// At least two subnets in distinct zones for the EKS control plane (`subnet-…`).
    pub control_plane_subnet_ids: Vec<String>,
    /// A security group that admits all traffic from itself (`sg-…`).
    pub security_group_id: String,
    /// Whether that group admits FSx for Lustre (TCP 988 and 1018–1023) from itself.
    pub fsx_lustre: bool,
    /// The S3 gateway endpoint the node subnets route through (`vpce-…`), if there is one:
    /// data access can then be limited to requests that come through it.
    pub s3_endpoint_id: Option<String>,
}

/// The network for a HyperPod cluster.
///
/// ```
/// use hyperpod::{HyperPodNetwork, NetworkProps};
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
///
/// let app = App::new("demo");
/// let stage = Stage::new(&app, "a", Environment::new("111111111111", "us-east-1"));
/// let stack = Stack::new(&stage, "Network", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps {
///     fsx_lustre: true,
///     ..NetworkProps::new(&["use1-az2", "use1-az4"])
/// });
/// assert_eq!(network.refs().primary_zone_id(), Some("use1-az2"));
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct HyperPodNetwork {
    construct: Construct,
    refs: NetworkRefs,
}

impl HyperPodNetwork {
    /// Creates the VPC, per zone a public subnet with a NAT gateway, a node subnet in its
    /// own secondary CIDR block and a control-plane subnet, an S3 gateway endpoint and the
    /// HyperPod security group, with outputs naming them.
    pub fn new(scope: &impl Scope, id: &str, props: NetworkProps) -> HyperPodNetwork {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let region = Stack::of(&construct)
            .map(|stack| stack.stage().env().region)
            .unwrap_or_default();
        let (vpc_cidr, node_cidrs) = check_props(&node, &props, &region);
        let zones: Vec<&str> = props
            .availability_zone_ids
            .iter()
            .take(4)
            .map(String::as_str)
            .collect();

        let vpc = ec2::CfnVPC::new(
            &construct,
            "Vpc",
            ec2::VPCProps {
                cidr_block: Some(vpc_cidr.to_string().into()),
                enable_dns_hostnames: Some(true.into()),
                enable_dns_support: Some(true.into()),
                ..Default::default()
            },
        );
        let gateway = ec2::CfnInternetGateway::new(
            &construct,
            "InternetGateway",
            ec2::InternetGatewayProps::default(),
        );
        let attachment = ec2::CfnVPCGatewayAttachment::new(
            &construct,
            "GatewayAttachment",
            ec2::VPCGatewayAttachmentProps {
                internet_gateway_id: Some(gateway.ref_value()),
                ..ec2::VPCGatewayAttachmentProps::new(vpc.ref_value())
            },
        );
        let public_routes = ec2::CfnRouteTable::new(
            &construct,
            "PublicRoutes",
            ec2::RouteTableProps::new(vpc.ref_value()),
        );
        let internet_route = ec2::CfnRoute::new(
            &construct,
            "PublicDefaultRoute",
            ec2::RouteProps {
                destination_cidr_block: Some("0.0.0.0/0".into()),
                gateway_id: Some(gateway.ref_value()),
                ..ec2::RouteProps::new(public_routes.ref_value())
            },
        );
        internet_route.add_depends_on(&attachment);

        let mut node_subnets = Vec::new();
        let mut control_plane_subnet_ids = Vec::new();
        let mut node_route_tables = Vec::new();
        let mut ready: Vec<CfnResource> = Vec::new();
        let mut vpc_cidrs = vec![vpc_cidr.to_string()];
        for (index, zone) in zones.iter().enumerate() {
            let n = index + 1;
            let part = vpc_cidr
                .subnet(vpc_cidr.prefix() + 3, index as u32)
                .expect("a zone's eighth of the VPC");
            let subnet = |scope: &Construct, id: &str, cidr: String, tags: &[(&str, &str)]| {
                ec2::CfnSubnet::new(
                    scope,
                    id,
                    ec2::SubnetProps {
                        cidr_block: Some(cidr.into()),
                        availability_zone_id: Some((*zone).into()),
                        map_public_ip_on_launch: Some(false.into()),
                        tags: (!tags.is_empty()).then(|| {
                            tags.iter()
                                .map(|(key, value)| ec2::subnet::Tag::new(*key, *value))
                                .collect::<Vec<_>>()
                                .into()
                        }),
                        ..ec2::SubnetProps::new(vpc.ref_value())
                    },
                )
            };

            let public = subnet(
                &construct,
                &format!("Public{n}"),
                part.subnet(24, 0)
                    .expect("a /24 in the zone's part")
                    .to_string(),
                &[("kubernetes.io/role/elb", "1")],
            );
            ec2::CfnSubnetRouteTableAssociation::new(
                &construct,
                &format!("Public{n}Routes"),
                ec2::SubnetRouteTableAssociationProps::new(
                    public_routes.ref_value(),
                    public.ref_value(),
                ),
            );
            let address = ec2::CfnEIP::new(
                &construct,
                &format!("Nat{n}Address"),
                ec2::EIPProps {
                    domain: Some("vpc".into()),
                    ..Default::default()
                },
            );
            address.add_depends_on(&attachment);
            let nat = ec2::CfnNatGateway::new(
                &construct,
                &format!("Nat{n}"),
                ec2::NatGatewayProps {
                    allocation_id: Some(address.allocation_id()),
                    subnet_id: Some(public.ref_value()),
                    ..Default::default()
                },
            );
            // The NAT gateway's own route out must exist before anything relies on it.
            nat.add_depends_on(&internet_route);

            let control_plane = subnet(
                &construct,
                &format!("ControlPlane{n}"),
                part.subnet(vpc_cidr.prefix() + 4, 1)
                    .and_then(|half| half.subnet(24, 0))
                    .expect("a /24 in the second half of the zone's part")
                    .to_string(),
                &[("kubernetes.io/role/internal-elb", "1")],
            );
            control_plane_subnet_ids.push(control_plane.ref_value());

            let node_cidr = node_cidrs[index];
            vpc_cidrs.push(node_cidr.to_string());
            let block = ec2::CfnVPCCidrBlock::new(
                &construct,
                &format!("Nodes{n}Block"),
                ec2::VPCCidrBlockProps {
                    cidr_block: Some(node_cidr.to_string().into()),
                    ..ec2::VPCCidrBlockProps::new(vpc.ref_value())
                },
            );
            let nodes = subnet(&construct, &format!("Nodes{n}"), node_cidr.to_string(), &[]);
            nodes.add_depends_on(&block);
            let routes = ec2::CfnRouteTable::new(
                &construct,
                &format!("Nodes{n}Routes"),
                ec2::RouteTableProps::new(vpc.ref_value()),
            );
            let default_route = ec2::CfnRoute::new(
                &construct,
                &format!("Nodes{n}DefaultRoute"),
                ec2::RouteProps {
                    destination_cidr_block: Some("0.0.0.0/0".into()),
                    nat_gateway_id: Some(nat.ref_value()),
                    ..ec2::RouteProps::new(routes.ref_value())
                },
            );
            let association = ec2::CfnSubnetRouteTableAssociation::new(
                &construct,
                &format!("Nodes{n}RoutesAssociation"),
                ec2::SubnetRouteTableAssociationProps::new(routes.ref_value(), nodes.ref_value()),
            );
            ready.push((*default_route).clone());
            ready.push((*association).clone());
            node_route_tables.push(routes.ref_value());
            node_subnets.push(ZoneSubnet {
                availability_zone_id: zone.to_string(),
                subnet_id: nodes.ref_value(),
            });
        }
        let endpoint = ec2::CfnVPCEndpoint::new(
            &construct,
            "S3Endpoint",
            ec2::VPCEndpointProps {
                service_name: Some(fns::sub::<&str>("com.amazonaws.${AWS::Region}.s3", [])),
                vpc_endpoint_type: Some(ec2::vpc_endpoint::VpcEndpointType::Gateway.into()),
                route_table_ids: Some(Value::list(node_route_tables)),
                ..ec2::VPCEndpointProps::new(vpc.ref_value())
            },
        );
        ready.push((*endpoint).clone());
        let s3_endpoint = endpoint.ref_value();
        flow_logs(&construct, vpc.ref_value());
        let group = cluster_security_group(&construct, vpc.ref_value(), props.fsx_lustre);

        let output = |id: &str, description: &str, value: Value<String>| {
            CfnOutput::new(
                &construct,
                id,
                OutputProps {
                    description: Some(description.to_owned()),
                    ..OutputProps::new(value)
                },
            );
        };
        output("VpcId", "the VPC", vpc.ref_value());
        output(
            "NodeSubnetIds",
            "the node subnets, one per Availability Zone, in the order of the zones",
            fns::join(",", node_subnets.iter().map(|s| s.subnet_id.clone())),
        );
        output(
            "ControlPlaneSubnetIds",
            "the subnets of the EKS control plane",
            fns::join(",", control_plane_subnet_ids.iter().cloned()),
        );
        output(
            "SecurityGroupId",
            "the HyperPod security group",
            group.clone(),
        );
        HyperPodNetwork {
            construct,
            refs: NetworkRefs {
                vpc_id: vpc.ref_value(),
                vpc_cidrs,
                node_subnets,
                control_plane_subnet_ids,
                security_group_id: group,
                fsx_lustre: props.fsx_lustre,
                ready,
                s3_endpoint_id: Some(s3_endpoint),
            },
        }
    }

    /// Brings in an existing VPC, subnets and security group; their ids are checked.
    pub fn existing(scope: &impl Scope, id: &str, network: ExistingNetwork) -> HyperPodNetwork {
        let construct = Construct::new(scope, id);
        let node = construct.node();
        let region = Stack::of(&construct)
            .map(|stack| stack.stage().env().region)
            .unwrap_or_default();
        let check = |value: &str, prefix: &str, what: &str| {
            let ok = value.strip_prefix(prefix).is_some_and(|rest| {
                (8..=17).contains(&rest.len()) && rest.chars().all(|c| c.is_ascii_hexdigit())
            });
            if !ok {
                node.report("invalid_resource_id", format!("{what} `{value}` is not an id of the form `{prefix}0123456789abcdef0`; copy the id from the console"));
            }
        };
        check(&network.vpc_id, "vpc-", "VPC id");
        check(&network.security_group_id, "sg-", "security group id");
        let mut zones = std::collections::HashSet::new();
        for (zone, subnet) in &network.node_subnets {
            check(subnet, "subnet-", "subnet id");
            if let Err(reason) = crate::regions::check_zone_id(zone, &region) {
                node.report("invalid_availability_zone_id", reason);
            }
            if !zones.insert(zone) {
                node.report(
                    "duplicate_availability_zone",
                    format!(
                        "two node subnets are in `{zone}`; give at most one node subnet per zone"
                    ),
                );
            }
        }
        if network.node_subnets.is_empty() {
            node.report(
                "no_node_subnets",
                "give at least one node subnet with its Availability Zone ID",
            );
        }
        for subnet in &network.control_plane_subnet_ids {
            check(subnet, "subnet-", "subnet id");
        }
        if let Some(endpoint) = &network.s3_endpoint_id {
            check(endpoint, "vpce-", "VPC endpoint id");
        }
        if network.control_plane_subnet_ids.len() < 2 {
            node.report(
                "too_few_subnets",
                "give at least two control-plane subnets in distinct Availability Zones; EKS needs two",
            );
        }
        if network.vpc_cidrs.is_empty() {
            node.report("missing_vpc_cidr", "give the VPC's CIDR blocks; they are needed to check Client VPN and load balancer ranges");
        }
        for cidr in &network.vpc_cidrs {
            if let Err(reason) = Cidr::parse(cidr) {
                node.report("invalid_vpc_cidr", reason);
            }
        }
        HyperPodNetwork {
            construct,
            refs: NetworkRefs {
                vpc_id: network.vpc_id.into(),
                vpc_cidrs: network.vpc_cidrs,
                node_subnets: network
                    .node_subnets
                    .into_iter()
                    .map(|(zone, subnet)| ZoneSubnet {
                        availability_zone_id: zone,
                        subnet_id: subnet.into(),
                    })
                    .collect(),
                control_plane_subnet_ids: network
                    .control_plane_subnet_ids
                    .into_iter()
                    .map(Value::from)
                    .collect(),
                security_group_id: network.security_group_id.into(),
                fsx_lustre: network.fsx_lustre,
                ready: Vec::new(),
                s3_endpoint_id: network.s3_endpoint_id.map(Value::from),
            },
        }
    }

    /// What the other constructs need of the network.
    pub fn refs(&self) -> &NetworkRefs {
        &self.refs
    }
}

impl Scope for HyperPodNetwork {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

/// Flow logs of every interface of the VPC, accepted and rejected, to a log group kept a
/// year and retained: the network's audit trail (who reached the login nodes, what left
/// through the NAT gateways).
fn flow_logs(scope: &Construct, vpc_id: Value<String>) {
    let group = logs::CfnLogGroup::new(
        scope,
        "FlowLogs",
        logs::LogGroupProps {
            retention_in_days: Some(365.into()),
            ..Default::default()
        },
    );
    group.retain_on_delete_and_replace();
    group.node().suppress(
        "LOG_GROUP_KMS",
        "flow records hold addresses, ports and byte counts, no payloads; CloudWatch Logs encrypts them at rest with its own keys",
    );
    let role = Role::new(
        scope,
        "FlowLogsRole",
        RoleProps {
            description: Some("delivers the VPC's flow logs".into()),
            inline_policies: vec![(
                "deliver-flow-logs".into(),
                PolicyDocument::new([Statement::allow()
                    .sid("DeliverFlowLogs")
                    .actions([
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ])
                    .resources([group.arn(), fns::join("", [group.arn(), ":*".into()])])]),
            )],
            ..RoleProps::new(PolicyDocument::new([Statement::allow()
                .principal(Principal::service("vpc-flow-logs.amazonaws.com"))
                .action("sts:AssumeRole")
                .condition(Condition::new(
                    ConditionOperator::StringEquals,
                    "aws:SourceAccount",
                    [Pseudo::AccountId.value()],
                ))]))
        },
    );
    ec2::CfnFlowLog::new(
        scope,
        "FlowLog",
        ec2::FlowLogProps {
            traffic_type: Some(ec2::flow_log::TrafficType::All.into()),
            log_destination_type: Some(ec2::flow_log::LogDestinationType::CloudWatchLogs.into()),
            log_group_name: Some(group.ref_value()),
            deliver_logs_permission_arn: Some(role.arn()),
            ..ec2::FlowLogProps::new(vpc_id, ec2::flow_log::ResourceType::Vpc)
        },
    );
}

/// Checks the props and returns the VPC's block and the node blocks (defaults where a
/// value is unusable, so that construction goes on and every problem is reported).
fn check_props(node: &Node, props: &NetworkProps, region: &str) -> (Cidr, Vec<Cidr>) {
    let fallback = Cidr::parse("10.192.0.0/16").expect("a valid block");
    let vpc_cidr = match Cidr::parse(&props.vpc_cidr) {
        Ok(cidr) if (16..=20).contains(&cidr.prefix()) => cidr,
        Ok(cidr) => {
            node.report("invalid_vpc_cidr", format!("VPC CIDR {cidr} is outside /16 to /20; the public and control-plane subnets need room, so use a /16 to /20"));
            fallback
        }
        Err(reason) => {
            node.report("invalid_vpc_cidr", reason);
            fallback
        }
    };
    let zones = &props.availability_zone_ids;
    if !(2..=4).contains(&zones.len()) {
        node.report("invalid_availability_zone_count", format!("{} Availability Zone IDs were given; give 2 to 4 (EKS's control plane needs two), the zone of your HyperPod capacity first", zones.len()));
    }
    let mut seen = std::collections::HashSet::new();
    for zone in zones {
        if let Err(reason) = crate::regions::check_zone_id(zone, region) {
            node.report("invalid_availability_zone_id", reason);
        }
        if !seen.insert(zone) {
            node.report(
                "duplicate_availability_zone",
                format!("Availability Zone `{zone}` is named twice; name distinct zones"),
            );
        }
    }
    if props.node_cidrs.len() < zones.len().min(4) {
        node.report("missing_node_cidr", format!("{} zones but {} node CIDR blocks were given; give one secondary block per zone, such as `10.1.0.0/16`", zones.len(), props.node_cidrs.len()));
    }
    let mut blocks: Vec<Cidr> = vec![vpc_cidr];
    let mut node_cidrs = Vec::new();
    for (index, text) in props.node_cidrs.iter().enumerate().take(zones.len().min(4)) {
        let default = Cidr::parse(&format!("10.{}.0.0/16", index + 1)).expect("a valid block");
        let cidr = match Cidr::parse(text) {
            Ok(cidr) if (16..=24).contains(&cidr.prefix()) => cidr,
            Ok(cidr) => {
                node.report("invalid_node_cidr", format!("node CIDR {cidr} is outside /16 to /24, the sizes a VPC's secondary block can have; every pod takes an address from it, so prefer a /16"));
                default
            }
            Err(reason) => {
                node.report("invalid_node_cidr", reason);
                default
            }
        };
        if let Some(other) = blocks.iter().find(|other| other.overlaps(cidr)) {
            node.report("overlapping_node_cidr", format!("node CIDR {cidr} overlaps {other}; give every zone a block of its own outside the VPC's primary block"));
        }
        blocks.push(cidr);
        node_cidrs.push(cidr);
    }
    while node_cidrs.len() < zones.len().min(4) {
        node_cidrs.push(
            Cidr::parse(&format!("10.{}.0.0/16", node_cidrs.len() + 1)).expect("a valid block"),
        );
    }
    (vpc_cidr, node_cidrs)
}

/// The HyperPod security group: all traffic from and to its own members, egress to
/// anywhere, and the FSx for Lustre ports when asked.
fn cluster_security_group(
    scope: &Construct,
    vpc_id: Value<String>,
    fsx_lustre: bool,
) -> Value<String> {
    let group = ec2::CfnSecurityGroup::new(
        scope,
        "SecurityGroup",
        ec2::SecurityGroupProps {
            vpc_id: Some(vpc_id),
            security_group_egress: Some(
                vec![ec2::security_group::Egress {
                    cidr_ip: Some("0.0.0.0/0".into()),
                    description: Some("all outbound traffic".into()),
                    ..ec2::security_group::Egress::new("-1")
                }]
                .into(),
            ),
            ..ec2::SecurityGroupProps::new(
                "HyperPod nodes: all traffic between members, as EFA needs",
            )
        },
    );
    let id = group.group_id();
    ec2::CfnSecurityGroupIngress::new(
        scope,
        "IngressFromSelf",
        ec2::SecurityGroupIngressProps {
            group_id: Some(id.clone()),
            source_security_group_id: Some(id.clone()),
            description: Some("all traffic from members".into()),
            ..ec2::SecurityGroupIngressProps::new("-1")
        },
    );
    ec2::CfnSecurityGroupEgress::new(
        scope,
        "EgressToSelf",
        ec2::SecurityGroupEgressProps {
            destination_security_group_id: Some(id.clone()),
            description: Some("all traffic to members".into()),
            ..ec2::SecurityGroupEgressProps::new(id.clone(), "-1")
        },
    );
    if fsx_lustre {
        for (name, from, to) in [("Lustre988", 988, 988), ("Lustre1018", 1018, 1023)] {
            ec2::CfnSecurityGroupIngress::new(
                scope,
                &format!("Ingress{name}"),
                ec2::SecurityGroupIngressProps {
                    group_id: Some(id.clone()),
                    source_security_group_id: Some(id.clone()),
                    from_port: Some(from.into()),
                    to_port: Some(to.into()),
                    description: Some("FSx for Lustre between members".into()),
                    ..ec2::SecurityGroupIngressProps::new("tcp")
                },
            );
        }
    }
    id
}
