//! `--store`: the conversation store of the Pallas that loadgen starts. The bench config is
//! copied into a temporary folder with a `conversations:` section added, so every store is
//! measured with the same agent and nothing is left beside the repository's example.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    Memory,
    Sqlite,
    Postgres,
}

/// The copied project: keep it alive as long as the server runs.
pub struct StoreProject {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The notes server the copied config must be given (its relative default no longer
    /// resolves from the temporary folder).
    pub notes_server: PathBuf,
}

/// Copies `config` (agents.yaml) and the fastagent.config.yaml beside it into a temporary
/// folder, adding the `conversations:` section for `store`.
pub fn project_with_store(
    config: &Path,
    store: StoreChoice,
    postgres_url: Option<&str>,
    notes_server: Option<&Path>,
) -> anyhow::Result<StoreProject> {
    let folder = config.parent().unwrap_or(Path::new("."));
    let agents =
        std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    if agents.lines().any(|l| l.starts_with("conversations:")) {
        bail!(
            "{} already has a conversations: section; --store would override it (drop one)",
            config.display()
        );
    }
    let dir = tempfile::tempdir().context("creating a temporary folder for --store")?;
    let section = match store {
        StoreChoice::Memory => "conversations:\n  store: memory\n".to_string(),
        StoreChoice::Sqlite => format!(
            "conversations:\n  store: sqlite\n  path: {}\n",
            dir.path().join("conversations.db").display()
        ),
        StoreChoice::Postgres => {
            let Some(url) = postgres_url else {
                bail!("--store postgres needs --store-url URL (or LOADGEN_POSTGRES_URL)");
            };
            format!("conversations:\n  store: postgres\n  url: \"{url}\"\n")
        }
    };
    let copied = dir.path().join("agents.yaml");
    std::fs::write(&copied, format!("{agents}\n{section}"))
        .with_context(|| format!("writing {}", copied.display()))?;
    let settings = folder.join("fastagent.config.yaml");
    if settings.exists() {
        std::fs::copy(&settings, dir.path().join("fastagent.config.yaml"))
            .with_context(|| format!("copying {}", settings.display()))?;
    }
    let notes_server = match notes_server {
        Some(path) => std::path::absolute(path)?,
        // The bench config's default, resolved from its own folder.
        None => std::path::absolute(folder.join("../../target/release/examples/notes_server"))?,
    };
    Ok(StoreProject {
        _dir: dir,
        config: copied,
        notes_server,
    })
}
