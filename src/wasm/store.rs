//! Where metric records live in the browser: IndexedDB, or memory when IndexedDB is unavailable.
//!
//! Records are stored as JSON strings under auto-increment keys, so key order is write order:
//! retention drops the lowest keys, and two tabs appending at once never overwrite each other.
//! A record that fails to parse is skipped and counted, never fatal.

use idb::{Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, TransactionMode};
use wasm_bindgen::JsValue;

use crate::metrics::Record;

const STORE: &str = "records";
const VERSION: u32 = 1;

/// Default number of records kept; older ones are dropped first.
pub const DEFAULT_RETENTION: usize = 50_000;

enum Backend {
    Idb(Database),
    Memory(Vec<String>),
}

/// Metric records, persisted in IndexedDB when possible.
pub struct MetricsStore {
    backend: Backend,
    retention: usize,
    /// Why records are only in memory, when they are.
    fallback_reason: Option<String>,
}

/// Records read back, with how many stored entries could not be parsed.
pub struct ReadBack {
    pub records: Vec<Record>,
    pub corrupt: usize,
}

fn describe(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl MetricsStore {
    /// Opens (or creates) database `name`; falls back to memory, with a reason, when it cannot.
    pub async fn open(name: &str, retention: usize) -> MetricsStore {
        match open_db(name).await {
            Ok(db) => MetricsStore {
                backend: Backend::Idb(db),
                retention,
                fallback_reason: None,
            },
            Err(reason) => MetricsStore::memory(
                retention,
                format!("IndexedDB could not be opened ({reason})"),
            ),
        }
    }

    /// A store that keeps records in memory only.
    pub fn memory(retention: usize, reason: String) -> MetricsStore {
        MetricsStore {
            backend: Backend::Memory(Vec::new()),
            retention,
            fallback_reason: Some(reason),
        }
    }

    /// Why records are kept in memory only, or `None` when they persist in IndexedDB.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// Appends records; when IndexedDB refuses (for example, storage is full) the store switches
    /// to memory, keeping these records, and reports why.
    pub async fn append(&mut self, records: &[Record]) {
        let json: Vec<String> = records
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect();
        if let Backend::Idb(db) = &self.backend {
            match append_idb(db, &json, self.retention).await {
                Ok(()) => return,
                Err(reason) => {
                    let kept = read_idb(db).await.unwrap_or_default();
                    self.backend = Backend::Memory(kept);
                    self.fallback_reason = Some(format!("IndexedDB refused a write ({reason})"));
                }
            }
        }
        if let Backend::Memory(items) = &mut self.backend {
            items.extend(json);
            let excess = items.len().saturating_sub(self.retention);
            items.drain(..excess);
        }
    }

    /// Every stored record, oldest first.
    pub async fn read_all(&self) -> ReadBack {
        let raw = match &self.backend {
            Backend::Idb(db) => read_idb(db).await.unwrap_or_default(),
            Backend::Memory(items) => items.clone(),
        };
        let mut records = Vec::with_capacity(raw.len());
        let mut corrupt = 0;
        for s in raw {
            match serde_json::from_str::<Record>(&s) {
                Ok(r) => records.push(r),
                Err(_) => corrupt += 1,
            }
        }
        ReadBack { records, corrupt }
    }

    /// Deletes every record.
    pub async fn clear(&mut self) -> Result<(), String> {
        match &mut self.backend {
            Backend::Idb(db) => {
                let tx = db
                    .transaction(&[STORE], TransactionMode::ReadWrite)
                    .map_err(describe)?;
                let store = tx.object_store(STORE).map_err(describe)?;
                store.clear().map_err(describe)?.await.map_err(describe)?;
                tx.commit().map_err(describe)?.await.map_err(describe)?;
                Ok(())
            }
            Backend::Memory(items) => {
                items.clear();
                Ok(())
            }
        }
    }

    /// Closes the database connection (tests reopen it to prove records persist).
    pub fn close(&self) {
        if let Backend::Idb(db) = &self.backend {
            db.close();
        }
    }
}

async fn open_db(name: &str) -> Result<Database, String> {
    let factory = Factory::new().map_err(describe)?;
    let mut request = factory.open(name, Some(VERSION)).map_err(describe)?;
    request.on_upgrade_needed(|event| {
        if let Ok(db) = event.database() {
            if !db.store_names().iter().any(|s| s == STORE) {
                let mut params = ObjectStoreParams::new();
                params.auto_increment(true);
                let _ = db.create_object_store(STORE, params);
            }
        }
    });
    request.await.map_err(describe)
}

async fn append_idb(db: &Database, json: &[String], retention: usize) -> Result<(), String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(describe)?;
    let store = tx.object_store(STORE).map_err(describe)?;
    for s in json {
        store
            .add(&JsValue::from_str(s), None)
            .map_err(describe)?
            .await
            .map_err(describe)?;
    }
    let count = store
        .count(None)
        .map_err(describe)?
        .await
        .map_err(describe)? as usize;
    if count > retention {
        // Keys ascend in write order: drop everything up to the (count - retention)-th key.
        let excess = (count - retention) as u32;
        let keys = store
            .get_all_keys(None, Some(excess))
            .map_err(describe)?
            .await
            .map_err(describe)?;
        if let Some(last) = keys.last() {
            let range = KeyRange::upper_bound(last, Some(false)).map_err(describe)?;
            store
                .delete(range)
                .map_err(describe)?
                .await
                .map_err(describe)?;
        }
    }
    tx.commit().map_err(describe)?.await.map_err(describe)?;
    Ok(())
}

async fn read_idb(db: &Database) -> Result<Vec<String>, String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(describe)?;
    let store = tx.object_store(STORE).map_err(describe)?;
    let values = store
        .get_all(None, None)
        .map_err(describe)?
        .await
        .map_err(describe)?;
    // A value that is not a string (written by something else) is kept as unparsable text.
    Ok(values
        .into_iter()
        .map(|v| v.as_string().unwrap_or_default())
        .collect())
}
