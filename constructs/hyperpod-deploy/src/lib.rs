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
