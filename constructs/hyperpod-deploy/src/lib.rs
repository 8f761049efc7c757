//! The command line every app gets.
//!
//! An app's `main` builds its [`App`] and hands it to [`run`], which parses the command
//! line and runs the command. Today the commands are `synth` (write the cloud assembly)
//! and `list` (show stages, stacks and their dependencies); the deploy engine adds
//! `diff`, `deploy`, `destroy` and `bootstrap` on top of the same entry point.
//!
//! This crate may call AWS; the construct core it builds on must not.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let app = hyperpod_core::App::new("my-platform");
//!     // ... stages, stacks and constructs ...
//!     hyperpod_deploy::run(&app)
//! }
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hyperpod_core::{App, CloudAssembly, SynthError};

/// The command line of an app.
#[derive(Debug, Parser)]
#[command(about = "Synthesize this app's CloudFormation templates")]
pub struct Cli {
    /// The command; `synth` when none is given.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A command of the app's command line.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write every stack's template and the manifest to `<output>/<app>/`.
    Synth {
        /// The folder that holds the assemblies of all apps.
        #[arg(long, default_value = "synth-out")]
        output: PathBuf,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
    /// List the stages and stacks with their accounts, regions and dependencies.
    List,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Synthesis failed or its output could not be written.
    #[error(transparent)]
    Synth(#[from] SynthError),
    /// Writing to the terminal failed.
    #[error("could not write to standard output")]
    Output(#[source] std::io::Error),
}

/// Parses the process's arguments, runs the command against `app`, prints any error and
/// returns the exit code.
pub fn run(app: &App) -> ExitCode {
    let cli = Cli::parse();
    match execute(
        app,
        cli.command.unwrap_or(Command::Synth {
            output: "synth-out".into(),
            quiet: false,
        }),
        &mut std::io::stdout(),
    ) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command against `app`, writing what it reports to `out`.
pub fn execute(app: &App, command: Command, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        Command::Synth { output, quiet } => {
            let assembly = app.synth()?;
            let folder = assembly.write_to(&output)?;
            if !quiet {
                report_synth(&assembly, &folder, out).map_err(CliError::Output)?;
            }
        }
        Command::List => {
            let assembly = app.synth()?;
            list(&assembly, out).map_err(CliError::Output)?;
        }
    }
    Ok(())
}

fn report_synth(
    assembly: &CloudAssembly,
    folder: &Path,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let stacks = &assembly.manifest.stacks;
    writeln!(
        out,
        "synthesized {} stack(s) of `{}` into {}",
        stacks.len(),
        assembly.app(),
        folder.display()
    )?;
    for stack in stacks.iter().filter(|stack| stack.template_requires_upload) {
        writeln!(
            out,
            "  note: {} is {} bytes, over the 51,200-byte inline limit; it deploys through an S3 upload",
            stack.id, stack.template_bytes
        )?;
    }
    Ok(())
}

fn list(assembly: &CloudAssembly, out: &mut impl Write) -> std::io::Result<()> {
    for stage in &assembly.manifest.stages {
        writeln!(
            out,
            "{} (account {}, {})",
            stage.id, stage.account, stage.region
        )?;
        for stack in assembly
            .manifest
            .stacks
            .iter()
            .filter(|stack| stack.stage == stage.id)
        {
            let after = if stack.dependencies.is_empty() {
                String::new()
            } else {
                format!(" after {}", stack.dependencies.join(", "))
            };
            writeln!(out, "  {} as stack {}{after}", stack.id, stack.stack_name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hyperpod_core::{CfnResource, Environment, Stack, StackProps, Stage, TagFormat};

    use super::*;

    fn two_stage_app() -> App {
        let app = App::new("cli-test");
        let data = Stage::new(&app, "data", Environment::new("333333333333", "us-east-1"));
        let cluster = Stage::new(
            &app,
            "cluster",
            Environment::new("111111111111", "eu-west-1"),
        );
        let bucket = CfnResource::raw(
            &Stack::new(&data, "Storage", StackProps::default()),
            "Bucket",
            "AWS::S3::Bucket",
            TagFormat::KeyValueList,
            serde_json::json!({}),
        );
        let reader = CfnResource::raw(
            &Stack::new(&cluster, "Access", StackProps::default()),
            "Arn",
            "AWS::SSM::Parameter",
            TagFormat::Map,
            serde_json::json!({ "Type": "String" }),
        );
        reader.set_property("Value", bucket.get_att::<String>("Arn"));
        app
    }

    #[test]
    fn list_shows_accounts_regions_and_deploy_order() {
        let mut out = Vec::new();
        execute(&two_stage_app(), Command::List, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "data (account 333333333333, us-east-1)\n  data/Storage as stack Storage\ncluster (account 111111111111, eu-west-1)\n  cluster/Access as stack Access after data/Storage\n"
        );
    }

    #[test]
    fn synth_writes_the_assembly_and_reports_where() {
        let dir = std::env::temp_dir().join(format!("hyperpod-deploy-test-{}", std::process::id()));
        let mut out = Vec::new();
        execute(
            &two_stage_app(),
            Command::Synth {
                output: dir.clone(),
                quiet: false,
            },
            &mut out,
        )
        .unwrap();
        assert!(dir.join("cli-test/manifest.json").is_file());
        assert!(dir.join("cli-test/cluster/Access.template.json").is_file());
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("synthesized 2 stack(s) of `cli-test`")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn synth_of_an_invalid_app_fails_with_every_problem() {
        let app = App::new("cli-test");
        Stage::new(&app, "bad", Environment::new("12", "moon-1"));
        let error = execute(
            &app,
            Command::Synth {
                output: "unused".into(),
                quiet: true,
            },
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("[invalid_account]") && error.contains("[invalid_region]"),
            "{error}"
        );
    }
}
