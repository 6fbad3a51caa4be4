//! The simulator's files form no import circles: no file of `src/sim`
//! uses another that uses it back, directly or through others. Read from
//! the source text: every `crate::sim::…`, `super::…` and `self::…` path
//! outside test code is an edge from its file to the file of the module
//! it names (an item of a `mod.rs`, re-exports included, is an edge to
//! that `mod.rs`). Data flows one way: each top-level module of `sim` has
//! a layer (`LAYERS`) and uses only its own or lower ones. Also checks the
//! simulator never names `crate::client`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The simulator's top-level modules, top layer first: a file may use
/// its own layer and those after it, never one before.
const LAYERS: &[&[&str]] = &[
    &["mod", "server", "admin", "api"],
    &["network"],
    &["iq"],
    &["linking", "accounts"],
    &["routing"],
    &["phone"],
    &["prekeys"],
    &["state"],
    &["protocol", "config", "error"],
];

/// Module path (`["sim", "state", "world"]`) -> its file.
type Modules = BTreeMap<Vec<String>, PathBuf>;

fn sim_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sim")
}

/// Every `.rs` file below `dir`, with its module path.
fn collect(dir: &Path, prefix: &[String], out: &mut Modules) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("src/sim is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 file name")
            .to_string();
        if path.is_dir() {
            let mut module = prefix.to_vec();
            module.push(name);
            collect(&path, &module, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if name != "mod" {
                module.push(name);
            }
            out.insert(module, path);
        }
    }
}

/// The file's text without test code (from the first inline
/// `#[cfg(test)] mod … {`) and without `//` comments.
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        if line.trim() == "#[cfg(test)]" && next.contains("mod ") && next.ends_with('{') {
            end = i;
            break;
        }
    }
    lines[..end]
        .iter()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Submodules a file declares under `#[cfg(test)]` (`mod fixtures;`):
/// test code, left out.
fn test_only_children(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "#[cfg(test)]")
        .filter_map(|w| w[1].strip_prefix("mod ")?.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads `a::b::{c, d::e}` from `s` (already past any leading `::`):
/// every full path it stands for, appended to `base`.
fn read_tree(s: &mut &str, base: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = base;
    loop {
        *s = s.trim_start();
        if let Some(rest) = s.strip_prefix('{') {
            *s = rest;
            loop {
                *s = s.trim_start();
                if let Some(rest) = s.strip_prefix('}') {
                    *s = rest;
                    return;
                }
                read_tree(s, path.clone(), out);
                *s = s.trim_start();
                if let Some(rest) = s.strip_prefix(',') {
                    *s = rest;
                }
                if s.is_empty() {
                    return;
                }
            }
        }
        let len = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
        if len == 0 {
            // `*` or anything else ends the path.
            out.push(path);
            return;
        }
        path.push(s[..len].to_string());
        *s = &s[len..];
        match s.strip_prefix("::") {
            Some(rest) => *s = rest,
            None => {
                // `as alias` and what follows are not part of the path.
                out.push(path);
                return;
            }
        }
    }
}

/// Every path in `code` that starts at `crate::sim`, `super`, `self` or
/// a submodule of `module`, made absolute.
fn paths_in(code: &str, module: &[String], modules: &Modules) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("::") {
        let at = from + found;
        from = at + 2;
        // The identifier before the `::`, unless it is inside a path.
        let before = &code[..at];
        let start = before.rfind(|c: char| !is_ident(c)).map_or(0, |i| i + 1);
        if before[..start].ends_with("::") {
            continue;
        }
        let mut after = &code[at + 2..];
        let base: Vec<String> = match &before[start..] {
            "crate" => match after.strip_prefix("sim::") {
                Some(tail) => {
                    after = tail;
                    vec!["sim".to_string()]
                }
                None => continue,
            },
            "self" => module.to_vec(),
            "super" => {
                let mut base = module.to_vec();
                base.pop();
                while let Some(tail) = after.strip_prefix("super::") {
                    base.pop();
                    after = tail;
                }
                base
            }
            // A path relative to this module (`use child::Item`).
            head => {
                let mut base = module.to_vec();
                base.push(head.to_string());
                if !modules.contains_key(&base) {
                    continue;
                }
                base
            }
        };
        read_tree(&mut after, base, &mut out);
        from = code.len() - after.len();
    }
    out
}

