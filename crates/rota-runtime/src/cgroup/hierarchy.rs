//! Which cgroup hierarchy the runs' cgroups are made in, and their parent directory in it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::CgroupConfig;
use super::files;
use super::mounts::{Membership, Mount, Mounts, join_cgroup, parse_membership, parse_mountinfo};

/// The v1 controllers rota uses. `cpuset` is left out on purpose: a new cpuset cgroup has no
/// cpus until someone assigns them, and a process cannot join it.
const V1_CONTROLLERS: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];
/// The v2 controllers rota enables for the runs' cgroups, when the host has them.
const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];
/// On v2 a cgroup with processes cannot hand controllers to its children; when the agent's own
/// cgroup is in that position, the agent moves itself into this leaf child first.
pub(crate) const V2_AGENT_LEAF: &str = "rota-agent";

/// cgroup v1 or v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    V2,
}

/// The directory under which runs' cgroups are made, in one mounted hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParentDir {
    /// The mount point of the hierarchy.
    pub(crate) mount: PathBuf,
    /// The parent directory itself (under `mount`).
    pub(crate) dir: PathBuf,
    /// The controllers of this hierarchy that rota uses (on v1, those mounted together here).
    pub(crate) controllers: Vec<String>,
}

impl ParentDir {
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Where and how the runs' cgroups are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    pub(crate) version: Version,
    /// One entry on v2; on v1 one per distinct mount among cpu, cpuacct, memory and pids.
    pub(crate) parents: Vec<ParentDir>,
}

impl Hierarchy {
    /// Finds the layout of this host from `/proc/self/mountinfo` and `/proc/self/cgroup`, and
    /// checks that the parent directory can be made. The error says, for people, why cgroups
    /// cannot be used.
    pub(crate) fn detect(config: &CgroupConfig) -> Result<Hierarchy, String> {
        if matches!(config, CgroupConfig::Disabled) {
            return Err("cgroups are disabled in the configuration".to_string());
        }
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let membership = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let hierarchy = Hierarchy::plan(
            &parse_mountinfo(&mountinfo),
            &parse_membership(&membership),
            config,
            |dir| files::read(dir, "cgroup.controllers"),
        )?;
        hierarchy.probe()?;
        Ok(hierarchy)
    }

    /// Chooses the hierarchy and the parent directories; reads nothing but the v2 root's
    /// `cgroup.controllers`, through `controllers_of`.
    ///
    /// v2 is used when its tree has the cpu or memory controller (a pure v2 host, or a hybrid
    /// one whose controllers were moved to v2); otherwise the v1 controllers are used (a v1
    /// host, or a hybrid one whose v2 tree has no controller).
    pub(crate) fn plan(
        mounts: &Mounts,
        me: &Membership,
        config: &CgroupConfig,
        controllers_of: impl Fn(&Path) -> Option<String>,
    ) -> Result<Hierarchy, String> {
        if let Some(v2) = &mounts.v2 {
            let available = controllers_of(&v2.dir).unwrap_or_default();
            let controllers: Vec<String> = V2_CONTROLLERS
                .iter()
                .filter(|c| available.split_whitespace().any(|a| a == **c))
                .map(|c| c.to_string())
                .collect();
            if controllers.iter().any(|c| c == "cpu" || c == "memory") {
                let dir = parent_dir(v2, me.v2.as_deref(), config, "v2")?;
                return Ok(Hierarchy {
                    version: Version::V2,
                    parents: vec![ParentDir {
                        mount: v2.dir.clone(),
                        dir,
                        controllers,
                    }],
                });
            }
        }
        let mut parents: Vec<ParentDir> = Vec::new();
        for controller in V1_CONTROLLERS {
            let Some(mount) = mounts.v1.get(controller) else {
                continue;
            };
            if let Some(parent) = parents.iter_mut().find(|p| p.mount == mount.dir) {
                parent.controllers.push(controller.to_string());
                continue;
            }
            let dir = parent_dir(
                mount,
                me.v1.get(controller).map(String::as_str),
                config,
                controller,
            )?;
            parents.push(ParentDir {
                mount: mount.dir.clone(),
                dir,
                controllers: vec![controller.to_string()],
            });
        }
        if !parents.iter().any(|p| p.has("cpu") || p.has("memory")) {
            return Err(
                "no cgroup hierarchy with the cpu or memory controller is mounted".to_string(),
            );
        }
        Ok(Hierarchy {
            version: Version::V1,
            parents,
        })
    }

    /// Makes the parent directories (and on v2 hands the controllers down to them), then
    /// removes those it made, to learn early whether runs' cgroups can be made at all.
    fn probe(&self) -> Result<(), String> {
        for parent in &self.parents {
            let existed = parent.dir.is_dir();
            self.ensure_parent(parent)
                .map_err(|e| format!("cannot make cgroup {}: {e}", parent.dir.display()))?;
            if !existed {
                let _ = fs::remove_dir(&parent.dir);
            }
        }
        Ok(())
    }

