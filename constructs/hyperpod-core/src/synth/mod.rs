//! Synthesis: from a construct tree to templates and a manifest.
//!
//! [`synthesize`] runs the passes in order, one module each, all working on one
//! `Synthesizer` (the modules share this module's types and imports):
//!
//! 1. `collect`: the problems recorded on nodes and the validations; every stack with its
//!    elements, the units of sharded stacks placed into shard stacks;
//! 2. `ids`: logical ids;
//! 3. `render`: each stack's template, references resolved (wiring references between
//!    stacks through exports or deploy-time parameters), each resource checked against its
//!    schema;
//! 4. `security`: the rule pack over each rendered template;
//! 5. `dependencies`: explicit dependencies, cycles, stack names;
//! 6. `assemble`: outputs and parameters for other stacks, limits, the manifest, assets and
//!    the placement record.
//!
//! It returns either a [`CloudAssembly`] or every problem found.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use indexmap::{IndexMap, IndexSet};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use crate::condition::ConditionExpr;
use crate::element::ElementBody;
use crate::logical_id;
use crate::manifest::{
    AssetManifest, DeployTimeParameter, Manifest, ShardManifest, StackManifest, StageManifest,
};
use crate::parameter::ParameterProps;
use crate::resource::{ResourceData, TagFormat};
use crate::shard::{self, Placement};
use crate::stack::{Environment, Stack};
use crate::stack_set::StackSetManifest;
use crate::tree::{Node, NodeKind, NodeRef, Scope};
use crate::validation::{Problem, SynthError};
use crate::value::{Expr, ExprMap, Pseudo};

mod assemble;
mod collect;
mod dependencies;
mod ids;
mod render;
mod security;

/// CloudFormation's limits on one template.
pub mod limits {
    /// Resources in one template.
    pub const RESOURCES: usize = 500;
    /// Parameters in one template.
    pub const PARAMETERS: usize = 200;
    /// Outputs in one template.
    pub const OUTPUTS: usize = 200;
    /// Mappings in one template.
    pub const MAPPINGS: usize = 200;
    /// Bytes of a template deployed from S3 (cfn-lint's figure, the stricter reading of
    /// CloudFormation's "1 MB").
    pub const TEMPLATE_BYTES: usize = 1_000_000;
    /// Bytes of a template passed inline in the API call; a larger one must be uploaded to
    /// S3 and deployed by URL.
    pub const INLINE_TEMPLATE_BYTES: usize = 51_200;
}

/// One file of a cloud assembly, with its path relative to the app's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssemblyFile {
    /// The path below the app's folder, with `/` separators.
    pub path: String,
    body: FileBody,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FileBody {
    /// The bytes of the file.
    Bytes(Vec<u8>),
    /// A template as serde_json pretty-prints it, but without indentation: each line's
    /// indentation follows from the brackets lines open and close (see [`reindent`]).
    /// Indentation is a third of a large app's templates, and every template is held until
    /// the assembly is written.
    Unindented(Vec<u8>),
}

impl AssemblyFile {
    fn bytes(path: impl Into<String>, contents: Vec<u8>) -> AssemblyFile {
        AssemblyFile {
            path: path.into(),
            body: FileBody::Bytes(contents),
        }
    }

    /// The bytes of the file, as [`CloudAssembly::write_to`] writes them.
    pub fn contents(&self) -> Cow<'_, [u8]> {
        match &self.body {
            FileBody::Bytes(bytes) => Cow::Borrowed(bytes),
            FileBody::Unindented(text) => {
                let mut out = Vec::with_capacity(text.len() * 2);
                reindent(text, |part| out.extend_from_slice(part));
                Cow::Owned(out)
            }
        }
    }

    /// The same JSON or text, without the indentation the file is written with.
    fn compact_view(&self) -> &[u8] {
        match &self.body {
            FileBody::Bytes(bytes) | FileBody::Unindented(bytes) => bytes,
        }
    }
}

