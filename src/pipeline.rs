//! Runs pipeline units (a stage, one precompile target, one compression) through the stage
//! cache. A unit's key chains on its input's digest, so a rebuild whose every unit hits the
//! cache reads no output bytes at all: only the small entries.
use crate::cache::{BlobRef, Cache, Entry};
use crate::digest::sri_sha384;
use crate::stages::{Stage, StageReport, StageStatus};
use crate::ui::Ui;
use anyhow::Result;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A unit's output: always its digests, its bytes once computed or loaded.
pub struct Product {
    pub blob: BlobRef,
    bytes: OnceLock<Arc<Vec<u8>>>,
}

impl Product {
    /// cargo's module, whose sha256 the build stage already took; nothing needs its SRI.
    pub fn input(bytes: Vec<u8>, sha256: String) -> Product {
        let blob = BlobRef { sha256, integrity: String::new(), bytes: bytes.len() as u64 };
        Product::with_blob(bytes, blob)
    }

    fn with_blob(bytes: Vec<u8>, blob: BlobRef) -> Product {
        let product = Product { blob, bytes: OnceLock::new() };
        let _ = product.bytes.set(Arc::new(bytes));
        product
    }

    fn cached(blob: BlobRef) -> Product {
        Product { blob, bytes: OnceLock::new() }
    }
}

/// What one unit produced.
pub struct Done {
    pub product: Product,
    pub report: StageReport,
    pub extra: Value,
}

pub struct Runner<'a> {
    pub cache: Option<&'a Cache>,
    pub ui: &'a Ui,
}

/// Everything besides a unit's own settings that decides its output: this build of the
/// tool (a digest of its sources and Cargo.lock, so it covers wasmtime's and binaryen's
/// versions too), and the cache's layout.
pub fn versions() -> Value {
    json!({
        "cache-format": crate::cache::FORMAT,
        "build": crate::build_identity::ID,
    })
}

impl Runner<'_> {
    /// The product's bytes, from memory or the cache (checked against their digest).
    pub fn bytes(&self, product: &Product) -> Result<Arc<Vec<u8>>> {
        if let Some(bytes) = product.bytes.get() {
            return Ok(bytes.clone());
        }
        let cache = self.cache.expect("only cached products lack bytes");
        let bytes = Arc::new(cache.load(&product.blob)?);
        Ok(product.bytes.get_or_init(|| bytes).clone())
    }

    /// Runs `work` on `input` unless the cache has the result for (`unit`, input, `settings`).
    /// `work` returns the output bytes, its report and stage-specific facts to keep with it.
    pub fn unit(
        &self,
        stage: Stage,
        unit: &str,
        input: &Product,
        settings: Value,
        work: impl FnOnce(&[u8]) -> Result<(Vec<u8>, StageReport, Value)>,
    ) -> Result<Done> {
        self.unit_with(stage, unit, input, settings, true, work)
    }

    /// [`Runner::unit`], for work whose result must not be reused when `cacheable` is false.
    pub fn unit_with(
        &self,
        stage: Stage,
        unit: &str,
        input: &Product,
        settings: Value,
        cacheable: bool,
        work: impl FnOnce(&[u8]) -> Result<(Vec<u8>, StageReport, Value)>,
    ) -> Result<Done> {
        let cache = self.cache.filter(|_| cacheable);
        let started = Instant::now();
        let key = Cache::key(&json!({
            "unit": unit,
            "stage": stage.name(),
            "input": input.blob.sha256,
            "settings": settings,
            "versions": versions(),
        }));
        let running = self.ui.start(unit);
        let hit = cache.and_then(|c| c.get(&key, stage, &input.blob.sha256));
        if let Some(warning) = cache.and_then(Cache::take_warning) {
            self.ui.warn(&warning);
        }
        if let Some(entry) = hit {
            let mut report = entry.report;
            if report.status == StageStatus::Ran {
                report.status = StageStatus::Cached;
            }
            report.millis = crate::stages::elapsed_ms(started);
            self.ui.finish(running, &[&report]);
            return Ok(Done { product: Product::cached(entry.output), report, extra: entry.extra });
        }
        let input_bytes = self.bytes(input)?;
        let (bytes, report, extra) = work(&input_bytes)?;
        // The report already holds the output's sha256; only its SRI is new work.
        let blob =
            BlobRef { sha256: report.sha256_out.clone(), integrity: sri_sha384(&bytes), bytes: bytes.len() as u64 };
        debug_assert_eq!(blob.sha256, crate::digest::sha256_hex(&bytes));
        let product = Product::with_blob(bytes, blob);
        if let Some(cache) = cache {
            let entry = Entry { report: report.clone(), output: product.blob.clone(), extra: extra.clone() };
            let bytes = product.bytes.get().expect("fresh product has bytes");
            if let Err(error) = cache.put(&key, &entry, bytes) {
                self.ui.warn(&format!("could not store {unit} in the stage cache: {error:#}"));
            }
        }
        self.ui.finish(running, &[&report]);
        Ok(Done { product, report, extra })
    }
}