    /// Makes `parent.dir` if missing; on v2 also enables the controllers in every
    /// `cgroup.subtree_control` from the mount point down to it.
    pub(crate) fn ensure_parent(&self, parent: &ParentDir) -> io::Result<()> {
        fs::create_dir_all(&parent.dir)?;
        if self.version == Version::V2 {
            enable_v2_controllers(parent)?;
        }
        Ok(())
    }

    /// For people: `cgroup v1 (cpu,cpuacct at /sys/fs/cgroup/cpu/rota; memory at ...)`.
    pub(crate) fn describe(&self) -> String {
        let version = match self.version {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        };
        let parts: Vec<String> = self
            .parents
            .iter()
            .map(|p| format!("{} under {}", p.controllers.join(","), p.dir.display()))
            .collect();
        format!("{version}: {}", parts.join("; "))
    }
}

/// The parent directory in one hierarchy: the configured path, or a child of this process's
/// own cgroup.
fn parent_dir(
    mount: &Mount,
    own: Option<&str>,
    config: &CgroupConfig,
    what: &str,
) -> Result<PathBuf, String> {
    match config {
        CgroupConfig::Disabled => Err("cgroups are disabled in the configuration".to_string()),
        CgroupConfig::Path(path) => Ok(join_cgroup(&mount.dir, path)),
        CgroupConfig::UnderOwn(name) => {
            let own = own.ok_or_else(|| {
                format!(
                    "/proc/self/cgroup does not say where this process is in the {what} hierarchy"
                )
            })?;
            let dir = mount.dir_of(own).ok_or_else(|| {
                format!(
                    "this process's {what} cgroup {own} is not visible under {}",
                    mount.dir.display()
                )
            })?;
            Ok(dir.join(name))
        }
    }
}

