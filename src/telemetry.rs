//! Tracing (pretty in development, JSON in production) and the Prometheus recorder behind
//! `/metrics`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global tracing subscriber once; later calls do nothing.
pub fn init_tracing(format: LogFormat, default_level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},sqlx=warn,tower_http=warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle; installs the recorder on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    PROMETHEUS.get_or_init(|| {
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_string()), &buckets)
            .expect("static bucket list is valid")
            .build_recorder();
        let handle = recorder.handle();
        // A second recorder (another app in the same test process) keeps the first one.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// Drains the recorded latencies into their histograms every few seconds. The recorder keeps
/// each sample until then (or until `/metrics` is scraped): a server nobody scrapes grew by
/// every request it served.
pub fn spawn_upkeep(state: &crate::state::AppState) {
    crate::tasks::every(state, Duration::from_secs(5), || async {
        prometheus().run_upkeep();
    });
}

/// A map for keys the server chooses itself (not a client's: no need for SipHash's resistance
/// to crafted collisions).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A request's metric handles.
type RequestMetrics = (metrics::Counter, metrics::Histogram);
/// What names them within a route: method and status.
type RequestKey = (axum::http::Method, u16);

thread_local! {
    /// Each thread's handles, registered once per method, route and status: naming a metric by
    /// its labels costs three strings and a lookup in the recorder's shared registry, on every
    /// request otherwise. Bounded by the routes × methods × statuses the server answers.
    /// (Keys are route patterns the server names itself, never a client's: hashed with
    /// foldhash, a tenth of SipHash's instructions for a short string.)
    static REQUEST_METRICS: std::cell::RefCell<FastMap<Box<str>, FastMap<RequestKey, RequestMetrics>>> =
        std::cell::RefCell::default();
}

/// Counts one served request and records its latency, by matched route and status.
pub fn record_request(method: &axum::http::Method, route: &str, status: u16, elapsed: Duration) {
    REQUEST_METRICS.with(|cell| {
        let mut routes = cell.borrow_mut();
        if !routes.contains_key(route) {
            routes.insert(Box::from(route), FastMap::default());
        }
        let Some(handles) = routes.get_mut(route) else {
            return;
        };
        let (counter, histogram) = handles.entry((method.clone(), status)).or_insert_with(|| {
            let labels = [
                ("method", method.as_str().to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ];
            (
                metrics::counter!("http_requests_total", &labels),
                metrics::histogram!("http_request_duration_seconds", &labels),
            )
        });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_and_timed_per_route_and_status() {
        let handle = prometheus();
        let route = "/telemetry-test/{id}";
        for _ in 0..2 {
            record_request(
                &axum::http::Method::GET,
                route,
                200,
                Duration::from_millis(3),
            );
        }
        record_request(
            &axum::http::Method::GET,
            route,
            404,
            Duration::from_millis(1),
        );
        handle.run_upkeep();
        let text = handle.render();
        let line = |metric: &str, status: u16| {
            text.lines()
                .find(|l| {
                    l.starts_with(metric)
                        && l.contains("route=\"/telemetry-test/{id}\"")
                        && l.contains(&format!("status=\"{status}\""))
                })
                .map(|l| l.rsplit(' ').next().unwrap_or_default().to_string())
        };
        assert_eq!(
            line("http_requests_total", 200).as_deref(),
            Some("2"),
            "{text}"
        );
        assert_eq!(
            line("http_requests_total", 404).as_deref(),
            Some("1"),
            "{text}"
        );
        assert_eq!(
            line("http_request_duration_seconds_count", 200).as_deref(),
            Some("2"),
            "{text}"
        );
    }
}
