//! CPU features a `.cwasm` may need, named three ways: cranelift's setting (`has_avx2`), the
//! name `std::arch::is_*_feature_detected!` and wasmtime's own host check use (`avx2`), and
//! the architecture they belong to. The named levels group them the way compilers do.

/// (architecture, cranelift setting, detection name)
pub const FEATURES: &[(&str, &str, &str)] = &[
    ("x86_64", "has_sse3", "sse3"),
    ("x86_64", "has_ssse3", "ssse3"),
    ("x86_64", "has_cmpxchg16b", "cmpxchg16b"),
    ("x86_64", "has_sse41", "sse4.1"),
    ("x86_64", "has_sse42", "sse4.2"),
    ("x86_64", "has_popcnt", "popcnt"),
    ("x86_64", "has_avx", "avx"),
    ("x86_64", "has_avx2", "avx2"),
    ("x86_64", "has_fma", "fma"),
    ("x86_64", "has_bmi1", "bmi1"),
    ("x86_64", "has_bmi2", "bmi2"),
    ("x86_64", "has_lzcnt", "lzcnt"),
    ("x86_64", "has_avx512f", "avx512f"),
    ("x86_64", "has_avx512dq", "avx512dq"),
    ("x86_64", "has_avx512vl", "avx512vl"),
    ("x86_64", "has_avx512bitalg", "avx512bitalg"),
    ("x86_64", "has_avx512vbmi", "avx512vbmi"),
    ("x86_64", "has_avx512vnni", "avx512vnni"),
    ("x86_64", "has_avx_vnni", "avxvnni"),
    ("aarch64", "has_lse", "lse"),
    ("aarch64", "has_pauth", "paca"),
    ("aarch64", "has_fp16", "fp16"),
    ("aarch64", "has_dotprod", "dotprod"),
    ("aarch64", "has_i8mm", "i8mm"),
];

/// A named CPU level: extra `.cwasm` files compiled for a newer CPU than the baseline.
pub struct Level {
    pub name: &'static str,
    pub arch: &'static str,
    /// Detection names (see [`FEATURES`]).
    pub features: &'static [&'static str],
    pub doc: &'static str,
}

const V2: &[&str] = &["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cmpxchg16b"];
const V3: &[&str] =
    &["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cmpxchg16b", "avx", "avx2", "bmi1", "bmi2", "fma", "lzcnt"];
const V4: &[&str] = &[
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "popcnt",
    "cmpxchg16b",
    "avx",
    "avx2",
    "bmi1",
    "bmi2",
    "fma",
    "lzcnt",
    "avx512f",
    "avx512dq",
    "avx512vl",
];

/// The x86-64 micro-architecture levels (as in the x86-64 psABI, restricted to what cranelift
/// uses) and common aarch64 server and desktop cores.
pub const LEVELS: &[Level] = &[
    Level {
        name: "x86-64-v2",
        arch: "x86_64",
        features: V2,
        doc: "Nehalem (2008) and later, all x86-64 servers in use",
    },
    Level { name: "x86-64-v3", arch: "x86_64", features: V3, doc: "Haswell (2013) / Zen 1 and later: AVX2, BMI, FMA" },
    Level { name: "x86-64-v4", arch: "x86_64", features: V4, doc: "Skylake-SP / Zen 4 and later: AVX-512" },
    Level {
        name: "armv8.1-a",
        arch: "aarch64",
        features: &["lse"],
        doc: "LSE atomics: Graviton 2+, Ampere, Apple M1+",
    },
    Level {
        name: "neoverse-n1",
        arch: "aarch64",
        features: &["lse", "fp16", "dotprod"],
        doc: "Graviton 2, Ampere Altra",
    },
    Level {
        name: "neoverse-v1",
        arch: "aarch64",
        features: &["lse", "fp16", "dotprod", "i8mm"],
        doc: "Graviton 3 and later",
    },
];

pub fn level(name: &str) -> Option<&'static Level> {
    LEVELS.iter().find(|l| l.name == name)
}

/// Cranelift's setting for a detection name.
pub fn cranelift_setting(feature: &str) -> Option<&'static str> {
    FEATURES.iter().find(|(_, _, name)| *name == feature).map(|(_, setting, _)| *setting)
}

/// The architecture part of a target triple (`x86_64` of `x86_64-unknown-linux-gnu`).
pub fn triple_arch(triple: &str) -> &str {
    triple.split('-').next().unwrap_or(triple)
}

/// Whether this machine's CPU has `feature` (a detection name); `None` for names this
/// architecture does not know. The same answers wasmtime's own check gives.
pub fn detect(feature: &str) -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::is_x86_feature_detected as has;
        Some(match feature {
            "sse3" => has!("sse3"),
            "ssse3" => has!("ssse3"),
            "cmpxchg16b" => has!("cmpxchg16b"),
            "sse4.1" => has!("sse4.1"),
            "sse4.2" => has!("sse4.2"),
            "popcnt" => has!("popcnt"),
            "avx" => has!("avx"),
            "avx2" => has!("avx2"),
            "fma" => has!("fma"),
            "bmi1" => has!("bmi1"),
            "bmi2" => has!("bmi2"),
            "lzcnt" => has!("lzcnt"),
            "avx512f" => has!("avx512f"),
            "avx512dq" => has!("avx512dq"),
            "avx512vl" => has!("avx512vl"),
            "avx512bitalg" => has!("avx512bitalg"),
            "avx512vbmi" => has!("avx512vbmi"),
            "avx512vnni" => has!("avx512vnni"),
            "avxvnni" => has!("avxvnni"),
            _ => return None,
        })
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as has;
        Some(match feature {
            "lse" => has!("lse"),
            "paca" => has!("paca"),
            "fp16" => has!("fp16"),
            "dotprod" => has!("dotprod"),
            "i8mm" => has!("i8mm"),
            _ => return None,
        })
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = feature;
        None
    }
}

/// Every known feature of this machine's architecture that its CPU has (what a `native`
/// build may use).
pub fn detected_here() -> Vec<String> {
    FEATURES
        .iter()
        .filter(|(arch, _, name)| *arch == std::env::consts::ARCH && detect(name) == Some(true))
        .map(|(_, _, name)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_names_known_features_of_its_arch() {
        for level in LEVELS {
            for feature in level.features {
                let known = FEATURES.iter().find(|(_, _, name)| name == feature);
                assert_eq!(known.map(|k| k.0), Some(level.arch), "{} uses {feature}", level.name);
            }
        }
    }

    #[test]
    fn levels_grow_monotonically() {
        // v3 includes v2, v4 includes v3: a CPU that runs a level runs every lower one.
        for pair in LEVELS.windows(2).filter(|w| w[0].arch == w[1].arch) {
            for f in pair[0].features {
                assert!(pair[1].features.contains(f), "{} lacks {f} of {}", pair[1].name, pair[0].name);
            }
        }
    }
}
