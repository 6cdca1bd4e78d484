//! Calls on a component's exported functions, written as `wasmtime run --invoke` takes them
//! for components (WAVE): `lookup("fox")`, `total()`, `f([1, 2], {a: 1})`. A function of an
//! exported interface is named after it: `pkg:api/words#lookup("fox")`. Arguments are typed
//! by the export's WIT signature; results come back as WAVE text.
use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, Instant};
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Instance, Val};
use wasmtime::{AsContextMut, Store};

/// A call, checked for WAVE syntax; its arguments are typed when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentCall {
    text: String,
    /// The exported interface the function is in (`pkg:api/words`), if any.
    interface: Option<String>,
    export: String,
    /// `text` without the interface: the WAVE call itself.
    call: String,
}

impl ComponentCall {
    pub fn parse(text: &str) -> Result<ComponentCall> {
        // `iface#f(args)`: the `#` before the argument list separates the interface.
        let head = &text[..text.find('(').unwrap_or(text.len())];
        let (interface, call) = match head.rfind('#') {
            Some(at) => (Some(text[..at].to_string()), &text[at + 1..]),
            None => (None, text),
        };
        let parsed = UntypedFuncCall::parse(call).map_err(|e| {
            anyhow!("`{text}` is not a call as `wasmtime run --invoke` takes it (e.g. `lookup(\"word\")`): {e}")
        })?;
        Ok(ComponentCall {
            interface,
            export: parsed.name().to_string(),
            call: call.to_string(),
            text: text.to_string(),
        })
    }

    /// The exported function's name.
    pub fn export(&self) -> &str {
        &self.export
    }
}

impl std::fmt::Display for ComponentCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Makes the call on `instance` (a top-level function export). Returns each result as WAVE
/// text and how long the call took.
pub fn invoke<T: 'static>(
    store: &mut Store<T>,
    instance: &Instance,
    call: &ComponentCall,
) -> Result<(Vec<String>, Duration)> {
    let wt = |e: wasmtime::Error| anyhow!("{e:#}");
    let func = match &call.interface {
        None => instance.get_func(store.as_context_mut(), call.export.as_str()),
        Some(interface) => {
            let Some(exported) = instance.get_export_index(store.as_context_mut(), None, interface) else {
                bail!("the component exports no interface `{interface}`");
            };
            instance
                .get_export_index(store.as_context_mut(), Some(&exported), &call.export)
                .and_then(|index| instance.get_func(store.as_context_mut(), &index))
        }
    };
    let Some(func) = func else {
        bail!("the component exports no function `{}`", call.text.split('(').next().unwrap_or_default());
    };
    let ty = func.ty(&*store);
    let types: Vec<_> = ty.params().map(|(_, t)| t).collect();
    let parsed = UntypedFuncCall::parse(&call.call).map_err(|e| anyhow!("{e}"))?;
    let params: Vec<Val> = parsed
        .to_wasm_params(types.iter())
        .map_err(|e| anyhow!("the arguments of `{call}` do not fit the export's parameters: {e}"))?;
    let mut results = vec![Val::Bool(false); ty.results().len()];
    let started = Instant::now();
    func.call(&mut *store, &params, &mut results).map_err(wt).with_context(|| format!("calling `{call}`"))?;
    let elapsed = started.elapsed();
    let text = results
        .iter()
        .map(|v| {
            wasmtime::component::wasm_wave::to_string(v).map_err(|e| anyhow!("printing a result of `{call}`: {e}"))
        })
        .collect::<Result<_>>()?;
    Ok((text, elapsed))
}

/// The component's answer as one line: its results joined by ", ".
pub fn answer_text(results: &[String]) -> String {
    results.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_take_wave_arguments_and_give_wave_results() {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = wasmtime::Engine::new(&config).unwrap();
        let bytes = wat::parse_str(
            r#"(component
                (core module $m (func (export "twice") (param i64) (result i64) local.get 0 local.get 0 i64.add))
                (core instance $i (instantiate $m))
                (func $twice (export "twice") (param "n" u64) (result u64) (canon lift (core func $i "twice")))
                (instance (export "pkg:api/math") (export "twice" (func $twice))))"#,
        )
        .unwrap();
        let component = wasmtime::component::Component::new(&engine, bytes).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = wasmtime::component::Linker::new(&engine).instantiate(&mut store, &component).unwrap();
        let call = ComponentCall::parse("twice(21)").unwrap();
        assert_eq!(invoke(&mut store, &instance, &call).unwrap().0, ["42"]);
        let wrong = invoke(&mut store, &instance, &ComponentCall::parse("twice(\"x\")").unwrap()).unwrap_err();
        assert!(wrong.to_string().contains("do not fit the export's parameters"), "{wrong}");
        let missing = invoke(&mut store, &instance, &ComponentCall::parse("thrice(1)").unwrap()).unwrap_err();
        assert!(missing.to_string().contains("no function `thrice`"), "{missing}");
        let nested = invoke(&mut store, &instance, &ComponentCall::parse("pkg:api/math#twice(4)").unwrap()).unwrap();
        assert_eq!(nested.0, ["8"], "a function of an exported interface");
        let no_iface =
            invoke(&mut store, &instance, &ComponentCall::parse("pkg:api/none#twice(4)").unwrap()).unwrap_err();
        assert!(no_iface.to_string().contains("no interface `pkg:api/none`"), "{no_iface}");
        assert!(ComponentCall::parse("twice(").is_err());
    }
}
