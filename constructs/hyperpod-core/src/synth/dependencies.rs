//! Stack dependencies: the explicit ones (a sharded stack standing for its shards), cycles,
//! and stack names unique per account and region.

use super::*;

impl Synthesizer {
    pub(super) fn add_explicit_dependencies(&mut self) {
        for position in 0..self.stacks.len() {
            let node = self.stacks[position].stack.node().clone();
            let targets = self.stacks[position]
                .stack
                .with_data(|data| data.dependencies.clone());
            for target in targets {
                let Some(target) = self.upgrade(&target, &node) else {
                    continue;
                };
                if target == node {
                    self.problem(
                        &node,
                        "stack_depends_on_itself",
                        "a stack cannot depend on itself; remove the dependency",
                    );
                    continue;
                }
                // A sharded stack is itself (when it holds elements of its own) and its
                // shards; each depends on what it depends on, and whoever depends on it
                // depends on all of them.
                let producers: Vec<usize> = (0..self.stacks.len())
                    .filter(|&other| self.stacks[other].stack.node() == &target)
                    .collect();
                self.stacks[position].dependencies.extend(producers);
            }
        }
    }

    pub(super) fn check_dependency_cycles(&mut self) {
        // Depth-first search with colours; the first back edge found closes a cycle.
        let count = self.stacks.len();
        let mut state = vec![0u8; count];
        let mut path: Vec<usize> = Vec::new();
        fn visit(
            at: usize,
            stacks: &[StackInfo],
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<usize>> {
            state[at] = 1;
            path.push(at);
            for &next in &stacks[at].dependencies {
                if state[next] == 1 {
                    let start = path.iter().position(|&p| p == next).expect("on the path");
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                if state[next] == 0
                    && let Some(cycle) = visit(next, stacks, state, path)
                {
                    return Some(cycle);
                }
            }
            path.pop();
            state[at] = 2;
            None
        }
        for start in 0..count {
            if state[start] == 0
                && let Some(cycle) = visit(start, &self.stacks, &mut state, &mut path)
            {
                let names: Vec<String> = cycle
                    .iter()
                    .map(|&i| self.stacks[i].artifact_id.clone())
                    .collect();
                let node = self.stacks[cycle[0]].stack.node().clone();
                self.problem(&node, "dependency_cycle", format!("stacks depend on each other in a cycle ({}), so none can deploy first; move the shared resources into one stack or drop one of the references", names.join(" -> ")));
                return;
            }
        }
    }

    pub(super) fn check_stack_names(&mut self) {
        let mut seen: HashMap<(String, String, String), String> = HashMap::new();
        for position in 0..self.stacks.len() {
            let info = &self.stacks[position];
            let key = (
                info.env.account.clone(),
                info.env.region.clone(),
                info.name.clone(),
            );
            let id = info.artifact_id.clone();
            if let Some(other) = seen.get(&key) {
                let message = format!(
                    "stacks `{other}` and `{id}` are both named `{}` in account {} region {}; set a distinct `stack_name` on one",
                    key.2, key.0, key.1
                );
                let node = info.stack.node().clone();
                self.problem(&node, "duplicate_stack_name", message);
            } else {
                seen.insert(key, id);
            }
        }
    }
}
