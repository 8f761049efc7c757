//! AWS Client VPN into the cluster's VPC, with mutual TLS.

use hyperpod_cfn::{ec2, logs};
use hyperpod_core::{CfnOutput, Construct, Node, OutputProps, Scope, Value};

use crate::cidr::Cidr;
use crate::network::NetworkRefs;

/// The retention periods CloudWatch Logs accepts, in days.
pub const LOG_RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The options of a [`ClientVpnAccess`].
#[derive(Clone, Debug)]
pub struct ClientVpnAccessProps {
    /// The network to reach.
    pub network: NetworkRefs,
    /// The range client addresses come from: a /12 to /22 that overlaps neither the VPC nor
    /// `additional_routes`. It cannot be changed later.
    pub client_cidr: String,
    /// The ACM certificate of the server (same region).
    pub server_certificate_arn: String,
    /// The ACM certificate of the CA that signed the clients' certificates.
    pub client_root_certificate_arn: String,
    /// Sends only the VPC's traffic through the VPN (default on).
    pub split_tunnel: bool,
    /// How long connection logs are kept, in days (default 90).
    pub log_retention_days: u32,
    /// Further destinations reached through the VPC (the VPC's own range is routed by each
    /// association): a route is added per association.
    pub additional_routes: Vec<String>,
}

impl ClientVpnAccessProps {
    /// Split-tunnel access with logs kept 90 days.
    pub fn new(
        network: NetworkRefs,
        client_cidr: &str,
        server_certificate_arn: &str,
        client_root_certificate_arn: &str,
    ) -> ClientVpnAccessProps {
        ClientVpnAccessProps {
            network,
            client_cidr: client_cidr.to_owned(),
            server_certificate_arn: server_certificate_arn.to_owned(),
            client_root_certificate_arn: client_root_certificate_arn.to_owned(),
            split_tunnel: true,
            log_retention_days: 90,
            additional_routes: Vec::new(),
        }
    }
}

/// A Client VPN endpoint with mutual TLS, connection logging to a log group of its own, a
/// security group, one association per node subnet (made one after another, as the
/// service prefers), an authorization rule for each VPC range, and routes, each after its
/// association, for the VPC's secondary blocks (an association routes only the primary)
/// and the additional destinations.
///
/// ```
/// use hyperpod::*;
/// use hyperpod_core::{App, Environment, Stack, StackProps, Stage};
/// let app = App::new("demo");
/// let a = Stage::new(&app, "cluster", Environment::new("111111111111", "us-east-1"));
/// let stack = Stack::new(&a, "Access", StackProps::default());
/// let network = HyperPodNetwork::new(&stack, "Network", NetworkProps::new(&["use1-az2", "use1-az4"]));
/// let vpn = ClientVpnAccess::new(&stack, "Vpn", ClientVpnAccessProps::new(
///     network.refs().clone(),
///     "10.100.0.0/22",
///     "arn:aws:acm:us-east-1:111111111111:certificate/11111111-2222-3333-4444-555555555555",
///     "arn:aws:acm:us-east-1:111111111111:certificate/66666666-7777-8888-9999-000000000000",
/// ));
/// let _allow_in_other_groups = vpn.security_group_id();
/// assert!(app.synth().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct ClientVpnAccess {
    construct: Construct,
    security_group_id: Value<String>,
    endpoint: ec2::CfnClientVpnEndpoint,
}

