//! What can be wrong with a configuration file.

use std::path::PathBuf;

/// A configuration file that cannot be used; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read (missing, unreadable, not UTF-8).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, a value of the wrong type, or an unknown key.
    #[error("{}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line and the key.
        source: toml::de::Error,
    },
    /// A Cosmos property still holds a `${…}` placeholder of Cosmos' build.
    #[error(
        "{}, line {line}: `{key}` is the placeholder `{value}`: put the real value",
        path.display()
    )]
    Placeholder {
        /// The file.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// The property.
        key: String,
        /// Its value.
        value: String,
    },
    /// A Cosmos property whose value is not of its type.
    #[error("{}, line {line}: `{key}` = `{value}` is not {expected}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// Its line.
        line: usize,
        /// The property.
        key: String,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// Settings that contradict each other or are incomplete.
    #[error("{}: {problem}", path.display())]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the keys.
        problem: &'static str,
    },
}
