//! The network HyperPod runs in: a VPC over at least two availability zones, or an
//! existing one brought in.

use hyperpod_cfn::ec2;
use hyperpod_core::{Construct, Node, Scope, Value, fns};

use crate::cidr::Cidr;

/// The options of a new network. `NetworkProps::default()` gives the reference layout:
/// `10.192.0.0/16` over two availability zones, without FSx for Lustre.
#[derive(Clone, Debug)]
pub struct NetworkProps {
    /// The VPC's CIDR block, a /16 to /20 (default `10.192.0.0/16`). Each availability zone
    /// gets a private subnet of a quarter of it and a public /24-equivalent from the last
    /// quarter.
    pub vpc_cidr: String,
    /// How many availability zones to span, 2 or 3 (default 2), picked in order from the
    /// region's list; or name them with `availability_zones`.
    pub availability_zone_count: u32,
    /// The availability zones by name (such as `us-east-1a`), where HyperPod capacity was
    /// reserved; overrides `availability_zone_count`.
    pub availability_zones: Vec<String>,
    /// Opens the FSx for Lustre ports (TCP 988 and 1018–1023) between members of the
    /// security group.
    pub fsx_lustre: bool,
}

impl Default for NetworkProps {
    fn default() -> Self {
        NetworkProps {
            vpc_cidr: "10.192.0.0/16".into(),
            availability_zone_count: 2,
            availability_zones: Vec::new(),
            fsx_lustre: false,
        }
    }
}

/// What the HyperPod constructs need of a network, whether created here or brought in.
#[derive(Clone, Debug)]
pub struct NetworkRefs {
    /// The VPC's id.
    pub vpc_id: Value<String>,
    /// The VPC's CIDR blocks, for overlap and range checks.
    pub vpc_cidrs: Vec<String>,
    /// The private subnets, one per availability zone, where nodes run.
    pub private_subnet_ids: Vec<Value<String>>,
    /// The availability zone of each private subnet, in the same order.
    pub private_subnet_zones: Vec<Value<String>>,
    /// The HyperPod security group: all traffic between its members (EFA needs both
    /// directions).
    pub security_group_id: Value<String>,
}

/// An existing network to bring in.
#[derive(Clone, Debug)]
pub struct ExistingNetwork {
    /// The VPC's id (`vpc-…`).
    pub vpc_id: String,
    /// The VPC's CIDR blocks, primary and secondary.
    pub vpc_cidrs: Vec<String>,
    /// At least two private subnets in distinct availability zones (`subnet-…`).
    pub private_subnet_ids: Vec<String>,
    /// The availability zone of each private subnet, in the same order.
    pub private_subnet_zones: Vec<String>,
    /// A security group that admits all traffic from itself (`sg-…`).
    pub security_group_id: String,
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
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps { fsx_lustre: true, ..NetworkProps::default() });
/// assert_eq!(network.refs().private_subnet_ids.len(), 2);
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct HyperPodNetwork {
    construct: Construct,
    refs: NetworkRefs,
}

