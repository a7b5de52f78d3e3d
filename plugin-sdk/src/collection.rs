//! What a collect call produces: [`Metric`]s and [`Event`]s in a [`Collection`].

use crate::bindings::p2pmon::plugin::types as wit;

/// Severity of an [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Critical,
}

/// One measured value, built by [`Collection::gauge`] or [`Collection::counter`].
#[derive(Clone, Debug)]
pub struct Metric {
    name: String,
    value: f64,
    tags: Vec<(String, String)>,
    timestamp_ms: Option<u64>,
}

impl Metric {
    /// Add a tag (`interface=eth0`, `mount=/`).
    pub fn tag(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.tags.push((key.to_string(), value.into()));
        self
    }

    /// Stamp the value with a time (Unix ms); otherwise the agent stamps it.
    pub fn at(&mut self, timestamp_ms: u64) -> &mut Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// Tags in the order they were added.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// The value of tag `key`, if set.
    pub fn tag_value(&self, key: &str) -> Option<&str> {
        lookup(&self.tags, key)
    }

    /// The time set with [`Metric::at`]; `None` means the agent stamps it.
    pub fn timestamp_ms(&self) -> Option<u64> {
        self.timestamp_ms
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Something that happened, built by [`Collection::event`].
#[derive(Clone, Debug)]
pub struct Event {
    kind: String,
    severity: Severity,
    message: String,
    fields: Vec<(String, String)>,
    timestamp_ms: Option<u64>,
}

impl Event {
    /// Add a field an admin needs to act on the event (`ip`, `account_id`).
    pub fn field(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.fields.push((key.to_string(), value.into()));
        self
    }

    /// Stamp the event with a time (Unix ms); otherwise the agent stamps it.
    pub fn at(&mut self, timestamp_ms: u64) -> &mut Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    pub fn kind(&self) -> &str {
        &self.kind
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Fields in the order they were added.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }

    /// The value of field `key`, if set.
    pub fn field_value(&self, key: &str) -> Option<&str> {
        lookup(&self.fields, key)
    }

    /// The time set with [`Event::at`]; `None` means the agent stamps it.
    pub fn timestamp_ms(&self) -> Option<u64> {
        self.timestamp_ms
    }
}

/// The metrics and events of one collect call.
#[derive(Clone, Debug, Default)]
pub struct Collection {
    metrics: Vec<Metric>,
    events: Vec<Event>,
}

impl Collection {
    /// Record a gauge value; chain `.tag(..)` to label it.
    pub fn gauge(&mut self, name: &str, value: f64) -> &mut Metric {
        self.push_metric(name, value)
    }

    /// Record a counter value; chain `.tag(..)` to label it.
    pub fn counter(&mut self, name: &str, value: f64) -> &mut Metric {
        self.push_metric(name, value)
    }

    fn push_metric(&mut self, name: &str, value: f64) -> &mut Metric {
        self.metrics.push(Metric {
            name: name.to_string(),
            value,
            tags: Vec::new(),
            timestamp_ms: None,
        });
        let last = self.metrics.len() - 1;
        &mut self.metrics[last]
    }

    /// Record an event; chain `.field(..)` to add details.
    pub fn event(&mut self, kind: &str, severity: Severity, message: &str) -> &mut Event {
        self.events.push(Event {
            kind: kind.to_string(),
            severity,
            message: message.to_string(),
            fields: Vec::new(),
            timestamp_ms: None,
        });
        let last = self.events.len() - 1;
        &mut self.events[last]
    }

    /// The metrics recorded so far.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// The events recorded so far.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The first metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every metric named `name`, in the order recorded.
    pub fn metrics_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Metric> + 'a {
        self.metrics.iter().filter(move |m| m.name == name)
    }

    /// The first event of kind `kind`.
    pub fn first_event(&self, kind: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.kind == kind)
    }

    /// Every event of kind `kind`, in the order recorded.
    pub fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
        self.events.iter().filter(move |e| e.kind == kind)
    }

    pub(crate) fn into_wit(self) -> wit::Collection {
        wit::Collection {
            metrics: self
                .metrics
                .into_iter()
                .map(|m| wit::Metric {
                    name: m.name,
                    value: m.value,
                    tags: m.tags,
                    timestamp_ms: m.timestamp_ms,
                })
                .collect(),
            events: self
                .events
                .into_iter()
                .map(|e| wit::Event {
                    kind: e.kind,
                    severity: match e.severity {
                        Severity::Info => wit::Severity::Info,
                        Severity::Warning => wit::Severity::Warning,
                        Severity::Error => wit::Severity::Error,
                        Severity::Critical => wit::Severity::Critical,
                    },
                    message: e.message,
                    fields: e.fields,
                    timestamp_ms: e.timestamp_ms,
                })
                .collect(),
        }
    }
}
