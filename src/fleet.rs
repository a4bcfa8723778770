//! Starting and stopping a whole project: downstream servers, one MCP listener per agent,
//! the registry. An agent that cannot start is reported and skipped; the others serve.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::assembly::{AssembledAgent, assemble_agent};
use crate::auth::{AuthPolicy, Authenticator};
use crate::config::{AgentConfig, AgentError, Diagnostic, Project};
use crate::downstream::{ServerPool, Timings};
use crate::http_guard::HostOriginGuard;
use crate::llm::ProviderOverrides;
use crate::served::agent_server::AgentRuntime;
use crate::served::listen::{Exposure, allowed_hosts, serve_agent};
use crate::served::registry::{AgentEntry, FailedAgent, Registry, serve_registry};
use crate::served::turns::TurnStore;
use crate::store::{Conversations, spawn_sweeper, sweep_interval};

/// How long a graceful shutdown may take before listeners are abandoned.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error(
        "{file}: registry_port: cannot listen on {addr}: {source}; free the port or choose another registry_port"
    )]
    RegistryBind {
        file: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Exposed(#[from] crate::auth::ExposedWithoutAuth),
    #[error("{file}: allowed_hosts / allowed_origins: {source}")]
    Guard {
        file: String,
        #[source]
        source: crate::http_guard::GuardConfigError,
    },
    #[error("{file}: auth: {source}")]
    Auth {
        file: String,
        #[source]
        source: crate::auth::AuthConfigError,
    },
    /// The `conversations:` store could not be opened; nothing is served without it, since
    /// answers given without storing them would be forgotten.
    #[error("{file}: conversations: {source}")]
    Store {
        file: String,
        #[source]
        source: crate::store::StoreError,
    },
}

/// Refuses a project that would put a server without `auth:` on a non-loopback address
/// (the secure default; `auth: none` opts out). `pallas check` runs it too.
pub fn check_exposure(project: &Project) -> Result<(), crate::auth::ExposedWithoutAuth> {
    for agent in &project.agents {
        crate::auth::check_exposure(
            &format!("agent `{}`", agent.name),
            project.bind,
            project.auth_for(agent),
        )?;
    }
    crate::auth::check_exposure("the registry", project.bind, project.auth.as_ref())
}

/// The public URL of a server's `/mcp` on `port`, as clients reach it (`host:`), which is
/// also the default OAuth audience.
pub fn public_url(project: &Project, port: u16) -> String {
    let host = if project.host.contains(':') && !project.host.starts_with('[') {
        format!("[{}]", project.host)
    } else {
        project.host.clone()
    };
    format!("http://{host}:{port}/mcp")
}

fn exposure(
    project: &Project,
    guard: &Arc<HostOriginGuard>,
    policy: Option<&AuthPolicy>,
    port: u16,
    http: &reqwest::Client,
) -> Result<Exposure, crate::auth::AuthConfigError> {
    let policy = policy.cloned().unwrap_or(AuthPolicy::None);
    let auth = Authenticator::new(&policy, &public_url(project, port), http.clone())?;
    Ok(Exposure {
        guard: guard.clone(),
        auth: Arc::new(auth),
    })
}

pub struct RunningAgent {
    pub name: String,
    pub addr: SocketAddr,
    pub runtime: Arc<AgentRuntime>,
}

/// A started project. Dropping it does not stop it; call [`Fleet::shutdown`].
pub struct Fleet {
    pub registry_addr: SocketAddr,
    pub agents: Vec<RunningAgent>,
    pub failed: Vec<FailedAgent>,
    pub pool: ServerPool,
    /// The conversation store every agent of this fleet shares.
    pub conversations: Conversations,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Fleet {
    pub async fn start(
        project: &Project,
        overrides: &ProviderOverrides,
    ) -> Result<Fleet, FleetError> {
        check_exposure(project)?;
        let file = project.agents_file.display().to_string();
        let mut hosts = allowed_hosts(&project.host, &project.bind);
        hosts.extend(project.allowed_hosts.iter().cloned());
        let guard = Arc::new(
            HostOriginGuard::new(&hosts, &project.allowed_origins).map_err(|source| {
                FleetError::Guard {
                    file: file.clone(),
                    source,
                }
            })?,
        );
        // Fetches JWKS only; caller tokens are never sent anywhere (the auth layer removes
        // the Authorization header before the agent sees the request).
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let shutdown = CancellationToken::new();
        // Opened first: a store that cannot be opened stops the start before anything listens.
        let conversations = Conversations::open(&project.conversations, &project.root)
            .await
            .map_err(|source| FleetError::Store {
                file: project.agents_file.display().to_string(),
                source,
            })?;
        tracing::info!(store = %conversations.describe(), "conversation store open");
        let turn_store = TurnStore::new(conversations.clone(), project.conversations.busy_timeout);
        let ttl = project.conversations.ttl;
        spawn_sweeper(
            conversations.clone(),
            ttl,
            sweep_interval(ttl),
            shutdown.child_token(),
        );
        let used = project.agents.iter().flat_map(|a| &a.servers);
        let pool = start_servers(project, used, &shutdown, Timings::default());
        let mut failed: Vec<FailedAgent> = project
            .agent_errors
            .iter()
            .map(|e| FailedAgent {
                name: e.agent.clone(),
                error: e.message.clone(),
            })
            .collect();

        let prepared = join_all(
            project
                .agents
                .iter()
                .map(|config| prepare_agent(project, config, &pool, overrides, &turn_store)),
        )
        .await;

        let mut tasks = JoinSet::new();
        let mut agents = Vec::new();
        for runtime in prepared {
            let runtime = match runtime {
                Ok(runtime) => runtime,
                // Reported with the config errors (the CLI prints every failed agent).
                Err(problem) => {
                    let error = AgentError::from(&problem);
                    failed.push(FailedAgent {
                        name: error.agent,
                        error: error.message,
                    });
                    continue;
                }
            };
            let config = &runtime.agent.config;
            let addr = SocketAddr::new(project.bind, config.port);
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    let addr = listener.local_addr().unwrap_or(addr);
                    let policy = project.auth_for(config);
                    let exposure = match exposure(project, &guard, policy, addr.port(), &http) {
                        Ok(exposure) => exposure,
                        Err(e) => {
                            failed.push(FailedAgent {
                                name: config.name.clone(),
                                error: format!("{file}: agents.{}.auth: {e}", config.name),
                            });
                            continue;
                        }
                    };
                    tracing::info!(agent = %config.name, "serving at http://{addr}/mcp");
                    agents.push(RunningAgent {
                        name: config.name.clone(),
                        addr,
                        runtime: runtime.clone(),
                    });
                    let (token, name) = (shutdown.child_token(), config.name.clone());
                    tasks.spawn(async move {
                        if let Err(e) = serve_agent(runtime, listener, exposure, token).await {
                            tracing::error!(agent = %name, "server stopped: {e}");
                        }
                    });
                }
                Err(e) => {
                    let error = format!(
                        "{}: agents.{}.port: cannot listen on {addr}: {e}; stop whatever uses port {} or choose another port",
                        project.agents_file.display(),
                        config.name,
                        config.port
                    );
                    tracing::error!("{error}");
                    failed.push(FailedAgent {
                        name: config.name.clone(),
                        error,
                    });
                }
            }
        }

        let registry_addr = SocketAddr::new(project.bind, project.registry_port);
        let listener = tokio::net::TcpListener::bind(registry_addr)
            .await
            .map_err(|source| FleetError::RegistryBind {
                file: project.agents_file.display().to_string(),
                addr: registry_addr,
                source,
            })?;
        let registry_addr = listener.local_addr().unwrap_or(registry_addr);
        let registry_exposure = exposure(
            project,
            &guard,
            project.auth.as_ref(),
            registry_addr.port(),
            &http,
        )
        .map_err(|source| FleetError::Auth {
            file: file.clone(),
            source,
        })?;
        let registry = Arc::new(Registry {
            project: project.name.clone(),
            version: project.version.clone(),
            agents: agents
                .iter()
                .map(|a| (registry_entry(project, a), a.runtime.clone()))
                .collect(),
            failed: failed.clone(),
        });
        let token = shutdown.child_token();
        tasks.spawn(async move {
            if let Err(e) = serve_registry(registry, listener, registry_exposure, token).await {
                tracing::error!("registry stopped: {e}");
            }
        });
        tracing::info!("registry at http://{registry_addr}");

        Ok(Fleet {
            registry_addr,
            agents,
            failed,
            pool,
            conversations,
            shutdown,
            tasks,
        })
    }

    pub fn agent(&self, name: &str) -> Option<&RunningAgent> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// Stops listeners and downstream servers; in-flight calls get [`SHUTDOWN_GRACE`].
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "some connections were still open after {SHUTDOWN_GRACE:?}; closing them"
            );
            self.tasks.abort_all();
        }
        // Let downstream supervisors close their child processes.
        self.pool.closed(SHUTDOWN_GRACE).await;
    }
}

