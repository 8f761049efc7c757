//! Ownership: a run changes or deletes only the stacks (and StackSets) its app deployed,
//! told by the ownership tags synthesis puts on every stack.

use std::collections::BTreeMap;

use hyperpod_core::{APP_TAG, STAGE_TAG, StackManifest};

/// Whether this run may change or delete `deployed`, the stack of `stack`'s name: its
/// ownership tags must name the app and the stage the manifest names, or, when it has none
/// (made by hand or by another tool), the run must adopt it. The error says whose it is
/// and what to do.
pub(super) fn check_owner(
    deployed: &aws_sdk_cloudformation::types::Stack,
    stack: &StackManifest,
    adopt: bool,
) -> Result<(), String> {
    check_owner_tags(&tag_map(deployed.tags()), "stack", stack, adopt)
}

/// The tags of a stack or StackSet as a map.
pub(super) fn tag_map(tags: &[aws_sdk_cloudformation::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|tag| Some((tag.key()?.to_owned(), tag.value()?.to_owned())))
        .collect()
}

/// [`check_owner`] for what carries `tags`: a `kind` ("stack", "StackSet") of `stack`'s
/// name.
pub(super) fn check_owner_tags(
    tags: &BTreeMap<String, String>,
    kind: &str,
    stack: &StackManifest,
    adopt: bool,
) -> Result<(), String> {
    let Some(app) = stack.tags.get(APP_TAG) else {
        return Ok(());
    };
    let place = format!(
        "{kind} {} in account {} {}",
        stack.stack_name, stack.account, stack.region
    );
    match (tags.get(APP_TAG), tags.get(STAGE_TAG)) {
        (Some(owner), _) if owner != app => Err(format!(
            "{place} belongs to app `{owner}`, not `{app}`; nothing was changed. Give this app's stack another name (`StackProps::stack_name`), or deploy it from `{owner}`"
        )),
        (Some(_), Some(stage))
            if stack
                .tags
                .get(STAGE_TAG)
                .is_some_and(|wanted| wanted != stage) =>
        {
            Err(format!(
                "{place} belongs to stage `{stage}` of `{app}`, not `{}`; nothing was changed. Give one of the two stacks another name (`StackProps::stack_name`)",
                stack.stage
            ))
        }
        (Some(_), _) => Ok(()),
        (None, _) if adopt => Ok(()),
        (None, _) => Err(format!(
            "{place} exists but no app of this tool deployed it (it has no `{APP_TAG}` tag); nothing was changed. Run with --adopt to take it over (its template becomes this app's), or give this app's stack another name (`StackProps::stack_name`)"
        )),
    }
}
