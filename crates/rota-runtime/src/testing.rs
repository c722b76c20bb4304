//! Helpers for tests that need a Docker engine, in this crate and in the `rota` crate's
//! end-to-end tests (feature `testing`):
//!
//! - [`engine_or_skip`]: the engine, or `None` after printing `skipped: no Docker engine`;
//! - [`build_busybox_image`]: a test image with no registry and no base image (`FROM scratch`
//!   and Debian's static `/bin/busybox`, from `busybox-static`);
//! - [`build_cosmos_image`]: the same, built for Cosmos' container contract like Cosmos'
//!   example image: a `python` on the `PATH` and a `/start.py` in the `WORKDIR` (both shell
//!   scripts: see [`COSMOS_PYTHON`] and [`COSMOS_START_PY`]);
//! - [`build_scratch_image`] with [`host_program_files`]: a host program (such as rota itself)
//!   with its shared libraries and busybox, to run it in containers;
//! - [`LocalRegistry`]: Debian's `docker-registry` on a free port of 127.0.0.1 with its own
//!   config and storage in a temporary directory (never the packaged service), to push images
//!   to and pull them from.
//!
//! `scripts/ci-deps.sh` installs `busybox-static` and `docker-registry`.

use std::error::Error;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    BuildImageOptionsBuilder, PushImageOptionsBuilder, RemoveImageOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;

use crate::{DockerConfig, DockerRuntime};

/// What the helpers return on failure.
pub type TestResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

/// The repository of the test images: `rota-test/busybox:1`, `rota-test/busybox:2`...
pub const BUSYBOX_REPOSITORY: &str = "rota-test/busybox";

/// The repository of the Cosmos-contract test image ([`cosmos_image`]).
pub const COSMOS_REPOSITORY: &str = "rota-test/cosmos";

/// The busybox applets linked in the test images.
const APPLETS: [&str; 20] = [
    "sh", "true", "false", "echo", "cat", "sleep", "tail", "head", "env", "ls", "dd", "yes",
    "printf", "test", "kill", "id", "wc", "grep", "trap", "seq",
];

/// `/bin/python` of the Cosmos test image: runs its script with `sh`, from the `WORKDIR`, as
/// `python start.py ARGS` would (the image has no Python).
pub const COSMOS_PYTHON: &str = r#"#!/bin/sh
# python SCRIPT ARGS...: the test image's stand-in for Python, which runs SCRIPT with sh.
[ -f "$1" ] || { echo "python: can't open file '$1': No such file or directory" >&2; exit 2; }
exec sh "$@"
"#;

/// `/start.py` of the Cosmos test image, in sh: what Cosmos' example `start.py` does (each
/// argument logged to `L/start.log`, the date to `L/container.log`, L being the 13th
/// argument), and for tests: its argv (`start.py`, then the 13 arguments) one per line in
/// `L/args.txt`, the names in `/tmp` in `L/tmp.txt`, a line on stdout and one on stderr.
/// When the params have a `wait` key it waits for a file `/tmp/go` first (before its stdout
/// line); it exits with the value of the `exit` key when the params hold one
/// (`%22exit%22%3A3`).
pub const COSMOS_START_PY: &str = r#"# Cosmos' example start.py, in sh.
L="${13}"
printf '%s\n' "$0" "$@" > "$L/args.txt"
ls /tmp > "$L/tmp.txt"
i=1
for arg in "$@"; do
  echo "$(date '+%Y-%m-%d %H:%M:%S') start.py argument $i: $arg" >> "$L/start.log"
  i=$((i + 1))
done
echo "$(date '+%Y-%m-%d %H:%M:%S') start.py container.log: working" >> "$L/container.log"
case "$9" in *%22wait%22*) until [ -e /tmp/go ]; do sleep 0.05; done ;; esac
echo "start.py stdout: hello"
echo "start.py stderr: hello" >&2
code=$(echo "$9" | sed -n 's/.*%22exit%22%3A\([0-9]*\).*/\1/p')
exit "${code:-0}"
"#;

/// The applets the Cosmos test image has besides [`APPLETS`].
const COSMOS_APPLETS: [&str; 2] = ["date", "sed"];

/// The name of the Cosmos-contract test image: [`COSMOS_REPOSITORY`] with a tag that is a hash
/// of its two scripts, so that a change to them builds a new image rather than reusing a stale
/// one.
pub fn cosmos_image() -> String {
    // FNV-1a: stable across Rust versions.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in COSMOS_PYTHON.bytes().chain(COSMOS_START_PY.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{COSMOS_REPOSITORY}:{:08x}", hash >> 32)
}

