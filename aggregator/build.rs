//! Embeds the dashboard's built assets (`web/dist/app.js`, `app.css`, made
//! by `make web`). Without them the aggregator still builds, and its pages
//! say how to build them.

use std::path::Path;

const FALLBACK_JS: &str = "document.getElementById('main').textContent = \
    'The dashboard scripts were not built into this aggregator: run `make web` \
    (needs Node.js and npm), then rebuild it.';\n";

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let dist = Path::new(&manifest).join("../web/dist");
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    println!("cargo:rerun-if-changed={}", dist.display());
    for (name, fallback) in [("app.js", FALLBACK_JS), ("app.css", "")] {
        let built = dist.join(name);
        let target = Path::new(&out).join(name);
        println!("cargo:rerun-if-changed={}", built.display());
        let copied = built.is_file() && std::fs::copy(&built, &target).is_ok();
        if !copied {
            println!(
                "cargo:warning=web/dist/{name} not found: the dashboard pages will ask for `make web`"
            );
            if let Err(error) = std::fs::write(&target, fallback) {
                panic!("cannot write {}: {error}", target.display());
            }
        }
    }
}
