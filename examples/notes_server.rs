//! `notes_server`: a small but useful downstream MCP server for Pallas agents, built
//! with rmcp.
//!
//! Tools:
//!
//! | tool          | arguments                 | result                                          |
//! |---------------|---------------------------|-------------------------------------------------|
//! | `add_note`    | `title`, `text`           | `Saved note '<title>' (<n> notes)`              |
//! | `list_notes`  | —                         | titles, one per line, or `No notes yet.`        |
//! | `get_note`    | `title`                   | the note's text; error result if unknown        |
//! | `delete_note` | `title`                   | `Deleted note '<title>' (<n> notes)`; error result if unknown |
//! | `now`         | —                         | current UTC time, RFC 3339                      |
//! | `sleep`       | `seconds` (number, ≤ 600) | `slept N s` (for downstream-timeout tests)      |
//! | `fail`        | `message`                 | always an error result carrying `message`       |
//! | `chart`       | —                         | text plus a PNG image (image content)           |
//! | `export_pdf`  | —                         | a PDF as an embedded blob resource              |
//!
//! Notes live in memory and are shared by every session of one process. With
//! `--store PATH` they are loaded from and saved to a JSON file (`{"title": "text", …}`).
//!
//! Modes:
//!
//! ```text
//! notes_server                              # stdio (what a Pallas `command:` entry runs)
//! notes_server --http 127.0.0.1:0           # Streamable HTTP at http://ADDR/mcp
//! notes_server --store /tmp/notes.json      # persist notes
//! ```
//!
//! In HTTP mode the first stdout line is `notes_server listening on http://ADDR/mcp`
//! (useful with port 0); it then serves until ctrl-c or SIGTERM. Logs always go to
//! stderr: in stdio mode stdout is the MCP channel.
//!
//! Build: `cargo build --release --examples` → `target/release/examples/notes_server`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, ResourceContents, ServerCapabilities,
    ServerConfig,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use serde::Deserialize;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Longest `sleep` accepted, in seconds.
const MAX_SLEEP_SECONDS: f64 = 600.0;

#[derive(Debug, Parser)]
#[command(
    name = "notes_server",
    about = "A notes MCP server (stdio or Streamable HTTP)"
)]
struct Cli {
    /// Serve Streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:0).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Load notes from and save them to this JSON file.
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,
}

// ---------------------------------------------------------------------------
// Note storage
// ---------------------------------------------------------------------------

/// The notes of one process, shared by all sessions.
#[derive(Debug)]
struct NoteStore {
    notes: Mutex<BTreeMap<String, String>>,
    path: Option<PathBuf>,
}

impl NoteStore {
    /// Opens the store; reads `path` if it exists (a missing file means no notes yet).
    fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let notes = match &path {
            Some(path) if path.exists() => {
                let raw = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                if raw.trim().is_empty() {
                    BTreeMap::new()
                } else {
                    serde_json::from_str(&raw).with_context(|| {
                        format!("{} is not a JSON object of title → text", path.display())
                    })?
                }
            }
            _ => BTreeMap::new(),
        };
        Ok(Self {
            notes: Mutex::new(notes),
            path,
        })
    }

    /// Writes the notes to the store file (if any) atomically: temp file, then rename.
    /// Called with the lock held, so concurrent saves cannot interleave.
    async fn save(&self, notes: &BTreeMap<String, String>) -> Result<(), String> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let json = serde_json::to_vec_pretty(notes).map_err(|e| e.to_string())?;
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        tokio::fs::write(&tmp, json)
            .await
            .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(|e| format!("renaming {} to {}: {e}", tmp.display(), path.display()))
    }
}

