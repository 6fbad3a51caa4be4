//! The layering ARCHITECTURE.md promises, checked on the source itself:
//! every module imports only the layers below it (and the foundations),
//! and no two files import each other, directly or through others.
//!
//! How: each file of `src/` (test code left out) is read for the paths it
//! names (`use` trees and inline `crate::`/`super::` paths); a path is
//! resolved to the file that defines what it names, following `pub use`
//! re-exports, so a parent re-exporting a child's item is not mistaken
//! for a dependency on the parent.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

/// What each top-level module may import besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("types", &[]),
    ("crypto", &[]),
    ("proto", &[]),
    ("media", &["crypto", "proto"]),
    ("store", &["types"]),
    ("cluster", &["types"]),
    ("wire", &["types", "crypto", "proto"]),
    ("signal", &["types", "crypto", "proto"]),
    (
        "client",
        &[
            "store", "signal", "wire", "types", "crypto", "proto", "media",
        ],
    ),
    (
        "host",
        &[
            "client", "store", "types", "crypto", "proto", "wire", "media", "cluster",
        ],
    ),
    ("api", &["host", "types"]),
    (
        "sim",
        &["wire", "signal", "types", "crypto", "proto", "media"],
    ),
];

/// One source file: its module path and the code outside its tests.
struct Source {
    module: Vec<String>,
    code: String,
}

fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "mod.rs" | "lib.rs" => {}
        file => parts.push(file.trim_end_matches(".rs").to_string()),
    }
    parts
}

fn read_sources(root: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(root).expect("under src");
            let name = relative.file_name()?.to_string_lossy().into_owned();
            // The binary and test-only files are not part of the layers.
            if name == "main.rs" || name == "tests.rs" || name == "testing.rs" {
                return None;
            }
            if relative.starts_with("bench") || relative.starts_with("bin") {
                return None;
            }
            let text = fs::read_to_string(&path).expect("readable file");
            // By the house convention a file's tests come last.
            let code = match text.find("\n#[cfg(test)]") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            Some(Source {
                module: module_of(relative),
                code: strip_comments(&code),
            })
        })
        .collect()
}

/// Removes `//` comments (doc comments name paths that are not imports).
fn strip_comments(code: &str) -> String {
    code.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Expands a `use` tree (`a::{b, c::{d, e as f}}`) into plain paths.
fn expand_tree(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let base = join(prefix, head);
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_tree(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_tree(&inner[start..], &base, out);
        return;
    }
    let item = tree.split(" as ").next().unwrap_or("").trim();
    if item.is_empty() {
        return;
    }
    if item == "self" {
        out.push(prefix.to_string());
    } else {
        out.push(join(prefix, item));
    }
}

fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => prefix.to_string(),
        _ => format!("{prefix}::{rest}"),
    }
}

/// `use` statements of `code`: (is it `pub use`, the expanded paths).
fn use_statements(code: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let line_start = before.trim_end_matches(' ');
        let at_start = line_start.ends_with('\n') || line_start.is_empty();
        let is_pub = before.ends_with("pub ") || before.ends_with("pub(crate) ");
        let after = &rest[i + 4..];
        let Some(end) = after.find(';') else { break };
        if at_start || is_pub {
            let mut paths = Vec::new();
            expand_tree(&after[..end], "", &mut paths);
            out.push((is_pub, paths));
        }
        rest = &after[end..];
    }
    out
}

/// Inline paths such as `crate::client::creds::load(..)` or `super::x`.
fn inline_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let preceded = rest[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            let tail = &rest[i..];
            let len = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            // `super::{..}` is a use tree: `use_statements` reads those.
            if !preceded && !tail[..len].ends_with("::") {
                out.push(tail[..len].to_string());
            }
            rest = &tail[len..];
        }
    }
    out
}

/// Makes a path absolute (segments after `crate`).
fn absolute(path: &str, module: &[String]) -> Option<Vec<String>> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segments.first()? {
        &"crate" => {
            segments.remove(0);
            Vec::new()
        }
        &"super" | &"self" => {
            // `super` of module a::b is a, whether b is b.rs or b/mod.rs.
            let mut base = module.to_vec();
            while let Some(&first) = segments.first() {
                match first {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                segments.remove(0);
            }
            base
        }
        _ => return None,
    };
    base.extend(segments.into_iter().map(str::to_string));
    Some(base)
}

struct Crate {
    /// Module path → file index.
    modules: HashMap<Vec<String>, usize>,
    /// Per file: item name → the path it re-exports (`pub use`).
    exports: Vec<HashMap<String, Vec<String>>>,
}