/// Writes JSON pretty-printed with an empty indent as serde_json's pretty printer writes it
/// (two spaces per level), in pieces given to `emit`. JSON strings hold no raw line breaks,
/// so a line that ends with `{` or `[` opens a level and one that starts with `}` or `]`
/// closes one.
fn reindent(unindented: &[u8], mut emit: impl FnMut(&[u8])) {
    const SPACES: [u8; 64] = [b' '; 64];
    let mut depth = 0usize;
    for line in unindented.split_inclusive(|&byte| byte == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        if matches!(content.first(), Some(b'}' | b']')) {
            depth = depth.saturating_sub(1);
        }
        let mut indent = 2 * depth;
        while indent > 0 {
            let spaces = indent.min(SPACES.len());
            emit(&SPACES[..spaces]);
            indent -= spaces;
        }
        emit(line);
        if matches!(content.last(), Some(b'{' | b'[')) {
            depth += 1;
        }
    }
}

/// Serializes `value` as serde_json's pretty printer does, without indentation.
fn to_unindented_json(value: &impl serde::Serialize) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    value
        .serialize(&mut serializer)
        .expect("a JSON value always serializes");
    out
}

/// The result of synthesis: every template and the manifest, in memory.
#[derive(Clone, Debug)]
pub struct CloudAssembly {
    /// The manifest, also present as `manifest.json` in [`CloudAssembly::files`].
    pub manifest: Manifest,
    /// The findings of the security rule pack that constructs accepted, with their reasons.
    pub suppressed: Vec<SuppressedFinding>,
    /// Where the units of sharded stacks are placed; give it to the next synthesis with
    /// [`crate::App::set_placement`]. Also in [`CloudAssembly::files`] as `placement.json`
    /// when the app has a sharded stack.
    pub placement: Placement,
    files: Vec<AssemblyFile>,
}

/// A finding of the security rule pack accepted by a suppression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppressedFinding {
    /// The construct path of the resource.
    pub path: String,
    /// The rule's id.
    pub rule: String,
    /// What the rule found.
    pub detail: String,
    /// Why it is accepted.
    pub reason: String,
}

impl CloudAssembly {
    /// The app's name, which is also the folder the assembly is written to.
    pub fn app(&self) -> &str {
        &self.manifest.app
    }

    /// The files of the assembly: the manifest, then one template per stack.
    pub fn files(&self) -> &[AssemblyFile] {
        &self.files
    }

    /// The template of a stack, by its manifest id (`<stage>/<stack>`).
    pub fn template(&self, stack_id: &str) -> Option<Json> {
        let stack = self
            .manifest
            .stacks
            .iter()
            .find(|stack| stack.id == stack_id)?;
        let file = self.files.iter().find(|file| file.path == stack.template)?;
        serde_json::from_slice(file.compact_view()).ok()
    }

    /// Writes the assembly to `<out_dir>/<app>/`, replacing an earlier assembly of the app
    /// there, and returns the folder. A folder of that name that holds no `manifest.json` is
    /// not an assembly and is left alone.
    pub fn write_to(&self, out_dir: &Path) -> Result<PathBuf, SynthError> {
        let app_dir = out_dir.join(self.app());
        let write_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SynthError::Write { path, source }
        };
        if app_dir.exists() {
            let empty = std::fs::read_dir(&app_dir)
                .map_err(write_error(&app_dir))?
                .next()
                .is_none();
            if app_dir.join("manifest.json").is_file() {
                std::fs::remove_dir_all(&app_dir).map_err(write_error(&app_dir))?;
            } else if !empty {
                return Err(SynthError::NotAnAssembly { path: app_dir });
            }
        }
        // Two threads, each writing every other file: indenting and writing a large app's
        // templates is a good part of its synthesis.
        let write_files = |files: &mut dyn Iterator<Item = &AssemblyFile>| {
            for file in files {
                let path = app_dir.join(&file.path);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(write_error(parent))?;
                }
                match &file.body {
                    FileBody::Bytes(bytes) => {
                        std::fs::write(&path, bytes).map_err(write_error(&path))?;
                    }
                    FileBody::Unindented(text) => {
                        // Indented on its way to the file, never held whole.
                        let mut out = std::io::BufWriter::with_capacity(
                            64 * 1024,
                            std::fs::File::create(&path).map_err(write_error(&path))?,
                        );
                        let mut written = Ok(());
                        reindent(text, |part| {
                            if written.is_ok() {
                                written = out.write_all(part);
                            }
                        });
                        written
                            .and_then(|()| out.flush())
                            .map_err(write_error(&path))?;
                    }
                }
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let odd = scope.spawn(|| write_files(&mut self.files.iter().skip(1).step_by(2)));
            let even = write_files(&mut self.files.iter().step_by(2));
            even.and(
                odd.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            )
        })?;
        Ok(app_dir)
    }
}

