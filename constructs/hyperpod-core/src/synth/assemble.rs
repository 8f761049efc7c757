//! Writing: the outputs and parameters other stacks need, each template serialized and
//! checked against CloudFormation's limits, the manifest, the staged assets and the
//! placement record.

use super::*;

impl Synthesizer {
    /// Adds a rendered stack's deploy-time parameters and sets aside its outputs, which
    /// other stacks' rendering may still add to; returns the rest of the template, which
    /// [`serialize_head`] turns into text, and what is set aside.
    pub(super) fn freeze(
        &mut self,
        position: usize,
        mut body: TemplateBody,
    ) -> (Json, FrozenTemplate) {
        for parameter in self.stacks[position].deploy_time_parameters.values() {
            let description = format!(
                "output {} of stack {}, filled in by the deploy engine",
                parameter.output, parameter.producer_stack
            );
            body.parameters.insert(
                parameter.parameter.clone(),
                json!({ "Type": "String", "Description": description }),
            );
        }
        let outputs = std::mem::take(&mut body.outputs);
        let counts = [
            body.resources.len(),
            body.parameters.len(),
            body.mappings.len(),
        ];
        let frozen = FrozenTemplate {
            head: Vec::new(),
            outputs,
            resources: counts[0],
            parameters: counts[1],
            mappings: counts[2],
        };
        (render_template(body), frozen)
    }

    /// Reports the generated outputs and deploy-time parameters of a stack that take a
    /// construct's logical id.
    fn report_generated_collisions(&mut self, position: usize, outputs: &[String]) {
        let info = &self.stacks[position];
        let user_ids: IndexSet<&String> = info
            .elements
            .iter()
            .filter_map(|n| self.logical_ids.get(&n.index))
            .collect();
        let parameters = info
            .deploy_time_parameters
            .values()
            .map(|parameter| &parameter.parameter);
        let collisions: Vec<String> = outputs
            .iter()
            .map(|name| (name, "Outputs"))
            .chain(parameters.map(|name| (name, "Parameters")))
            .filter(|(name, _)| user_ids.contains(name))
            .map(|(name, section)| format!("the generated entry `{name}` of {section} has the logical id of a construct in this stack; rename that construct or override its logical id"))
            .collect();
        let node = info.stack.node().clone();
        for message in collisions {
            self.problem(&node, "logical_id_collision", message);
        }
    }

