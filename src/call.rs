//! Calls on a guest (`--call`): shared with hosts through `wasmship-host`.
pub use wasmship_host::call::*;

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    fn instance() -> (Store<()>, Instance) {
        let engine = Engine::default();
        let module = Module::new(
            &engine,
            r#"(module
                (memory (export "memory") 1)
                (func (export "alloc") (param i32) (result i32) i32.const 64)
                (func (export "run") (param i64) (result i64) local.get 0 i64.const 2 i64.mul)
                (func (export "mix") (param i32 i64 f32 f64) (result f64)
                    local.get 0 f64.convert_i32_s local.get 1 f64.convert_i64_s f64.add
                    local.get 2 f64.promote_f32 f64.add local.get 3 f64.add)
                (func (export "len") (param i32 i32) (result i32) local.get 1))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        (store, instance)
    }

    fn answer(call: &str) -> anyhow::Result<String> {
        let (mut store, instance) = instance();
        let (results, _) = invoke(&mut store, &instance, &CallSpec::parse(call)?)?;
        Ok(answer_text(&results))
    }

    #[test]
    fn arguments_take_the_types_of_the_exports_parameters() {
        assert_eq!(answer("run(5000000000)").unwrap(), "10000000000", "an i64 beyond i32");
        assert_eq!(answer("mix(1, -2, 2.5, 0.25)").unwrap(), "1.75");
        assert_eq!(answer("len(\"four\")").unwrap(), "4");
        let wrong = answer("run(2.5)").unwrap_err().to_string();
        assert!(wrong.contains("parameter 1 of `run` is i64, and `2.5` is not one"), "{wrong}");
        let count = answer("mix(1, 2)").unwrap_err().to_string();
        assert!(count.contains("takes (i32, i64, f32, f64)"), "{count}");
        let string = answer("run(\"x\")").unwrap_err().to_string();
        assert!(string.contains("a \"string\" takes two i32 parameters"), "{string}");
    }
}
