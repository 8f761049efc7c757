//! What a deploy would change, per stack, read from what is deployed.

use std::path::Path;

use aws_config::SdkConfig;

use super::accounts::{Accounts, accounts_involved};
use super::change_set::change_set_replacements;
use super::parameters::resolve_parameters;
use super::stack::{current, deployed_template};
use super::{DeployError, DeployOptions, read_manifest, selected};

/// The difference between what is deployed and the assembly, per selected stack.
pub async fn diff(
    base: &SdkConfig,
    assembly_dir: &Path,
    options: &DeployOptions,
) -> Result<Vec<(String, crate::diff::StackDiff)>, DeployError> {
    let manifest = read_manifest(assembly_dir)?;
    let stacks = selected(&manifest, options)?;
    let accounts = accounts_involved(&manifest, &stacks);
    let accounts = Accounts::connect(base, &accounts, options).await?;
    let mut out = Vec::new();
    for stack in stacks {
        let path = assembly_dir.join(&stack.template);
        let body = std::fs::read_to_string(&path).map_err(|source| DeployError::Assembly {
            path: path.clone(),
            source,
        })?;
        let wanted: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| DeployError::Assembly {
                path,
                source: std::io::Error::other(e),
            })?;
        let client = accounts.client(&stack.account, &stack.region);
        let deployed = match current(&client, &stack.stack_name).await {
            Ok(Some(_)) => deployed_template(&client, &stack.stack_name).await.ok(),
            _ => None,
        };
        let mut changes = crate::diff::diff(deployed.as_ref(), &wanted);
        // CloudFormation knows replacements the schemas cannot tell (a changed name that
        // another property derives from): ask it with a change set, inline templates only.
        if deployed.is_some() && changes.template_changed && !stack.template_requires_upload {
            let parameters = resolve_parameters(&accounts, &manifest, stack, None)
                .await
                .unwrap_or_default();
            if let Ok(replaced) =
                change_set_replacements(&client, stack, &body, &parameters, options).await
            {
                for id in replaced {
                    match changes
                        .modified
                        .iter_mut()
                        .find(|(logical_id, _, _)| *logical_id == id)
                    {
                        Some((_, _, paths)) if paths.is_empty() => {
                            paths.push("(per the change set)".into())
                        }
                        Some(_) => {}
                        None => changes.modified.push((
                            id,
                            "?".into(),
                            vec!["(per the change set)".into()],
                        )),
                    }
                }
            }
        }
        out.push((stack.id.clone(), changes));
    }
    Ok(out)
}
