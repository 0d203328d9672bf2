//! The host's metrics, served at `/metrics` in the OpenMetrics text format
//! (what Prometheus scrapes). Labels are bounded by construction: component
//! ids and route patterns come from the manifest, methods and status classes
//! from short fixed lists; never a raw path, a user or a request id.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    component: String,
    route: String,
    method: String,
    class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabel {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    component: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeployLabels {
    component: String,
    action: String,
}

/// Every metric the host keeps.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<ComponentLabel, Histogram>,
    failures: Family<FailureLabels, Counter>,
    deployments: Family<DeployLabels, Counter>,
    instances_in_use: Gauge,
    instances_capacity: Gauge,
}

/// The process's metrics (one host per process).
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A method as a label: the common ones by name, anything else `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "spaceport_http_requests",
            "HTTP requests answered, by component (`host` for the host's own endpoints, `-` for no route), route pattern, method and status class",
            requests.clone(),
        );
        let duration = Family::<ComponentLabel, Histogram>::new_with_constructor(|| {
            // 0.5 ms to ~16 s.
            Histogram::new(exponential_buckets(0.000_5, 2.0, 16))
        });
        registry.register(
            "spaceport_http_request_duration_seconds",
            "Time to answer a request (to the response's headers), by component",
            duration.clone(),
        );
        let failures = Family::<FailureLabels, Counter>::default();
        registry.register(
            "spaceport_component_failures",
            "Instances that ended without an answer: trap, timeout, memory_limit, denied, error_code, setup",
            failures.clone(),
        );
        let deployments = Family::<DeployLabels, Counter>::default();
        registry.register(
            "spaceport_deployments",
            "Versions swapped in through the admin API: deploy, rollback, reset",
            deployments.clone(),
        );
        let instances_in_use = Gauge::default();
        registry.register(
            "spaceport_instance_slots_in_use",
            "Component instances alive now",
            instances_in_use.clone(),
        );
        let instances_capacity = Gauge::default();
        registry.register(
            "spaceport_instance_slots",
            "Component instances the host allows at once",
            instances_capacity.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            failures,
            deployments,
            instances_in_use,
            instances_capacity,
        }
    }

    /// One answered request.
    pub fn request(&self, component: &str, route: &str, method: &str, status: u16, seconds: f64) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                component: component.to_string(),
                route: route.to_string(),
                method: method_label(method).to_string(),
                class: class.to_string(),
            })
            .inc();
        self.duration
            .get_or_create(&ComponentLabel {
                component: component.to_string(),
            })
            .observe(seconds);
    }

    /// An instance that ended without an answer.
    pub fn failure(&self, component: &str, kind: &'static str) {
        self.failures
            .get_or_create(&FailureLabels {
                component: component.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// A version swapped in through the admin API.
    pub fn deployment(&self, component: &str, action: &str) {
        let action = match action {
            "deploy" | "rollback" | "reset" => action,
            _ => "other",
        };
        self.deployments
            .get_or_create(&DeployLabels {
                component: component.to_string(),
                action: action.to_string(),
            })
            .inc();
    }

    /// The text to serve, with the instance slots as they are now.
    pub fn encode(&self, slots: (usize, usize)) -> String {
        self.instances_in_use
            .set(i64::try_from(slots.0).unwrap_or(i64::MAX));
        self.instances_capacity
            .set(i64::try_from(slots.1).unwrap_or(i64::MAX));
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "metrics: encoding failed");
        }
        out
    }
}
