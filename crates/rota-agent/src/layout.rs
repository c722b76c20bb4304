//! Where a run's logs live: `<root>/<queue>/<name>/<yyyyMMddHHmmss>/` (DESIGN §4).

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// The log directory of the run of `queue`/`name` at `schedule_time`, stamped in `tz`.
pub fn run_log_dir(
    root: &Path,
    queue: &str,
    name: &str,
    schedule_time: Timestamp,
    tz: &TimeZone,
) -> PathBuf {
    root.join(queue)
        .join(name)
        .join(rota_model::timefmt::log_stamp(schedule_time, tz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_cosmos_own() {
        let ts: Timestamp = "2019-04-02T08:45:00Z".parse().unwrap();
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let dir = run_log_dir(Path::new("/var/log/rota"), "pinot", "video", ts, &tz);
        assert_eq!(dir, Path::new("/var/log/rota/pinot/video/20190402164500"));
    }
}
