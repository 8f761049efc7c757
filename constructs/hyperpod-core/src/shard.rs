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

/// A JSON value's shape, for sizing without building it.
/// The nodes a value refers to, with the attribute read (`None` for `Ref`).
pub(crate) type References = Vec<(NodeRef, Option<String>)>;

pub(crate) enum Shape<'a> {
    /// A string, quoted and escaped as written.
    Str(&'a str),
    /// A string of this many plain characters (a stand-in for text not known yet).
    Filler(usize),
    /// A value of the tree.
    Expr(&'a Expr),
    /// An object.
    Object(Vec<(&'a str, Shape<'a>)>),
    /// An array.
    Array(Vec<Shape<'a>>),
}

/// The bytes of a string as serde_json writes it: quoted, with its escapes.
fn string_size(text: &str) -> usize {
    let needs_escape = |byte: &u8| *byte < 0x20 || *byte == b'"' || *byte == b'\\';
    // Most strings have nothing to escape, and counting is what the compiler vectorizes.
    if text
        .as_bytes()
        .iter()
        .filter(|byte| needs_escape(byte))
        .count()
        == 0
    {
        return 2 + text.len();
    }
    2 + text
        .bytes()
        .map(|byte| match byte {
            b'"' | b'\\' | b'\n' | b'\t' | b'\r' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// The bytes of a pretty-printed container (two-space indent) at `depth` whose entries
/// take `entries` bytes each (keys included).
fn container_size(depth: usize, entries: impl Iterator<Item = usize>) -> usize {
    let mut size = 1;
    let mut count = 0;
    for entry in entries {
        size += if count == 0 { 1 } else { 2 } + 2 * (depth + 1) + entry;
        count += 1;
    }
    if count == 0 {
        2
    } else {
        size + 1 + 2 * depth + 1
    }
}

/// The bytes `shape` takes pretty-printed (as serde_json writes templates) at `depth`.
/// `read` gains every reference met on the way, for the parameters a unit may need.
pub(crate) fn shape_size(shape: &Shape<'_>, depth: usize, read: &mut References) -> usize {
    match shape {
        Shape::Str(text) => string_size(text),
        Shape::Filler(length) => length + 2,
        Shape::Expr(expr) => expr_size(expr, depth, read),
        Shape::Object(entries) => container_size(
            depth,
            entries
                .iter()
                .map(|(key, value)| string_size(key) + 2 + shape_size(value, depth + 1, read)),
        ),
        Shape::Array(items) => container_size(
            depth,
            items.iter().map(|item| shape_size(item, depth + 1, read)),
        ),
    }
}

/// The bytes `expr` takes in a pretty-printed template at `depth`, as placement pictures
/// it: literals as written, intrinsics in their JSON form, and a reference as the import
/// of a long export name (most units read from their sharded stack, another template).
/// `read` gains every reference met on the way (see [`references`]).
pub(crate) fn expr_size(expr: &Expr, depth: usize, read: &mut References) -> usize {
    let intrinsic = |name: &'static str, value: Shape<'_>, read: &mut References| {
        shape_size(&Shape::Object(vec![(name, value)]), depth, read)
    };
    match expr {
        Expr::Null | Expr::Bool(true) => 4,
        Expr::Bool(false) => 5,
        Expr::Number(number) => number.to_string().len(),
        Expr::String(text) => string_size(text),
        Expr::List(items) => container_size(
            depth,
            items.iter().map(|item| expr_size(item, depth + 1, read)),
        ),
        Expr::Map(entries) => container_size(
            depth,
            entries
                .iter()
                .map(|(key, value)| string_size(key) + 2 + expr_size(value, depth + 1, read)),
        ),
        Expr::Ref(_) | Expr::GetAtt(..) | Expr::GetStackOutput(_) => {
            references(expr, read);
            intrinsic("Fn::ImportValue", Shape::Filler(90), read)
        }
        Expr::Pseudo(pseudo) => intrinsic("Ref", Shape::Str(pseudo.name()), read),
        Expr::Sub(template, variables) if variables.is_empty() => {
            intrinsic("Fn::Sub", Shape::Str(template), read)
        }
        Expr::Sub(template, variables) => intrinsic(
            "Fn::Sub",
            Shape::Array(vec![
                Shape::Str(template),
                Shape::Object(
                    variables
                        .iter()
                        .map(|(name, value)| (name, Shape::Expr(value)))
                        .collect(),
                ),
            ]),
            read,
        ),
        Expr::Join(delimiter, list) => intrinsic(
            "Fn::Join",
            Shape::Array(vec![Shape::Str(delimiter), Shape::Expr(list)]),
            read,
        ),
        Expr::Split(delimiter, source) => intrinsic(
            "Fn::Split",
            Shape::Array(vec![Shape::Str(delimiter), Shape::Expr(source)]),
            read,
        ),
        Expr::Select(index, list) => intrinsic(
            "Fn::Select",
            Shape::Array(vec![Shape::Expr(index), Shape::Expr(list)]),
            read,
        ),
        Expr::If(_, then, otherwise) => intrinsic(
            "Fn::If",
            Shape::Array(vec![
                Shape::Filler(40),
                Shape::Expr(then),
                Shape::Expr(otherwise),
            ]),
            read,
        ),
        Expr::ImportValue(name) => intrinsic("Fn::ImportValue", Shape::Expr(name), read),
        Expr::Base64(value) => intrinsic("Fn::Base64", Shape::Expr(value), read),
        Expr::GetAzs(region) => intrinsic("Fn::GetAZs", Shape::Expr(region), read),
        Expr::Cidr(block, count, bits) => intrinsic(
            "Fn::Cidr",
            Shape::Array(vec![
                Shape::Expr(block),
                Shape::Expr(count),
                Shape::Expr(bits),
            ]),
            read,
        ),
        Expr::FindInMap(_, top, second) => intrinsic(
            "Fn::FindInMap",
            Shape::Array(vec![
                Shape::Filler(40),
                Shape::Expr(top),
                Shape::Expr(second),
            ]),
            read,
        ),
    }
}

/// The nodes `expr` refers to (with the attribute read), for counting what a unit reads
/// from other accounts.
pub(crate) fn references(expr: &Expr, out: &mut References) {
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

    #[test]
    fn sizes_are_what_serde_json_writes_pretty() {
        let expr = Expr::map([
            ("Name", Expr::String("a \"quoted\"\nline \u{1} é".into())),
            ("Count", Expr::Number(42.into())),
            ("Empty", Expr::List(Vec::new())),
            (
                "Nested",
                Expr::list([
                    Expr::Bool(false),
                    Expr::Null,
                    Expr::map([("k", Expr::Bool(true))]),
                ]),
            ),
        ]);
        let json = expr.to_literal_json().unwrap();
        // The value at depth 2 of `[[value]]`: the whole less the same with `0` (one byte).
        let written = serde_json::to_vec_pretty(&serde_json::json!([[json]])).unwrap();
        let outer = serde_json::to_vec_pretty(&serde_json::json!([[0]])).unwrap();
        assert_eq!(
            written.len() - outer.len() + 1,
            expr_size(&expr, 2, &mut Vec::new())
        );
    }

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
