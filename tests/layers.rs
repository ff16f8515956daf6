//! The layers run one way: no module of `src/` names a module above its own layer. Read from
//! the source text (every `crate::<module>` path), so a new upward import fails here with the
//! file and the line. The order is ARCHITECTURE.md's.

/// Top to bottom; a module may use its own layer and the layers below it.
const LAYERS: &[&[&str]] = &[
    &["commands", "cli"],
    &["demo", "bench", "probe"],
    &["session"],
    &["ui", "telemetry"],
    &["output", "trace"],
    &["keyfetch", "outbound"],
    &["proxy"],
    &["tls"],
    &["analysis"],
    &["rules"],
    &["expect", "dotenv", "rp"],
    &["verify"],
    &["oidc"],
    &["redact"],
    &["capture"],
    &["clock", "files", "timefmt", "text"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut violations = vec![];
    let mut unknown = vec![];
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top =
            rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        if rel.to_string_lossy().ends_with("tests.rs") || text.contains("\n#![cfg(test)]\n") {
            continue; // test code may use the demo's signer, the console and fixtures from above
        }
        let Some(mine) = layer_of(&top) else {
            unknown.push(top.clone());
            continue;
        };
        // Unit tests at the end of a file are test code too.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                let name: String =
                    rest[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                rest = &rest[i + 7..];
                match layer_of(&name) {
                    Some(theirs) if theirs < mine => {
                        violations.push(format!("{}:{}: {top} uses {name}", rel.display(), n + 1))
                    }
                    Some(_) => {}
                    None => unknown.push(format!("{}:{}: crate::{name}", rel.display(), n + 1)),
                }
            }
        }
    }
    assert!(unknown.is_empty(), "modules not placed in a layer: {unknown:#?}");
    assert!(violations.is_empty(), "upward imports:\n{}", violations.join("\n"));
}