struct StackInfo {
    /// The stack as declared; a shard's is the sharded stack's.
    stack: Stack,
    /// For a shard: its number and the keys of its units.
    shard: Option<(u32, Vec<String>)>,
    artifact_id: String,
    stage_id: String,
    name: String,
    env: Environment,
    elements: Vec<Node>,
    dependencies: IndexSet<usize>,
    /// Values this stack must publish for other stacks: output logical id → value and
    /// whether it is exported (same account and region) or read by the deploy engine.
    shared_outputs: IndexMap<String, SharedOutput>,
    /// Parameters filled at deploy time from another stack's output.
    deploy_time_parameters: IndexMap<String, DeployTimeParameter>,
    /// For a stack deployed as a StackSet: the accounts its resources are confined to.
    confined_accounts: std::collections::BTreeSet<String>,
    /// For a stack deployed as a StackSet: whether some resource is confined to no account.
    unconfined_resources: bool,
}

impl StackInfo {
    fn is_stack_set(&self) -> bool {
        self.stack.with_data(|data| data.props.stack_set.is_some())
    }
}

struct SharedOutput {
    value: Json,
    export_name: Option<String>,
}

struct Synthesizer {
    root: Node,
    problems: Vec<Problem>,
    stacks: Vec<StackInfo>,
    /// Tree index of an element → position of its stack in `stacks`.
    stack_of: ByNode<usize>,
    /// Tree index of an element → its logical id.
    logical_ids: ByNode<String>,
    /// Where the units of sharded stacks are placed in this synthesis.
    placement: Placement,
}

pub(crate) fn synthesize(root: &Node) -> Result<CloudAssembly, SynthError> {
    let mut synth = Synthesizer {
        root: root.clone(),
        problems: Vec::new(),
        stacks: Vec::new(),
        stack_of: ByNode::default(),
        logical_ids: ByNode::default(),
        placement: Placement {
            version: Placement::VERSION,
            stacks: BTreeMap::new(),
        },
    };
    synth.collect_issues();
    synth.collect_stacks();
    synth.assign_logical_ids();
    // One stack at a time, so that only one rendered template is held as JSON: once its
    // own rendering and the rule pack are done, only other stacks' outputs can change it.
    let mut suppressed = Vec::new();
    let mut frozen = Vec::with_capacity(synth.stacks.len());
    for position in 0..synth.stacks.len() {
        let mut body = synth.render_stack(position);
        suppressed.extend(synth.apply_rules(position, &mut body));
        let (template, mut set_aside) = synth.freeze(position, body);
        set_aside.head = assemble::serialize_head(&template);
        frozen.push(set_aside);
    }
    synth.add_explicit_dependencies();
    synth.check_dependency_cycles();
    synth.check_stack_names();
    let mut assembly = synth.assemble(frozen);
    assembly.suppressed = suppressed;
    if synth.problems.is_empty() {
        Ok(assembly)
    } else {
        Err(SynthError::Invalid(synth.problems))
    }
}

