//! The metrics store in headless Chrome, inside a dedicated worker as in the app: real IndexedDB.

#![cfg(target_arch = "wasm32")]

use t5_summarizer::metrics::record::Environment;
use t5_summarizer::metrics::{PerformanceLogger, Record};
use t5_summarizer::wasm::clock::PerformanceClock;
use t5_summarizer::wasm::store::MetricsStore;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

fn records(run: &str, n: usize) -> Vec<Record> {
    let mut l = PerformanceLogger::new(
        Box::new(PerformanceClock::new()),
        run,
        Environment::default(),
    );
    (0..n)
        .flat_map(|i| l.log_preprocessing("normalize", 0.001, i, 0))
        .collect()
}

fn unique(name: &str) -> String {
    format!("{name}-{}", js_sys::Math::random())
}

#[wasm_bindgen_test]
async fn records_survive_reopening_the_database() {
    let name = unique("persist");
    let written = records("a", 3);
    let store = MetricsStore::open(&name, 100).await;
    assert_eq!(store.fallback_reason(), None);
    store.append(&written).await;
    store.close();
    let store = MetricsStore::open(&name, 100).await;
    let back = store.read_all().await;
    assert_eq!(back.records, written);
    assert_eq!(back.corrupt, 0);
}

#[wasm_bindgen_test]
async fn retention_drops_the_oldest_first() {
    let name = unique("retention");
    let store = MetricsStore::open(&name, 5).await;
    let first = records("old", 4);
    let second = records("new", 4);
    store.append(&first).await;
    store.append(&second).await;
    let back = store.read_all().await.records;
    assert_eq!(back.len(), 5);
    assert_eq!(back[0], first[3]);
    assert_eq!(&back[1..], &second[..]);
}

#[wasm_bindgen_test]
async fn falls_back_to_memory_when_indexeddb_cannot_open() {
    // A newer version of the database exists: opening ours fails with a VersionError.
    let name = unique("blocked");
    let factory = idb::Factory::new().unwrap();
    let db = factory.open(&name, Some(7)).unwrap().await.unwrap();
    db.close();
    let store = MetricsStore::open(&name, 100).await;
    let reason = store
        .fallback_reason()
        .expect("should have fallen back")
        .to_string();
    assert!(
        reason.starts_with("IndexedDB could not be opened"),
        "{reason}"
    );
    let written = records("m", 2);
    store.append(&written).await;
    assert_eq!(store.read_all().await.records, written);
}

#[wasm_bindgen_test]
async fn a_corrupt_record_is_skipped_and_counted() {
    let name = unique("corrupt");
    let store = MetricsStore::open(&name, 100).await;
    store.append(&records("x", 1)).await;
    store.close();
    let factory = idb::Factory::new().unwrap();
    let db = factory.open(&name, Some(1)).unwrap().await.unwrap();
    let tx = db
        .transaction(&["records"], idb::TransactionMode::ReadWrite)
        .unwrap();
    tx.object_store("records")
        .unwrap()
        .add(&"{not json".into(), None)
        .unwrap()
        .await
        .unwrap();
    tx.commit().unwrap().await.unwrap();
    db.close();
    let store = MetricsStore::open(&name, 100).await;
    store.append(&records("y", 1)).await;
    let back = store.read_all().await;
    assert_eq!((back.records.len(), back.corrupt), (2, 1));
}

#[wasm_bindgen_test]
async fn two_connections_appending_at_once_lose_nothing() {
    let name = unique("tabs");
    let a = MetricsStore::open(&name, 1000).await;
    let b = MetricsStore::open(&name, 1000).await;
    let (ra, rb) = (records("tab-a", 40), records("tab-b", 40));
    futures::join!(a.append(&ra), b.append(&rb));
    let back = a.read_all().await.records;
    assert_eq!(back.len(), 80);
    assert!(ra.iter().chain(&rb).all(|r| back.contains(r)));
    a.clear().await.unwrap();
    assert!(b.read_all().await.records.is_empty());
}

#[wasm_bindgen_test]
async fn a_refused_write_moves_records_to_memory_and_keeps_them() {
    let name = unique("refused");
    let store = MetricsStore::open(&name, 100).await;
    let first = records("before", 2);
    store.append(&first).await;
    // The connection goes away under the store (as when the browser evicts or blocks storage):
    // the next write is refused by IndexedDB itself.
    store.close();
    let second = records("after", 3);
    store.append(&second).await;
    let reason = store.fallback_reason().expect("should have fallen back");
    assert!(reason.starts_with("IndexedDB refused a write"), "{reason}");
    let back = store.read_all().await.records;
    assert_eq!(
        back.len(),
        3,
        "the refused records are kept in memory (the closed database cannot be read back)"
    );
    assert_eq!(back, second);
}
