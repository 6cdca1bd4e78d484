//! The copy-on-write status the precompile stage reports is the one wasmtime acts on. A module
//! whose initialized memory spans more than wasmtime's default dense-image threshold (16 MiB)
//! but holds less than half that in data (a snapshot with freed or unused heap) gets no image
//! from a default engine: every instantiation copies its segments into fresh memory. The stage
//! lays it out as one image, which instances map without copying. Resident memory tells the
//! two apart: copies are resident, untouched mappings are not. (Its own test binary: nothing
//! else allocates in this process meanwhile.)
use cargo_wasmship::config::engine::EngineKeys;
use cargo_wasmship::stages::precompile::{self, PrecompileConfig};
use wasmtime::{Engine, Instance, Module, Store};

const MIB: usize = 1 << 20;
const SEGMENTS: usize = 16;
const SEGMENT: usize = MIB / 4;
const STRIDE: usize = 3 * MIB;
const INSTANCES: usize = 16;

/// 16 segments of 256 KiB of non-zero bytes, 3 MiB apart: a 45 MiB span holding 4 MiB.
fn sparse_module() -> Vec<u8> {
    let mut wat = String::from("(module (memory (export \"memory\") 1024)");
    for i in 0..SEGMENTS {
        let bytes: String = std::iter::repeat_n(format!("\\{:02x}", (i + 1) as u8), SEGMENT).collect();
        wat.push_str(&format!(" (data (i32.const {}) \"{bytes}\")", i * STRIDE));
    }
    wat.push_str(" (func (export \"at\") (param i32) (result i32) local.get 0 i32.load8_u))");
    wat::parse_str(wat).unwrap()
}

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// Resident memory `INSTANCES` live instances of `module` add, and what they read back.
fn instances_cost(engine: &Engine, module: &Module) -> (usize, i32) {
    let before = resident_bytes();
    let mut live = Vec::new();
    for _ in 0..INSTANCES {
        let mut store = Store::new(engine, ());
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        live.push((store, instance));
    }
    let grew = resident_bytes().saturating_sub(before);
    let (store, instance) = live.last_mut().unwrap();
    let at = instance.get_typed_func::<i32, i32>(&mut *store, "at").unwrap();
    let read = at.call(&mut *store, (5 * STRIDE) as i32).unwrap();
    (grew, read)
}

#[test]
#[cfg(target_os = "linux")]
fn the_reported_copy_on_write_image_is_the_one_wasmtime_maps() {
    let wasm = sparse_module();
    let profile = precompile::engine::resolve(&EngineKeys::default()).unwrap();
    let config = PrecompileConfig { targets: vec!["host".into()], cpu_levels: vec![] };
    let target = precompile::resolve_targets(&config, &profile).unwrap().remove(0);
    let compiled = precompile::run(&wasm, &target, &profile).unwrap();
    let image = compiled.info.memory_image.clone().expect("the module has initialized memory");
    assert!(image.copy_on_write, "{image:?}");
    assert_eq!((image.span as usize, image.data as usize), ((SEGMENTS - 1) * STRIDE + SEGMENT, SEGMENTS * SEGMENT));

    let mut host = wasmtime::Config::new();
    wasmship_host::engine::apply(&profile, &mut host).unwrap();
    let engine = Engine::new(&host).unwrap();
    // SAFETY: compiled just now by the stage for this engine profile.
    let shipped = unsafe { Module::deserialize(&engine, &compiled.bytes) }.unwrap();
    let default_layout = Module::new(&engine, &wasm).unwrap();

    let (copied, read_copied) = instances_cost(&engine, &default_layout);
    let (mapped, read_mapped) = instances_cost(&engine, &shipped);
    assert_eq!((read_copied, read_mapped), (6, 6), "both answer from the initial memory");
    let all_data = INSTANCES * SEGMENTS * SEGMENT;
    assert!(copied >= all_data / 2, "a default engine copies each instance's data: +{} MiB", copied / MIB);
    assert!(mapped < all_data / 8, "the image is mapped, not copied: +{} MiB", mapped / MIB);

    // With the host's copy-on-write turned off, the stage says so (and the build warns).
    let mut keys = EngineKeys::default();
    keys.memory_init_cow = Some(false);
    let off = precompile::engine::resolve(&keys).unwrap();
    let target = precompile::resolve_targets(&config, &off).unwrap().remove(0);
    let compiled = precompile::run(&wasm, &target, &off).unwrap();
    assert!(!compiled.info.memory_image.unwrap().copy_on_write);
    assert!(
        compiled.report.notes.iter().any(|n| n.contains("not one copy-on-write image")),
        "{:?}",
        compiled.report.notes
    );
}
