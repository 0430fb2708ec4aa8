// Build facts for `oneshot version` and result.json, shared by every Rust binary's build.rs
// through `include!("../core/build_support.rs")`: the rustc version, the build profile and the
// versions of the named crates as resolved in the workspace's Cargo.lock.

/// Emit `ONESHOT_RUSTC_VERSION`, `ONESHOT_PROFILE` and `ONESHOT_CRATES` (`name=version,...`).
pub fn emit(crates: &[&str]) {
    use std::process::Command;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ONESHOT_RUSTC_VERSION={version}");
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ONESHOT_PROFILE={profile}");
    // The package's own folder is the workspace root (rust-tch) or one below it.
    let lock_path = ["Cargo.lock", "../Cargo.lock"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("Cargo.lock");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    let found: Vec<String> = crates
        .iter()
        .map(|krate| {
            let v = locked_version(&lock, krate).unwrap_or_else(|| "unknown".into());
            format!("{krate}={v}")
        })
        .collect();
    println!("cargo:rustc-env=ONESHOT_CRATES={}", found.join(","));
    println!("cargo:rerun-if-changed={lock_path}");
    println!("cargo:rerun-if-changed=build.rs");
    // This file, from a package one folder below the core's parent or two (rust-ort).
    for support in ["../core/build_support.rs", "../../core/build_support.rs"] {
        if std::path::Path::new(support).exists() {
            println!("cargo:rerun-if-changed={support}");
        }
    }
}

/// The version of `name` this binary links, from Cargo.lock: the one that its own package or
/// `oneshot-core` depends on (the lockfile writes `"name x.y.z"` there when it holds several
/// versions), else every version the lockfile holds, joined by `/`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let entries: Vec<&str> = lock.split("[[package]]").collect();
    let field = |entry: &str, key: &str| {
        let prefix = format!("{key} = \"");
        entry.lines().find_map(|l| {
            Some(l.trim().strip_prefix(&prefix)?.strip_suffix('"')?.to_owned())
        })
    };
    let versions: Vec<String> = entries
        .iter()
        .filter(|e| field(e, "name").as_deref() == Some(name))
        .filter_map(|e| field(e, "version"))
        .collect();
    for owner in [package.as_str(), "oneshot-core"] {
        let Some(entry) = entries.iter().find(|e| field(e, "name").as_deref() == Some(owner))
        else {
            continue;
        };
        for dep in entry.lines().map(|l| l.trim().trim_end_matches(',').trim_matches('"')) {
            if dep == name && versions.len() == 1 {
                return Some(versions[0].clone());
            }
            if let Some(version) = dep.strip_prefix(&format!("{name} ")) {
                return Some(version.to_owned());
            }
        }
    }
    (!versions.is_empty()).then(|| versions.join("/"))
}
