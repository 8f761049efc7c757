//! Where HyperPod runs: its regions and their Availability Zones by ID.
//!
//! Sources: "AWS Regions supported by SageMaker HyperPod"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod.html#sagemaker-hyperpod-available-regions>)
//! and "AWS Availability Zones"
//! (<https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-availability-zones.html>).
//! An account may see fewer zones than listed (constrained zones), so the zone list is the
//! most a region has; the deploy is what finally confirms a zone.

/// The regions where SageMaker HyperPod is available, with the number of their Availability
/// Zone IDs (`use1-az1` to `use1-az6`).
pub const HYPERPOD_REGIONS: &[(&str, u32)] = &[
    ("us-east-1", 6),
    ("us-east-2", 3),
    ("us-west-1", 3),
    ("us-west-2", 4),
    ("eu-central-1", 3),
    ("eu-north-1", 3),
    ("eu-west-1", 3),
    ("eu-west-2", 3),
    ("eu-south-2", 3),
    ("ap-south-1", 3),
    ("ap-southeast-1", 3),
    ("ap-southeast-2", 3),
    ("ap-southeast-3", 3),
    ("ap-southeast-4", 3),
    ("ap-northeast-1", 4),
    ("sa-east-1", 3),
];

/// Whether HyperPod is available in `region`.
pub fn is_hyperpod_region(region: &str) -> bool {
    HYPERPOD_REGIONS.iter().any(|(name, _)| *name == region)
}

/// The prefix of a region's Availability Zone IDs: the area, the direction's initials and
/// the number (`us-east-1` → `use1`, `ap-southeast-2` → `apse2`).
pub fn zone_id_prefix(region: &str) -> Option<String> {
    let mut parts = region.split('-');
    let (area, direction, number) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || number.parse::<u32>().is_err() {
        return None;
    }
    let initials = match direction {
        "east" => "e",
        "west" => "w",
        "north" => "n",
        "south" => "s",
        "central" => "c",
        "northeast" => "ne",
        "northwest" => "nw",
        "southeast" => "se",
        "southwest" => "sw",
        _ => return None,
    };
    Some(format!("{area}{initials}{number}"))
}

/// Checks that `zone_id` names an Availability Zone of `region`; the error says what to
/// change.
pub fn check_zone_id(zone_id: &str, region: &str) -> Result<(), String> {
    let Some((prefix, number)) = zone_id.split_once("-az") else {
        return Err(format!(
            "`{zone_id}` is not an Availability Zone ID; give IDs such as `use1-az2` (the console and `aws ec2 describe-availability-zones` show them), not names such as `us-east-1a`"
        ));
    };
    let number: u32 = number.parse().map_err(|_| {
        format!("`{zone_id}` is not an Availability Zone ID; give IDs such as `use1-az2`")
    })?;
    let Some(expected) = zone_id_prefix(region) else {
        return Ok(());
    };
    if prefix != expected {
        return Err(format!(
            "Availability Zone `{zone_id}` is not in {region}, whose zone IDs start with `{expected}-az`; choose a zone of the stage's region"
        ));
    }
    if let Some((_, count)) = HYPERPOD_REGIONS.iter().find(|(name, _)| *name == region)
        && !(1..=*count).contains(&number)
    {
        return Err(format!(
            "{region} has no Availability Zone `{zone_id}`; its zones are `{expected}-az1` to `{expected}-az{count}`"
        ));
    }
    Ok(())
}