impl HyperPodNetwork {
    /// Creates a VPC with public subnets and NAT gateways, private subnets, an S3 gateway
    /// endpoint and the HyperPod security group.
    pub fn new(scope: &impl Scope, id: &str, props: NetworkProps) -> HyperPodNetwork {
        let construct = Construct::new(scope, id);
        let node = construct.node().clone();
        let vpc_cidr = match Cidr::parse(&props.vpc_cidr) {
            Ok(cidr) if (16..=20).contains(&cidr.prefix()) => cidr,
            Ok(cidr) => {
                node.report("invalid_vpc_cidr", format!("VPC CIDR {cidr} is outside /16 to /20; HyperPod nodes need room, so use a /16 to /20"));
                Cidr::parse("10.192.0.0/16").expect("a valid block")
            }
            Err(reason) => {
                node.report("invalid_vpc_cidr", reason);
                Cidr::parse("10.192.0.0/16").expect("a valid block")
            }
        };
        let zones: Vec<Value<String>> = if props.availability_zones.is_empty() {
            if !(2..=3).contains(&props.availability_zone_count) {
                node.report("invalid_availability_zone_count", format!("availability_zone_count is {}; HyperPod's EKS control plane needs 2 and this layout fits 3, so choose 2 or 3", props.availability_zone_count));
            }
            (0..props.availability_zone_count.clamp(2, 3))
                .map(|i| fns::select(i, fns::get_azs(None)))
                .collect()
        } else {
            if !(2..=3).contains(&props.availability_zones.len()) {
                node.report(
                    "invalid_availability_zone_count",
                    format!(
                        "{} availability zones were named; name 2 or 3",
                        props.availability_zones.len()
                    ),
                );
            }
            let mut seen = std::collections::HashSet::new();
            for zone in &props.availability_zones {
                if !is_zone_name(zone) {
                    node.report("invalid_availability_zone", format!("`{zone}` is not an availability zone name; use names such as `us-east-1a`"));
                }
                if !seen.insert(zone) {
                    node.report(
                        "duplicate_availability_zone",
                        format!("availability zone `{zone}` is named twice; name distinct zones"),
                    );
                }
            }
            props
                .availability_zones
                .iter()
                .take(3)
                .map(Value::from)
                .collect()
        };

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

        let private_prefix = vpc_cidr.prefix() + 2;
        let public_prefix = vpc_cidr.prefix() + 8;
        let public_base = vpc_cidr
            .subnet(private_prefix, 3)
            .expect("a quarter of the VPC");
        let mut private_subnet_ids = Vec::new();
        let mut private_route_tables = Vec::new();
        for (index, zone) in zones.iter().enumerate() {
            let n = index + 1;
            let public = ec2::CfnSubnet::new(
                &construct,
                &format!("Public{n}"),
                ec2::SubnetProps {
                    cidr_block: Some(
                        public_base
                            .subnet(public_prefix, index as u32)
                            .expect("fits in the last quarter")
                            .to_string()
                            .into(),
                    ),
                    availability_zone: Some(zone.clone()),
                    map_public_ip_on_launch: Some(false.into()),
                    ..ec2::SubnetProps::new(vpc.ref_value())
                },
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
            let private = ec2::CfnSubnet::new(
                &construct,
                &format!("Private{n}"),
                ec2::SubnetProps {
                    cidr_block: Some(
                        vpc_cidr
                            .subnet(private_prefix, index as u32)
                            .expect("a quarter of the VPC")
                            .to_string()
                            .into(),
                    ),
                    availability_zone: Some(zone.clone()),
                    ..ec2::SubnetProps::new(vpc.ref_value())
                },
            );
            let routes = ec2::CfnRouteTable::new(
                &construct,
                &format!("Private{n}Routes"),
                ec2::RouteTableProps::new(vpc.ref_value()),
            );
            ec2::CfnRoute::new(
                &construct,
                &format!("Private{n}DefaultRoute"),
                ec2::RouteProps {
                    destination_cidr_block: Some("0.0.0.0/0".into()),
                    nat_gateway_id: Some(nat.ref_value()),
                    ..ec2::RouteProps::new(routes.ref_value())
                },
            );
            ec2::CfnSubnetRouteTableAssociation::new(
                &construct,
                &format!("Private{n}RoutesAssociation"),
                ec2::SubnetRouteTableAssociationProps::new(routes.ref_value(), private.ref_value()),
            );
            private_subnet_ids.push(private.ref_value());
            private_route_tables.push(routes.ref_value());
        }
        ec2::CfnVPCEndpoint::new(
            &construct,
            "S3Endpoint",
            ec2::VPCEndpointProps {
                service_name: Some(fns::sub::<&str>("com.amazonaws.${AWS::Region}.s3", [])),
                vpc_endpoint_type: Some(ec2::vpc_endpoint::VpcEndpointType::Gateway.into()),
                route_table_ids: Some(Value::list(private_route_tables)),
                ..ec2::VPCEndpointProps::new(vpc.ref_value())
            },
        );
        let group = cluster_security_group(&construct, vpc.ref_value(), props.fsx_lustre);
        HyperPodNetwork {
            construct,
            refs: NetworkRefs {
                vpc_id: vpc.ref_value(),
                vpc_cidrs: vec![vpc_cidr.to_string()],
                private_subnet_ids,
                private_subnet_zones: zones,
                security_group_id: group,
            },
        }
    }

    /// Brings in an existing VPC, subnets and security group; their ids are checked.
    pub fn existing(scope: &impl Scope, id: &str, network: ExistingNetwork) -> HyperPodNetwork {
        let construct = Construct::new(scope, id);
        let node = construct.node();
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
        for subnet in &network.private_subnet_ids {
            check(subnet, "subnet-", "subnet id");
        }
        if network.private_subnet_ids.len() < 2 {
            node.report(
                "too_few_subnets",
                "give at least two private subnets in distinct availability zones; EKS needs two",
            );
        }
        if network.private_subnet_zones.len() != network.private_subnet_ids.len() {
            node.report("subnet_zones_mismatch", format!("{} subnets but {} availability zones were given; give the zone of each subnet, in the same order", network.private_subnet_ids.len(), network.private_subnet_zones.len()));
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
                private_subnet_ids: network
                    .private_subnet_ids
                    .into_iter()
                    .map(Value::from)
                    .collect(),
                private_subnet_zones: network
                    .private_subnet_zones
                    .into_iter()
                    .map(Value::from)
                    .collect(),
                security_group_id: network.security_group_id.into(),
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

fn is_zone_name(zone: &str) -> bool {
    let mut chars = zone.chars();
    zone.len() >= 10
        && chars.next_back().is_some_and(|c| c.is_ascii_lowercase())
        && zone[..zone.len() - 1].ends_with(|c: char| c.is_ascii_digit())
        && zone.contains('-')
}
