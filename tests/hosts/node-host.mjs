// Runs the generated Node.js loader against a guest: node node-host.mjs LOADER CALL...
// A CALL is `export(args)` with integers or "strings" (copied in through the guest's `alloc`).
// Prints {"answers": [[call, value], ...]} from a fresh instance per call.
const [loaderPath, ...calls] = process.argv.slice(2);
const loader = await import(new URL(loaderPath, `file://${process.cwd()}/`).href);

// WASI guests import WASI; their exports answer from the snapshot without calling it.
// WASMSHIP_MANIFEST_SHA256 pins manifest.json (the loader checks its own public key, if any).
const pin = process.env.WASMSHIP_MANIFEST_SHA256;
const module = await loader.wasmModule(pin ? { manifestSha256: pin } : {});
const imports = {};
for (const { module: name, name: field, kind } of WebAssembly.Module.imports(module)) {
  if (kind !== "function") continue;
  imports[name] ??= {};
  imports[name][field] = () => { throw new Error(`import ${name}.${field} called`); };
}

const answers = [];
for (const call of calls) {
  const { instance } = { instance: await loader.instantiate(imports) };
  const [, name, inner] = call.match(/^([^(]+)\((.*)\)$/);
  const args = [];
  for (const part of inner.match(/"[^"]*"|[^,\s]+/g) ?? []) {
    if (part.startsWith('"')) {
      const bytes = new TextEncoder().encode(part.slice(1, -1));
      const ptr = instance.exports.alloc(bytes.length);
      new Uint8Array(instance.exports.memory.buffer, ptr, bytes.length).set(bytes);
      args.push(ptr, bytes.length);
    } else {
      args.push(Number(part));
    }
  }
  answers.push([call, instance.exports[name](...args)]);
}
console.log(JSON.stringify({ answers }));