async fn prepare_agent(
    project: &Project,
    config: &AgentConfig,
    pool: &ServerPool,
    overrides: &ProviderOverrides,
    turns: &TurnStore,
) -> Result<Arc<AgentRuntime>, Diagnostic> {
    let AssembledAgent { plan, llm } = assemble_agent(project, config, overrides).await?;
    let preflight = llm.preflight().await;
    if preflight.status != crate::llm::PreflightStatus::Ok {
        tracing::warn!(agent = %config.name, "LLM preflight: {}", preflight.message);
    }
    let servers = config.servers.iter().filter_map(|s| pool.get(s)).collect();
    let pricing = pricing(project, config);
    let agent = Agent::new(plan.config, plan.capabilities, llm, servers).with_pricing(pricing);
    Ok(Arc::new(
        AgentRuntime::new(agent, project.version.clone(), preflight)
            .with_preflight_interval(project.settings.health.preflight_interval)
            .with_turns(turns.clone()),
    ))
}

/// The agent's prices: the built-in table under `prices:`, at the cache-write lifetime its
/// provider is configured for (1-hour writes cost more).
fn pricing(project: &Project, config: &AgentConfig) -> crate::model::prices::Pricing {
    use crate::model::Provider;
    use crate::model::prices::{CacheTtl, PriceTable, Pricing};
    let s = &project.settings;
    let one_hour = match config.model.provider {
        Provider::Bedrock => s.bedrock.features.cache_ttl == Some(crate::config::CacheTtl::OneHour),
        Provider::Anthropic => s.anthropic.cache_ttl.as_deref() == Some("1h"),
        Provider::OpenAi | Provider::Generic => false,
    };
    Pricing {
        table: PriceTable::builtin().with_overrides(&s.prices),
        ttl: if one_hour {
            CacheTtl::OneHour
        } else {
            CacheTtl::FiveMinutes
        },
    }
}

