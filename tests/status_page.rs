//! `GET /` on the registry: the status page, fetched plainly and rendered in a real headless
//! Chromium (skipped with a message when Chromium is not installed).

mod common;

use std::process::Command;

use common::binary::ServedBinary;
use common::{ask, connect, eventually, write_project};

const AGENTS: &str = r#"
name: fleet-under-test
registry_port: 0
agents:
  ada:
    port: 0
    servers: [notes]
  bo:
    port: 0
    servers: [missing]
"#;

/// `missing` never starts, so bo is degraded with a reason the page must show.
const CONFIG: &str = r#"
default_model: bedrock.us.anthropic.claude-haiku-4-5-20251001-v1:0
mcp:
  servers:
    notes:
      command: "{notes}"
    missing:
      command: /nonexistent/pallas-test-server
"#;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|exe| {
            Command::new(exe)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_every_agent_with_its_status_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    write_project(dir.path(), AGENTS, CONFIG);
    let served = ServedBinary::start(dir.path(), 2).await;
    let page_url = format!("{}/", served.registry);
    eventually("ada is ok", || async {
        reqwest::get(&page_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("data-agent=\"ada\" data-status=\"ok\"")
    })
    .await;
    let (client, _) = connect(served.agent_url("ada")).await;
    assert!(!ask(&client, "ada", "hello").await.1);

    let response = reqwest::get(&page_url).await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = response.text().await.unwrap();
    assert!(html.contains("http-equiv=\"refresh\""), "refreshes itself");
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "no external assets"
    );
    assert!(
        html.contains("data-agent=\"bo\" data-status=\"degraded\""),
        "{html}"
    );
    assert!(
        html.contains("server missing"),
        "bo's reason is shown: {html}"
    );
    assert!(
        html.contains("1 model / 0 tool calls"),
        "ada's usage: {html}"
    );

    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: the headless-browser half of this test: Chromium is not installed (apt-get install chromium)"
        );
        served.stop().await;
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status_page.png");
    let run = |extra: &[String]| {
        let mut cmd = Command::new(browser);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&page_url);
        cmd.output().expect("chromium runs")
    };
    let dom = run(&["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("fleet-under-test"), "{dom}");
    assert!(
        dom.contains("data-agent=\"ada\" data-status=\"ok\""),
        "{dom}"
    );
    assert!(
        dom.contains("data-agent=\"bo\" data-status=\"degraded\""),
        "{dom}"
    );
    let _ = std::fs::remove_file(&shot);
    run(&[format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("Chromium saved a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5_000,
        "a real rendering"
    );
    eprintln!("status page screenshot: {}", shot.display());
    served.stop().await;
}
