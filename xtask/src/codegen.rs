//! `cargo xtask codegen`: typed CloudFormation resources from the resource provider
//! schemas shipped in the pinned cfn-lint package.
//!
//! The schemas are read from the package installed in `.venv/` (the version in
//! `tests/python-requirements.txt`), so moving to a newer schema release is: change the
//! pin, run `cargo xtask test` once to install it, then `cargo xtask codegen`, review the
//! diff of `constructs/hyperpod-cfn/src/generated/` and fix what the fix-ups report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value as Json;

/// The cfn-lint release the schemas come from.
pub const SCHEMA_PACKAGE: &str = "cfn-lint 1.58.0";
const SCHEMA_VERSION: &str = "1.58.0";
/// The region whose provider list decides which types exist.
const REGION: &str = "us-east-1";
/// Where the generated code goes, relative to the workspace root.
pub const OUTPUT_DIR: &str = "constructs/hyperpod-cfn/src/generated";

/// The services generated: Cargo feature and module name, and CloudFormation's name.
pub const SERVICES: &[(&str, &str)] = &[
    ("aps", "APS"),
    ("cloudformation", "CloudFormation"),
    ("ec2", "EC2"),
    ("eks", "EKS"),
    ("elbv2", "ElasticLoadBalancingV2"),
    ("fsx", "FSx"),
    ("iam", "IAM"),
    ("kms", "KMS"),
    ("lambda", "Lambda"),
    ("logs", "Logs"),
    ("s3", "S3"),
    ("sagemaker", "SageMaker"),
    ("secretsmanager", "SecretsManager"),
    ("ssm", "SSM"),
];

/// Finds the schema folder of the pinned cfn-lint in `.venv/`.
pub fn schema_dir(root: &Path) -> Result<PathBuf> {
    let lib = root.join(".venv/lib");
    let entries = std::fs::read_dir(&lib).with_context(|| {
        format!(
            "no {}: run `cargo xtask test` once to install the pinned Python tools",
            lib.display()
        )
    })?;
    for entry in entries.flatten() {
        let package = entry.path().join("site-packages/cfnlint");
        if package.is_dir() {
            let version = std::fs::read_to_string(package.join("version.py"))
                .context("cfnlint/version.py")?;
            ensure!(
                version.contains(&format!("\"{SCHEMA_VERSION}\"")),
                "the cfn-lint in .venv is not {SCHEMA_VERSION}; run `cargo xtask test` to reinstall the pinned tools"
            );
            return Ok(package.join("data/schemas"));
        }
    }
    bail!(
        "cfn-lint is not installed in {}; run `cargo xtask test` once",
        lib.display()
    )
}

/// A file to write, relative to the workspace root, with its contents.
pub struct Output {
    /// The path relative to the workspace root.
    pub path: PathBuf,
    /// The formatted contents.
    pub contents: String,
}

