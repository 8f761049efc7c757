//! The README's Rust examples: compiled as doctests of `hyperpod-platform`, and formatted
//! as `cargo fmt` formats code, so that a user who copies one gets code that passes it.

use std::io::Write;
use std::process::{Command, Stdio};

use tests::workspace_root;

/// The visible lines of every Rust block of the README (rustdoc's hidden `# ` lines left
/// out), with the line each starts at.
fn rust_blocks(readme: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (number, line) in readme.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed.starts_with("```rust") => current = Some((number + 2, String::new())),
            Some(_) if trimmed.starts_with("```") => blocks.push(current.take().expect("open")),
            // rustdoc's hidden lines are not shown to the reader.
            Some((_, text)) if !(line == "#" || line.starts_with("# ")) => {
                text.push_str(line);
                text.push('\n');
            }
            Some(_) => {}
            None => {}
        }
    }
    blocks
}

/// `code` as rustfmt formats it inside a function (so that statements and items alike are
/// accepted), with the width of the workspace's code.
fn formatted(code: &str) -> String {
    let wrapped: String = std::iter::once("fn readme() {\n".to_owned())
        .chain(code.lines().map(|line| {
            if line.is_empty() {
                "\n".to_owned()
            } else {
                format!("    {line}\n")
            }
        }))
        .chain(std::iter::once("}\n".to_owned()))
        .collect();
    let mut rustfmt = Command::new("rustfmt")
        .args([
            "--edition",
            "2024",
            "--config",
            "max_width=104",
            "--emit",
            "stdout",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rustfmt runs");
    rustfmt
        .stdin
        .take()
        .expect("a pipe")
        .write_all(wrapped.as_bytes())
        .unwrap();
    let output = rustfmt.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "rustfmt refused:\n{wrapped}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    lines[1..lines.len() - 1]
        .iter()
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect()
}

#[test]
fn the_readme_rust_examples_are_formatted_as_cargo_fmt_formats_them() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let blocks = rust_blocks(&readme);
    assert!(blocks.len() >= 3, "the README's Rust examples are gone");
    for (line, code) in blocks {
        assert_eq!(
            formatted(&code),
            code,
            "the Rust example at README.md line {line} is not formatted as `cargo fmt` would"
        );
    }
}
