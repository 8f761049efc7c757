//! Sharding: the units of a sharded stack (one team's resources, say) placed into shard
//! stacks, so that no template passes CloudFormation's limits however many units there are.
//!
//! The placement is stable: a unit, once placed, stays in its shard for as long as the
//! placement record says so, and a new unit goes to the first shard with room for it (or a
//! new one). Adding a unit therefore changes one shard, removing one changes only its own,
//! and no unit is ever moved because another came or went. A move would replace the unit's
//! resources, and resources with fixed names (IAM roles) would collide with themselves.
//! The record is [`Placement`], written beside the templates as `placement.json` and read
//! back by the next synthesis; editing it pins a unit to a shard.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::synth::limits;
use crate::tree::NodeRef;
use crate::value::Expr;

/// How a sharded stack's units are packed into shards. The defaults leave room under
/// CloudFormation's limits for what placement only estimates (inherited tags, the imports
/// and parameters that references add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sharding {
    /// Resources per shard, at most (default 400 of CloudFormation's 500).
    pub max_resources: usize,
    /// Estimated template bytes per shard, at most (default 800,000 of the 1,000,000 a
    /// template uploaded to S3 may have).
    pub max_template_bytes: usize,
    /// Parameters and outputs per shard, each at most (default 150 of 200).
    pub max_parameters_and_outputs: usize,
}

impl Default for Sharding {
    fn default() -> Sharding {
        Sharding {
            max_resources: 400,
            max_template_bytes: 800_000,
            max_parameters_and_outputs: 150,
        }
    }
}

impl Sharding {
    /// The problem with these limits, if any: each must leave a unit some room and stay
    /// under CloudFormation's own.
    pub(crate) fn check(&self) -> Option<String> {
        let over = |value: usize, limit: usize| value == 0 || value > limit;
        if over(self.max_resources, limits::RESOURCES)
            || over(self.max_template_bytes, limits::TEMPLATE_BYTES)
            || over(
                self.max_parameters_and_outputs,
                limits::PARAMETERS.min(limits::OUTPUTS),
            )
        {
            return Some(format!(
                "sharding limits of {} resources, {} bytes and {} parameters or outputs must each be above zero and within CloudFormation's {}, {} and {}; lower them",
                self.max_resources,
                self.max_template_bytes,
                self.max_parameters_and_outputs,
                limits::RESOURCES,
                limits::TEMPLATE_BYTES,
                limits::PARAMETERS.min(limits::OUTPUTS),
            ));
        }
        None
    }
}

/// Where each unit of each sharded stack is placed: stack (its path, `stage/Stack`) →
/// shard number → unit keys. Synthesis reads the record of the previous run and writes the
/// new one as `placement.json`; commit it with the templates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The format's version.
    pub version: u32,
    /// Sharded stack → shard number → the keys of its units, sorted.
    pub stacks: BTreeMap<String, BTreeMap<u32, Vec<String>>>,
}

impl Placement {
    /// The version of the format written.
    pub const VERSION: u32 = 1;
    /// The file name in the app's folder of the cloud assembly.
    pub const FILE: &'static str = "placement.json";

    /// Reads a record written by an earlier synthesis.
    pub fn from_json(bytes: &[u8]) -> Result<Placement, String> {
        let placement: Placement = serde_json::from_slice(bytes).map_err(|error| {
            format!("{} is not a placement record ({error}); restore it from version control, or delete it only if none of the app's sharded stacks is deployed", Placement::FILE)
        })?;
        if placement.version != Placement::VERSION {
            return Err(format!(
                "{} has version {}, this synthesizer reads version {}; synthesize with the version that wrote it",
                Placement::FILE,
                placement.version,
                Placement::VERSION
            ));
        }
        Ok(placement)
    }

    /// The record as written: pretty JSON with a final newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a placement always serializes");
        bytes.push(b'\n');
        bytes
    }

    /// The shard a unit of a stack is placed in.
    pub fn shard_of(&self, stack: &str, unit: &str) -> Option<u32> {
        self.stacks
            .get(stack)?
            .iter()
            .find_map(|(shard, units)| units.iter().any(|key| key == unit).then_some(*shard))
    }
}

/// What one unit adds to a shard, as far as placement can tell before rendering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UnitCost {
    pub(crate) resources: usize,
    pub(crate) parameters_and_outputs: usize,
    pub(crate) bytes: usize,
}