impl Crate {
    /// The file that defines what `path` names.
    fn resolve(&self, path: &[String], depth: usize) -> Option<usize> {
        let (len, &file) = (1..=path.len())
            .rev()
            .find_map(|n| self.modules.get(&path[..n]).map(|f| (n, f)))?;
        if depth < 8 {
            if let Some(item) = path.get(len) {
                if let Some(target) = self.exports[file].get(item) {
                    let mut next = target.clone();
                    next.extend(path[len + 1..].iter().cloned());
                    return self.resolve(&next, depth + 1).or(Some(file));
                }
            }
        }
        Some(file)
    }
}

#[test]
fn layers_import_only_downward_and_no_files_import_each_other() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = read_sources(&root);
    let modules: HashMap<Vec<String>, usize> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.module.clone(), i))
        .collect();
    let mut exports = vec![HashMap::new(); sources.len()];
    for (i, source) in sources.iter().enumerate() {
        for (is_pub, paths) in use_statements(&source.code) {
            if !is_pub {
                continue;
            }
            for path in paths {
                let full = if path.starts_with("crate") || path.starts_with("super") {
                    absolute(&path, &source.module)
                } else {
                    // `pub use child::Item` (relative to this module).
                    let mut full = source.module.clone();
                    full.extend(path.split("::").map(str::to_string));
                    Some(full)
                };
                if let Some(full) = full {
                    if let Some(name) = full.last() {
                        exports[i].insert(name.clone(), full.clone());
                    }
                }
            }
        }
    }
    let krate = Crate { modules, exports };

    let mut edges: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    let mut layer_violations = Vec::new();
    let allowed: HashMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for (i, source) in sources.iter().enumerate() {
        let mut paths: Vec<String> = use_statements(&source.code)
            .into_iter()
            .flat_map(|(_, p)| p)
            .collect();
        paths.extend(inline_paths(&source.code));
        for path in paths {
            let full = if path.starts_with("crate")
                || path.starts_with("super")
                || path.starts_with("self")
            {
                absolute(&path, &source.module)
            } else {
                // `use child::x` from a module: relative to it.
                let first = path.split("::").next().unwrap_or("");
                let mut candidate = source.module.clone();
                candidate.push(first.to_string());
                if !krate.modules.contains_key(&candidate) {
                    continue;
                }
                let mut full = source.module.clone();
                full.extend(path.split("::").map(str::to_string));
                Some(full)
            };
            // `use super::*` (inline modules, tests) imports no one file.
            let Some(full) = full.filter(|f| f.last().is_some_and(|l| l != "*")) else {
                continue;
            };
            let Some(target) = krate.resolve(&full, 0) else {
                continue;
            };
            if target == i {
                continue;
            }
            if std::env::var("ARCH_DEBUG").is_ok() && sources[target].module.len() <= 1 {
                eprintln!(
                    "edge {} -> {} via {path}",
                    source.module.join("::"),
                    sources[target].module.join("::")
                );
            }
            edges.entry(i).or_default().insert(target);
            // The layer rule is about what a file names: a type the host
            // re-exports from the client is the host's to hand out.
            let (from, to) = (
                source.module.first().map(String::as_str).unwrap_or(""),
                full.first().map(String::as_str).unwrap_or(""),
            );
            if from != to && !from.is_empty() && !to.is_empty() {
                let ok = allowed.get(from).is_some_and(|a| a.contains(&to));
                if !ok && krate.modules.contains_key(&full[..1]) {
                    layer_violations.push(format!("{} uses {path}", sources[i].module.join("::")));
                }
            }
        }
    }
    layer_violations.sort();
    layer_violations.dedup();
    assert!(
        layer_violations.is_empty(),
        "imports against the layering:\n{}",
        layer_violations.join("\n")
    );

    let cycles = strongly_connected(sources.len(), &edges);
    if std::env::var("ARCH_DEBUG").is_ok() {
        for c in &cycles {
            for &f in c {
                for t in edges.get(&f).into_iter().flatten() {
                    if c.contains(t) {
                        eprintln!(
                            "{} -> {}",
                            sources[f].module.join("::"),
                            sources[*t].module.join("::")
                        );
                    }
                }
            }
            eprintln!("--");
        }
    }
    let described: Vec<String> = cycles
        .iter()
        .map(|c| {
            c.iter()
                .map(|&f| sources[f].module.join("::"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        described.is_empty(),
        "files that import each other:\n{}",
        described.join("\n")
    );
}

/// Strongly connected components with more than one file (Tarjan).
fn strongly_connected(n: usize, edges: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a BTreeMap<usize, BTreeSet<usize>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        found: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s
            .edges
            .get(&v)
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.found
}
