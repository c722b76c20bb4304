//! The request files of Cosmos' client verbs (seed 000), accepted unchanged.

use serde::Deserialize;

use crate::ids::{AppKey, IdError};

/// `records.json`, `repair.json`, `replay.json`: an app and an inclusive time range.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RangeFile {
    /// App name.
    pub name: String,
    /// Queue.
    pub queue: String,
    /// First schedule time, inclusive (`YYYY-MM-DD HH:MM:SS`).
    pub begin_time: String,
    /// Last schedule time, inclusive.
    pub end_time: String,
}

/// `kill.json`, `log.json`: an app and one schedule time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeFile {
    /// App name.
    pub name: String,
    /// Queue.
    pub queue: String,
    /// The run's schedule time (`YYYY-MM-DD HH:MM:SS`).
    pub schedule_time: String,
}

/// `call.json`: run an (event-driven) app for a timestamp with params laid over its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallFile {
    /// App name.
    pub name: String,
    /// Queue.
    pub queue: String,
    /// The schedule time (`YYYY-MM-DD HH:MM:SS`).
    pub timestamp: String,
    /// Params laid over the app's, key by key.
    #[serde(default)]
    pub params: Option<serde_json::Value>,
}

impl CallFile {
    /// The app the file names.
    pub fn key(&self) -> Result<AppKey, IdError> {
        AppKey::new(&self.name, &self.queue)
    }
}

impl RangeFile {
    /// The app the file names.
    pub fn key(&self) -> Result<AppKey, IdError> {
        AppKey::new(&self.name, &self.queue)
    }
}

impl TimeFile {
    /// The app the file names.
    pub fn key(&self) -> Result<AppKey, IdError> {
        AppKey::new(&self.name, &self.queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cosmos_records_and_kill_files_parse_unchanged() {
        let range: RangeFile = serde_json::from_str(
            r#"{
    "name": "video_client_upload_metrics",
    "queue": "pinot",
    "beginTime": "2019-04-02 00:00:00",
    "endTime": "2019-04-02 23:59:59"
}"#,
        )
        .unwrap();
        assert_eq!(range.end_time, "2019-04-02 23:59:59");
        let kill: TimeFile = serde_json::from_str(
            r#"{
    "name": "video_client_upload_metrics",
    "queue": "pinot",
    "scheduleTime": "2019-04-02 16:45:00"
}"#,
        )
        .unwrap();
        assert_eq!(
            kill.key().unwrap().to_string(),
            "video_client_upload_metrics:pinot"
        );
    }
}
