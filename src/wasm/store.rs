//! Where metric records live in the browser: IndexedDB, or memory when IndexedDB is unavailable.
//!
//! Records are stored as JSON strings under auto-increment keys, so key order is write order:
//! retention drops the lowest keys, and two tabs appending at once never overwrite each other.
//! A record that fails to parse is skipped and counted, never fatal.

use std::cell::RefCell;
use std::rc::Rc;

use idb::{
    Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, Transaction, TransactionMode,
    TransactionResult,
};
use wasm_bindgen::JsValue;

use crate::metrics::Record;

const STORE: &str = "records";
const VERSION: u32 = 1;

/// Default number of records kept; older ones are dropped first.
pub const DEFAULT_RETENTION: usize = 50_000;

enum Backend {
    Idb(Rc<Database>),
    Memory(Vec<String>),
}

/// Metric records, persisted in IndexedDB when possible.
///
/// Methods take `&self` (the state sits in a `RefCell` that is never held across an `await`), so
/// one store can be shared by the summarizer and JS callers; IndexedDB orders the transactions.
pub struct MetricsStore {
    backend: RefCell<Backend>,
    retention: usize,
    /// Why records are only in memory, when they are.
    fallback_reason: RefCell<Option<String>>,
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
                backend: RefCell::new(Backend::Idb(Rc::new(db))),
                retention,
                fallback_reason: RefCell::new(None),
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
            backend: RefCell::new(Backend::Memory(Vec::new())),
            retention,
            fallback_reason: RefCell::new(Some(reason)),
        }
    }

    /// Why records are kept in memory only, or `None` when they persist in IndexedDB.
    pub fn fallback_reason(&self) -> Option<String> {
        self.fallback_reason.borrow().clone()
    }

    /// Records kept at most.
    pub fn retention(&self) -> usize {
        self.retention
    }

    fn database(&self) -> Option<Rc<Database>> {
        match &*self.backend.borrow() {
            Backend::Idb(db) => Some(db.clone()),
            Backend::Memory(_) => None,
        }
    }

    /// Appends records; when IndexedDB refuses (for example, storage is full) the store switches
    /// to memory, keeping these records, and reports why.
    pub async fn append(&self, records: &[Record]) {
        let json: Vec<String> = records
            .iter()
            .filter_map(|r| serde_json::to_string(r).ok())
            .collect();
        if let Some(db) = self.database() {
            match append_idb(&db, &json, self.retention).await {
                Ok(()) => return,
                Err(reason) => {
                    let kept = read_idb(&db).await.unwrap_or_default();
                    *self.backend.borrow_mut() = Backend::Memory(kept);
                    *self.fallback_reason.borrow_mut() =
                        Some(format!("IndexedDB refused a write ({reason})"));
                }
            }
        }
        if let Backend::Memory(items) = &mut *self.backend.borrow_mut() {
            items.extend(json);
            let excess = items.len().saturating_sub(self.retention);
            items.drain(..excess);
        }
    }

    /// Every stored record, oldest first.
    pub async fn read_all(&self) -> ReadBack {
        let raw = match self.database() {
            Some(db) => read_idb(&db).await.unwrap_or_default(),
            None => match &*self.backend.borrow() {
                Backend::Memory(items) => items.clone(),
                Backend::Idb(_) => Vec::new(),
            },
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
    pub async fn clear(&self) -> Result<(), String> {
        match self.database() {
            Some(db) => {
                let tx = db
                    .transaction(&[STORE], TransactionMode::ReadWrite)
                    .map_err(describe)?;
                let store = tx.object_store(STORE).map_err(describe)?;
                let done = finished(tx);
                store.clear().map_err(describe)?;
                done.await
            }
            None => {
                if let Backend::Memory(items) = &mut *self.backend.borrow_mut() {
                    items.clear();
                }
                Ok(())
            }
        }
    }

    /// Closes the database connection (tests reopen it to prove records persist).
    pub fn close(&self) {
        if let Some(db) = self.database() {
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

/// Waits for `tx` to end. The outcome handlers are registered right away, before any request
/// is awaited: in the threaded build futures resume in a later task, by which time IndexedDB may
/// already have auto-committed the transaction (so no explicit `commit()` either: it would throw
/// "the transaction has finished" after a successful write). An abort is an error.
fn finished(tx: Transaction) -> impl std::future::Future<Output = Result<(), String>> {
    let done = std::future::IntoFuture::into_future(tx);
    async move {
        match done.await.map_err(describe)? {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => Err("IndexedDB aborted the transaction".into()),
        }
    }
}

async fn append_idb(db: &Database, json: &[String], retention: usize) -> Result<(), String> {
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(describe)?;
    let store = tx.object_store(STORE).map_err(describe)?;
    let done = finished(tx);
    // Requests in a transaction run in order: issue every add at once and wait only for the
    // transaction (one round trip instead of one per record). A failed add aborts it.
    for s in json {
        store.add(&JsValue::from_str(s), None).map_err(describe)?;
    }
    done.await?;
    trim_idb(db, retention).await
}

/// Drops the oldest records beyond `retention`. Each step is its own transaction, since a
/// transaction may end while a future waits (see `finished`); keys ascend in write order, so a
/// concurrent writer's records are never the ones dropped.
async fn trim_idb(db: &Database, retention: usize) -> Result<(), String> {
    let read = db
        .transaction(&[STORE], TransactionMode::ReadOnly)
        .map_err(describe)?;
    let store = read.object_store(STORE).map_err(describe)?;
    let count = store
        .count(None)
        .map_err(describe)?
        .await
        .map_err(describe)? as usize;
    if count <= retention {
        return Ok(());
    }
    // Drop everything up to the (count - retention)-th key.
    let excess = (count - retention) as u32;
    let keys = store
        .get_all_keys(None, Some(excess))
        .map_err(describe)?
        .await
        .map_err(describe);
    let keys = match keys {
        Ok(keys) => keys,
        // The read transaction ended between the two requests: read the keys in a fresh one.
        Err(_) => db
            .transaction(&[STORE], TransactionMode::ReadOnly)
            .map_err(describe)?
            .object_store(STORE)
            .map_err(describe)?
            .get_all_keys(None, Some(excess))
            .map_err(describe)?
            .await
            .map_err(describe)?,
    };
    let Some(last) = keys.last() else {
        return Ok(());
    };
    let range = KeyRange::upper_bound(last, Some(false)).map_err(describe)?;
    let tx = db
        .transaction(&[STORE], TransactionMode::ReadWrite)
        .map_err(describe)?;
    let store = tx.object_store(STORE).map_err(describe)?;
    let done = finished(tx);
    store.delete(range).map_err(describe)?;
    done.await
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