/// Runs the generator. With `check`, compares with the committed files instead of writing,
/// and fails with the command to run when they differ.
pub fn codegen(root: &Path, check: bool) -> Result<()> {
    let outputs = generate(&schema_dir(root)?)?;
    let out_dir = root.join(OUTPUT_DIR);
    let mut stale = Vec::new();
    let expected: HashSet<PathBuf> = outputs.iter().map(|o| root.join(&o.path)).collect();
    for output in &outputs {
        let path = root.join(&output.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != output.contents {
            if check {
                stale.push(output.path.display().to_string());
            } else {
                std::fs::create_dir_all(path.parent().expect("a parent"))
                    .with_context(|| format!("creating {}", path.display()))?;
                std::fs::write(&path, &output.contents)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    for entry in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
        if !expected.contains(&entry.path()) {
            if check {
                stale.push(format!("{} (no longer generated)", entry.path().display()));
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    if !stale.is_empty() {
        bail!(
            "the generated resources are stale: {}; run `cargo xtask codegen` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}

/// Generates every file from the schema folder.
pub fn generate(schemas: &Path) -> Result<Vec<Output>> {
    let providers: serde_json::Map<String, Json> =
        read_json(&schemas.join(format!("providers/{REGION}.json")))?
            .as_object()
            .cloned()
            .context("the provider list is an object")?;
    let mut fixups = FixUps::default();
    let mut outputs = Vec::new();
    let mut registry = Vec::new();
    let mut counts = Vec::new();
    for (module, service) in SERVICES {
        let mut types: Vec<(&String, &Json)> = providers
            .iter()
            .filter(|(name, _)| {
                name.split("::").nth(1) == Some(service) && name.starts_with("AWS::")
            })
            .collect();
        types.sort_by(|a, b| a.0.cmp(b.0));
        ensure!(
            !types.is_empty(),
            "no resource type of service {service} in the schemas"
        );
        let mut code = String::new();
        let _ = writeln!(
            code,
            "{}",
            preamble(&format!(
                "Typed resources of {service} (`AWS::{service}::*`)."
            ))
        );
        let mut emitted = 0usize;
        for (type_name, file) in &types {
            let file = file.as_str().context("a schema file name")?;
            let schema = read_json(&schemas.join(format!("resources/{file}.json")))?;
            ensure!(
                schema["typeName"].as_str() == Some(type_name.as_str()),
                "schema {file} describes {} instead of {type_name}",
                schema["typeName"]
            );
            let resource = ResourceGen::new(type_name, &schema, &mut fixups)?;
            let generated = resource.emit()?;
            emitted += generated.definitions_emitted;
            ensure!(
                generated.definitions_emitted == generated.definitions_expected,
                "{type_name}: emitted {} types for {} object and enum definitions",
                generated.definitions_emitted,
                generated.definitions_expected
            );
            code.push_str(&generated.code);
            registry.push((
                module.to_string(),
                type_name.to_string(),
                generated.spec_path,
            ));
        }
        counts.push((module.to_string(), types.len(), emitted));
        outputs.push(Output {
            path: PathBuf::from(OUTPUT_DIR).join(format!("{module}.rs")),
            contents: code,
        });
    }
    fixups.verify()?;
    outputs.push(Output {
        path: PathBuf::from(OUTPUT_DIR).join("mod.rs"),
        contents: emit_mod(&registry, &counts),
    });
    outputs.push(Output {
        path: PathBuf::from(CREATE_ONLY_OUTPUT),
        contents: emit_create_only(schemas, &providers)?,
    });
    for output in &mut outputs {
        output.contents = rustfmt(&output.contents)?;
    }
    Ok(outputs)
}

/// The table of create-only properties the deploy engine's diff reads, for every resource
/// type of the region's provider list: the engine needs no typed layer to tell what a
/// change replaces.
const CREATE_ONLY_OUTPUT: &str = "constructs/hyperpod-deploy/src/create_only.rs";

fn emit_create_only(schemas: &Path, providers: &serde_json::Map<String, Json>) -> Result<String> {
    let mut types: Vec<(&String, &Json)> = providers.iter().collect();
    types.sort_by(|a, b| a.0.cmp(b.0));
    let mut entries = String::new();
    for (type_name, file) in types {
        let file = file.as_str().context("a schema file name")?;
        let schema = read_json(&schemas.join(format!("resources/{file}.json")))?;
        let paths: Vec<String> = schema["createOnlyProperties"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .filter_map(|p| p.strip_prefix("/properties/"))
                    .map(|p| format!("{p:?}"))
                    .collect()
            })
            .unwrap_or_default();
        if !paths.is_empty() {
            let _ = writeln!(entries, "    ({type_name:?}, &[{}]),", paths.join(", "));
        }
    }
    Ok(format!(
        "{}
/// Resource types with create-only properties (paths below `Properties`, `/` between
/// levels, `*` for every item of a list), sorted by type name.
pub static CREATE_ONLY: &[(&str, &[&str])] = &[
{entries}];

/// The create-only properties of a resource type; none for a type the schemas do not list.
pub fn create_only(type_name: &str) -> &'static [&'static str] {{
    CREATE_ONLY
        .binary_search_by(|(name, _)| (*name).cmp(type_name))
        .map_or(&[], |found| CREATE_ONLY[found].1)
}}
",
        preamble(
            "The create-only properties of every resource type, for the deploy engine's diff."
        )
    ))
}

fn read_json(path: &Path) -> Result<Json> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn preamble(what: &str) -> String {
    format!(
        "// Generated by `cargo xtask codegen` from the CloudFormation resource provider schemas\n\
         // of {SCHEMA_PACKAGE} ({REGION}). Do not edit: change the generator and run it again.\n\
         \n\
         //! {what}\n"
    )
}

fn rustfmt(code: &str) -> Result<String> {
    use std::io::Write;
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running rustfmt")?;
    let mut stdin = child.stdin.take().expect("piped");
    let input = code.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output()?;
    writer.join().expect("the writer thread")?;
    ensure!(
        output.status.success(),
        "rustfmt failed on generated code: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

fn emit_mod(registry: &[(String, String, String)], counts: &[(String, usize, usize)]) -> String {
    let mut code = preamble(
        "One module per service, each behind the Cargo feature of the same name, and the\n//! registry of resource specs of the enabled services.",
    );
    let _ = writeln!(
        code,
        "//!\n//! | service | resource types | property types and enums |\n//! | --- | --- | --- |"
    );
    for (module, types, definitions) in counts {
        let _ = writeln!(code, "//! | `{module}` | {types} | {definitions} |");
    }
    for (module, _) in SERVICES {
        let _ = writeln!(code, "#[cfg(feature = \"{module}\")]\npub mod {module};");
    }
    let _ = writeln!(
        code,
        "\n/// The schema of a resource type of an enabled service, by type name.\npub fn spec(type_name: &str) -> Option<&'static hyperpod_core::schema::ResourceSpec> {{\n    match type_name {{"
    );
    for (module, type_name, spec_path) in registry {
        let _ = writeln!(
            code,
            "        #[cfg(feature = \"{module}\")]\n        \"{type_name}\" => Some(&{module}::{spec_path}),"
        );
    }
    let _ = writeln!(code, "        _ => None,\n    }}\n}}");
    code
}

/// The schema quirks the generator works around. Each must apply at least once, so that a
/// fix-up that a newer schema release made unnecessary fails the generator and is removed.
#[derive(Default)]
struct FixUps {
    applied: HashMap<&'static str, usize>,
}

/// Enum values that differ only in case or punctuation (`enumCaseInsensitive` schemas),
/// which would give one variant name: the later one gets a numbered suffix.
const FIXUP_VARIANT_NAME_CLASH: &str = "variant_name_clash";
/// Patterns that `fancy_regex` cannot compile even after the rewrites below (a Unicode
/// class repeated a thousand times outgrows its size limit): left unchecked rather than
/// refusing valid values.
const FIXUP_UNSUPPORTED_PATTERN: &str = "unsupported_pattern";
/// ECMAScript reads an unescaped `[` inside a character class as a literal (EC2's
/// security-group description pattern): it is escaped.
const FIXUP_LITERAL_BRACKET_IN_CLASS: &str = "literal_bracket_in_class";
/// ECMAScript reads `-` after a class escape (`[\w-/]`) as a literal (IAM role ARN
/// patterns): it is escaped.
const FIXUP_LITERAL_HYPHEN_AFTER_CLASS_ESCAPE: &str = "literal_hyphen_after_class_escape";
/// Two read-only attributes that give one method name (EKS's `CertificateAuthorityData`
/// and `CertificateAuthority/Data`, which return the same value): the first is kept.
const FIXUP_ATTRIBUTE_NAME_CLASH: &str = "attribute_name_clash";
/// Enum lists on a non-string type (integers): kept as the plain type.
const FIXUP_NON_STRING_ENUM: &str = "non_string_enum";

const ALL_FIXUPS: &[&str] = &[
    FIXUP_ATTRIBUTE_NAME_CLASH,
    FIXUP_VARIANT_NAME_CLASH,
    FIXUP_UNSUPPORTED_PATTERN,
    FIXUP_NON_STRING_ENUM,
];

impl FixUps {
    fn apply(&mut self, name: &'static str) {
        *self.applied.entry(name).or_default() += 1;
    }

    fn verify(&self) -> Result<()> {
        let unused: Vec<&&str> = ALL_FIXUPS
            .iter()
            .filter(|name| !self.applied.contains_key(**name))
            .collect();
        ensure!(
            unused.is_empty(),
            "fix-ups {unused:?} no longer apply to the schemas: remove them from the generator"
        );
        Ok(())
    }
}

/// The Rust type of a property.
#[derive(Clone, Debug)]
enum Ty {
    String,
    Integer,
    Number,
    Boolean,
    Json,
    List(Box<Ty>),
    Map(Box<Ty>),
    /// A generated struct or enum of the resource's module.
    Named(String),
}

impl Ty {
    fn rust(&self, module: &str) -> String {
        match self {
            Ty::String => "String".into(),
            Ty::Integer => "i64".into(),
            Ty::Number => "f64".into(),
            Ty::Boolean => "bool".into(),
            Ty::Json => "serde_json::Value".into(),
            Ty::List(item) => format!("Vec<{}>", item.rust(module)),
            Ty::Map(item) => format!("indexmap::IndexMap<String, {}>", item.rust(module)),
            Ty::Named(name) => format!("{module}::{name}"),
        }
    }

    fn describe(&self, module: &str) -> String {
        match self {
            Ty::String => "string".into(),
            Ty::Integer => "integer".into(),
            Ty::Number => "number".into(),
            Ty::Boolean => "boolean".into(),
            Ty::Json => "JSON".into(),
            Ty::List(item) => format!("list of {}", item.describe(module)),
            Ty::Map(item) => format!("map of {}", item.describe(module)),
            Ty::Named(name) if module == "self" => format!("[`{name}`]"),
            Ty::Named(name) => format!("[`{module}::{name}`]"),
        }
    }
}

struct Field {
    cfn_name: String,
    rust_name: String,
    ty: Ty,
    required: bool,
    doc: String,
}

struct GeneratedResource {
    code: String,
    spec_path: String,
    definitions_emitted: usize,
    definitions_expected: usize,
}

struct ResourceGen<'a> {
    type_name: String,
    service: String,
    resource: String,
    module: String,
    schema: &'a Json,
    fixups: &'a mut FixUps,
    /// Generated items of the resource's module (structs and enums).
    items: Vec<String>,
    /// Definition name → its type, once resolved.
    definitions: HashMap<String, Ty>,
    /// Names taken in the resource's module.
    taken: HashSet<String>,
    /// Static rules of definitions: definition name → static name.
    rule_statics: BTreeMap<String, String>,
    rules: Vec<String>,
    definitions_emitted: usize,
}

impl<'a> ResourceGen<'a> {
    fn new(type_name: &str, schema: &'a Json, fixups: &'a mut FixUps) -> Result<ResourceGen<'a>> {
        let parts: Vec<&str> = type_name.split("::").collect();
        ensure!(parts.len() == 3, "unexpected type name {type_name}");
        Ok(ResourceGen {
            type_name: type_name.to_owned(),
            service: parts[1].to_owned(),
            resource: parts[2].to_owned(),
            module: snake(parts[2]),
            schema,
            fixups,
            items: Vec::new(),
            definitions: HashMap::new(),
            taken: HashSet::new(),
            rule_statics: BTreeMap::new(),
            rules: Vec::new(),
            definitions_emitted: 0,
        })
    }

    fn doc_url(&self, definition: Option<&str>) -> String {
        let service = self.service.to_lowercase();
        let resource = self.resource.to_lowercase();
        match definition {
            None => format!(
                "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-{service}-{resource}.html"
            ),
            Some(definition) => format!(
                "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-{service}-{resource}-{}.html",
                definition.to_lowercase()
            ),
        }
    }

    fn definition(&self, name: &str) -> Result<&'a Json> {
        self.schema["definitions"]
            .get(name)
            .with_context(|| format!("{}: no definition {name}", self.type_name))
    }

    fn ref_name(reference: &str) -> Result<&str> {
        reference
            .strip_prefix("#/definitions/")
            .with_context(|| format!("unsupported reference {reference}"))
    }

    /// A unique name in the resource's module.
    fn claim(&mut self, wanted: &str) -> String {
        let base = pascal(wanted);
        let mut name = base.clone();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = format!("{base}{n}");
            n += 1;
        }
        name
    }

    /// The type of a schema node; `hint` names a struct or enum the node defines inline.
    fn resolve(&mut self, node: &'a Json, hint: &str) -> Result<Ty> {
        if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
            return self.resolve_definition(Self::ref_name(reference)?);
        }
        let kind = node.get("type");
        Ok(match kind.and_then(Json::as_str) {
            Some("string") => match node.get("enum").and_then(Json::as_array) {
                Some(values) if !values.is_empty() && values.iter().all(Json::is_string) => {
                    let name = self.claim(hint);
                    self.emit_enum(&name, values, None);
                    Ty::Named(name)
                }
                _ => Ty::String,
            },
            Some("integer") => {
                if node.get("enum").is_some() {
                    self.fixups.apply(FIXUP_NON_STRING_ENUM);
                }
                Ty::Integer
            }
            Some("number") => Ty::Number,
            Some("boolean") => Ty::Boolean,
            Some("array") => match node.get("items") {
                Some(items) if items.is_object() => Ty::List(Box::new(self.resolve(items, hint)?)),
                _ => Ty::List(Box::new(Ty::Json)),
            },
            Some("object") | None => {
                let has_properties = node
                    .get("properties")
                    .and_then(Json::as_object)
                    .is_some_and(|p| !p.is_empty());
                if has_properties && node.get("oneOf").is_none() && node.get("anyOf").is_none() {
                    let name = self.claim(hint);
                    self.emit_struct(&name, node, None)?;
                    Ty::Named(name)
                } else if let Some(patterns) =
                    node.get("patternProperties").and_then(Json::as_object)
                    && patterns.len() == 1
                {
                    let value = patterns.values().next().expect("one pattern");
                    Ty::Map(Box::new(self.resolve(value, hint)?))
                } else {
                    Ty::Json
                }
            }
            _ => Ty::Json,
        })
    }

    fn resolve_definition(&mut self, name: &str) -> Result<Ty> {
        if let Some(ty) = self.definitions.get(name) {
            return Ok(ty.clone());
        }
        let node = self.definition(name)?;
        let is_struct = node
            .get("properties")
            .and_then(Json::as_object)
            .is_some_and(|p| !p.is_empty())
            && matches!(
                node.get("type").and_then(Json::as_str),
                Some("object") | None
            )
            && node.get("oneOf").is_none()
            && node.get("anyOf").is_none();
        let enum_values = node.get("enum").and_then(Json::as_array).filter(|values| {
            node.get("type").and_then(Json::as_str) == Some("string")
                && !values.is_empty()
                && values.iter().all(Json::is_string)
        });
        if is_struct {
            let rust_name = self.claim(name);
            let ty = Ty::Named(rust_name.clone());
            // Registered before its fields resolve, so that a recursive definition refers
            // to itself.
            self.definitions.insert(name.to_owned(), ty.clone());
            self.emit_struct(&rust_name, node, Some(name))?;
            Ok(ty)
        } else if let Some(values) = enum_values {
            let rust_name = self.claim(name);
            let ty = Ty::Named(rust_name.clone());
            self.definitions.insert(name.to_owned(), ty.clone());
            self.emit_enum(&rust_name, values, Some(name));
            Ok(ty)
        } else {
            let ty = self.resolve(node, name)?;
            self.definitions.insert(name.to_owned(), ty.clone());
            Ok(ty)
        }
    }

    fn fields(
        &mut self,
        owner: &str,
        node: &'a Json,
        skip: &HashSet<String>,
    ) -> Result<Vec<Field>> {
        let required: HashSet<&str> = node
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        let mut names = HashSet::new();
        let properties = node["properties"]
            .as_object()
            .context("an object with properties")?;
        for (cfn_name, property) in properties {
            if skip.contains(cfn_name) {
                continue;
            }
            let ty = self.resolve(property, &format!("{owner}{}", pascal(cfn_name)))?;
            let rust_name = field_name(cfn_name);
            ensure!(
                names.insert(rust_name.clone()),
                "{}: two properties of {owner} give the field name `{rust_name}`; add a fix-up for them",
                self.type_name
            );
            let module = if owner.is_empty() {
                self.module.clone()
            } else {
                "self".to_owned()
            };
            let doc = self.field_doc(
                cfn_name,
                property,
                &ty,
                required.contains(cfn_name.as_str()),
                &module,
            )?;
            fields.push(Field {
                cfn_name: cfn_name.clone(),
                rust_name,
                ty,
                required: required.contains(cfn_name.as_str()),
                doc,
            });
        }
        Ok(fields)
    }

    /// The constraints of a node, following a reference to a definition.
    fn constraints(&self, node: &'a Json) -> Result<Vec<String>> {
        let node = match node.get("$ref").and_then(Json::as_str) {
            Some(reference) => self.definition(Self::ref_name(reference)?)?,
            None => node,
        };
        let mut out = Vec::new();
        let number = |key: &str| node.get(key).and_then(Json::as_f64);
        match (number("minLength"), number("maxLength")) {
            (Some(min), Some(max)) => out.push(format!("{min} to {max} characters")),
            (Some(min), None) => out.push(format!("at least {min} characters")),
            (None, Some(max)) => out.push(format!("at most {max} characters")),
            _ => {}
        }
        match (number("minimum"), number("maximum")) {
            (Some(min), Some(max)) => out.push(format!("from {min} to {max}")),
            (Some(min), None) => out.push(format!("at least {min}")),
            (None, Some(max)) => out.push(format!("at most {max}")),
            _ => {}
        }
        match (number("minItems"), number("maxItems")) {
            (Some(min), Some(max)) => out.push(format!("{min} to {max} items")),
            (Some(min), None) => out.push(format!("at least {min} items")),
            (None, Some(max)) => out.push(format!("at most {max} items")),
            _ => {}
        }
        if let Some(pattern) = node.get("pattern").and_then(Json::as_str) {
            out.push(format!("matches `{}`", pattern.replace('`', "'")));
        }
        if let Some(items) = node.get("items")
            && items.get("$ref").is_none()
        {
            for constraint in self.constraints(items)? {
                out.push(format!("each item {constraint}"));
            }
        }
        Ok(out)
    }

    fn field_doc(
        &self,
        cfn_name: &str,
        node: &'a Json,
        ty: &Ty,
        required: bool,
        module: &str,
    ) -> Result<String> {
        let mut doc = format!(
            "`{cfn_name}`: {}, {}.",
            if required { "required" } else { "optional" },
            ty.describe(module)
        );
        let constraints = self.constraints(node)?;
        if !constraints.is_empty() {
            let _ = write!(doc, " Constraints: {}.", constraints.join("; "));
        }
        Ok(doc)
    }

    fn emit_enum(&mut self, name: &str, values: &[Json], definition: Option<&str>) {
        self.definitions_emitted += 1;
        let mut variants: Vec<(String, String)> = Vec::new();
        let mut seen = HashSet::new();
        for value in values.iter().filter_map(Json::as_str) {
            let mut variant = variant_name(value);
            if !seen.insert(variant.clone()) {
                self.fixups.apply(FIXUP_VARIANT_NAME_CLASH);
                let mut n = 2;
                while !seen.insert(format!("{variant}{n}")) {
                    n += 1;
                }
                variant = format!("{variant}{n}");
            }
            variants.push((variant, value.to_owned()));
        }
        let url = self.doc_url(definition);
        let mut code = String::new();
        let _ = writeln!(
            code,
            "/// The allowed values of a string property ([AWS documentation]({url})).\n#[derive(Clone, Debug, PartialEq, Eq, Hash)]\npub enum {name} {{"
        );
        for (variant, value) in &variants {
            let _ = writeln!(
                code,
                "    /// `{}`.\n    {variant},",
                value.replace('`', "'")
            );
        }
        let _ = writeln!(
            code,
            "    /// A value newer than the schema this type was generated from, passed as is.\n    Other(String),\n}}"
        );
        let _ = writeln!(
            code,
            "impl {name} {{\n    /// The value as CloudFormation spells it.\n    pub fn as_str(&self) -> &str {{\n        match self {{"
        );
        for (variant, value) in &variants {
            let _ = writeln!(code, "            {name}::{variant} => {value:?},");
        }
        let _ = writeln!(
            code,
            "            {name}::Other(value) => value,\n        }}\n    }}\n}}"
        );
        let _ = writeln!(
            code,
            "impl From<{name}> for hyperpod_core::Value<{name}> {{\n    fn from(value: {name}) -> Self {{\n        hyperpod_core::Value::from_expr(hyperpod_core::Expr::String(value.as_str().to_owned()))\n    }}\n}}"
        );
        self.items.push(code);
    }

    fn emit_struct(&mut self, name: &str, node: &'a Json, definition: Option<&str>) -> Result<()> {
        self.definitions_emitted += 1;
        let fields = self.fields(name, node, &HashSet::new())?;
        let url = self.doc_url(definition);
        let mut code = String::new();
        let _ = writeln!(
            code,
            "/// A property type of `{}` ([AWS documentation]({url})).",
            self.type_name
        );
        let module = "self";
        code.push_str(&struct_code(name, &fields, module));
        self.items.push(code);
        Ok(())
    }

    /// The Rust expression of the rule of a node.
    fn rule(&mut self, node: &'a Json) -> Result<String> {
        if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
            let name = Self::ref_name(reference)?.to_owned();
            if let Some(existing) = self.rule_statics.get(&name) {
                return Ok(format!("&{existing}"));
            }
            let definition = self.definition(&name)?;
            if definition.get("$ref").is_some() {
                // A definition that only names another one shares that one's rule.
                let target = self.rule(definition)?;
                self.rule_statics
                    .insert(name, target.trim_start_matches('&').to_owned());
                return Ok(target);
            }
            let static_name = format!("{}_RULE_{}", screaming(&self.resource), screaming(&name));
            self.rule_statics.insert(name.clone(), static_name.clone());
            let body = self.rule_body(definition)?;
            self.rules.push(format!(
                "static {static_name}: hyperpod_core::schema::Rule = {body};"
            ));
            return Ok(format!("&{static_name}"));
        }
        Ok(format!("&{}", self.rule_body(node)?))
    }

    fn rule_body(&mut self, node: &'a Json) -> Result<String> {
        let mut parts: Vec<String> = Vec::new();
        let kind = match node.get("type").and_then(Json::as_str) {
            Some("string") => "String",
            Some("integer") => "Integer",
            Some("number") => "Number",
            Some("boolean") => "Boolean",
            Some("array") => "Array",
            Some("object") => "Object",
            None if node.get("properties").is_some() => "Object",
            _ => "Any",
        };
        parts.push(format!("kind: hyperpod_core::schema::Kind::{kind}"));
        if kind == "String"
            && let Some(values) = node.get("enum").and_then(Json::as_array)
        {
            let values: Vec<String> = values
                .iter()
                .filter_map(Json::as_str)
                .map(|v| format!("{v:?}"))
                .collect();
            parts.push(format!("enum_values: &[{}]", values.join(", ")));
        }
        if let Some(pattern) = node.get("pattern").and_then(Json::as_str) {
            let pattern = self.ecma_to_rust(pattern);
            if fancy_regex::Regex::new(&pattern).is_ok() {
                parts.push(format!("pattern: Some({pattern:?})"));
            } else {
                self.fixups.apply(FIXUP_UNSUPPORTED_PATTERN);
            }
        }
        for (key, field) in [
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
            ("minItems", "min_items"),
            ("maxItems", "max_items"),
        ] {
            if let Some(value) = node.get(key).and_then(Json::as_u64) {
                parts.push(format!("{field}: Some({value})"));
            }
        }
        for (key, field) in [("minimum", "minimum"), ("maximum", "maximum")] {
            if let Some(value) = node.get(key).and_then(Json::as_f64) {
                parts.push(format!("{field}: Some({value:?})"));
            }
        }
        if kind == "Array"
            && let Some(items) = node.get("items").filter(|items| items.is_object())
        {
            let items = self.rule(items)?;
            parts.push(format!("items: Some({items})"));
        }
        // A `oneOf` or `anyOf` beside `properties` only combines required sets: the
        // properties still apply.
        if let Some(properties) = node.get("properties").and_then(Json::as_object) {
            let mut entries = Vec::new();
            for (name, property) in properties {
                let rule = self.rule(property)?;
                entries.push(format!("({name:?}, {rule})"));
            }
            parts.push(format!("properties: &[{}]", entries.join(", ")));
            if let Some(required) = node.get("required").and_then(Json::as_array) {
                let required: Vec<String> = required
                    .iter()
                    .filter_map(Json::as_str)
                    .map(|r| format!("{r:?}"))
                    .collect();
                parts.push(format!("required: &[{}]", required.join(", ")));
            }
            if node.get("additionalProperties") == Some(&Json::Bool(false))
                && node.get("patternProperties").is_none()
            {
                parts.push("closed: true".to_owned());
            }
        }
        parts.push("..hyperpod_core::schema::Rule::ANY".to_owned());
        Ok(format!(
            "hyperpod_core::schema::Rule {{ {} }}",
            parts.join(", ")
        ))
    }

    /// Rewrites what ECMAScript reads differently inside a character class: an unescaped
    /// `[` is a literal there (a nested class here), and a `-` right after a class escape
    /// such as `\w` is a literal there (a broken range here).
    fn ecma_to_rust(&mut self, pattern: &str) -> String {
        let mut out = String::new();
        let mut in_class = false;
        let mut chars = pattern.chars().peekable();
        let mut previous_was_class_escape = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let next = chars.next().unwrap_or_default();
                    out.push(c);
                    out.push(next);
                    previous_was_class_escape = in_class && "wWdDsS".contains(next);
                    continue;
                }
                '[' if in_class => {
                    self.fixups.apply(FIXUP_LITERAL_BRACKET_IN_CLASS);
                    out.push_str("\\[");
                }
                '[' => {
                    in_class = true;
                    out.push(c);
                    if chars.peek() == Some(&'^') {
                        out.push(chars.next().expect("peeked"));
                    }
                    if chars.peek() == Some(&']') {
                        out.push(chars.next().expect("peeked"));
                    }
                }
                ']' if in_class => {
                    in_class = false;
                    out.push(c);
                }
                '-' if previous_was_class_escape => {
                    self.fixups.apply(FIXUP_LITERAL_HYPHEN_AFTER_CLASS_ESCAPE);
                    out.push_str("\\-");
                }
                _ => out.push(c),
            }
            previous_was_class_escape = false;
        }
        out
    }

    fn pointers(&self, key: &str) -> Vec<String> {
        self.schema
            .get(key)
            .and_then(Json::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(Json::as_str)
                    .filter_map(|p| p.strip_prefix("/properties/"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn tag_format(&self) -> &'static str {
        let taggable = self
            .schema
            .get("tagging")
            .and_then(|t| t.get("taggable"))
            .and_then(Json::as_bool)
            .unwrap_or(false);
        let tags = self.schema["properties"].get("Tags");
        match (
            taggable,
            tags.and_then(|t| t.get("type")).and_then(Json::as_str),
        ) {
            (true, Some("array")) => "KeyValueList",
            (true, Some("object")) => "Map",
            _ => "NotTaggable",
        }
    }

    /// The schema node of a read-only property path, when the schema declares it.
    fn node_at(&self, path: &str) -> Option<&'a Json> {
        let mut node = &self.schema["properties"];
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                node = node.get("properties")?;
            }
            node = node.get(segment)?;
            if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
                node = self.schema["definitions"].get(reference.strip_prefix("#/definitions/")?)?;
            }
        }
        Some(node)
    }

    fn emit(mut self) -> Result<GeneratedResource> {
        let read_only: Vec<String> = self.pointers("readOnlyProperties");
        let create_only: Vec<String> = self.pointers("createOnlyProperties");
        let primary: Vec<String> = self.pointers("primaryIdentifier");
        let skip: HashSet<String> = read_only
            .iter()
            .filter(|p| !p.contains('/'))
            .cloned()
            .collect();
        let properties_name = format!("{}Props", self.resource);
        self.taken.insert(properties_name.clone());
        let mut fields = self.fields("", self.schema, &skip)?;
        for field in &mut fields {
            if create_only.contains(&field.cfn_name) {
                field.doc.push_str(" Changing this replaces the resource.");
            }
            let nested: Vec<String> = create_only
                .iter()
                .filter_map(|path| path.strip_prefix(&format!("{}/", field.cfn_name)))
                .map(|rest| format!("`{rest}`"))
                .collect();
            if !nested.is_empty() {
                let _ = write!(
                    field.doc,
                    " Changing {} inside it replaces the resource.",
                    nested.join(", ")
                );
            }
        }
        let url = self.doc_url(None);
        let rule = self.rule_body(self.schema)?;
        let definitions_expected = self.definitions_expected();
        let (service, resource, module, type_name) = (
            self.service.clone(),
            self.resource.clone(),
            self.module.clone(),
            self.type_name.clone(),
        );
        let handle = format!("Cfn{resource}");
        let spec_static = format!("{}_SPEC", screaming(&resource));

        let mut code = String::new();
        let _ = writeln!(
            code,
            "\n/// The properties of [`{handle}`] (`{type_name}`)."
        );
        code.push_str(&struct_code(&properties_name, &fields, &module));
        let tag_format = self.tag_format();
        let _ = writeln!(
            code,
            "/// `{type_name}` ([AWS documentation]({url})).\n///\n/// `Ref` returns the primary identifier ({}).\n#[derive(Clone, Debug)]\npub struct {handle} {{\n    resource: hyperpod_core::CfnResource,\n}}",
            primary
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(
            code,
            "impl {handle} {{\n    /// The CloudFormation type name.\n    pub const TYPE: &'static str = \"{type_name}\";\n\n    /// Declares the resource in `scope`.\n    pub fn new(scope: &impl hyperpod_core::Scope, id: &str, props: {properties_name}) -> {handle} {{\n        let resource = hyperpod_core::CfnResource::new(scope, id, Self::TYPE, hyperpod_core::TagFormat::{tag_format}, props.into_properties());\n        resource.attach_spec(&{spec_static}, true);\n        {handle} {{ resource }}\n    }}\n\n    /// `Ref` of the resource: its primary identifier.\n    pub fn ref_value(&self) -> hyperpod_core::Value<String> {{\n        self.resource.ref_value()\n    }}"
        );
        let reserved = ["new", "ref_value", "node", "resource", "spec"];
        let mut methods = HashSet::new();
        for attribute in &read_only {
            let ty = match self.node_at(attribute) {
                Some(node) => match node.get("type").and_then(Json::as_str) {
                    Some("integer") => "i64".to_owned(),
                    Some("number") => "f64".to_owned(),
                    Some("boolean") => "bool".to_owned(),
                    Some("array") => "Vec<String>".to_owned(),
                    _ => "String".to_owned(),
                },
                None => "String".to_owned(),
            };
            let mut method = field_name(&attribute.replace('/', ""));
            if reserved.contains(&method.as_str()) {
                method = format!("attr_{method}");
            }
            if !methods.insert(method.clone()) {
                self.fixups.apply(FIXUP_ATTRIBUTE_NAME_CLASH);
                continue;
            }
            let get_att = attribute.replace('/', ".");
            let _ = writeln!(
                code,
                "\n    /// `Fn::GetAtt` of `{get_att}`.\n    pub fn {method}(&self) -> hyperpod_core::Value<{ty}> {{\n        self.resource.get_att(\"{get_att}\")\n    }}"
            );
        }
        let _ = writeln!(code, "}}");
        let _ = writeln!(
            code,
            "impl hyperpod_core::Scope for {handle} {{\n    fn node(&self) -> &hyperpod_core::Node {{\n        self.resource.node()\n    }}\n}}\nimpl hyperpod_core::TemplateElement for {handle} {{}}\nimpl std::ops::Deref for {handle} {{\n    type Target = hyperpod_core::CfnResource;\n\n    fn deref(&self) -> &hyperpod_core::CfnResource {{\n        &self.resource\n    }}\n}}"
        );
        let quote = |items: &[String]| {
            items
                .iter()
                .map(|i| format!("{i:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            code,
            "/// The schema of `{type_name}`.\npub static {spec_static}: hyperpod_core::schema::ResourceSpec = hyperpod_core::schema::ResourceSpec {{\n    type_name: \"{type_name}\",\n    properties: &{rule},\n    create_only: &[{}],\n    primary_identifier: &[{}],\n    tag_format: hyperpod_core::TagFormat::{tag_format},\n    documentation: \"{url}\",\n}};",
            quote(&create_only),
            quote(&primary)
        );
        for rule in &self.rules {
            code.push_str(rule);
            code.push('\n');
        }
        if !self.items.is_empty() {
            let _ = writeln!(
                code,
                "/// The property types of `{type_name}`.\npub mod {module} {{"
            );
            for item in &self.items {
                code.push_str(item);
            }
            let _ = writeln!(code, "}}");
        }
        let _ = service;
        Ok(GeneratedResource {
            code,
            spec_path: spec_static,
            definitions_emitted: self.definitions_emitted,
            definitions_expected,
        })
    }

    /// The types the generator must emit for this resource: one per object or string-enum
    /// definition reachable from the properties, plus the inline objects and enums.
    fn definitions_expected(&self) -> usize {
        let mut reachable = HashSet::new();
        let mut inline = 0;
        let mut pending: Vec<&Json> = self.schema["properties"]
            .as_object()
            .map(|p| p.values().collect())
            .unwrap_or_default();
        let read_only_top: HashSet<String> = self
            .pointers("readOnlyProperties")
            .into_iter()
            .filter(|p| !p.contains('/'))
            .collect();
        pending = self.schema["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .filter(|(name, _)| !read_only_top.contains(*name))
                    .map(|(_, v)| v)
                    .collect()
            })
            .unwrap_or(pending);
        while let Some(node) = pending.pop() {
            if let Some(reference) = node.get("$ref").and_then(Json::as_str) {
                let name = reference.trim_start_matches("#/definitions/");
                if reachable.insert(name.to_owned()) {
                    let definition = &self.schema["definitions"][name];
                    if is_named(definition) {
                        inline += 1;
                    }
                    pending.extend(children(definition));
                }
                continue;
            }
            if is_named(node) {
                inline += 1;
            }
            pending.extend(children(node));
        }
        inline
    }
}

/// Whether a node becomes a struct or an enum of its own.
fn is_named(node: &Json) -> bool {
    let object = node
        .get("properties")
        .and_then(Json::as_object)
        .is_some_and(|p| !p.is_empty())
        && matches!(
            node.get("type").and_then(Json::as_str),
            Some("object") | None
        )
        && node.get("oneOf").is_none()
        && node.get("anyOf").is_none();
    let string_enum = node.get("type").and_then(Json::as_str) == Some("string")
        && node
            .get("enum")
            .and_then(Json::as_array)
            .is_some_and(|v| !v.is_empty() && v.iter().all(Json::is_string));
    object || string_enum
}

/// The nodes whose types a node's type is built from.
fn children(node: &Json) -> Vec<&Json> {
    let mut out = Vec::new();
    if is_named(node) && node.get("properties").is_some() {
        out.extend(node["properties"].as_object().expect("an object").values());
        return out;
    }
    match node.get("type").and_then(Json::as_str) {
        Some("array") => out.extend(node.get("items").filter(|i| i.is_object())),
        Some("object") | None => {
            if let Some(patterns) = node.get("patternProperties").and_then(Json::as_object)
                && patterns.len() == 1
                && node
                    .get("properties")
                    .is_none_or(|p| p.as_object().is_none_or(|p| p.is_empty()))
            {
                out.extend(patterns.values());
            }
        }
        _ => {}
    }
    out
}

fn struct_code(name: &str, fields: &[Field], module: &str) -> String {
    let mut code = String::new();
    let required: Vec<&Field> = fields.iter().filter(|f| f.required).collect();
    let derive = if required.is_empty() {
        "Clone, Debug, Default"
    } else {
        "Clone, Debug"
    };
    let _ = writeln!(code, "#[derive({derive})]\npub struct {name} {{");
    for field in fields {
        let ty = format!("hyperpod_core::Value<{}>", field.ty.rust(module));
        let ty = if field.required {
            ty
        } else {
            format!("Option<{ty}>")
        };
        let _ = writeln!(
            code,
            "    /// {}\n    pub {}: {ty},",
            field.doc, field.rust_name
        );
    }
    let _ = writeln!(code, "}}");
    if !required.is_empty() {
        let params: Vec<String> = required
            .iter()
            .map(|f| {
                format!(
                    "{}: impl Into<hyperpod_core::Value<{}>>",
                    f.rust_name,
                    f.ty.rust(module)
                )
            })
            .collect();
        let inits: Vec<String> = fields
            .iter()
            .map(|f| {
                if f.required {
                    format!("{}: {}.into()", f.rust_name, f.rust_name)
                } else {
                    format!("{}: None", f.rust_name)
                }
            })
            .collect();
        let _ = writeln!(
            code,
            "impl {name} {{\n    /// A value with the required properties set and the optional ones absent.\n    #[allow(clippy::too_many_arguments)]\n    pub fn new({}) -> {name} {{\n        {name} {{ {} }}\n    }}\n}}",
            params.join(", "),
            inits.join(", ")
        );
    }
    let entries: Vec<String> = fields
        .iter()
        .map(|f| {
            if f.required {
                format!("({:?}, Some(self.{}.into_expr()))", f.cfn_name, f.rust_name)
            } else {
                format!(
                    "({:?}, self.{}.map(hyperpod_core::Value::into_expr))",
                    f.cfn_name, f.rust_name
                )
            }
        })
        .collect();
    let _ = writeln!(
        code,
        "impl {name} {{\n    /// The properties as template values, absent ones left out.\n    pub fn into_properties(self) -> hyperpod_core::ExprMap {{\n        crate::properties([{}])\n    }}\n}}\nimpl From<{name}> for hyperpod_core::Value<{name}> {{\n    fn from(value: {name}) -> Self {{\n        hyperpod_core::Value::from_expr(hyperpod_core::Expr::Map(value.into_properties()))\n    }}\n}}",
        entries.join(", ")
    );
    code
}

/// `PascalCase` from a schema name.
fn pascal(name: &str) -> String {
    let mut out = String::new();
    for word in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `snake_case` from a `PascalCase` schema name, keeping acronyms together
/// (`SSEAlgorithm` → `sse_algorithm`, `VpcId` → `vpc_id`).
fn snake(name: &str) -> String {
    // Binary units are one word: `MemoryInGiB` → `memory_in_gib`.
    let name = name
        .replace("GiB", "Gib")
        .replace("MiB", "Mib")
        .replace("TiB", "Tib")
        .replace("KiB", "Kib");
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            continue;
        }
        if c.is_ascii_uppercase() && i > 0 {
            let previous = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if (previous.is_ascii_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_ascii_uppercase() && next_lower))
                && !out.ends_with('_')
            {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out.trim_matches('_').to_owned()
}

fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

fn field_name(cfn_name: &str) -> String {
    let name = snake(cfn_name);
    let name = if name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("v{name}")
    } else {
        name
    };
    match name.as_str() {
        "type" | "match" | "ref" | "self" | "async" | "mod" | "static" | "struct" | "enum"
        | "fn" | "loop" | "move" | "use" | "where" | "impl" | "in" | "as" | "box" | "const"
        | "crate" | "dyn" | "else" | "extern" | "false" | "for" | "if" | "let" | "mut" | "pub"
        | "return" | "super" | "trait" | "true" | "unsafe" | "while" | "yield" | "abstract"
        | "become" | "do" | "final" | "macro" | "override" | "priv" | "typeof" | "unsized"
        | "virtual" | "await" | "try" | "gen" => {
            format!("{name}_")
        }
        _ => name,
    }
}

/// The variant of an enum value: words in capitals become capitalised
/// (`API_AND_CONFIG_MAP` → `ApiAndConfigMap`), other words keep their case.
fn variant_name(value: &str) -> String {
    let words: Vec<String> = value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|word| {
            if word.len() > 1 && !word.chars().any(|c| c.is_ascii_lowercase()) {
                let lower = word.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            } else {
                word.to_owned()
            }
        })
        .collect();
    let name = pascal(&words.join("_"));
    if name.is_empty() {
        "Empty".to_owned()
    } else if name == "Self" || name == "Other" {
        format!("{name}Value")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_keeps_acronyms_together() {
        assert_eq!(snake("SSEAlgorithm"), "sse_algorithm");
        assert_eq!(snake("VpcId"), "vpc_id");
        assert_eq!(snake("EnableDnsHostnames"), "enable_dns_hostnames");
        assert_eq!(snake("Ipv6CidrBlock"), "ipv6_cidr_block");
        assert_eq!(snake("S3Uri"), "s3_uri");
        assert_eq!(field_name("Type"), "type_");
    }

    #[test]
    fn variants_are_pascal_case_and_never_start_with_a_digit() {
        assert_eq!(variant_name("ml.p5.48xlarge"), "MlP548xlarge");
        assert_eq!(variant_name("aws:kms"), "AwsKms");
        assert_eq!(variant_name("1g"), "V1g");
        assert_eq!(variant_name("Other"), "OtherValue");
        assert_eq!(variant_name("API_AND_CONFIG_MAP"), "ApiAndConfigMap");
        assert_eq!(variant_name("AES256"), "Aes256");
        assert_eq!(variant_name("LendAndBorrow"), "LendAndBorrow");
        assert_eq!(snake("MemoryInGiB"), "memory_in_gib");
    }

    /// The committed generated code is what the generator writes today.
    #[test]
    fn generated_resources_are_fresh() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace")
            .to_path_buf();
        if schema_dir(&root).is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "the pinned cfn-lint is not installed in .venv and CI must not skip; run `cargo xtask test`"
            );
            eprintln!(
                "SKIPPED: the pinned cfn-lint is not in .venv; run `cargo xtask test` to install it and run this test"
            );
            return;
        }
        if let Err(error) = codegen(&root, true) {
            panic!("{error:#}");
        }
    }
}