/// Writes `+cpu +memory +pids` (those present) into each `cgroup.subtree_control` from the
/// mount point down to `parent.dir`. A cgroup on that path that holds processes refuses
/// (EBUSY); when it is this process's own cgroup, the process moves into a leaf child
/// ([`V2_AGENT_LEAF`]) and tries again.
fn enable_v2_controllers(parent: &ParentDir) -> io::Result<()> {
    let wanted: String = parent
        .controllers
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let Ok(below) = parent.dir.strip_prefix(&parent.mount) else {
        return Ok(());
    };
    let mut dir = parent.mount.clone();
    let mut chain = vec![dir.clone()];
    for part in below.components() {
        dir.push(part);
        chain.push(dir.clone());
    }
    for dir in chain {
        let enabled = files::read(&dir, "cgroup.subtree_control").unwrap_or_default();
        if parent
            .controllers
            .iter()
            .all(|c| enabled.split_whitespace().any(|e| e == c))
        {
            continue;
        }
        match files::write(&dir, "cgroup.subtree_control", &wanted) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && holds_this_process(&dir) => {
                let leaf = dir.join(V2_AGENT_LEAF);
                fs::create_dir_all(&leaf)?;
                files::write(&leaf, "cgroup.procs", &std::process::id().to_string())?;
                tracing::info!(
                    cgroup = %leaf.display(),
                    "moved the agent into a leaf cgroup so that its own cgroup can delegate controllers to runs"
                );
                files::write(&dir, "cgroup.subtree_control", &wanted)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn holds_this_process(dir: &Path) -> bool {
    let me = std::process::id() as i32;
    files::procs(dir).contains(&me)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn mount(dir: &str) -> Mount {
        Mount {
            root: "/".into(),
            dir: dir.into(),
        }
    }

    fn hybrid() -> (Mounts, Membership) {
        let mut v1 = BTreeMap::new();
        v1.insert("cpu".to_string(), mount("/sys/fs/cgroup/cpu,cpuacct"));
        v1.insert("cpuacct".to_string(), mount("/sys/fs/cgroup/cpu,cpuacct"));
        v1.insert("memory".to_string(), mount("/sys/fs/cgroup/memory"));
        v1.insert("pids".to_string(), mount("/sys/fs/cgroup/pids"));
        v1.insert("cpuset".to_string(), mount("/sys/fs/cgroup/cpuset"));
        let mounts = Mounts {
            v1,
            v2: Some(mount("/sys/fs/cgroup/unified")),
        };
        let mut me = Membership::default();
        me.v1.insert("cpu".into(), "/".into());
        me.v1.insert("cpuacct".into(), "/".into());
        me.v1.insert("memory".into(), "/process_api/1098".into());
        me.v1.insert("pids".into(), "/user.slice".into());
        me.v2 = Some("/".into());
        (mounts, me)
    }

    #[test]
    fn a_hybrid_host_without_v2_controllers_uses_v1_under_the_agents_own_cgroups() {
        let (mounts, me) = hybrid();
        let plan = Hierarchy::plan(&mounts, &me, &CgroupConfig::UnderOwn("rota".into()), |_| {
            Some(String::new())
        })
        .unwrap();
        assert_eq!(plan.version, Version::V1);
        let dirs: Vec<(String, Vec<String>)> = plan
            .parents
            .iter()
            .map(|p| (p.dir.display().to_string(), p.controllers.clone()))
            .collect();
        assert_eq!(
            dirs,
            vec![
                (
                    "/sys/fs/cgroup/cpu,cpuacct/rota".to_string(),
                    vec!["cpu".to_string(), "cpuacct".to_string()]
                ),
                (
                    "/sys/fs/cgroup/memory/process_api/1098/rota".to_string(),
                    vec!["memory".to_string()]
                ),
                (
                    "/sys/fs/cgroup/pids/user.slice/rota".to_string(),
                    vec!["pids".to_string()]
                ),
            ]
        );
    }

    #[test]
    fn a_hybrid_host_whose_controllers_moved_to_v2_uses_v2() {
        let (mut mounts, me) = hybrid();
        mounts.v1.remove("memory");
        let plan = Hierarchy::plan(
            &mounts,
            &me,
            &CgroupConfig::Path("/rota/node1".into()),
            |_| Some("cpuset memory io\n".into()),
        )
        .unwrap();
        assert_eq!(plan.version, Version::V2);
        assert_eq!(plan.parents.len(), 1);
        assert_eq!(
            plan.parents[0].dir,
            PathBuf::from("/sys/fs/cgroup/unified/rota/node1")
        );
        assert_eq!(plan.parents[0].controllers, vec!["memory".to_string()]);
    }

    #[test]
    fn a_pure_v2_host_uses_a_child_of_the_agents_cgroup() {
        let mounts = Mounts {
            v1: BTreeMap::new(),
            v2: Some(mount("/sys/fs/cgroup")),
        };
        let me = Membership {
            v1: BTreeMap::new(),
            v2: Some("/system.slice/rota.service".into()),
        };
        let plan = Hierarchy::plan(&mounts, &me, &CgroupConfig::UnderOwn("runs".into()), |_| {
            Some("cpuset cpu io memory hugetlb pids rdma misc\n".into())
        })
        .unwrap();
        assert_eq!(plan.version, Version::V2);
        assert_eq!(
            plan.parents[0].dir,
            PathBuf::from("/sys/fs/cgroup/system.slice/rota.service/runs")
        );
        assert_eq!(plan.parents[0].controllers, ["cpu", "memory", "pids"]);
    }

    #[test]
    fn no_controller_anywhere_says_why() {
        let mounts = Mounts {
            v1: BTreeMap::new(),
            v2: Some(mount("/sys/fs/cgroup/unified")),
        };
        let err = Hierarchy::plan(
            &mounts,
            &Membership::default(),
            &CgroupConfig::default(),
            |_| Some(String::new()),
        )
        .unwrap_err();
        assert!(err.contains("no cgroup hierarchy"), "{err}");
        let err = Hierarchy::detect(&CgroupConfig::Disabled).unwrap_err();
        assert!(err.contains("disabled"), "{err}");
    }

    #[test]
    fn v2_controllers_are_handed_down_from_the_mount_point_to_the_parent() {
        let root = tempfile::tempdir().unwrap();
        let hierarchy = Hierarchy {
            version: Version::V2,
            parents: vec![ParentDir {
                mount: root.path().to_path_buf(),
                dir: root.path().join("agent.slice/runs"),
                controllers: vec!["cpu".into(), "memory".into()],
            }],
        };
        hierarchy.ensure_parent(&hierarchy.parents[0]).unwrap();
        for dir in ["", "agent.slice", "agent.slice/runs"] {
            let text =
                fs::read_to_string(root.path().join(dir).join("cgroup.subtree_control")).unwrap();
            assert_eq!(text, "+cpu +memory", "in {dir:?}");
        }
        // A second time changes nothing: "cpu memory" as the kernel shows it is enough.
        for dir in ["", "agent.slice", "agent.slice/runs"] {
            files::write(
                &root.path().join(dir),
                "cgroup.subtree_control",
                "cpu memory\n",
            )
            .unwrap();
        }
        hierarchy.ensure_parent(&hierarchy.parents[0]).unwrap();
        let text =
            fs::read_to_string(root.path().join("agent.slice/cgroup.subtree_control")).unwrap();
        assert_eq!(text, "cpu memory\n");
    }
}
