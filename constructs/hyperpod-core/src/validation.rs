//! Problems found in a construct tree, and the error synthesis returns.

use std::fmt;
use std::path::PathBuf;

/// A problem found on one node, before the node's path is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// A stable snake_case identifier of the rule that was broken.
    pub code: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl Issue {
    /// Creates an issue with a stable code and an actionable message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Issue {
        Issue {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A problem found at synthesis: where, which rule, and what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The construct path of the node the problem is about (`<app>` for the root).
    pub path: String,
    /// A stable snake_case identifier of the rule that was broken.
    pub code: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: [{}] {}", self.path, self.code, self.message)
    }
}

/// Why synthesis did not produce a cloud assembly.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The construct tree breaks one or more rules; every problem found is listed.
    #[error("synthesis found {} problem(s):\n{}", .0.len(), ProblemList(.0))]
    Invalid(Vec<Problem>),
    /// The cloud assembly could not be written to disk.
    #[error("could not write the cloud assembly at {}", path.display())]
    Write {
        /// The file or folder that could not be written.
        path: PathBuf,
        /// The error from the file system.
        #[source]
        source: std::io::Error,
    },
    /// The output folder holds something that is not a cloud assembly of this app, so it
    /// was left alone rather than overwritten.
    #[error(
        "{} exists but holds no manifest.json; move it away or choose another output folder",
        path.display()
    )]
    NotAnAssembly {
        /// The folder that was left alone.
        path: PathBuf,
    },
}

impl SynthError {
    /// The problems, when synthesis failed validation.
    pub fn problems(&self) -> &[Problem] {
        match self {
            SynthError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {problem}")?;
        }
        Ok(())
    }
}
