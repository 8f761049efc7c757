//! `list`: the stacks in the order they deploy, plainly, at length, as JSON, or as a graph
//! of accounts and dependencies.

use std::io::Write;

use hyperpod_core::{Manifest, StackManifest};

use crate::cli::{GraphFormat, ListArgs};
use crate::engine::deploy_order;

/// Writes the listing `args` asks for.
pub fn list(manifest: &Manifest, args: &ListArgs, out: &mut impl Write) -> std::io::Result<()> {
    let all: Vec<&StackManifest> = manifest.stacks.iter().collect();
    let order = deploy_order(&all);
    if let Some(format) = args.graph {
        return match format {
            GraphFormat::Mermaid => mermaid(&order, out),
            GraphFormat::Dot => dot(manifest, &order, out),
        };
    }
    if args.json {
        let stacks: Vec<serde_json::Value> = order
            .iter()
            .map(|stack| {
                serde_json::json!({
                    "id": stack.id,
                    "stackName": stack.stack_name,
                    "stage": stack.stage,
                    "account": stack.account,
                    "region": stack.region,
                    "dependencies": stack.dependencies,
                    "terminationProtection": stack.termination_protection,
                    "templateBytes": stack.template_bytes,
                    "templateRequiresUpload": stack.template_requires_upload,
                    "assets": stack.assets.iter().map(|a| &a.id).collect::<Vec<_>>(),
                    "stackSet": stack.stack_set,
                })
            })
            .collect();
        let json = serde_json::to_string_pretty(&stacks).expect("a listing serializes");
        return writeln!(out, "{json}");
    }
    for stack in order {
        let after = if stack.dependencies.is_empty() {
            String::new()
        } else {
            format!(" after {}", stack.dependencies.join(", "))
        };
        writeln!(
            out,
            "{} (account {}, {}){after}",
            stack.id, stack.account, stack.region
        )?;
        if args.long {
            writeln!(out, "  stack name: {}", stack.stack_name)?;
            writeln!(
                out,
                "  termination protection: {}",
                if stack.termination_protection {
                    "on"
                } else {
                    "off"
                }
            )?;
            writeln!(
                out,
                "  template: {} ({} bytes{})",
                stack.template,
                stack.template_bytes,
                if stack.template_requires_upload {
                    ", deployed through the staging bucket"
                } else {
                    ""
                }
            )?;
            for asset in &stack.assets {
                writeln!(
                    out,
                    "  asset: {} to s3://{}/{}",
                    asset.id, asset.bucket_name, asset.object_key_prefix
                )?;
            }
            if let Some(shard) = &stack.shard {
                writeln!(
                    out,
                    "  shard {} of {}, holding {}",
                    shard.number,
                    shard.of,
                    shard.units.join(", ")
                )?;
            }
            if let Some(set) = &stack.stack_set {
                writeln!(
                    out,
                    "  StackSet ({}) to the accounts of {} in {}; {}",
                    if set.call_as == "DELEGATED_ADMIN" {
                        "delegated administrator"
                    } else {
                        "management account"
                    },
                    set.organizational_units.join(", "),
                    set.regions.join(", "),
                    match (set.accounts.is_empty(), set.unconfined_resources) {
                        (true, _) => "every resource to every account".to_owned(),
                        (false, false) => format!(
                            "resources confined to {}, a placeholder elsewhere",
                            set.accounts.join(", ")
                        ),
                        (false, true) => format!(
                            "resources confined to {}, the others to every account",
                            set.accounts.join(", ")
                        ),
                    }
                )?;
            }
        }
    }
    Ok(())
}

/// A node name for a stack id, which graph languages accept: `/` becomes `_`, any other
/// character but letters and digits its code (`-` is `_2d`), so that two ids never meet.
fn node(id: &str) -> String {
    id.chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() => c.to_string(),
            '/' => "_".to_owned(),
            c => format!("_{:x}", c as u32),
        })
        .collect()
}

/// The accounts of the stacks, in the order their first stack deploys.
fn accounts<'m>(order: &[&'m StackManifest]) -> Vec<&'m str> {
    let mut accounts: Vec<&str> = Vec::new();
    for stack in order {
        if !accounts.contains(&stack.account.as_str()) {
            accounts.push(&stack.account);
        }
    }
    accounts
}

fn mermaid(order: &[&StackManifest], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "flowchart LR")?;
    for account in accounts(order) {
        writeln!(out, "  subgraph account_{account}[\"account {account}\"]")?;
        for stack in order.iter().filter(|s| s.account == account) {
            writeln!(
                out,
                "    {}[\"{}<br/>{}\"]",
                node(&stack.id),
                stack.id,
                stack.region
            )?;
        }
        writeln!(out, "  end")?;
    }
    for stack in order {
        for dependency in &stack.dependencies {
            writeln!(out, "  {} --> {}", node(dependency), node(&stack.id))?;
        }
    }
    Ok(())
}

fn dot(manifest: &Manifest, order: &[&StackManifest], out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "digraph \"{}\" {{", manifest.app)?;
    writeln!(out, "  rankdir=LR;")?;
    for account in accounts(order) {
        writeln!(out, "  subgraph \"cluster_{account}\" {{")?;
        writeln!(out, "    label=\"account {account}\";")?;
        for stack in order.iter().filter(|s| s.account == account) {
            writeln!(
                out,
                "    {} [label=\"{}\\n{}\"];",
                node(&stack.id),
                stack.id,
                stack.region
            )?;
        }
        writeln!(out, "  }}")?;
    }
    for stack in order {
        for dependency in &stack.dependencies {
            writeln!(out, "  {} -> {};", node(dependency), node(&stack.id))?;
        }
    }
    writeln!(out, "}}")
}
