//! Cosmos' container contract, for images built for Cosmos (its `example/start.py`): the
//! container runs `python SCRIPT` with 13 positional arguments, in Cosmos' order and encoding,
//! the last being the run's log directory, which is mounted at the same path inside. The app
//! writes `start.log` and `container.log` there itself, so the runtime keeps its own steps and
//! the container's stdout and stderr beside them, in `rota-start.log` and
//! `rota-container.log`. Unlike Cosmos, nothing in the directory is wiped between attempts.

use std::fmt::Write;
use std::path::Path;

use jiff::Timestamp;

use super::spec::ContainerSpec;
use crate::start_log::LogFiles;

/// Cosmos' default `docker.container.python`: the script `python` runs, a path relative to
/// the image's `WORKDIR`.
pub const COSMOS_SCRIPT: &str = "start.py";

/// What Cosmos passes to the script as `sys.argv[1]` to `sys.argv[12]`, as plain values; the
/// 13th, the log directory, is the spec's. [`CosmosArgs::argv`] encodes them.
#[derive(Clone, Debug, PartialEq)]
pub struct CosmosArgs {
    /// The app's name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Its user (free text).
    pub user: String,
    /// Its priority.
    pub priority: i64,
    /// Its cores: `1`, or `0.5` for a fraction (Cosmos only had whole cores).
    pub cores: f64,
    /// Its memory, MB.
    pub mems: i64,
    /// The image's repository.
    pub repository: String,
    /// The image's tag.
    pub tag: String,
    /// The run's params, as JSON text; URL-encoded in the argument.
    pub params: String,
    /// The cron expression, `event-driven`, or empty for an app with neither; URL-encoded in
    /// the argument.
    pub cron: String,
    /// The timeout in seconds; 0 for none (Cosmos' reading of a missing `timeout`).
    pub timeout: u64,
    /// The run's schedule time, passed in epoch milliseconds.
    pub schedule_time: Timestamp,
}

impl CosmosArgs {
    /// The container's command: `python SCRIPT name queue user priority cores mems repository
    /// tag URLEncode(params) URLEncode(cron) timeout scheduleTimeMillis LOG_DIR`, as Cosmos'
    /// executor builds it (an argv, no shell).
    pub fn argv(&self, script: &str, log_dir: &Path) -> Vec<String> {
        vec![
            "python".to_string(),
            script.to_string(),
            self.name.clone(),
            self.queue.clone(),
            self.user.clone(),
            self.priority.to_string(),
            self.cores.to_string(),
            self.mems.to_string(),
            self.repository.clone(),
            self.tag.clone(),
            url_encode(&self.params),
            url_encode(&self.cron),
            self.timeout.to_string(),
            self.schedule_time.as_millisecond().to_string(),
            log_dir.display().to_string(),
        ]
    }
}

impl ContainerSpec {
    /// This spec under Cosmos' contract: the command becomes [`CosmosArgs::argv`] with
    /// `script`, the log directory (made absolute) is mounted at the same path inside, and the
    /// runtime's logs become `rota-start.log` and `rota-container.log`
    /// ([`LogFiles::BESIDE_APP`]), since the app writes `start.log` and `container.log`.
    pub fn cosmos(mut self, script: &str, args: &CosmosArgs) -> ContainerSpec {
        let log_dir = std::path::absolute(&self.log_dir).unwrap_or_else(|_| self.log_dir.clone());
        self.command = Some(args.argv(script, &log_dir));
        self.binds.push(format!("{0}:{0}", log_dir.display()));
        self.log_dir = log_dir;
        self.logs = LogFiles::BESIDE_APP;
        self
    }
}

/// `java.net.URLEncoder.encode(text, "UTF-8")`, as Cosmos encodes params and cron: letters,
/// digits and `.-*_` stay, a space becomes `+`, every other byte of the UTF-8 text becomes
/// `%XX` (upper-case hex). Python's `unquote_plus` reverses it.
pub fn url_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            _ => {
                let _ = write!(encoded, "%{byte:02X}");
            }
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_is_javas_url_encoder() {
        // Java: URLEncoder.encode(s, "UTF-8") for each s.
        assert_eq!(url_encode("0 */5 * * * ?"), "0+*%2F5+*+*+*+%3F");
        assert_eq!(url_encode("event-driven"), "event-driven");
        assert_eq!(url_encode(""), "");
        assert_eq!(url_encode("a.b-c_d*e~f'g!"), "a.b-c_d*e%7Ef%27g%21");
        assert_eq!(url_encode("北京"), "%E5%8C%97%E4%BA%AC");
        assert_eq!(
            url_encode(r#"{"day":"a b","n":1}"#),
            "%7B%22day%22%3A%22a+b%22%2C%22n%22%3A1%7D"
        );
        assert_eq!(url_encode("+%&="), "%2B%25%26%3D");
    }

    #[test]
    fn the_cosmos_spec_runs_python_with_13_arguments_and_mounts_the_log_dir() {
        let args = CosmosArgs {
            name: "video".into(),
            queue: "pinot".into(),
            user: "yurun".into(),
            priority: 0,
            cores: 1.0,
            mems: 6144,
            repository: "registry.example/dippub/pinot".into(),
            tag: "0.0.1".into(),
            params: r#"{"k":"v w"}"#.into(),
            cron: "0 45 16 * * ?".into(),
            timeout: 7200,
            schedule_time: "2019-04-02T08:45:00Z".parse().unwrap(),
        };
        let spec = ContainerSpec::new("registry.example/dippub/pinot:0.0.1", "/logs/pinot/video/1")
            .cosmos(COSMOS_SCRIPT, &args);
        assert_eq!(
            spec.command.unwrap(),
            [
                "python",
                "start.py",
                "video",
                "pinot",
                "yurun",
                "0",
                "1",
                "6144",
                "registry.example/dippub/pinot",
                "0.0.1",
                "%7B%22k%22%3A%22v+w%22%7D",
                "0+45+16+*+*+%3F",
                "7200",
                "1554194700000",
                "/logs/pinot/video/1",
            ]
        );
        assert_eq!(spec.binds, ["/logs/pinot/video/1:/logs/pinot/video/1"]);
        assert_eq!(spec.logs, LogFiles::BESIDE_APP);
        let half = CosmosArgs { cores: 0.5, ..args };
        assert_eq!(half.argv("s.py", Path::new("/l"))[6], "0.5");
    }

    #[test]
    fn a_relative_log_dir_is_made_absolute_for_the_mount() {
        let args = CosmosArgs {
            name: "a".into(),
            queue: "q".into(),
            user: String::new(),
            priority: 0,
            cores: 1.0,
            mems: 1,
            repository: "r".into(),
            tag: "t".into(),
            params: "{}".into(),
            cron: String::new(),
            timeout: 0,
            schedule_time: Timestamp::UNIX_EPOCH,
        };
        let spec = ContainerSpec::new("r:t", "logs/q/a/1").cosmos("start.py", &args);
        assert!(spec.log_dir.is_absolute(), "{}", spec.log_dir.display());
        let last = spec.command.unwrap().pop().unwrap();
        assert_eq!(Path::new(&last), spec.log_dir);
        assert!(spec.binds[0].starts_with('/'));
    }
}