/// The engine at the default socket, or `None` after printing `skipped: no Docker engine`
/// (with the test's name) so that the skip is visible in the test output.
pub async fn engine_or_skip(test: &str) -> Option<DockerRuntime> {
    match DockerRuntime::connect(DockerConfig::default()).await {
        Ok(engine) => Some(engine),
        Err(err) => {
            println!("skipped: no Docker engine ({test}): {err}");
            None
        }
    }
}

/// Builds `image` (`repository:tag`) from scratch: `/bin/busybox` and links to it for common
/// applets, `PATH=/bin`, and `ROTA_TEST_IMAGE=<image>` in the environment so that a run can
/// tell which image it ran. Builds with the engine's classic builder from a context made in
/// memory. Does nothing when the image is already there.
pub async fn build_busybox_image(engine: &DockerRuntime, image: &str) -> TestResult<()> {
    let dockerfile = format!(
        "FROM scratch\nCOPY bin /bin\nENV PATH=/bin ROTA_TEST_IMAGE={image}\nCMD [\"sh\"]\n"
    );
    build_image(engine, image, busybox_context(&dockerfile, &[], &[])?).await
}

/// A file to put in a test image: its absolute path in the image, its bytes and its mode.
pub type ImageFile = (String, Vec<u8>, u32);

/// Builds `image` from scratch: busybox and its applets in `/bin` (as in
/// [`build_busybox_image`]), `files` at their paths, `PATH=/bin`, and `entrypoint`. Does
/// nothing when the image is already there, so name it after what it holds.
pub async fn build_scratch_image(
    engine: &DockerRuntime,
    image: &str,
    files: &[ImageFile],
    entrypoint: &[&str],
) -> TestResult<()> {
    let entrypoint = serde_json::to_string(entrypoint)?;
    let dockerfile = format!(
        "FROM scratch\nCOPY bin /bin\nCOPY rootfs/ /\nENV PATH=/bin\nENTRYPOINT {entrypoint}\n"
    );
    let files: Vec<(String, &[u8], u32)> = files
        .iter()
        .map(|(path, bytes, mode)| {
            (
                format!("rootfs/{}", path.trim_start_matches('/')),
                bytes.as_slice(),
                *mode,
            )
        })
        .collect();
    let files: Vec<(&str, &[u8], u32)> = files
        .iter()
        .map(|(path, bytes, mode)| (path.as_str(), *bytes, *mode))
        .collect();
    build_image(engine, image, busybox_context(&dockerfile, &files, &[])?).await
}