/// A value per node of the tree, by the node's index. Indices are dense, so this is a
/// vector: synthesis looks up every element's logical id and stack many times.
struct ByNode<T> {
    values: Vec<Option<T>>,
}

impl<T> Default for ByNode<T> {
    fn default() -> Self {
        ByNode { values: Vec::new() }
    }
}

impl<T> ByNode<T> {
    fn get(&self, index: &usize) -> Option<&T> {
        self.values.get(*index)?.as_ref()
    }

    fn contains_key(&self, index: &usize) -> bool {
        self.get(index).is_some()
    }

    fn insert(&mut self, index: usize, value: T) {
        if self.values.len() <= index {
            self.values.resize_with(index + 1, || None);
        }
        self.values[index] = Some(value);
    }
}

/// The sections of one template, before the outputs and parameters other stacks need are
/// added.
#[derive(Default)]
struct TemplateBody {
    description: Option<String>,
    parameters: Map<String, Json>,
    mappings: Map<String, Json>,
    conditions: Map<String, Json>,
    resources: Map<String, Json>,
    outputs: Map<String, Json>,
}

impl Synthesizer {
    fn problem(&mut self, node: &Node, code: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            path: node.display_path(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    fn logical_id(&self, node: &Node) -> String {
        self.logical_ids
            .get(&node.index)
            .cloned()
            .unwrap_or_default()
    }

    /// Upgrades a reference, reporting a reference into another (or a dropped) app.
    fn upgrade(&mut self, target: &NodeRef, at: &Node) -> Option<Node> {
        match target.upgrade() {
            Some(node) if Rc::ptr_eq(&node.tree, &self.root.tree) => Some(node),
            _ => {
                self.problem(at, "cross_app_reference", "this refers to a construct of another app; an app can only reference its own constructs, so move both into one app or pass the value as a literal");
                None
            }
        }
    }
}

/// The tags set on a node and its scopes, nearer ones winning, sorted by key.
fn tags_at(node: &Node) -> BTreeMap<String, String> {
    // Read in one borrow of the tree: this runs for every element, twice.
    let tree = node.tree.borrow();
    let mut chain = Vec::new();
    let mut at = Some(node.index);
    while let Some(index) = at {
        chain.push(index);
        at = tree.nodes[index].parent;
    }
    let mut tags = BTreeMap::new();
    for &index in chain.iter().rev() {
        if let Some(extras) = tree.nodes[index].extras() {
            for (key, value) in &extras.tags {
                tags.insert(key.clone(), value.clone());
            }
        }
    }
    tags
}

/// The names in `${..}` of a `Fn::Sub` template, each once, without the `${!..}` escapes.
pub(crate) fn sub_variables(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            break;
        };
        let name = &after[..end];
        if !name.starts_with('!') && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reindented_json_is_what_serde_json_pretty_prints() {
        // Deeper than the spaces written at once.
        let deep = (0..40).fold(json!(1), |inner, _| json!([inner]));
        let documents = [
            json!({}),
            json!([]),
            json!({ "a": {}, "b": [], "c": [[], [{}]], "d": null }),
            json!({
                "Resources": {
                    "Bucket": {
                        "Type": "AWS::S3::Bucket",
                        "Properties": { "Tags": [{ "Key": "k", "Value": "v" }] }
                    }
                },
                "Strings": ["ends with {", "[starts with", "}", "]", "line\nbreak", "\"{\"", ""],
                "Numbers": [1, -2.5, 1e30, true, false],
                "Deep": deep
            }),
        ];
        for document in documents {
            let unindented = to_unindented_json(&document);
            let mut reindented = Vec::new();
            reindent(&unindented, |part| reindented.extend_from_slice(part));
            assert_eq!(
                String::from_utf8(reindented).unwrap(),
                serde_json::to_string_pretty(&document).unwrap()
            );
        }
    }
}
