//! What the three `generate` commands share: writing the instance.

use std::path::Path;
use std::process::ExitCode;

use edgeplan::instance::paths::relative_to;
use edgeplan::Error;

/// How a generated instance names the catalog it was drawn from: its `models_dir` and `devices`.
pub(super) struct CatalogPaths {
    /// The directory of model configs.
    pub models_dir: String,
    /// The device catalog (devices.csv).
    pub devices: String,
}

/// Writes an instance drawn from the catalog in `instances`: to standard output naming the
/// catalog as `instances` is given, or to the file `out` naming it relative to that file's
/// directory (so the file loads from anywhere), then says `wrote OUT (summary)` on standard error.
/// `render` makes the instance text given the catalog paths.
pub(super) fn write(
    instances: &Path,
    out: Option<&Path>,
    render: impl FnOnce(CatalogPaths) -> String,
    summary: &str,
) -> anyhow::Result<ExitCode> {
    let models_dir = instances.join("models");
    let devices = instances.join("devices.csv");
    match out {
        None => {
            print!(
                "{}",
                render(CatalogPaths {
                    models_dir: models_dir.display().to_string(),
                    devices: devices.display().to_string(),
                })
            );
        }
        Some(out) => {
            let dir = out.parent().unwrap_or(Path::new(""));
            let text = render(CatalogPaths {
                models_dir: relative_to(&models_dir, dir)?,
                devices: relative_to(&devices, dir)?,
            });
            std::fs::write(out, text).map_err(|e| Error::io(out, e))?;
            eprintln!("wrote {} ({summary})", out.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