impl std::ops::AddAssign for UnitCost {
    fn add_assign(&mut self, other: UnitCost) {
        self.resources += other.resources;
        self.parameters_and_outputs += other.parameters_and_outputs;
        self.bytes += other.bytes;
    }
}

impl UnitCost {
    fn fits(&self, sharding: &Sharding) -> bool {
        self.resources <= sharding.max_resources
            && self.bytes <= sharding.max_template_bytes
            && self.parameters_and_outputs <= sharding.max_parameters_and_outputs
    }
}

/// Places `units` (in declaration order, with their costs): a unit the previous record
/// places stays where it was; a new one goes to the lowest-numbered shard it fits in, or to
/// a new shard after the highest number the record ever used. Keys the record names that
/// are no longer units are dropped; a shard left empty stays (until the record's owner
/// removes it).
pub(crate) fn place(
    previous: Option<&BTreeMap<u32, Vec<String>>>,
    units: &IndexMap<String, UnitCost>,
    sharding: &Sharding,
) -> BTreeMap<u32, Vec<String>> {
    let mut shards: BTreeMap<u32, (UnitCost, Vec<String>)> = BTreeMap::new();
    let mut highest = 0;
    if let Some(previous) = previous {
        for (&shard, keys) in previous {
            highest = highest.max(shard);
            // A shard its units have left stays, empty, so that deploying it deletes what
            // they had; new units fill it first.
            let entry = shards.entry(shard).or_default();
            for key in keys {
                if let Some(cost) = units.get(key) {
                    entry.0 += *cost;
                    entry.1.push(key.clone());
                }
            }
        }
    }
    for (key, cost) in units {
        if previous.is_some_and(|previous| previous.values().flatten().any(|known| known == key)) {
            continue;
        }
        let room = shards.iter_mut().find(|(_, (used, _))| {
            let mut with = *used;
            with += *cost;
            with.fits(sharding)
        });
        match room {
            Some((_, (used, keys))) => {
                *used += *cost;
                keys.push(key.clone());
            }
            None => {
                highest += 1;
                shards.insert(highest, (*cost, vec![key.clone()]));
            }
        }
    }
    shards
        .into_iter()
        .map(|(shard, (_, mut keys))| {
            keys.sort();
            (shard, keys)
        })
        .collect()
}

/// `expr` as placement pictures it in the template: literals as written, intrinsics in
/// their JSON form, and a reference as the import of a long export name (most units read
/// from their sharded stack, which is another template).
pub(crate) fn approximate_json(expr: &Expr) -> serde_json::Value {
    use serde_json::{Value as Json, json};
    let import = || json!({ "Fn::ImportValue": "x".repeat(90) });
    match expr {
        Expr::Null => Json::Null,
        Expr::Bool(value) => Json::Bool(*value),
        Expr::Number(number) => Json::Number(number.clone()),
        Expr::String(text) => Json::String(text.clone()),
        Expr::List(items) => Json::Array(items.iter().map(approximate_json).collect()),
        Expr::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(key, value)| (key.clone(), approximate_json(value)))
                .collect(),
        ),
        Expr::Ref(_) | Expr::GetAtt(..) | Expr::GetStackOutput(_) => import(),
        Expr::Pseudo(pseudo) => json!({ "Ref": pseudo.name() }),
        Expr::Sub(template, variables) if variables.is_empty() => json!({ "Fn::Sub": template }),
        Expr::Sub(template, variables) => {
            let variables: serde_json::Map<String, Json> = variables
                .iter()
                .map(|(name, value)| (name.clone(), approximate_json(value)))
                .collect();
            json!({ "Fn::Sub": [template, variables] })
        }
        Expr::Join(delimiter, list) => json!({ "Fn::Join": [delimiter, approximate_json(list)] }),
        Expr::Split(delimiter, source) => {
            json!({ "Fn::Split": [delimiter, approximate_json(source)] })
        }
        Expr::Select(index, list) => {
            json!({ "Fn::Select": [approximate_json(index), approximate_json(list)] })
        }
        Expr::If(_, then, otherwise) => json!({
            "Fn::If": ["x".repeat(40), approximate_json(then), approximate_json(otherwise)]
        }),
        Expr::ImportValue(name) => json!({ "Fn::ImportValue": approximate_json(name) }),
        Expr::Base64(value) => json!({ "Fn::Base64": approximate_json(value) }),
        Expr::GetAzs(region) => json!({ "Fn::GetAZs": approximate_json(region) }),
        Expr::Cidr(block, count, bits) => json!({
            "Fn::Cidr": [approximate_json(block), approximate_json(count), approximate_json(bits)]
        }),
        Expr::FindInMap(_, top, second) => json!({
            "Fn::FindInMap": ["x".repeat(40), approximate_json(top), approximate_json(second)]
        }),
    }
}