impl ClientVpnAccess {
    /// Creates the endpoint and what it needs.
    pub fn new(scope: &impl Scope, id: &str, props: ClientVpnAccessProps) -> ClientVpnAccess {
        let construct = Construct::new(scope, id);
        check_props(construct.node(), &props);
        let log_group = logs::CfnLogGroup::new(
            &construct,
            "ConnectionLogs",
            logs::LogGroupProps {
                retention_in_days: Some(i64::from(props.log_retention_days).into()),
                ..Default::default()
            },
        );
        // Who connected, and when: an audit trail that outlives the endpoint.
        log_group.retain_on_delete_and_replace();
        log_group.node().suppress(
            "LOG_GROUP_KMS",
            "connection records (certificate names, addresses, times), no traffic; CloudWatch Logs encrypts them at rest with its own keys",
        );
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
                        .chain(props.additional_routes.iter())
                        .map(|cidr| ec2::security_group::Egress {
                            cidr_ip: Some(cidr.as_str().into()),
                            description: Some("client traffic into the network".into()),
                            ..ec2::security_group::Egress::new("-1")
                        })
                        .collect::<Vec<_>>()
                        .into(),
                ),
                ..ec2::SecurityGroupProps::new(
                    "Client VPN: client traffic into the cluster network",
                )
            },
        );
        use ec2::client_vpn_endpoint::{
            CertificateAuthenticationRequest, ClientAuthenticationRequest, ConnectionLogOptions,
        };
        let endpoint = ec2::CfnClientVpnEndpoint::new(
            &construct,
            "Endpoint",
            ec2::ClientVpnEndpointProps {
                client_cidr_block: Some(props.client_cidr.as_str().into()),
                split_tunnel: Some(props.split_tunnel.into()),
                vpc_id: Some(props.network.vpc_id.clone()),
                security_group_ids: Some(Value::list([group.group_id()])),
                description: Some("access to the HyperPod cluster".into()),
                ..ec2::ClientVpnEndpointProps::new(
                    vec![ClientAuthenticationRequest {
                        mutual_authentication: Some(
                            CertificateAuthenticationRequest::new(
                                props.client_root_certificate_arn.as_str(),
                            )
                            .into(),
                        ),
                        ..ClientAuthenticationRequest::new("certificate-authentication")
                    }],
                    ConnectionLogOptions {
                        cloudwatch_log_group: Some(log_group.ref_value()),
                        ..ConnectionLogOptions::new(true)
                    },
                    props.server_certificate_arn.as_str(),
                )
            },
        );
        let mut previous: Option<ec2::CfnClientVpnTargetNetworkAssociation> = None;
        let mut associations = Vec::new();
        for (index, subnet) in props.network.node_subnet_ids().iter().enumerate() {
            let association = ec2::CfnClientVpnTargetNetworkAssociation::new(
                &construct,
                &format!("Association{}", index + 1),
                ec2::ClientVpnTargetNetworkAssociationProps {
                    subnet_id: Some(subnet.clone()),
                    ..ec2::ClientVpnTargetNetworkAssociationProps::new(endpoint.ref_value())
                },
            );
            // Associations are slow and clash when made together: one after another.
            if let Some(previous) = &previous {
                association.add_depends_on(previous);
            }
            previous = Some(association.clone());
            associations.push((subnet.clone(), association));
        }
        for (index, cidr) in props.network.vpc_cidrs.iter().enumerate() {
            ec2::CfnClientVpnAuthorizationRule::new(
                &construct,
                &format!("AuthorizeVpc{}", index + 1),
                ec2::ClientVpnAuthorizationRuleProps {
                    // Mutual TLS has no groups to authorize.
                    authorize_all_groups: Some(true.into()),
                    description: Some("the cluster's network".into()),
                    ..ec2::ClientVpnAuthorizationRuleProps::new(endpoint.ref_value(), cidr.as_str())
                },
            );
        }
        // An association routes the VPC's primary block only; its secondary blocks (where
        // HyperPod's nodes and the login-node load balancer are) need routes of their own.
        for (route_index, cidr) in props.network.vpc_cidrs.iter().enumerate().skip(1) {
            for (association_index, (subnet, association)) in associations.iter().enumerate() {
                let route = ec2::CfnClientVpnRoute::new(
                    &construct,
                    &format!("VpcBlock{}Via{}", route_index + 1, association_index + 1),
                    ec2::ClientVpnRouteProps {
                        target_vpc_subnet_id: Some(subnet.clone()),
                        description: Some("a secondary block of the cluster's VPC".into()),
                        ..ec2::ClientVpnRouteProps::new(endpoint.ref_value(), cidr.as_str())
                    },
                );
                route.add_depends_on(association);
            }
        }
        for (route_index, cidr) in props.additional_routes.iter().enumerate() {
            ec2::CfnClientVpnAuthorizationRule::new(
                &construct,
                &format!("AuthorizeRoute{}", route_index + 1),
                ec2::ClientVpnAuthorizationRuleProps {
                    authorize_all_groups: Some(true.into()),
                    ..ec2::ClientVpnAuthorizationRuleProps::new(endpoint.ref_value(), cidr.as_str())
                },
            );
            for (association_index, (subnet, association)) in associations.iter().enumerate() {
                let route = ec2::CfnClientVpnRoute::new(
                    &construct,
                    &format!("Route{}Via{}", route_index + 1, association_index + 1),
                    ec2::ClientVpnRouteProps {
                        target_vpc_subnet_id: Some(subnet.clone()),
                        ..ec2::ClientVpnRouteProps::new(endpoint.ref_value(), cidr.as_str())
                    },
                );
                route.add_depends_on(association);
            }
        }
        CfnOutput::new(
            &construct,
            "EndpointId",
            OutputProps {
                description: Some("download the client configuration of this endpoint".into()),
                ..OutputProps::new(endpoint.ref_value())
            },
        );
        ClientVpnAccess {
            construct,
            security_group_id: group.group_id(),
            endpoint,
        }
    }

    /// The endpoint's security group: allow it wherever VPN users must reach.
    pub fn security_group_id(&self) -> Value<String> {
        self.security_group_id.clone()
    }

    /// The endpoint's id.
    pub fn endpoint_id(&self) -> Value<String> {
        self.endpoint.ref_value()
    }
}

