//! Cosmos' `cosmos.properties`: Java-properties lines, of which the `server.*` and `docker.*`
//! keys that rota maps become [`Settings`]; the others (`c3p0.*`, `org.quartz.*`, …) are
//! named in one warning and ignored.

use std::path::Path;
use std::str::FromStr;

use super::{ConfigError, Settings};

/// Reads the Cosmos settings of a properties file's text.
pub fn read(path: &Path, text: &str) -> Result<Settings, ConfigError> {
    let mut settings = Settings::default();
    let mut unused = Vec::new();
    for Entry { line, key, value } in entries(text) {
        let value = value.trim();
        if is_mapped(&key) && value.contains("${") {
            return Err(ConfigError::Placeholder {
                path: path.to_path_buf(),
                line,
                key,
                value: value.to_string(),
            });
        }
        let error = |expected| ConfigError::Value {
            path: path.to_path_buf(),
            line,
            key: key.clone(),
            value: value.to_string(),
            expected,
        };
        let (node, server, docker) = (
            &mut settings.node,
            &mut settings.server,
            &mut settings.docker,
        );
        match key.as_str() {
            "server.cores" => node.cores = Some(number(value, "a number of cores", error)?),
            "server.mems" => node.mems = Some(number(value, "a number of MB", error)?),
            "server.labels" => node.labels = Some(list(value)),
            "server.disk.space" => node.disk_space = Some(number(value, "a number", error)?),
            "server.net.flow" => node.net_flow = Some(number(value, "a number", error)?),
            "server.port" => server.port = Some(number(value, "a port number", error)?),
            "server.hosts" => server.hosts = Some(list(value)),
            "docker.image.pull.timeout" => {
                docker.image_pull_timeout_ms = Some(number(value, "milliseconds", error)?)
            }
            "docker.container.python" => docker.container_python = Some(value.to_string()),
            "docker.container.log" => docker.container_log = Some(value.into()),
            "docker.container.tmp" => docker.container_tmp = Some(value.into()),
            _ => unused.push(key),
        }
    }
    if !unused.is_empty() {
        tracing::warn!(
            file = %path.display(),
            keys = %unused.join(", "),
            "ignoring the Cosmos settings rota does not use"
        );
    }
    Ok(settings)
}

/// The Cosmos keys rota maps.
const MAPPED: [&str; 11] = [
    "server.cores",
    "server.mems",
    "server.labels",
    "server.disk.space",
    "server.net.flow",
    "server.port",
    "server.hosts",
    "docker.image.pull.timeout",
    "docker.container.python",
    "docker.container.log",
    "docker.container.tmp",
];

fn is_mapped(key: &str) -> bool {
    MAPPED.contains(&key)
}

fn number<T: FromStr>(
    value: &str,
    expected: &'static str,
    error: impl FnOnce(&'static str) -> ConfigError,
) -> Result<T, ConfigError> {
    value.parse().map_err(|_| error(expected))
}

/// A comma-separated list, without blanks around or between its items.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// One `key=value` of a properties file.
#[derive(Debug, PartialEq)]
struct Entry {
    /// The line it starts on, from 1.
    line: usize,
    key: String,
    value: String,
}

/// The entries of a properties file, as `java.util.Properties` reads them: `#` and `!` start
/// comments, blank lines are skipped, the key ends at the first unescaped `=`, `:` or blank, and
/// a line ending in an odd number of backslashes goes on on the next line.
fn entries(text: &str) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, line)) = lines.next() {
        let first = line.trim_start();
        if first.is_empty() || first.starts_with(['#', '!']) {
            continue;
        }
        let mut logical = first.to_string();
        while continues(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&logical);
        entries.push(Entry {
            line: index + 1,
            key: unescape(key),
            value: unescape(value),
        });
    }
    entries
}

/// Whether a line ends in an odd number of backslashes.
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1
}

