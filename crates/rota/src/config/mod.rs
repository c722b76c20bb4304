//! Configuration files of `rota server`, `rota agent` and `rota dev` (`--config FILE`): TOML
//! (`rota.toml`), or Cosmos' own `*.properties` file. A file's values sit under the flags and
//! the environment variables and over the built-in defaults.

mod apply;
mod error;
mod properties;
mod settings;

use std::path::Path;

pub use apply::resolve;
pub use error::ConfigError;
pub use settings::Settings;

/// Reads a configuration file: Cosmos' Java properties when its name ends in `.properties`,
/// TOML otherwise. Relative paths in it are taken from the file's directory.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut settings = if path.extension().is_some_and(|e| e == "properties") {
        properties::read(path, &text)?
    } else {
        toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.to_path_buf(),
            source,
        })?
    };
    settings.check(path)?;
    if let Some(dir) = path.parent() {
        settings.rebase(dir);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_toml_file_is_read_with_its_paths_taken_from_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "rota.toml",
            "[server]\ndata = \"store\"\nport = 7071\n\n[node]\ncores = 4\nmems = 2048\n\
             labels = [\"a\", \"b\"]\nattributes = { rack = \"r1\" }\n\n\
             [docker]\ncontainer_log = \"/var/log/rota\"\ncontainer_tmp = \"tmp\"\n",
        );
        let settings = load(&path).unwrap();
        assert_eq!(settings.server.data, Some(dir.path().join("store")));
        assert_eq!(settings.server.port, Some(7071));
        assert_eq!(settings.node.cores, Some(4.0));
        assert_eq!(settings.node.mems, Some(2048));
        assert_eq!(settings.node.labels, Some(vec!["a".into(), "b".into()]));
        assert_eq!(settings.node.attributes.unwrap()["rack"], "r1");
        assert_eq!(
            settings.docker.container_log,
            Some(PathBuf::from("/var/log/rota"))
        );
        assert_eq!(settings.docker.container_tmp, Some(dir.path().join("tmp")));
    }

    #[test]
    fn a_properties_file_is_read_as_cosmos_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "cosmos.properties",
            "server.cores=6\nserver.hosts=a,b\nserver.port=8080\n",
        );
        let settings = load(&path).unwrap();
        assert_eq!(settings.node.cores, Some(6.0));
        assert_eq!(
            settings.server.member_urls(),
            Some(vec!["http://a:8080".into(), "http://b:8080".into()])
        );
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let error = load(&path).unwrap_err();
        assert!(matches!(error, ConfigError::Read { .. }), "{error:?}");
        assert!(error.to_string().contains("absent.toml"), "{error}");
    }

    #[test]
    fn a_toml_syntax_error_names_the_file_and_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.toml", "[node]\ncores = = 4\n");
        let error = load(&path).unwrap_err();
        let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
        assert!(
            text.contains("bad.toml") && text.contains("line 2"),
            "{text}"
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "bad.toml", "[node]\nmems = \"lots\"\n");
        let error = load(&path).unwrap_err();
        let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
        assert!(text.contains("bad.toml") && text.contains("mems"), "{text}");
    }

    #[test]
    fn an_unknown_key_names_the_key_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            ("colour = 1\n", "colour"),
            ("[node]\ncolour = 1\n", "colour"),
            ("[scheduler]\nthreads = 1\n", "scheduler"),
        ] {
            let path = write(dir.path(), "unknown.toml", text);
            let error = load(&path).unwrap_err();
            let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
            assert!(
                text.contains("unknown.toml") && text.contains(&format!("`{key}`")),
                "{text}"
            );
        }
    }

    #[test]
    fn contradictory_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (text, named) in [
            (
                "[server]\nlisten = \"127.0.0.1:1\"\nport = 2\n",
                "server.port",
            ),
            ("[server]\nhosts = [\"a\"]\n", "server.port"),
            (
                "[server]\nhosts = [\"a\"]\nport = 1\nmembers = [\"1=http://a:1\"]\n",
                "server.members",
            ),
            (
                "[server]\nhosts = [\"a\", \" \"]\nport = 1\n",
                "server.hosts",
            ),
        ] {
            let path = write(dir.path(), "both.toml", text);
            let error = load(&path).unwrap_err().to_string();
            assert!(
                error.contains("both.toml") && error.contains(named),
                "{error}"
            );
        }
    }
}
