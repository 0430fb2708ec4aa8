//! Records build facts for `oneshot version` and result.json: the rustc version, the build
//! profile and the versions of the main crates as resolved in Cargo.lock.

use std::process::Command;

fn main() {
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

    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for krate in ["png", "rayon", "safetensors"] {
        let found = locked_version(&lock, krate).unwrap_or_else(|| "unknown".into());
        let key = krate.to_uppercase();
        println!("cargo:rustc-env=ONESHOT_CRATE_{key}={found}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The version of `name` in Cargo.lock (`name = "x"` followed by `version = "y"`).
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    let wanted = format!("name = \"{name}\"");
    lines.find(|line| line.trim() == wanted)?;
    let line = lines.next()?.trim();
    let version = line.strip_prefix("version = \"")?.strip_suffix('"')?;
    Some(version.to_owned())
}
