//! The built status page, held for the public routes (apart from the
//! builder, so the shared state can hold it without the builder's imports).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

/// What is served: built once a minute, swapped whole.
#[derive(Debug, Default)]
pub struct Built {
    pub json: Vec<u8>,
    pub html: Vec<u8>,
    /// `html`, gzip-compressed (a phone on a slow link gets a tenth).
    pub html_gzip: Vec<u8>,
    /// SVG per server id.
    pub badges: BTreeMap<String, String>,
    pub etag: String,
}

/// The built page, and a bell to build it again now (a post changed).
#[derive(Debug, Default)]
pub struct StatusPage {
    built: RwLock<Option<Arc<Built>>>,
    pub changed: Notify,
}

impl StatusPage {
    pub fn get(&self) -> Option<Arc<Built>> {
        self.built.read().ok().and_then(|b| b.clone())
    }

    pub fn set(&self, built: Built) {
        if let Ok(mut slot) = self.built.write() {
            *slot = Some(Arc::new(built));
        }
    }
}