    pub(super) fn assemble(&mut self, frozen: Vec<FrozenTemplate>) -> CloudAssembly {
        let mut stack_manifests = Vec::new();
        let mut asset_files: IndexMap<String, Vec<u8>> = IndexMap::new();
        let mut files = Vec::new();
        let mut texts = Vec::with_capacity(frozen.len());
        let mut all_counts = Vec::with_capacity(frozen.len());
        for (position, template) in frozen.into_iter().enumerate() {
            let FrozenTemplate {
                mut head,
                mut outputs,
                resources,
                parameters,
                mappings,
            } = template;
            let info = &self.stacks[position];
            let mut shared: Vec<(&String, &SharedOutput)> = info.shared_outputs.iter().collect();
            shared.sort_by(|a, b| a.0.cmp(b.0));
            let mut generated = Vec::new();
            for (name, output) in shared {
                let mut rendered = Map::new();
                rendered.insert(
                    "Description".into(),
                    Json::String(
                        "read by other stacks of this app; removing it breaks them".into(),
                    ),
                );
                rendered.insert("Value".into(), output.value.clone());
                if let Some(export_name) = &output.export_name {
                    rendered.insert("Export".into(), json!({ "Name": export_name }));
                }
                generated.push(name.clone());
                outputs.insert(name.clone(), Json::Object(rendered));
            }
            self.report_generated_collisions(position, &generated);
            let output_count = outputs.len();
            const OUTPUTS_KEY: &[u8] = b",\n\"Outputs\": ";
            const END: &[u8] = b"\n}\n";
            if outputs.is_empty() {
                head.reserve_exact(END.len());
            } else {
                let section = to_unindented_json(&Json::Object(outputs));
                head.reserve_exact(OUTPUTS_KEY.len() + section.len() + END.len());
                head.extend_from_slice(OUTPUTS_KEY);
                head.extend_from_slice(&section);
            }
            head.extend_from_slice(END);
            texts.push(head);
            all_counts.push([resources, parameters, output_count, mappings]);
        }
        let written = written_sizes_and_digests(&texts);
        for (position, ((unindented, counts), (template_bytes, digest))) in
            texts.into_iter().zip(all_counts).zip(written).enumerate()
        {
            let node = self.stacks[position].stack.node().clone();
            let [resources, parameters, output_count, mappings] = counts;
            let counts = [
                (
                    resources,
                    limits::RESOURCES,
                    "resources",
                    "too_many_resources",
                ),
                (
                    parameters,
                    limits::PARAMETERS,
                    "parameters",
                    "too_many_parameters",
                ),
                (output_count, limits::OUTPUTS, "outputs", "too_many_outputs"),
                (mappings, limits::MAPPINGS, "mappings", "too_many_mappings"),
            ];
            let mut limit_problems = Vec::new();
            for (count, limit, what, code) in counts {
                if count > limit {
                    limit_problems.push((code, format!("the template has {count} {what}, more than CloudFormation's limit of {limit}; split the stack")));
                }
            }
            if template_bytes > limits::TEMPLATE_BYTES {
                limit_problems.push(("template_too_large", format!("the template is {template_bytes} bytes, more than CloudFormation's limit of {}; split the stack", limits::TEMPLATE_BYTES)));
            }

            let info = &self.stacks[position];
            let template_path = format!(
                "{}/{}.template.json",
                info.stage_id,
                info.artifact_id
                    .rsplit('/')
                    .next()
                    .expect("an artifact id has a last part")
            );
            let tags = stack_tags(&info.stack);
            let construct_paths = info
                .elements
                .iter()
                .filter(|n| {
                    n.with_element(|e| matches!(e.body, ElementBody::Resource(_))) == Some(true)
                })
                .filter_map(|n| Some((self.logical_ids.get(&n.index)?.clone(), n.path())))
                .collect();
            stack_manifests.push(StackManifest {
                id: info.artifact_id.clone(),
                stack_name: info.name.clone(),
                stage: info.stage_id.clone(),
                account: info.env.account.clone(),
                region: info.env.region.clone(),
                template: template_path.clone(),
                template_sha256: digest,
                template_bytes: template_bytes as u64,
                template_requires_upload: template_bytes > limits::INLINE_TEMPLATE_BYTES,
                dependencies: info
                    .dependencies
                    .iter()
                    .map(|&d| self.stacks[d].artifact_id.clone())
                    .collect(),
                parameters: info.deploy_time_parameters.values().cloned().collect(),
                termination_protection: info
                    .stack
                    .with_data(|data| data.props.termination_protection),
                tags,
                construct_paths,
                assets: Vec::new(),
                shard: info.shard.as_ref().map(|(number, units)| ShardManifest {
                    of: info.stack.node().path(),
                    number: *number,
                    units: units.clone(),
                }),
                stack_set: info
                    .stack
                    .stack_set()
                    .map(|deployment| -> StackSetManifest {
                        deployment.manifest(
                            &info.env.region,
                            info.confined_accounts.iter().cloned().collect(),
                            info.unconfined_resources,
                        )
                    }),
            });
            files.push(AssemblyFile {
                path: template_path,
                body: FileBody::Unindented(unindented),
            });
            let assets = self.stage_assets(position, &mut asset_files);
            stack_manifests.last_mut().expect("just pushed").assets = assets;
            for (code, message) in limit_problems {
                self.problem(&node, code, message);
            }
        }
        let manifest = Manifest {
            version: Manifest::VERSION,
            app: self.root.with(|data| match &data.kind {
                NodeKind::App { name } => name.clone(),
                _ => String::new(),
            }),
            stages: self
                .root
                .children()
                .into_iter()
                .filter_map(|child| {
                    child.with(|data| match &data.kind {
                        NodeKind::Stage(stage) => Some(StageManifest {
                            id: data.id.clone(),
                            account: stage.env.account.clone(),
                            region: stage.env.region.clone(),
                        }),
                        _ => None,
                    })
                })
                .collect(),
            stacks: stack_manifests,
        };
        let mut manifest_bytes =
            serde_json::to_vec_pretty(&manifest).expect("the manifest always serializes");
        manifest_bytes.push(b'\n');
        files.insert(0, AssemblyFile::bytes("manifest.json", manifest_bytes));
        files.extend(
            asset_files
                .into_iter()
                .map(|(path, contents)| AssemblyFile::bytes(path, contents)),
        );
        if !self.placement.stacks.is_empty() {
            files.insert(
                1,
                AssemblyFile::bytes(Placement::FILE, self.placement.to_json_bytes()),
            );
        }
        CloudAssembly {
            manifest,
            suppressed: Vec::new(),
            placement: self.placement.clone(),
            files,
        }
    }

