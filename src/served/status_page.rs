//! `GET /` on the registry: a status page for people. Server-rendered from the same health
//! JSON as `GET /health` (one source of truth), with no scripts or external assets, and a
//! meta refresh so an open tab stays current.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;

use crate::served::registry::Registry;

/// Seconds between the page's reloads.
const REFRESH_SECONDS: u32 = 10;

pub async fn status_page(State(registry): State<Arc<Registry>>) -> Html<String> {
    let health = registry.health().await;
    Html(render(&registry, &health))
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => esc(s),
        Value::Null => String::new(),
        other => esc(&other.to_string()),
    }
}

fn cost(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("${:.4}", n.as_f64().unwrap_or_default()),
        Value::String(s) => esc(s),
        _ => "—".to_string(),
    }
}

/// The whole page; `health` is [`Registry::health`]'s JSON.
pub fn render(registry: &Registry, health: &Value) -> String {
    let mut rows = String::new();
    let agents = health["agents"].as_object().cloned().unwrap_or_default();
    for (name, h) in &agents {
        let entry = registry.agents.iter().find(|(e, _)| &e.name == name);
        let (model, provider, url) = entry
            .map(|(e, _)| (e.model.clone(), e.provider.clone(), e.url.clone()))
            .unwrap_or_default();
        let status = h["status"].as_str().unwrap_or("error");
        let servers: Vec<String> = h["servers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(s, sh)| format!("{} ({})", esc(s), text(&sh["status"])))
                    .collect()
            })
            .unwrap_or_default();
        let usage = &h["usage"];
        let problem = if status == "ok" {
            String::new()
        } else {
            text(&h["message"])
        };
        let _ = write!(
            rows,
            "<tr class=\"agent\" data-agent=\"{name}\" data-status=\"{status}\"><td><b>{name}</b><br><small>{url}</small></td>\
             <td class=\"status {status}\">{status}</td><td>{model}<br><small>{provider}</small></td>\
             <td>{servers}</td><td>{preflight}</td>\
             <td>{calls} model / {tools} tool calls<br><small>{input} in, {output} out tokens</small></td>\
             <td class=\"cost\">{cost}</td><td class=\"problem\">{problem}</td></tr>",
            name = esc(name),
            url = esc(&url),
            status = esc(status),
            model = esc(&model),
            provider = esc(&provider),
            servers = if servers.is_empty() {
                "—".to_string()
            } else {
                servers.join("<br>")
            },
            preflight = text(&h["llm"]["status"]),
            calls = text(&usage["model_calls"]),
            tools = text(&usage["tool_calls"]),
            input = text(&usage["input_tokens"]),
            output = text(&usage["output_tokens"]),
            cost = cost(&usage["cost_usd"]),
        );
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
         <title>{project} — Pallas</title><style>\
         body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}\
         table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:.5em;text-align:left;vertical-align:top}}\
         .status{{font-weight:bold}}.ok{{color:#176f2c}}.degraded{{color:#a15c00}}.error{{color:#b00020}}\
         small{{color:#666}}.problem{{max-width:30em;color:#b00020}}</style></head><body>\
         <h1>{project} <small>v{version}</small></h1>\
         <p id=\"overall\" class=\"status {overall}\">{overall}: {message}</p>\
         <table><thead><tr><th>agent</th><th>status</th><th>model</th><th>servers</th><th>preflight</th>\
         <th>usage</th><th>cost</th><th>problem</th></tr></thead><tbody>{rows}</tbody></table>\
         <p><small>Refreshes every {REFRESH_SECONDS} s · <a href=\"/health\">/health</a> · \
         <a href=\"/agents\">/agents</a> · <a href=\"/metrics\">/metrics</a></small></p></body></html>",
        project = esc(&registry.project),
        version = esc(&registry.version),
        overall = text(&health["status"]),
        message = text(&health["message"]),
    )
}
