//! The yardstick of the cached reads (issue 19): an axum server that does no work, answering every
//! `GET` with the same bytes, read once from a file. `scripts/bench` gives it the body of the real
//! `GET /api/events` (or `/api/events/{id}`) and measures it with the same wrk command in the
//! same run, so the cached routes are reported as a share of what axum alone reaches.
//!
//! ```sh
//! NOWORK_BODY=body.json NOWORK_PORT=29551 cargo bench --bench nowork
//! ```
//!
//! Without `--bench` (as under `cargo test --all-targets`) it says what it needs and exits 0.

use axum::Router;
use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "nowork: a server for scripts/bench; run with --bench, NOWORK_BODY and NOWORK_PORT"
        );
        return;
    }
    let path = std::env::var("NOWORK_BODY").expect("NOWORK_BODY names the body's file");
    let port: u16 = std::env::var("NOWORK_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(29551);
    let body = Bytes::from(std::fs::read(&path).expect("the body's file is readable"));
    let app = Router::new().fallback(move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, "application/json")], body) }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free");
    axum::serve(listener, app).await.expect("serve");
}