    /// The assets of a stack, with their files staged under `assets/<hash>/` (once per
    /// content, however many stacks share it).
    pub(super) fn stage_assets(
        &self,
        position: usize,
        staged: &mut IndexMap<String, Vec<u8>>,
    ) -> Vec<AssetManifest> {
        let mut out = Vec::new();
        // Assets stay with the sharded stack (units may not hold any); a shard has none.
        if self.stacks[position].shard.is_some() {
            return out;
        }
        for child in self.stacks[position].stack.node().descendants() {
            let entry = child.with(|data| match &data.kind {
                NodeKind::Asset(asset) => {
                    let files = asset.files.as_ref().ok()?;
                    let source = format!("assets/{}", asset.hash);
                    for (name, contents) in files {
                        staged
                            .entry(format!("{source}/{name}"))
                            .or_insert_with(|| contents.clone());
                    }
                    Some(AssetManifest {
                        id: child.path(),
                        sha256: asset.hash.clone(),
                        source,
                        files: files.iter().map(|(name, _)| name.clone()).collect(),
                        bucket_name: asset.destination.bucket_name.clone(),
                        object_key_prefix: crate::asset::object_prefix(asset),
                    })
                }
                _ => None,
            });
            out.extend(entry);
        }
        out
    }
}

/// A stack's template with everything but its outputs final (see `Synthesizer::freeze`).
pub(super) struct FrozenTemplate {
    /// The template without `Outputs`, pretty-printed without indentation, without its
    /// closing `\n}`.
    pub(super) head: Vec<u8>,
    /// The outputs the stack declares itself.
    outputs: Map<String, Json>,
    resources: usize,
    parameters: usize,
    mappings: usize,
}

/// A frozen template's text: `template` pretty-printed without indentation, reopened to
/// add the outputs (the closing `\n}` is written back at assembly).
pub(super) fn serialize_head(template: &Json) -> Vec<u8> {
    let mut head = to_unindented_json(template);
    head.truncate(head.len() - 2);
    // Every stack's head is held until assembly; the slack of the buffer's doubling would
    // be about a third of them.
    head.shrink_to_fit();
    head
}

/// The size and SHA-256 of each template as it is written (indented), in two threads:
/// hashing is a good part of the synthesis of a large app.
fn written_sizes_and_digests(templates: &[Vec<u8>]) -> Vec<(usize, String)> {
    // Hashed in chunks as the text is indented: the peak of a large synthesis is here,
    // with every template held, so the indented text is never held whole.
    const CHUNK: usize = 64 * 1024;
    let measure = |templates: &mut dyn Iterator<Item = &Vec<u8>>| {
        let mut chunk = Vec::with_capacity(CHUNK);
        templates
            .map(|template| {
                let mut digest = Sha256::new();
                let mut size = 0;
                reindent(template, |part| {
                    size += part.len();
                    if chunk.len() + part.len() > CHUNK {
                        digest.update(&chunk);
                        chunk.clear();
                    }
                    chunk.extend_from_slice(part);
                });
                digest.update(&chunk);
                chunk.clear();
                (size, hex(&digest.finalize()))
            })
            .collect::<Vec<_>>()
    };
    let (even, odd) = std::thread::scope(|scope| {
        let odd = scope.spawn(|| measure(&mut templates.iter().skip(1).step_by(2)));
        let even = measure(&mut templates.iter().step_by(2));
        (
            even,
            odd.join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        )
    });
    let mut odd = odd.into_iter();
    even.into_iter()
        .flat_map(|first| std::iter::once(first).chain(odd.next()))
        .collect()
}

pub(super) fn render_template(body: TemplateBody) -> Json {
    let mut template = Map::new();
    template.insert(
        "AWSTemplateFormatVersion".into(),
        Json::String("2010-09-09".into()),
    );
    if let Some(description) = body.description {
        template.insert("Description".into(), Json::String(description));
    }
    let sections = [
        ("Parameters", body.parameters),
        ("Mappings", body.mappings),
        ("Conditions", body.conditions),
        ("Resources", body.resources),
        ("Outputs", body.outputs),
    ];
    for (name, section) in sections {
        if !section.is_empty() {
            template.insert(name.into(), Json::Object(section));
        }
    }
    Json::Object(template)
}

/// The tags set on the app, the stage and the stack, nearer ones winning, and the
/// ownership tags naming the app and the stage, sorted by key.
pub(super) fn stack_tags(stack: &Stack) -> IndexMap<String, String> {
    let mut tags = tags_at(stack.node());
    tags.insert(crate::manifest::APP_TAG.to_owned(), stack.app_name());
    tags.insert(
        crate::manifest::STAGE_TAG.to_owned(),
        stack.stage().node().id(),
    );
    tags.into_iter().collect()
}
