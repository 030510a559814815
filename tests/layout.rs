//! The source tree's rules (docs/design.md §2), held as tests: no two files import each other,
//! directly or around a circle, and the map in docs/design.md names every file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use regex::Regex;

/// Every source file under src/, as `folder/name.rs`, with its text up to its unit tests
/// (a test module may import what the file itself must not).
fn sources() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(&folder);
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            let path = if folder.is_empty() {
                name.clone()
            } else {
                format!("{folder}/{name}")
            };
            if entry.file_type().unwrap().is_dir() {
                folders.push(path);
            } else if name.ends_with(".rs") {
                let text = fs::read_to_string(entry.path()).unwrap();
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
                files.insert(path, code.to_string());
            }
        }
    }
    files
}

/// The module path of a file: `run/mix/mod.rs` is `run::mix`, `engine/conn.rs` `engine::conn`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The file that defines the deepest module named by `path` (the rest names items in it).
fn file_of(path: &[String], files: &BTreeMap<String, String>) -> Option<String> {
    (1..=path.len()).rev().find_map(|n| {
        let stem = path[..n].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|f| files.contains_key(f))
    })
}

/// Which files each file imports (`crate::…` and `super::…` paths, grouped ones included).
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let path =
        Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)*)(?:::\{([^}]*)\})?").unwrap();
    let mut graph = BTreeMap::new();
    for (file, code) in files {
        let here = module_of(file);
        let mut uses = BTreeSet::new();
        for found in path.captures_iter(code) {
            let mut base: Vec<String> = match &found[1] {
                "crate" => Vec::new(),
                _ => here[..here.len().saturating_sub(1)].to_vec(),
            };
            base.extend(
                found[2]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
            let group = found.get(3).map_or("", |g| g.as_str());
            let mut targets = vec![base.clone()];
            for item in group.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let mut each = base.clone();
                each.extend(item.split("::").map(|s| s.trim().to_string()));
                targets.push(each);
            }
            for target in targets {
                if let Some(to) = file_of(&target, files).filter(|to| to != file) {
                    uses.insert(to);
                }
            }
        }
        graph.insert(file.clone(), uses);
    }
    graph
}

/// A circle through `from`, if any: the files on it, `from` first.
fn circle(from: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_string()]];
    let mut seen = BTreeSet::new();
    while let Some(trail) = stack.pop() {
        for next in &graph[trail.last().unwrap()] {
            if next == from {
                return Some(trail);
            }
            if seen.insert(next.clone()) {
                let mut longer = trail.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

#[test]
fn no_file_imports_itself_around_a_circle() {
    let files = sources();
    let graph = imports(&files);
    // The reader itself must see the imports it is meant to catch.
    assert!(graph["engine/conn.rs"].contains("engine/worker.rs"));
    assert!(graph["run/mix/http.rs"].contains("run/mix/mod.rs"));
    assert!(graph["run/app.rs"].contains("report/html.rs"));
    let circles: Vec<_> = files.keys().filter_map(|f| circle(f, &graph)).collect();
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

#[test]
fn the_design_map_names_every_file() {
    let design =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/design.md")).unwrap();
    let map = design
        .split("## 2. Where things live")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/design.md has its map (section 2)");
    let rows: Vec<&str> = map.lines().filter(|l| l.starts_with('|')).collect();
    let missing: Vec<String> = sources()
        .into_keys()
        .filter(|file| {
            let (folder, name) = file.rsplit_once('/').unwrap_or(("", file));
            let whole = format!("`{file}`");
            let named = format!("`{name}`");
            // A folder's row may name its files bare: `tls/` … `mod.rs` … `stream.rs`.
            let in_folder_row =
                |row: &&str| row.contains(&format!("`{folder}/")) && row.contains(&named);
            !rows.iter().any(|row| row.contains(&whole))
                && (folder.is_empty() || !rows.iter().any(in_folder_row))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "not in docs/design.md's map: {missing:?}"
    );
}
