//! Paths between files: an instance names its model configs and device catalog relative to its
//! own directory.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// `target` as a path relative to the directory `from`, e.g. `../instances/models` for target
/// `instances/models` from `out`: the path an instance written in `from` uses to name `target`.
///
/// Relative paths are taken from the working directory; neither path needs to exist (`.` and
/// `..` are resolved by name, not through symbolic links). Gives `.` when both are the same
/// directory. The only error is a working directory that cannot be read.
pub fn relative_to(target: &Path, from: &Path) -> Result<String> {
    let absolute = |p: &Path| -> Result<PathBuf> {
        let cwd = std::env::current_dir().map_err(|e| Error::io(p, e))?;
        let mut out = PathBuf::new();
        for c in cwd.join(p).components() {
            match c {
                Component::ParentDir => {
                    out.pop();
                }
                Component::CurDir => {}
                other => out.push(other),
            }
        }
        Ok(out)
    };
    let (target, from) = (absolute(target)?, absolute(from)?);
    let t: Vec<_> = target.components().collect();
    let f: Vec<_> = from.components().collect();
    let common = t.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c);
    }
    if rel.as_os_str().is_empty() {
        return Ok(".".into());
    }
    Ok(rel.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    fn rel(target: &str, from: &str) -> String {
        relative_to(Path::new(target), Path::new(from)).unwrap()
    }

    #[test]
    fn absolute_paths_meet_at_their_common_prefix() {
        assert_eq!(rel("/a/b/c", "/a/d"), "../b/c");
        assert_eq!(rel("/a/b/c", "/a/b"), "c");
        assert_eq!(rel("/a", "/a/b/c"), "../..");
        assert_eq!(rel("/a/b", "/a/b"), ".");
        assert_eq!(rel("/a/./b/../c", "/a/x/.."), "c");
    }

    #[test]
    fn relative_paths_start_at_the_working_directory() {
        // An instance written as `out/x.toml` names `instances/models` as `../instances/models`;
        // one written as `x.toml` (its directory is the empty path) names it as it is.
        assert_eq!(rel("instances/models", "out"), "../instances/models");
        assert_eq!(rel("instances/models", ""), "instances/models");
        assert_eq!(
            rel("instances/devices.csv", "instances/alloc"),
            "../devices.csv"
        );
        // A relative path and an absolute one meet in the working directory.
        let cwd = std::env::current_dir().unwrap();
        let cwd = cwd.to_str().unwrap();
        assert_eq!(rel("instances/models", cwd), "instances/models");
        assert_eq!(rel(cwd, "instances/alloc"), "../..");
    }
}