fn registry_entry(project: &Project, agent: &RunningAgent) -> AgentEntry {
    let config = &agent.runtime.agent.config;
    let policy = project.auth_for(config);
    AgentEntry {
        name: config.name.clone(),
        title: config.title.clone(),
        description: config.description.clone(),
        url: public_url(project, agent.addr.port()),
        port: agent.addr.port(),
        tool: config.tool_name.clone(),
        model: config.model.model_id.clone(),
        provider: config.model.provider.to_string(),
        auth: policy.map_or_else(|| "none".to_string(), AuthPolicy::describe),
        credential_required: policy.is_some_and(AuthPolicy::requires_credential),
    }
}

/// Starts the downstream servers of `project` whose names are in `used` (for `serve` and for
/// `check`, which must start them the same way).
pub(crate) fn start_servers<'a>(
    project: &Project,
    used: impl IntoIterator<Item = &'a String>,
    shutdown: &CancellationToken,
    timings: Timings,
) -> ServerPool {
    let used: BTreeSet<&String> = used.into_iter().collect();
    ServerPool::start_with(
        project
            .settings
            .mcp_servers
            .values()
            .filter(|s| used.contains(&s.name))
            .cloned(),
        // Absolute: a stdio server's relative program path is resolved against its cwd,
        // which must not be relative to a relative `--config` folder a second time.
        &std::path::absolute(&project.root).unwrap_or_else(|_| project.root.clone()),
        shutdown,
        timings,
    )
}
