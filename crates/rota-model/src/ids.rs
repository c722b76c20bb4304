//! Identifiers: apps are `name:queue`, runs and nodes are newtypes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest name or queue accepted (Cosmos' column width).
pub const MAX_NAME_LEN: usize = 100;

/// Why a name, a queue or an `name:queue` pair was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is not of the form `name:queue`.
    #[error("`{0}` is not of the form NAME:QUEUE")]
    NotAPair(String),
    /// A name or queue is empty, too long, or has a character outside `[A-Za-z0-9._-]`.
    #[error(
        "{what} `{value}` is invalid: use 1 to {MAX_NAME_LEN} of the characters A-Z a-z 0-9 . _ - and do not start with . or -"
    )]
    BadName {
        /// `name` or `queue`.
        what: &'static str,
        /// The refused value.
        value: String,
    },
}

/// Checks a name or queue: it becomes a directory name and a container name, so it is kept
/// to a portable character set.
pub fn validate_name(what: &'static str, value: &str) -> Result<(), IdError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && !value.starts_with(['.', '-'])
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdError::BadName {
            what,
            value: value.to_string(),
        })
    }
}

/// An app's identity, `name:queue`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppKey {
    /// The app's name.
    pub name: String,
    /// The queue it belongs to.
    pub queue: String,
}

impl AppKey {
    /// Builds a key after checking both parts.
    pub fn new(name: &str, queue: &str) -> Result<Self, IdError> {
        validate_name("name", name)?;
        validate_name("queue", queue)?;
        Ok(Self {
            name: name.to_string(),
            queue: queue.to_string(),
        })
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.queue)
    }
}

impl FromStr for AppKey {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, queue) = s
            .split_once(':')
            .ok_or_else(|| IdError::NotAPair(s.to_string()))?;
        Self::new(name, queue)
    }
}

/// An app's key as two borrowed parts, for looking up a map keyed by [`AppKey`] without
/// building (and allocating) a key: `map.get(&("etl", "default") as &dyn AppKeyParts)`.
pub trait AppKeyParts {
    /// The name and the queue.
    fn parts(&self) -> (&str, &str);
}

impl AppKeyParts for AppKey {
    fn parts(&self) -> (&str, &str) {
        (&self.name, &self.queue)
    }
}

impl AppKeyParts for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        *self
    }
}

impl<'a> std::borrow::Borrow<dyn AppKeyParts + 'a> for AppKey {
    fn borrow(&self) -> &(dyn AppKeyParts + 'a) {
        self
    }
}

// Ordered, compared and hashed as `AppKey`'s derives do: name, then queue.
impl PartialEq for dyn AppKeyParts + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn AppKeyParts + '_ {}

impl PartialOrd for dyn AppKeyParts + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn AppKeyParts + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl std::hash::Hash for dyn AppKeyParts + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let (name, queue) = self.parts();
        name.hash(state);
        queue.hash(state);
    }
}

/// A run's id (Cosmos' `mid`), assigned in log order by the state machine.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct RunId(pub u64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RunId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(RunId)
    }
}

/// A node's id: the name its agent registers with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub String);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_parses_and_prints_as_name_colon_queue() {
        let key: AppKey = "video_client_upload_metrics:pinot".parse().unwrap();
        assert_eq!(key.name, "video_client_upload_metrics");
        assert_eq!(key.queue, "pinot");
        assert_eq!(key.to_string(), "video_client_upload_metrics:pinot");
    }

    #[test]
    fn borrowed_parts_find_what_the_key_finds_and_order_alike() {
        let pairs = [
            ("a", "b"),
            ("a", "ba"),
            ("ab", ""),
            ("a-", "z"),
            ("b", "a"),
            ("", ""),
        ];
        let keys: Vec<AppKey> = pairs
            .iter()
            .map(|(n, q)| AppKey {
                name: n.to_string(),
                queue: q.to_string(),
            })
            .collect();
        let map: std::collections::BTreeMap<AppKey, usize> =
            keys.iter().cloned().zip(0..).collect();
        for (i, (a, pa)) in keys.iter().zip(&pairs).enumerate() {
            assert_eq!(map.get(pa as &dyn AppKeyParts), Some(&i));
            for (b, pb) in keys.iter().zip(&pairs) {
                let by_parts = (pa as &dyn AppKeyParts).cmp(pb as &dyn AppKeyParts);
                assert_eq!(a.cmp(b), by_parts, "{a} vs {b}");
            }
        }
        assert_eq!(map.get(&("a", "c") as &dyn AppKeyParts), None);
    }

    #[test]
    fn borrowed_parts_hash_as_the_key_does() {
        let keys = [("a", "b"), ("ab", ""), ("", "ab"), ("x", "y")];
        let map: std::collections::HashMap<AppKey, usize> = keys
            .iter()
            .map(|(n, q)| AppKey {
                name: n.to_string(),
                queue: q.to_string(),
            })
            .zip(0..)
            .collect();
        for (i, parts) in keys.iter().enumerate() {
            assert_eq!(map.get(parts as &dyn AppKeyParts), Some(&i));
        }
        assert_eq!(map.get(&("a", "") as &dyn AppKeyParts), None);
    }

    #[test]
    fn cosmos_dotted_names_are_accepted() {
        assert!(AppKey::new("cdn.baishan_bandwidth_staging", "hive").is_ok());
    }

    #[test]
    fn names_that_would_escape_a_path_are_refused() {
        for bad in ["", "../x", "a/b", ".hidden", "-x", "a b", &"x".repeat(101)] {
            assert!(validate_name("name", bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            "nocolon".parse::<AppKey>(),
            Err(IdError::NotAPair("nocolon".into()))
        );
    }
}
