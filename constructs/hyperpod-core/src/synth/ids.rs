//! Logical ids: derived from the path below the stack, or overridden; collisions name both
//! paths.

use super::*;

impl Synthesizer {
    pub(super) fn assign_logical_ids(&mut self) {
        for position in 0..self.stacks.len() {
            let mut taken: HashMap<String, Node> = HashMap::new();
            // Taken out while the loop reads them (nothing in it reads this stack's list).
            let elements = std::mem::take(&mut self.stacks[position].elements);
            for node in &elements {
                let override_id = node
                    .with_element(|e| e.logical_id_override.clone())
                    .flatten();
                let logical_id = match override_id {
                    Some(id) => {
                        if let Err(reason) = logical_id::check(&id) {
                            self.problem(
                                node,
                                "invalid_logical_id",
                                format!("logical id override `{id}` {reason}"),
                            );
                        }
                        id
                    }
                    None => match logical_id::derive(&node.path_below_stack()) {
                        Ok(id) => id,
                        Err(reason) => {
                            self.problem(node, "invalid_logical_id", format!("the logical id derived from this path {reason}; shorten or rename the ids on the path, or override the logical id"));
                            continue;
                        }
                    },
                };
                if let Some(other) = taken.get(&logical_id) {
                    let message = format!(
                        "`{}` and `{}` both get logical id `{logical_id}` in one template; rename one of them or override its logical id",
                        other.display_path(),
                        node.display_path()
                    );
                    self.problem(node, "logical_id_collision", message);
                    continue;
                }
                taken.insert(logical_id.clone(), node.clone());
                self.logical_ids.insert(node.index, logical_id);
            }
            self.stacks[position].elements = elements;
        }
    }
}
