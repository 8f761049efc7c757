//! Which stacks a command acts on: patterns over stack ids, stages and stack names (with
//! `*` and `?`), what they pull in (a deploy needs its stacks' dependencies, a destroy
//! takes their dependents along), and the order stacks deploy in.

use std::collections::BTreeSet;

use hyperpod_core::{Manifest, StackManifest};

use super::DeployError;

/// What a selection pulls in besides the stacks it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// The stacks they depend on, transitively (deploy, diff).
    Dependencies,
    /// The stacks that depend on them, transitively (destroy).
    Dependents,
    /// Nothing.
    Nothing,
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters and `?`
/// for one.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    // Positions of the pattern reachable after each prefix of the text.
    let mut reachable = vec![false; pattern.len() + 1];
    reachable[0] = true;
    for position in 0..pattern.len() {
        if pattern[position] == '*' && reachable[position] {
            reachable[position + 1] = true;
        }
    }
    for c in text {
        let mut next = vec![false; pattern.len() + 1];
        for position in 0..pattern.len() {
            if !reachable[position] {
                continue;
            }
            match pattern[position] {
                '*' => {
                    next[position] = true;
                    next[position + 1] = true;
                }
                '?' => next[position + 1] = true,
                literal if literal == c => next[position + 1] = true,
                _ => {}
            }
        }
        for position in 0..pattern.len() {
            if pattern[position] == '*' && next[position] {
                next[position + 1] = true;
            }
        }
        reachable = next;
    }
    reachable[pattern.len()]
}

/// Whether a pattern names a stack: its id (`<stage>/<stack>`), its stage, or its
/// CloudFormation name; a shard is also named by its sharded stack's id.
fn names(pattern: &str, stack: &StackManifest) -> bool {
    glob_matches(pattern, &stack.id)
        || glob_matches(pattern, &stack.stage)
        || glob_matches(pattern, &stack.stack_name)
        || stack
            .shard
            .as_ref()
            .is_some_and(|shard| glob_matches(pattern, &shard.of))
}

/// The stacks that `patterns` name (every stack when there is none), with what `pull`
/// brings unless `exclusively`, in manifest order. A pattern that names nothing is an
/// error.
pub fn select<'m>(
    manifest: &'m Manifest,
    patterns: &[String],
    exclusively: bool,
    pull: Pull,
) -> Result<Vec<&'m StackManifest>, DeployError> {
    if patterns.is_empty() {
        return Ok(manifest.stacks.iter().collect());
    }
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    for pattern in patterns {
        let mut matched = false;
        for stack in manifest.stacks.iter().filter(|s| names(pattern, s)) {
            matched = true;
            wanted.insert(&stack.id);
        }
        if !matched {
            return Err(DeployError::UnknownSelection(pattern.clone()));
        }
    }
    if !exclusively && pull != Pull::Nothing {
        // Grow the set until nothing more is pulled in.
        loop {
            let more: Vec<&str> = manifest
                .stacks
                .iter()
                .filter(|s| match pull {
                    Pull::Dependencies => manifest
                        .stacks
                        .iter()
                        .any(|w| wanted.contains(w.id.as_str()) && w.dependencies.contains(&s.id)),
                    Pull::Dependents => s.dependencies.iter().any(|d| wanted.contains(d.as_str())),
                    Pull::Nothing => false,
                })
                .map(|s| s.id.as_str())
                .filter(|id| !wanted.contains(id))
                .collect();
            if more.is_empty() {
                break;
            }
            wanted.extend(more);
        }
    }
    Ok(manifest
        .stacks
        .iter()
        .filter(|s| wanted.contains(s.id.as_str()))
        .collect())
}

/// `stacks` in the order they deploy: each after the stacks of the list it depends on,
/// otherwise in manifest order.
pub fn deploy_order<'m>(stacks: &[&'m StackManifest]) -> Vec<&'m StackManifest> {
    let ids: BTreeSet<&str> = stacks.iter().map(|s| s.id.as_str()).collect();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < stacks.len() {
        let next = stacks
            .iter()
            .find(|s| {
                !placed.contains(s.id.as_str())
                    && s.dependencies
                        .iter()
                        .all(|d| !ids.contains(d.as_str()) || placed.contains(d.as_str()))
            })
            // Synthesis refuses cycles; should one slip through, the rest keep their order.
            .or_else(|| stacks.iter().find(|s| !placed.contains(s.id.as_str())))
            .expect("a stack is left to place");
        placed.insert(&next.id);
        order.push(*next);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_runs_and_single_characters() {
        assert!(glob_matches("cluster/*", "cluster/Cluster"));
        assert!(glob_matches("*Data*", "science/DataScientists"));
        assert!(glob_matches("data/?torage", "data/Storage"));
        assert!(glob_matches("data", "data"));
        assert!(!glob_matches("data", "data/Storage"));
        assert!(!glob_matches("cluster/?", "cluster/Cluster"));
        assert!(glob_matches("*", ""));
    }
}