/// The file of the deepest module `path` names.
fn target_of<'a>(path: &[String], modules: &'a Modules) -> Option<&'a PathBuf> {
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
}

/// One circle of `edges`, if any, as the files along it.
fn find_circle(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &PathBuf,
        edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        marks: &mut BTreeMap<PathBuf, Mark>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in edges.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut circle = stack[from..].to_vec();
                    circle.push(next.clone());
                    return Some(circle);
                }
                Mark::New => {
                    if let Some(circle) = visit(next, edges, marks, stack) {
                        return Some(circle);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(circle) = visit(node, edges, &mut marks, &mut Vec::new()) {
                return Some(circle);
            }
        }
    }
    None
}

/// Edges between the simulator's files.
fn sim_edges() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut modules = Modules::new();
    collect(&sim_root(), &["sim".to_string()], &mut modules);
    let texts: BTreeMap<&Vec<String>, String> = modules
        .iter()
        .map(|(m, f)| (m, fs::read_to_string(f).expect("a readable source file")))
        .collect();
    let test_only: Vec<Vec<String>> = texts
        .iter()
        .flat_map(|(module, text)| {
            test_only_children(text).into_iter().map(|child| {
                let mut path = module.to_vec();
                path.push(child);
                path
            })
        })
        .collect();
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (module, text) in texts {
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue;
        }
        let file = &modules[module];
        let targets = edges.entry(file.clone()).or_default();
        for path in paths_in(&code_of(&text), module, &modules) {
            if let Some(target) = target_of(&path, &modules) {
                if target != file {
                    targets.insert(target.clone());
                }
            }
        }
    }
    edges
}

fn short(path: &Path) -> String {
    path.strip_prefix(sim_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn the_simulator_has_no_import_circles() {
    let edges = sim_edges();
    assert!(edges.len() > 20, "found only {} files", edges.len());
    if std::env::var_os("SIM_LAYERS_PRINT").is_some() {
        for (from, to) in &edges {
            let to: Vec<String> = to.iter().map(|t| short(t)).collect();
            println!("{} -> {}", short(from), to.join(", "));
        }
    }
    let uses = |from: &str, to: &str| {
        edges
            .iter()
            .any(|(f, t)| short(f) == from && t.iter().any(|t| short(t) == to))
    };
    // The reader sees what it must: a use, a grouped use, a `super` path.
    assert!(uses("routing/messages.rs", "phone/deliver.rs"));
    assert!(uses("network/conn.rs", "linking/link.rs"));
    assert!(uses("state/world.rs", "state/accounts.rs"));
    assert!(uses("iq/mod.rs", "iq/passive.rs"));
    if let Some(circle) = find_circle(&edges) {
        let names: Vec<String> = circle.iter().map(|p| short(p)).collect();
        panic!("import circle in src/sim: {}", names.join(" -> "));
    }
}

/// The layer of a file (by its top-level module under `src/sim`).
fn layer_of(file: &Path) -> usize {
    let first = file
        .strip_prefix(sim_root())
        .ok()
        .and_then(|p| p.components().next())
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or_default();
    let top = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top))
        .unwrap_or_else(|| panic!("src/sim/{first} has no layer: add it to LAYERS"))
}

#[test]
fn data_flows_down_the_layers() {
    for (from, targets) in sim_edges() {
        for to in targets {
            assert!(
                layer_of(&from) <= layer_of(&to),
                "{} uses {}, a layer above it",
                short(&from),
                short(&to)
            );
        }
    }
}

#[test]
fn the_simulator_never_uses_the_client() {
    let mut modules = Modules::new();
    collect(&sim_root(), &["sim".to_string()], &mut modules);
    for file in modules.values() {
        let code = code_of(&fs::read_to_string(file).expect("a readable source file"));
        assert!(
            !code.contains("crate::client") && !code.contains("wasp::client"),
            "{} uses the client",
            short(file)
        );
    }
}
