//! The events of a stack, printed as they happen.

use aws_sdk_cloudformation::Client as CloudFormation;
use hyperpod_core::StackManifest;

use super::progress;

/// Prints a stack's new events as they happen.
pub(super) struct EventStream {
    seen: std::collections::HashSet<String>,
    settled: usize,
    expected: usize,
}

impl EventStream {
    /// Remembers the events that exist already, so that only new ones are printed.
    pub(super) async fn start(client: &CloudFormation, name: &str, expected: usize) -> EventStream {
        let mut stream = EventStream {
            seen: Default::default(),
            settled: 0,
            expected,
        };
        if let Ok(events) = client.describe_stack_events().stack_name(name).send().await {
            stream.seen.extend(
                events
                    .stack_events()
                    .iter()
                    .filter_map(|e| e.event_id().map(str::to_owned)),
            );
        }
        stream
    }

    /// Prints the events that are new; whether there were any.
    pub(super) async fn print_new(
        &mut self,
        client: &CloudFormation,
        stack: &StackManifest,
    ) -> bool {
        let Ok(events) = client
            .describe_stack_events()
            .stack_name(&stack.stack_name)
            .send()
            .await
        else {
            return false;
        };
        let mut printed = false;
        // The newest come first.
        for event in events.stack_events().iter().rev() {
            let Some(id) = event.event_id() else { continue };
            if !self.seen.insert(id.to_owned()) {
                continue;
            }
            printed = true;
            let status = event.resource_status().map(|s| s.as_str()).unwrap_or("?");
            let logical = event.logical_resource_id().unwrap_or("?");
            if logical != stack.stack_name && status.ends_with("_COMPLETE") {
                self.settled += 1;
            }
            let reason = event
                .resource_status_reason()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            progress::status(
                stack,
                &format!(
                    "[{}/{}] {logical} {status}{reason}",
                    self.settled.min(self.expected),
                    self.expected
                ),
                status.ends_with("_FAILED"),
            );
        }
        printed
    }
}
