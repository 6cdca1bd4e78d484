// Runs a wasm-bindgen guest through its `web` glue in Node.js, as the bindgen tests compare
// them: `node bindgen.mjs GLUE.js MODULE.wasm NAME [init]`. Prints JSON: greet(NAME) at the
// first call, and (with `init`) again after calling the raw module's `wizer.initialize`.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [glueFile, wasmFile, name, init] = process.argv.slice(2);
const glue = await import(pathToFileURL(glueFile).href);
const wasm = await glue.default({ module_or_path: readFileSync(wasmFile) });
const report = {
  first: glue.greet(name),
  initExported: typeof wasm["wizer.initialize"] === "function",
  wordCount: wasm.word_count(),
  doubled: glue.doubled_count(),
};
if (init === "init") {
  wasm["wizer.initialize"]();
  report.afterInit = glue.greet(name);
}
console.log(JSON.stringify(report));
