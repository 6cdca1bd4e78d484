//! Every profile key: its name, the type it takes and what it does. The README's key table is
//! written from this list, and unknown keys are matched against it for "did you mean".

pub struct Key {
    pub name: &'static str,
    pub expects: &'static str,
    pub doc: &'static str,
}

pub const KEYS: &[Key] = &[
    Key { name: "cargo-profile", expects: "a string", doc: "cargo profile for the guest build (default `release`)" },
    Key { name: "target", expects: "`wasm32-unknown-unknown`, `wasm32-wasip1` or `wasm32-wasip2` (a component)", doc: "guest target (default `wasm32-unknown-unknown`)" },
    Key { name: "features", expects: "a list of strings", doc: "cargo features of the guest" },
    Key { name: "all-features", expects: "a boolean", doc: "build the guest with `--all-features`" },
    Key { name: "no-default-features", expects: "a boolean", doc: "build the guest with `--no-default-features`" },
    Key { name: "name", expects: "a file name stem (letters, digits, `_`, `-`, `.`)", doc: "artifact base name (default: the guest's lib name)" },
    Key { name: "preinit", expects: "a boolean", doc: "run Wizer pre-init; unset = run when an init export exists" },
    Key { name: "init-func", expects: "a string", doc: "init export (default: `wizer.initialize` or `wizer-initialize`)" },
    Key { name: "keep-init-func", expects: "a boolean", doc: "keep exporting the init function after pre-init" },
    Key { name: "rename-funcs", expects: "a table of strings (new = \"old\")", doc: "rename exports after pre-init, e.g. `{ _start = \"run\" }`" },
    Key { name: "allow-wasi", expects: "a boolean", doc: "give init WASI (wasm32-wasip1 only); off by default" },
    Key { name: "env", expects: "a table of strings", doc: "env vars set for init under WASI, e.g. `{ MODE = \"prod\" }`" },
    Key { name: "inherit-env", expects: "a list of strings", doc: "env var names copied from the build environment into init" },
    Key { name: "dirs", expects: "a list of `{ host, guest, writable }` tables or \"host[:guest]\" strings", doc: "directories init may read (writable only when marked)" },
    Key { name: "init-stdio", expects: "`capture`, `inherit` or `null`", doc: "init's stdout/stderr: captured and shown on failure (default), passed through, or dropped" },
    Key { name: "init-timeout", expects: "a number of seconds or a string like \"30s\"", doc: "wall-time limit for init (default 10 s)" },
    Key { name: "init-max-memory", expects: "a number of bytes or a string like \"512MiB\"", doc: "linear-memory cap for init (default 1 GiB)" },
    Key { name: "deterministic-init", expects: "a boolean", doc: "fixed random stream and clocks for WASI init (default true)" },
    Key { name: "wasm-opt", expects: "a list of wasm-opt arguments or false", doc: "ordered wasm-opt pass list (default `[\"--converge\", \"-Oz\", \"--gufa\"]`)" },
    Key { name: "wasm-opt-path", expects: "a path or a program name", doc: "a wasm-opt to run instead of the binaryen 116 built in (also CARGO_WASMSHIP_WASM_OPT); its --version is recorded" },
    Key { name: "bindgen-target", expects: "`web`, `bundler`, `nodejs`, `no-modules`, `deno` or `none`", doc: "the JS glue made for a wasm-bindgen guest (default `web`; `none` ships the module without glue)" },
    Key { name: "wasm-bindgen-path", expects: "a path or a program name", doc: "a wasm-bindgen CLI of exactly the guest's version (also CARGO_WASMSHIP_WASM_BINDGEN); otherwise one on PATH, else one installed once per version" },
    Key { name: "wasm-features", expects: "a list of strings", doc: "binaryen feature overrides, e.g. `[\"simd\", \"-bulk-memory\"]`" },
    Key { name: "strip", expects: "a boolean", doc: "drop custom sections (names, producers, DWARF) from the shipped module (default true)" },
    Key { name: "keep-sections", expects: "a list of strings", doc: "custom sections that survive stripping" },
    Key { name: "precompile", expects: "a list of target triples or false", doc: "wasmtime .cwasm targets; `host` = this machine's triple, `native` = with its CPU features (default `[\"host\"]`)" },
    Key { name: "cpu-levels", expects: "a list of CPU level names", doc: "extra .cwasm files for newer CPUs: `x86-64-v2`, `x86-64-v3`, `x86-64-v4`, `armv8.1-a`, `neoverse-n1`, `neoverse-v1`" },
    Key { name: "engine", expects: "a table of engine keys", doc: "the wasmtime engine of the host that loads the .cwasm files (see the engine key table)" },
    Key { name: "memory-cap", expects: "a number of bytes or a string like \"64MiB\"", doc: "linear-memory cap per instance, recorded in manifest.json for hosts" },
    Key { name: "host-bindings", expects: "a list of `go`/`node`", doc: "generated host code: `go` (wasmship_embed.go), `node` (<name>.node.mjs)" },
    Key { name: "deploy", expects: "a list of `nginx`, `caddy`, `headers`, `s3`", doc: "server and CDN configurations for the web files (deploy/, web/_headers)" },
    Key { name: "web-path", expects: "a URL path that starts and ends with `/`, of ASCII letters, digits, `-`, `.`, `_`, `~`", doc: "where `web/` is published (default `/`)" },
    Key { name: "public-key", expects: "a minisign public key (its `RW...` line)", doc: "the key `cargo wasmship sign` signs with: generated hosts refuse unsigned outputs, `ci` signs" },
    Key { name: "go-package", expects: "a Go identifier", doc: "package name of wasmship_embed.go (default: the artifact name)" },
    Key { name: "compress", expects: "a list of `br`/`gz`/`zst` or false", doc: "pre-compressed variants of the .wasm (default `[\"br\", \"gz\"]`)" },
    Key { name: "brotli-quality", expects: "an integer 0-11", doc: "brotli quality (default 11)" },
    Key { name: "brotli-parts", expects: "an integer 1-64", doc: "compress the .br in N parts side by side: faster on N cores, larger at q11 (default 1, one stream)" },
    Key { name: "brotli-window", expects: "an integer 10-24", doc: "brotli window bits (default 24, the largest browsers decode)" },
    Key { name: "gzip-zopfli", expects: "a boolean", doc: "make the .gz with zopfli: a few percent smaller, far slower to build (default false)" },
    Key { name: "zstd-level", expects: "an integer 1-22", doc: "zstd level of the .zst variant (default 19)" },
    Key { name: "gzip-level", expects: "an integer 0-9", doc: "gzip level (default 9)" },
    Key { name: "hash-names", expects: "a boolean", doc: "content-hashed file names `<name>.<hash16>.wasm` (default true)" },
    Key { name: "out-dir", expects: "a path", doc: "output directory, relative to the guest's Cargo.toml (default `<target-dir>/wasmship/<package>/<profile>/`)" },
];

pub fn lookup(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.name == name)
}

/// The valid key nearest to `unknown`, if any is close enough to be a plausible typo.
pub fn nearest(unknown: &str) -> Option<&'static str> {
    nearest_of(unknown, KEYS.iter().map(|k| k.name))
}

/// The candidate nearest to `unknown` by edit distance (treating `_` as `-`), if close.
pub fn nearest_of<'a>(unknown: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let normalized = unknown.replace('_', "-").to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&normalized, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_snake_case() {
        assert_eq!(nearest("wasm_opt"), Some("wasm-opt"));
        assert_eq!(nearest("precompiel"), Some("precompile"));
        assert_eq!(nearest("init-fn"), Some("init-func"));
        assert_eq!(nearest("completely-different"), None);
    }
}

#[cfg(test)]
mod readme_tests {
    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../../README.md");
        for key in super::KEYS {
            assert!(readme.contains(&format!("| `{}` |", key.name)), "README's key table lacks `{}`", key.name);
        }
    }
}