/// A dynamically linked host program and the shared libraries `ldd` lists for it (with the
/// program interpreter), each at its path, so that it runs in a `FROM scratch` image.
pub fn host_program_files(program: &Path, at: &str) -> TestResult<Vec<ImageFile>> {
    let mut files = vec![(at.to_string(), std::fs::read(program)?, 0o755)];
    let ldd = Command::new("ldd").arg(program).output()?;
    if !ldd.status.success() {
        return Err(format!("ldd {}: {}", program.display(), ldd.status).into());
    }
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux... (0x...)`
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            files.push((path.to_string(), std::fs::read(path)?, 0o755));
        }
    }
    Ok(files)
}

/// Builds `image` (`repository:tag`) for Cosmos' container contract, like Cosmos' example
/// image (`COPY start.py /`, `WORKDIR /`): the busybox image of [`build_busybox_image`] with
/// `/bin/python` ([`COSMOS_PYTHON`]) and `/start.py` ([`COSMOS_START_PY`]). Does nothing when
/// the image is already there.
pub async fn build_cosmos_image(engine: &DockerRuntime, image: &str) -> TestResult<()> {
    let dockerfile = format!(
        "FROM scratch\nCOPY bin /bin\nCOPY start.py /\nWORKDIR /\n\
         ENV PATH=/bin ROTA_TEST_IMAGE={image}\nCMD [\"sh\"]\n"
    );
    let files = [
        ("bin/python", COSMOS_PYTHON.as_bytes(), 0o755),
        ("start.py", COSMOS_START_PY.as_bytes(), 0o644),
    ];
    build_image(
        engine,
        image,
        busybox_context(&dockerfile, &files, &COSMOS_APPLETS)?,
    )
    .await
}

/// Builds `image` from a build context (a tar archive), unless the engine already has it.
async fn build_image(engine: &DockerRuntime, image: &str, context: Vec<u8>) -> TestResult<()> {
    // Tests of one binary build one at a time: two builds of one tag leave a dangling image.
    static BUILDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = BUILDING.lock().await;
    let docker = engine.client();
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let options = BuildImageOptionsBuilder::new()
        .t(image)
        .rm(true)
        .forcerm(true)
        .build();
    let mut build = docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    while let Some(step) = build.next().await {
        let step = step?;
        if let Some(detail) = step.error_detail {
            return Err(format!("building {image}: {}", detail.message.unwrap_or_default()).into());
        }
    }
    docker.inspect_image(image).await?;
    Ok(())
}

/// The build context, as a tar archive: `dockerfile`, `bin/` with busybox and its links for
/// [`APPLETS`] and `applets`, and `files` (path, content, mode).
fn busybox_context(
    dockerfile: &str,
    files: &[(&str, &[u8], u32)],
    applets: &[&str],
) -> TestResult<Vec<u8>> {
    let busybox = find_static_busybox()?;
    let mut tar = tar::Builder::new(Vec::new());
    let add_file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        tar.append_data(&mut header, path, data)
    };
    add_file(&mut tar, "Dockerfile", dockerfile.as_bytes(), 0o644)?;
    let binary = std::fs::read(&busybox)?;
    add_file(&mut tar, "bin/busybox", &binary, 0o755)?;
    for (path, data, mode) in files {
        add_file(&mut tar, path, data, *mode)?;
    }
    for applet in APPLETS.iter().chain(applets) {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        header.set_mode(0o777);
        tar.append_link(&mut header, format!("bin/{applet}"), "busybox")?;
    }
    Ok(tar.into_inner()?)
}

/// `/bin/busybox` from `busybox-static` (a dynamic busybox would not run `FROM scratch`).
fn find_static_busybox() -> TestResult<PathBuf> {
    for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
        let path = Path::new(candidate);
        if let Ok(bytes) = std::fs::read(path)
            && is_static_elf(&bytes)
        {
            return Ok(path.to_path_buf());
        }
    }
    Err("no static busybox: install busybox-static (scripts/ci-deps.sh)".into())
}

/// An ELF file with no program interpreter (`PT_INTERP`) is statically linked.
fn is_static_elf(bytes: &[u8]) -> bool {
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false;
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[i..i + 8]);
        u64::from_le_bytes(b) as usize
    };
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        at + 4 <= bytes.len()
            && u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) != 3
    })
}

/// Removes `image` from the engine (ignoring an image that is not there).
pub async fn remove_image(engine: &DockerRuntime, image: &str) -> TestResult<()> {
    let options = RemoveImageOptionsBuilder::new().force(true).build();
    match engine
        .client()
        .remove_image(image, Some(options), None)
        .await
    {
        Ok(_) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Debian's `docker-registry`, listening on a free port of 127.0.0.1 with its own config and
/// storage in a temporary directory. Stopped (and its directory removed) when dropped.
#[derive(Debug)]
pub struct LocalRegistry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl LocalRegistry {
    /// Starts it and waits (up to 15 s) until it answers `GET /v2/`.
    pub fn start() -> TestResult<LocalRegistry> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let binary = ["/usr/bin/docker-registry", "/usr/sbin/docker-registry"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or("no docker-registry: install it (scripts/ci-deps.sh)")?;
        let dir = std::env::temp_dir().join(format!(
            "rota-registry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("data"))?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut registry = LocalRegistry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if registry.answers() {
                return Ok(registry);
            }
            if let Some(status) = registry.child.try_wait()? {
                let log =
                    std::fs::read_to_string(registry.dir.join("registry.log")).unwrap_or_default();
                return Err(format!("docker-registry exited ({status}): {log}").into());
            }
            if Instant::now() >= deadline {
                return Err("docker-registry did not answer within 15 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `127.0.0.1:PORT`: the registry part of an image name.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT/repository:tag`.
    pub fn image(&self, repository: &str, tag: &str) -> String {
        format!("{}/{repository}:{tag}", self.address())
    }

    /// Tags the local image `local` as `repository:tag` of this registry and pushes it;
    /// returns the registry's image name.
    pub async fn push(
        &self,
        engine: &DockerRuntime,
        local: &str,
        repository: &str,
        tag: &str,
    ) -> TestResult<String> {
        let docker = engine.client();
        let remote_repository = format!("{}/{repository}", self.address());
        let options = TagImageOptionsBuilder::new()
            .repo(&remote_repository)
            .tag(tag)
            .build();
        docker.tag_image(local, Some(options)).await?;
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut push = docker.push_image(&remote_repository, Some(options), None);
        while let Some(step) = push.next().await {
            let step = step?;
            if let Some(detail) = step.error_detail {
                return Err(format!(
                    "pushing {remote_repository}:{tag}: {}",
                    detail.message.unwrap_or_default()
                )
                .into());
            }
        }
        Ok(self.image(repository, tag))
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.port);
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).is_ok() && head.ends_with(b"200")
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