// ---------------------------------------------------------------------------
// Tool arguments
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
struct AddNoteArgs {
    /// Title of the note; saving under an existing title replaces that note.
    title: String,
    /// The note's text.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct TitleArgs {
    /// Exact title of the note.
    title: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct SleepArgs {
    /// How long to sleep, in seconds (fractions allowed, at most 600).
    seconds: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct FailArgs {
    /// The error message the tool fails with.
    message: String,
}

// ---------------------------------------------------------------------------
// The MCP server
// ---------------------------------------------------------------------------

/// One MCP session's handler; every session shares the same [`NoteStore`].
#[derive(Clone)]
struct NotesServer {
    store: Arc<NoteStore>,
    tool_router: ToolRouter<Self>,
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn error_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

fn known_titles(notes: &BTreeMap<String, String>) -> String {
    if notes.is_empty() {
        "(none)".to_string()
    } else {
        notes.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "note" } else { "notes" }
}

#[tool_router]
impl NotesServer {
    fn new(store: Arc<NoteStore>) -> Self {
        Self {
            store,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Save a note under a title (replaces any note with the same title).")]
    async fn add_note(&self, Parameters(args): Parameters<AddNoteArgs>) -> CallToolResult {
        if args.title.trim().is_empty() {
            return error_result("The title must not be empty.");
        }
        let mut notes = self.store.notes.lock().await;
        notes.insert(args.title.clone(), args.text);
        if let Err(e) = self.store.save(&notes).await {
            tracing::error!("saving notes: {e}");
            return error_result(format!("Note kept in memory but not saved: {e}"));
        }
        tracing::info!(title = %args.title, "note saved");
        let n = notes.len();
        text_result(format!("Saved note '{}' ({n} {})", args.title, plural(n)))
    }

    #[tool(description = "List the titles of all saved notes, one per line.")]
    async fn list_notes(&self) -> CallToolResult {
        let notes = self.store.notes.lock().await;
        if notes.is_empty() {
            text_result("No notes yet.")
        } else {
            text_result(notes.keys().cloned().collect::<Vec<_>>().join("\n"))
        }
    }

    #[tool(description = "Return the text of the note with the given title.")]
    async fn get_note(&self, Parameters(args): Parameters<TitleArgs>) -> CallToolResult {
        let notes = self.store.notes.lock().await;
        match notes.get(&args.title) {
            Some(text) => text_result(text.clone()),
            None => error_result(format!(
                "No note titled '{}'. Known titles: {}",
                args.title,
                known_titles(&notes)
            )),
        }
    }

    #[tool(description = "Delete the note with the given title.")]
    async fn delete_note(&self, Parameters(args): Parameters<TitleArgs>) -> CallToolResult {
        let mut notes = self.store.notes.lock().await;
        if notes.remove(&args.title).is_none() {
            return error_result(format!(
                "No note titled '{}'. Known titles: {}",
                args.title,
                known_titles(&notes)
            ));
        }
        if let Err(e) = self.store.save(&notes).await {
            tracing::error!("saving notes: {e}");
            return error_result(format!("Note deleted in memory but not saved: {e}"));
        }
        tracing::info!(title = %args.title, "note deleted");
        let n = notes.len();
        text_result(format!("Deleted note '{}' ({n} {})", args.title, plural(n)))
    }

    #[tool(description = "Return the current UTC date and time in RFC 3339 format.")]
    async fn now(&self) -> CallToolResult {
        text_result(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }

    #[tool(
        description = "Sleep for the given number of seconds (at most 600), then reply. Useful for testing timeouts."
    )]
    async fn sleep(&self, Parameters(args): Parameters<SleepArgs>) -> CallToolResult {
        let seconds = args.seconds;
        if !seconds.is_finite() || seconds < 0.0 {
            return error_result(format!(
                "seconds must be a number from 0 to {MAX_SLEEP_SECONDS}, got {seconds}"
            ));
        }
        let seconds = seconds.min(MAX_SLEEP_SECONDS);
        tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
        text_result(format!("slept {seconds} s"))
    }

    #[tool(description = "Always fail with the given message (for testing error handling).")]
    async fn fail(&self, Parameters(args): Parameters<FailArgs>) -> CallToolResult {
        error_result(args.message)
    }

    #[tool(description = "Return a chart of the notes as a PNG image (for testing image content).")]
    async fn chart(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Chart of the notes:"),
            ContentBlock::image(CHART_PNG_BASE64, "image/png"),
        ])
    }

    #[tool(
        description = "Export the notes as a PDF document, returned as an embedded resource (for testing document content)."
    )]
    async fn export_pdf(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::blob(EXPORT_PDF_BASE64, "notes://export/notes.pdf")
                .with_mime_type("application/pdf"),
        )])
    }
}

/// A 1×1 PNG: small, valid, and recognisable in requests.
const CHART_PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";
/// A minimal PDF.
const EXPORT_PDF_BASE64: &str = "JVBERi0xLjQKMSAwIG9iaiA8PCAvVHlwZSAvQ2F0YWxvZyA+PiBlbmRvYmoKdHJhaWxlciA8PCAvUm9vdCAxIDAgUiA+PgolJUVPRgo=";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "notes_server",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A shared notebook: add_note, list_notes, get_note, delete_note; \
                 plus now (UTC time), sleep, fail, chart (an image) and export_pdf \
                 (a PDF resource) for testing.",
            )
    }
}

// ---------------------------------------------------------------------------
// Serving
// ---------------------------------------------------------------------------

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn serve_stdio(store: Arc<NoteStore>) -> anyhow::Result<()> {
    eprintln!("notes_server ready (stdio)");
    let service = NotesServer::new(store)
        // Same as `rmcp::transport::stdio()`, which needs the `transport-io` feature.
        .serve((tokio::io::stdin(), tokio::io::stdout()))
        .await
        .context("MCP initialisation over stdio failed")?;
    tokio::select! {
        quit = service.waiting() => {
            let reason = quit.context("stdio service task failed")?;
            tracing::info!(?reason, "stdio session ended");
        }
        _ = shutdown_signal() => tracing::info!("signal received, exiting"),
    }
    Ok(())
}

async fn serve_http(store: Arc<NoteStore>, addr: SocketAddr) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default().with_cancellation_token(cancel.clone());
    if !addr.ip().is_loopback() {
        // The default Host allow-list is loopback only (DNS-rebinding protection); a
        // server bound to a public address must accept its real host names.
        tracing::warn!("bound to a non-loopback address: accepting any Host header");
        config = config.disable_allowed_hosts();
    }
    let mcp = StreamableHttpService::new(
        move || Ok(NotesServer::new(store.clone())),
        LocalSessionManager::default().into(),
        config,
    );
    let app = axum::Router::new().nest_service("/mcp", mcp);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    println!("notes_server listening on http://{local}/mcp");
    eprintln!("notes_server ready (http://{local}/mcp)");

    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("signal received, shutting down");
            // Ends open SSE streams and sessions so graceful shutdown can finish.
            cancel.cancel();
        })
        .await
        .context("HTTP server failed")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .init();

    let cli = Cli::parse();
    let store = Arc::new(NoteStore::open(cli.store)?);
    match cli.http {
        Some(addr) => serve_http(store, addr).await,
        None => serve_stdio(store).await,
    }
}
