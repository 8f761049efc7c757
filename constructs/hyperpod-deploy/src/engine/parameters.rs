//! Deploy-time parameters: the values a stack takes from its producers' outputs, in other accounts too.

use std::collections::BTreeMap;

use hyperpod_core::{Manifest, StackManifest};
use tokio::sync::Mutex;

use super::StackResult;
use super::accounts::Accounts;
use super::stack::stack_outputs;

/// The values of a stack's deploy-time parameters, read from the producers' outputs with
/// the producers' credentials (from this run's results first, when there is a run).
pub(super) async fn resolve_parameters(
    accounts: &Accounts,
    manifest: &Manifest,
    stack: &StackManifest,
    results: Option<&Mutex<BTreeMap<String, StackResult>>>,
) -> Result<BTreeMap<String, String>, String> {
    let mut parameters = BTreeMap::new();
    for parameter in &stack.parameters {
        let from_run = match results {
            Some(results) => results
                .lock()
                .await
                .get(&parameter.producer_stack)
                .and_then(|r| r.outputs.get(&parameter.output).cloned()),
            None => None,
        };
        let value = match from_run {
            Some(value) => Some(value),
            None => match manifest
                .stacks
                .iter()
                .find(|s| s.id == parameter.producer_stack)
            {
                Some(producer) => stack_outputs(
                    &accounts.client(&producer.account, &producer.region),
                    &producer.stack_name,
                )
                .await
                .ok()
                .and_then(|o| o.get(&parameter.output).cloned()),
                None => None,
            },
        };
        let value = value.ok_or_else(|| {
            format!(
                "output {} of {} is not available; deploy {} first",
                parameter.output, parameter.producer_stack, parameter.producer_stack
            )
        })?;
        parameters.insert(parameter.parameter.clone(), value);
    }
    Ok(parameters)
}
