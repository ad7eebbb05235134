//! Checks of the deployment files against the binary, since no container engine runs where the
//! tests do: every variable the Dockerfile or compose file gives the app is one the app reads
//! (documented in `.env.example`), the ports agree with `PORT`, the health check asks a route
//! that exists, nginx lets the largest upload through and streams every Server-Sent Events route
//! unbuffered. The routes come from the OpenAPI snapshot, which the API suite keeps exact.

use super::Config;
use std::collections::HashMap;

const DOCKERFILE: &str = include_str!("../../Dockerfile");
const COMPOSE: &str = include_str!("../../docker-compose.yml");
const NGINX: &str = include_str!("../../deploy/nginx.conf");
const EXAMPLE: &str = include_str!("../../.env.example");
const OPENAPI: &str = include_str!("../../tests/api/snapshots/api__openapi__openapi.snap");

fn is_var(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The `ENV` instruction's `NAME=value` pairs (with its continuation lines).
fn dockerfile_env() -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let mut in_env = false;
    for line in DOCKERFILE.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("ENV ") {
            in_env = true;
            collect_pairs(rest, &mut vars);
        } else if in_env {
            collect_pairs(line, &mut vars);
        }
        in_env = in_env && line.ends_with('\\');
    }
    vars
}

fn collect_pairs(text: &str, into: &mut HashMap<String, String>) {
    for pair in text.trim_end_matches('\\').split_whitespace() {
        if let Some((k, v)) = pair.split_once('=') {
            into.insert(k.to_string(), v.to_string());
        }
    }
}

/// The `environment:` of the compose file's `app` service.
fn compose_app_env() -> HashMap<String, String> {
    let mut vars = HashMap::new();
    let (mut in_app, mut in_env) = (false, false);
    for line in COMPOSE.lines() {
        let indent = line.len() - line.trim_start().len();
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match indent {
            0 => in_app = false,
            2 => in_app = line == "app:",
            4 => in_env = in_app && line == "environment:",
            6 if in_app && in_env => {
                if let Some((k, v)) = line.split_once(':') {
                    vars.insert(k.to_string(), v.trim().trim_matches('"').to_string());
                }
            }
            _ => {}
        }
    }
    vars
}

/// The instruction of the Dockerfile line that starts with `word`.
fn dockerfile_line(word: &str) -> &'static str {
    DOCKERFILE
        .lines()
        .find(|l| l.starts_with(word))
        .unwrap_or_else(|| panic!("the Dockerfile has no {word}"))
}

fn openapi() -> serde_json::Value {
    let json = OPENAPI.splitn(3, "---\n").nth(2).expect("snapshot body");
    serde_json::from_str(json).expect("OpenAPI snapshot")
}

#[test]
fn every_variable_the_containers_set_is_one_the_app_reads() {
    let docker = dockerfile_env();
    let compose = compose_app_env();
    assert!(
        docker.len() >= 5 && compose.len() >= 10,
        "{docker:?} {compose:?}"
    );
    for name in docker.keys().chain(compose.keys()) {
        assert!(is_var(name), "{name:?} is not a variable name");
        assert!(
            EXAMPLE.contains(&format!("\n{name}=")),
            "{name} is set for the container but not in .env.example"
        );
    }
    // The image's own defaults make a configuration the binary accepts (secrets aside).
    let mut image = docker.clone();
    image.insert("JWT_SECRET".into(), "x".repeat(32));
    image.insert("ENCRYPTION_KEY".into(), "ab".repeat(32));
    Config::from_map(&image).expect("the image's environment is a valid configuration");
}

#[test]
fn the_ports_agree_with_port() {
    let port: u16 = dockerfile_env()["PORT"].parse().expect("the image's PORT");
    assert_eq!(dockerfile_line("EXPOSE"), format!("EXPOSE {port}"));
    assert_eq!(compose_app_env()["PORT"], port.to_string());
    assert!(
        NGINX.contains(&format!("server app:{port} ")),
        "nginx's upstream is not app:{port}"
    );
    assert!(
        DOCKERFILE.contains(&format!("http://127.0.0.1:{port}/health")),
        "the HEALTHCHECK does not ask port {port}"
    );
}

#[test]
fn the_health_check_asks_a_route_that_exists() {
    assert!(dockerfile_line("HEALTHCHECK").contains("--interval"));
    let doc = openapi();
    assert!(doc["paths"]["/health"]["get"].is_object(), "no GET /health");
    assert!(DOCKERFILE.contains("STOPSIGNAL SIGTERM"));
    assert!(DOCKERFILE.contains("\nUSER "), "the image runs as root");
}

#[test]
fn nginx_takes_the_largest_upload() {
    let size = NGINX
        .lines()
        .find_map(|l| l.trim().strip_prefix("client_max_body_size "))
        .and_then(|v| v.trim_end_matches(';').strip_suffix('m'))
        .and_then(|mib| mib.parse::<usize>().ok())
        .expect("client_max_body_size in MiB");
    let config = Config::from_map(&HashMap::new()).expect("defaults");
    assert!(size << 20 > config.max_document_size.max(config.max_file_size));
}

#[test]
fn nginx_streams_every_event_stream_unbuffered() {
    let doc = openapi();
    let mut streams = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let sse = item["get"]["responses"]["200"]["content"]["text/event-stream"].is_object();
        if !sse {
            continue;
        }
        streams += 1;
        let location = if path.contains('{') {
            let pattern: Vec<String> = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "[^/]+".into()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            format!("location ~ ^{}$ {{", pattern.join("/"))
        } else {
            format!("location = {path} {{")
        };
        let block = NGINX
            .split_once(&location)
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(block, _)| block)
            .unwrap_or_else(|| panic!("nginx has no `{location}` for {path}"));
        assert!(block.contains("proxy_buffering off;"), "{path} is buffered");
        assert!(block.contains("proxy_read_timeout 1h;"), "{path} times out");
    }
    assert_eq!(streams, 2, "the Server-Sent Events routes changed");
}