/// The bytes `value` takes in a pretty-printed template where it starts `depth` levels in.
pub(crate) fn pretty_bytes(value: &serde_json::Value, depth: usize) -> usize {
    let text = serde_json::to_vec_pretty(value).expect("a JSON value always serializes");
    let lines = text.iter().filter(|&&byte| byte == b'\n').count() + 1;
    text.len() + lines * 2 * depth
}

/// The nodes `expr` refers to (with the attribute read), for counting what a unit reads
/// from other accounts.
pub(crate) fn references(expr: &Expr, out: &mut Vec<(NodeRef, Option<String>)>) {
    match expr {
        Expr::Ref(target) => out.push((target.clone(), None)),
        Expr::GetAtt(target, attribute) => out.push((target.clone(), Some(attribute.clone()))),
        Expr::Null | Expr::Bool(_) | Expr::Number(_) | Expr::String(_) | Expr::Pseudo(_) => {}
        Expr::List(items) => items.iter().for_each(|item| references(item, out)),
        Expr::Map(entries) => entries.values().for_each(|value| references(value, out)),
        Expr::Sub(_, variables) => variables.values().for_each(|value| references(value, out)),
        Expr::Join(_, inner)
        | Expr::Split(_, inner)
        | Expr::ImportValue(inner)
        | Expr::Base64(inner)
        | Expr::GetAzs(inner) => references(inner, out),
        Expr::Select(first, second)
        | Expr::If(_, first, second)
        | Expr::FindInMap(_, first, second) => {
            references(first, out);
            references(second, out);
        }
        Expr::Cidr(first, second, third) => {
            references(first, out);
            references(second, out);
            references(third, out);
        }
        Expr::GetStackOutput(output) => {
            for part in [Some(&output.stack_name), Some(&output.output_name)]
                .into_iter()
                .chain([output.region.as_ref(), output.role_arn.as_ref()])
                .flatten()
            {
                references(part, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(costs: &[(&str, usize)]) -> IndexMap<String, UnitCost> {
        costs
            .iter()
            .map(|(key, resources)| {
                (
                    (*key).to_owned(),
                    UnitCost {
                        resources: *resources,
                        ..UnitCost::default()
                    },
                )
            })
            .collect()
    }

    fn small() -> Sharding {
        Sharding {
            max_resources: 10,
            ..Sharding::default()
        }
    }

    #[test]
    fn first_fit_in_declaration_order() {
        let placed = place(
            None,
            &units(&[("a", 4), ("b", 4), ("c", 4), ("d", 2)]),
            &small(),
        );
        assert_eq!(
            placed,
            BTreeMap::from([
                (1, vec!["a".to_owned(), "b".to_owned(), "d".to_owned()]),
                (2, vec!["c".to_owned()]),
            ])
        );
    }

    #[test]
    fn placed_units_never_move_and_new_ones_fill_holes_first() {
        let first = place(None, &units(&[("a", 6), ("b", 6), ("c", 6)]), &small());
        // `a` goes: its shard stays, empty.
        let second = place(Some(&first), &units(&[("b", 6), ("c", 6)]), &small());
        assert_eq!(second[&1], Vec::<String>::new());
        // `d` takes the room in shard 1; `b` and `c` stay where they were.
        let third = place(
            Some(&second),
            &units(&[("b", 6), ("c", 6), ("d", 5)]),
            &small(),
        );
        assert_eq!(third[&1], vec!["d".to_owned()]);
        assert_eq!(third[&2], vec!["b".to_owned()]);
        assert_eq!(third[&3], vec!["c".to_owned()]);
    }

    #[test]
    fn a_new_shard_never_reuses_a_number_the_record_holds() {
        let previous = BTreeMap::from([(1, vec!["a".to_owned()]), (4, vec!["b".to_owned()])]);
        let placed = place(
            Some(&previous),
            &units(&[("a", 10), ("b", 10), ("c", 1)]),
            &small(),
        );
        assert_eq!(placed[&5], vec!["c".to_owned()]);
    }
}
