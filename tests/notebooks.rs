//! The notebooks: `notebooks/run_notebooks.py` runs the shipped sweeps with this build of the
//! binary, executes every notebook headless and checks that each declared figure was written.
//! Needs Python 3 with the packages of `notebooks/requirements.txt` (`.ci/setup` installs them),
//! and the `edgeplan` Python module for `green.ipynb`: installed here with
//! `pip install ./python` when `import edgeplan` fails.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the `edgeplan` Python module (`python/`) when `python` cannot import it. The build
/// goes to `$CARGO_TARGET_DIR` when set, reusing the compiled dependencies.
fn install_module(python: &str) {
    let has = Command::new(python)
        .args(["-c", "import edgeplan"])
        .current_dir(root().join("notebooks"))
        .output()
        .is_ok_and(|out| out.status.success());
    if has {
        return;
    }
    let out = Command::new(python)
        .args(["-m", "pip", "install", "-q", "./python"])
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .current_dir(root())
        .output()
        .expect("run pip");
    assert!(
        out.status.success(),
        "green.ipynb needs the edgeplan Python module; `{python} -m pip install ./python` failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn notebooks_run_headless_and_write_their_figures() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let check = Command::new(&python)
        .args([
            "-c",
            "import pandas, matplotlib, nbclient, nbformat, ipykernel, scipy",
        ])
        .output();
    match check {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "the notebooks need Python packages: run .ci/setup (or python3 -m pip install -r \
             notebooks/requirements.txt): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("the notebooks need {python}: {e}"),
    }
    install_module(&python);
    let out = Command::new(&python)
        .arg("notebooks/run_notebooks.py")
        .args(["--edgeplan", env!("CARGO_BIN_EXE_edgeplan")])
        .current_dir(root())
        .output()
        .expect("run notebooks/run_notebooks.py");
    assert!(
        out.status.success(),
        "run_notebooks.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "split",
        "alloc",
        "cache",
        "green",
        "moe",
        "collab",
        "cost-model",
    ] {
        let notebook = root().join("notebooks").join(format!("{name}.ipynb"));
        let nb: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&notebook).unwrap()).unwrap();
        let figures = nb["metadata"]["edgeplan"]["figures"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}.ipynb declares no figures"));
        assert!(!figures.is_empty(), "{name}.ipynb");
        for figure in figures {
            let path = root()
                .join("notebooks/figures")
                .join(figure.as_str().unwrap());
            let size = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .len();
            assert!(size > 1000, "{} is {size} bytes", path.display());
        }
    }
}