impl Scope for ClientVpnAccess {
    fn node(&self) -> &Node {
        self.construct.node()
    }
}

fn check_props(node: &Node, props: &ClientVpnAccessProps) {
    match Cidr::parse(&props.client_cidr) {
        Err(reason) => node.report("invalid_client_cidr", reason),
        Ok(client) => {
            if !(12..=22).contains(&client.prefix()) {
                node.report("invalid_client_cidr", format!("client CIDR {client} must be a /12 to /22 (Client VPN's rule); choose a block in that range"));
            }
            for cidr in props
                .network
                .vpc_cidrs
                .iter()
                .chain(props.additional_routes.iter())
            {
                if let Ok(other) = Cidr::parse(cidr)
                    && other.overlaps(client)
                {
                    node.report("client_cidr_overlap", format!("client CIDR {client} overlaps {other}, which clients must reach; choose a client range outside it"));
                }
            }
        }
    }
    for cidr in &props.additional_routes {
        if let Err(reason) = Cidr::parse(cidr) {
            node.report("invalid_route", reason);
        }
    }
    for (what, arn) in [
        ("server certificate", &props.server_certificate_arn),
        (
            "client root certificate",
            &props.client_root_certificate_arn,
        ),
    ] {
        let valid = hyperpod_iam::check_arn(arn).is_ok()
            && arn.split(':').nth(2) == Some("acm")
            && arn
                .split(':')
                .nth(5)
                .is_some_and(|r| r.starts_with("certificate/"));
        if !valid {
            node.report("invalid_certificate_arn", format!("the {what} `{arn}` is not an ACM certificate ARN (`arn:aws:acm:<region>:<account>:certificate/<id>`); import the certificate into ACM and give its ARN"));
        }
    }
    if props.network.node_subnets.is_empty() {
        node.report(
            "no_subnets",
            "the network has no node subnet to associate; give one with at least one",
        );
    }
    let mut seen = std::collections::HashSet::new();
    if props
        .network
        .node_subnets
        .iter()
        .any(|subnet| !seen.insert(&subnet.availability_zone_id))
    {
        node.report("associations_in_one_zone", "two node subnets are in one Availability Zone; Client VPN takes one association per zone, so give subnets in distinct zones");
    }
    if !LOG_RETENTION_DAYS.contains(&props.log_retention_days) {
        node.report("invalid_log_retention", format!("{} days is not a retention CloudWatch Logs accepts; use one of {LOG_RETENTION_DAYS:?}", props.log_retention_days));
    }
}
