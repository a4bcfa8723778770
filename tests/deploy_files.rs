//! The deployment files in `docs/deploy/` say what the binary does: the image's version,
//! the registry and agent ports, probe paths the registry serves, credentials from the
//! Secret, and project files Pallas itself accepts.

use std::path::{Path, PathBuf};

use serde_yaml::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/deploy")
        .join(path)
}

fn yaml(path: &str) -> Value {
    let file = deploy(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn container() -> Value {
    let d = yaml("kubernetes/deployment.yaml");
    assert_eq!(d["kind"], "Deployment");
    d["spec"]["template"]["spec"]["containers"][0].clone()
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}"))
}

/// Loads a project written to a temp dir with Pallas's own loader.
fn assert_pallas_loads(agents: &str, config: &str) -> pallas::config::Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agents.yaml"), agents).unwrap();
    std::fs::write(dir.path().join("fastagent.config.yaml"), config).unwrap();
    let env = |name: &str| match name {
        "PALLAS_POSTGRES_URL" => Some("postgres://u:p@db:5432/pallas".to_string()),
        "PALLAS_TOKEN" => Some("a-deployment-token-of-at-least-32-chars".to_string()),
        _ => None,
    };
    let project = pallas::config::load_project_with_env(&dir.path().join("agents.yaml"), &env)
        .unwrap_or_else(|e| panic!("the deployed project does not load: {e}"));
    assert!(
        project.agent_errors.is_empty(),
        "{:?}",
        project.agent_errors
    );
    // Any warning is a mistake in the deployed files.
    assert!(project.warnings.is_empty(), "{:?}", project.warnings);
    project
}

#[test]
fn the_deployment_runs_this_version_with_probes_on_the_registry_port() {
    let c = container();
    let image = str_of(&c["image"]);
    assert!(
        image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "the image tag follows Cargo.toml's version: {image}"
    );
    let ports: Vec<(String, u64)> = c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            (
                str_of(&p["name"]).to_string(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(ports.contains(&("registry".to_string(), 8200)), "{ports:?}");
    for (probe, path) in [
        ("livenessProbe", "/livez"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/livez"),
    ] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "registry", "{probe}");
    }
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["requests"]["memory"].is_string());
}

#[test]
fn credentials_come_from_the_secret_and_never_from_the_configmap() {
    let c = container();
    let secret = yaml("kubernetes/secret.yaml");
    let secret_name = str_of(&secret["metadata"]["name"]);
    let from_secret: Vec<&str> = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter(|e| e["valueFrom"]["secretKeyRef"]["name"] == secret_name)
        .map(|e| str_of(&e["name"]))
        .collect();
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "PALLAS_POSTGRES_URL",
    ] {
        assert!(
            from_secret.contains(&key),
            "{key} from {secret_name}: {from_secret:?}"
        );
        assert!(
            secret["stringData"][key].is_string(),
            "the Secret defines {key}"
        );
    }
    let configmap = serde_yaml::to_string(&yaml("kubernetes/configmap.yaml")).unwrap();
    assert!(!configmap.contains("AWS_SECRET_ACCESS_KEY"));
}

#[test]
fn the_configmap_holds_a_project_pallas_accepts_on_the_service_ports() {
    let cm = yaml("kubernetes/configmap.yaml");
    let project = assert_pallas_loads(
        str_of(&cm["data"]["agents.yaml"]),
        str_of(&cm["data"]["fastagent.config.yaml"]),
    );
    assert_eq!(
        project.bind.to_string(),
        "0.0.0.0",
        "reachable from the Service"
    );
    assert_eq!(project.settings.log_format, pallas::config::LogFormat::Json);
    // Every agent port and the registry port are container ports and Service ports.
    let c = container();
    let container_ports: Vec<u64> = c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    let service = yaml("kubernetes/service.yaml");
    let service_ports: Vec<u64> = service["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["port"].as_u64().unwrap())
        .collect();
    let mut wanted = vec![u64::from(project.registry_port)];
    wanted.extend(project.agents.iter().map(|a| u64::from(a.port)));
    for port in wanted {
        assert!(container_ports.contains(&port), "container port {port}");
        assert!(service_ports.contains(&port), "service port {port}");
    }
    // The volume mounts the ConfigMap where the container's args look for it.
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert!(args.contains(&"/etc/pallas/agents.yaml"), "{args:?}");
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/pallas");
}

#[test]
fn compose_runs_pallas_with_postgres_and_a_collector_on_a_project_pallas_accepts() {
    let compose = yaml("compose.yaml");
    for service in ["pallas", "postgres", "otel-collector"] {
        assert!(compose["services"][service].is_mapping(), "{service}");
    }
    let pallas = &compose["services"]["pallas"];
    assert_eq!(pallas["build"]["dockerfile"], "Dockerfile");
    assert!(
        str_of(&pallas["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]).contains("otel-collector")
    );
    let read = |f: &str| std::fs::read_to_string(deploy(&format!("project/{f}"))).unwrap();
    assert_pallas_loads(&read("agents.yaml"), &read("fastagent.config.yaml"));
}

#[test]
fn the_dockerfile_runs_as_a_non_root_user_with_a_livez_healthcheck() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let from = text.lines().filter(|l| l.starts_with("FROM ")).count();
    assert!(from >= 2, "multi-stage build");
    let runtime = text.rsplit("FROM ").next().unwrap();
    assert!(
        runtime.contains("USER 10001"),
        "non-root in the runtime stage"
    );
    assert!(runtime.contains("HEALTHCHECK") && runtime.contains("/livez"));
}