/// The raw key and value of a logical line.
fn split(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let end = line
        .char_indices()
        .find(|&(_, c)| {
            let ends = !escaped && (c == '=' || c == ':' || c.is_whitespace());
            escaped = !escaped && c == '\\';
            ends
        })
        .map_or(line.len(), |(i, _)| i);
    let rest = line[end..].trim_start();
    let rest = rest.strip_prefix(['=', ':']).map_or(rest, str::trim_start);
    (&line[..end], rest)
}

/// Resolves `\t`, `\n`, `\r`, `\f`, `\uXXXX` and `\c` (any other character: itself).
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    None => out.push_str(&format!("\\u{hex}")),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Seed 000's `docker` and `server` blocks, with values for the placeholders, and lines
    /// of the blocks rota does not use.
    const COSMOS: &str = "\
# cosmos.properties
c3p0.jdbcUrl=jdbc:mysql://${host}:${port}/${db}?&useUnicode=true
org.quartz.threadPool.threadCount=${threadCount}
org.quartz.jobStore.isClustered=true

docker.image.pull.timeout=600000
docker.container.python=start.py
docker.container.log=/var/log/cosmos/container
docker.container.tmp=/data0/tmp
server.cores=8
server.mems = 16384
server.port:8080
server.hosts=h1, h2,h3
server.labels=pinot,hive
server.disk.space=500
server.net.flow=100
";

    fn path() -> PathBuf {
        PathBuf::from("/etc/cosmos/cosmos.properties")
    }

    #[test]
    fn every_cosmos_setting_of_seed_000_is_mapped_and_the_others_are_ignored() {
        let settings = read(&path(), COSMOS).unwrap();
        let (node, server, docker) = (&settings.node, &settings.server, &settings.docker);
        assert_eq!(node.cores, Some(8.0));
        assert_eq!(node.mems, Some(16384));
        assert_eq!(node.labels, Some(vec!["pinot".into(), "hive".into()]));
        assert_eq!(node.disk_space, Some(500));
        assert_eq!(node.net_flow, Some(100));
        assert_eq!(server.port, Some(8080));
        assert_eq!(
            server.hosts,
            Some(vec!["h1".into(), "h2".into(), "h3".into()])
        );
        assert_eq!(docker.image_pull_timeout_ms, Some(600_000));
        assert_eq!(docker.container_python.as_deref(), Some("start.py"));
        assert_eq!(
            docker.container_log,
            Some(PathBuf::from("/var/log/cosmos/container"))
        );
        assert_eq!(docker.container_tmp, Some(PathBuf::from("/data0/tmp")));
        assert_eq!(
            server.member_list(),
            Some(vec![
                "1=http://h1:8080".into(),
                "2=http://h2:8080".into(),
                "3=http://h3:8080".into()
            ])
        );
    }

    #[test]
    fn a_placeholder_is_an_error_naming_the_key_and_the_line() {
        let error = read(&path(), "# x\nserver.cores=${cores}\n").unwrap_err();
        assert!(
            matches!(&error, ConfigError::Placeholder { key, line: 2, .. } if key == "server.cores"),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("cosmos.properties") && text.contains("`server.cores`"),
            "{text}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let error = read(&path(), "server.mems=lots\n").unwrap_err().to_string();
        assert!(
            error.contains("`server.mems` = `lots` is not a number of MB"),
            "{error}"
        );
        let error = read(&path(), "server.port=70000\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`server.port`"), "{error}");
    }

    #[test]
    fn java_properties_syntax_is_read() {
        let text = "  ! comment\n\n a\\=b = one \\\n    two\nc:d\ne f\ng\nh=\\u0041\\tz\n";
        let pairs: Vec<(String, String)> = entries(text)
            .into_iter()
            .map(|e| (e.key, e.value))
            .collect();
        assert_eq!(
            pairs,
            [
                ("a=b", "one two"),
                ("c", "d"),
                ("e", "f"),
                ("g", ""),
                ("h", "A\tz")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(entries(text)[0].line, 3);
    }
}
