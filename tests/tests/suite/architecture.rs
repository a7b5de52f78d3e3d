//! Import circles between the files of the agent and the aggregator.
//!
//! Every `.rs` under `aggregator/src` and `agent/src` is read, and every
//! path that starts with `crate::`, `super::` or `self::` (in `use` items,
//! `use crate::{a, b::{c, self}}` groups included, and in expressions and
//! types) is mapped to the file that defines the module it names. A file is
//! a node; a reference is an edge. A strongly connected component of that
//! graph is a circle of files that cannot be understood, tested or changed
//! one at a time. The only circles allowed are a module with its own
//! children (`coordinator` and `coordinator::poll`: a parent re-exports or
//! calls its children, the children use the parent's types); any other
//! fails this test, listing the files and the references that close it.
//!
//! Comments and string literals are skipped, so a doc link or a message
//! that names a path is no edge. Inline `mod tests { .. }` blocks count as
//! their file: a test module that closes a circle is a circle too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The crates checked, as directories under the workspace root.
const CRATES: [&str; 2] = ["aggregator/src", "agent/src"];

/// Edges left out of the check for now: (crate, from, to, why). Each must
/// still exist (the test fails once one is gone, so the list only
/// shrinks); the goal is an empty list.
const ALLOWED: &[(&str, &str, &str, &str)] = &[];

/// A file's module path: `""` for the crate root, `a::b` for `a/b.rs` or
/// `a/b/mod.rs`.
type Module = String;

#[derive(Default)]
struct Graph {
    modules: BTreeSet<Module>,
    /// from -> to -> the first path seen that makes the edge.
    edges: BTreeMap<Module, BTreeMap<Module, String>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Punct(char),
}

/// Rust source as identifiers and punctuation, without comments, strings,
/// characters, lifetimes and numbers.
fn tokens(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let ident_start = |c: char| c.is_alphabetic() || c == '_';
    let ident_char = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(&chars, i) {
            i = end;
        } else if c == '"' || (c == 'b' && next == Some('"')) {
            i += if c == 'b' { 2 } else { 1 };
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' || (c == 'b' && next == Some('\'')) {
            if c == 'b' {
                i += 1;
            }
            // 'x', '\n', '\u{..}': a character; 'a without a closing quote
            // right after one character: a lifetime.
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && ident_char(chars[i]) {
                    i += 1;
                }
            }
        } else if c == 'r' && next == Some('#') && chars.get(i + 2).is_some_and(|&c| ident_start(c))
        {
            i += 2;
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if ident_start(c) {
            let start = i;
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && ident_char(chars[i]) {
                i += 1;
            }
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// Where a raw string starting at `i` (`r"..."`, `r#"..."#`, `br".."`)
/// ends, if one starts there.
fn raw_string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"' && (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

fn is_colons(tokens: &[Token], i: usize) -> bool {
    tokens.get(i) == Some(&Token::Punct(':')) && tokens.get(i + 1) == Some(&Token::Punct(':'))
}

fn ident(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Token::Ident(name)) => Some(name),
        _ => None,
    }
}

/// Every path of the tree that starts at `tokens[i]` (just after a
/// `::`), each appended to `prefix`; returns the index after the tree.
fn path_tree(
    tokens: &[Token],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = prefix;
    loop {
        match tokens.get(i) {
            Some(Token::Ident(name)) => {
                if name != "self" {
                    path.push(name.clone());
                }
                i += 1;
            }
            Some(Token::Punct('{')) => {
                i += 1;
                while i < tokens.len() && tokens[i] != Token::Punct('}') {
                    if tokens[i] == Token::Punct(',') {
                        i += 1;
                        continue;
                    }
                    i = path_tree(tokens, i, path.clone(), out);
                    // `x as y`
                    if ident(tokens, i) == Some("as") {
                        i += 2;
                    }
                }
                return i + 1;
            }
            _ => {
                // `*`, or a generic argument list: the path so far.
                out.push(path);
                return i;
            }
        }
        if is_colons(tokens, i) {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The module paths a file refers to, absolute (without `crate`), for a
/// file whose module is `module`.
fn references(source: &str, module: &str) -> Vec<Vec<String>> {
    let tokens = tokens(source);
    let base: Vec<String> = module
        .split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // Inline modules open at a brace depth: (name, depth inside).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut found = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i] {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => {
                if let Some(name) = ident(&tokens, i + 1)
                    && tokens.get(i + 2) == Some(&Token::Punct('{'))
                {
                    inline.push((name.to_string(), depth + 1));
                }
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && is_colons(&tokens, i + 1)
                    && !(i >= 2 && is_colons(&tokens, i - 2)) =>
            {
                let mut here: Vec<String> = base.clone();
                here.extend(inline.iter().map(|(name, _)| name.clone()));
                let mut start: Vec<String> = match word.as_str() {
                    "crate" => Vec::new(),
                    "self" => here.clone(),
                    _ => {
                        here.pop();
                        here.clone()
                    }
                };
                let mut j = i + 3;
                // super::super::...
                while ident(&tokens, j) == Some("super") && is_colons(&tokens, j + 1) {
                    start.pop();
                    j += 3;
                }
                let mut paths = Vec::new();
                i = path_tree(&tokens, j, start, &mut paths);
                found.extend(paths);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The longest prefix of `path` that is a file's module.
fn resolve(modules: &BTreeSet<Module>, path: &[String]) -> Option<Module> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    // The binary beside a library is a crate of its own.
    if files.iter().any(|f| f == &src.join("lib.rs")) {
        files.retain(|f| f != &src.join("main.rs"));
    }
    let mut graph = Graph::default();
    let sources: Vec<(Module, String)> = files
        .iter()
        .map(|file| {
            let text =
                std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            (module_of(src, file), text)
        })
        .collect();
    graph.modules = sources.iter().map(|(m, _)| m.clone()).collect();
    for (module, text) in &sources {
        for path in references(text, module) {
            let Some(target) = resolve(&graph.modules, &path) else {
                continue;
            };
            if &target != module {
                graph
                    .edges
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_insert_with(|| format!("crate::{}", path.join("::")));
            }
        }
    }
    graph
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(graph: &Graph) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(walk: &mut Walk<'a>, v: &'a str) {
        let n = walk.index.len();
        walk.index.insert(v, n);
        walk.low.insert(v, n);
        walk.stack.push(v);
        walk.on_stack.insert(v);
        let graph = walk.graph;
        for w in graph.edges.get(v).into_iter().flat_map(|e| e.keys()) {
            let w = w.as_str();
            if !walk.index.contains_key(w) {
                visit(walk, w);
                let low = walk.low[v].min(walk.low[w]);
                walk.low.insert(v, low);
            } else if walk.on_stack.contains(w) {
                let low = walk.low[v].min(walk.index[w]);
                walk.low.insert(v, low);
            }
        }
        if walk.low[v] == walk.index[v] {
            let mut component = Vec::new();
            while let Some(w) = walk.stack.pop() {
                walk.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                walk.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for module in &graph.modules {
        if !walk.index.contains_key(module.as_str()) {
            visit(&mut walk, module);
        }
    }
    walk.found
}

/// A circle inside one module's own tree (the module is in it, every other
/// file is its descendant).
fn within_one_module(component: &[Module]) -> bool {
    component.iter().any(|root| {
        component
            .iter()
            .all(|m| m == root || root.is_empty() || m.starts_with(&format!("{root}::")))
    })
}

/// The circles of `src`'s files that are not a module with its children,
/// with the references that close them, after taking out `allowed` edges.
fn report(src_dir: &str, allowed: &[(&str, &str)]) -> (Vec<String>, Graph) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join(src_dir);
    let mut graph = graph(&root);
    let mut problems = Vec::new();
    for (from, to) in allowed {
        let gone = graph
            .edges
            .get_mut(*from)
            .and_then(|edges| edges.remove(*to))
            .is_none();
        if gone {
            problems.push(format!(
                "{src_dir}: {from} -> {to} is on the allow-list but no longer exists: remove it"
            ));
        }
    }
    for component in circles(&graph) {
        let label = |m: &str| {
            if m.is_empty() {
                "(root)".to_string()
            } else {
                m.to_string()
            }
        };
        let mut text = format!(
            "{src_dir}: circle of {} files: {}",
            component.len(),
            component
                .iter()
                .map(|m| label(m))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if within_one_module(&component) {
            println!("{text} (a module with its own children: allowed)");
            continue;
        }
        for from in &component {
            for (to, via) in graph.edges.get(from).into_iter().flatten() {
                if component.contains(to) {
                    text.push_str(&format!("\n    {} -> {} ({via})", label(from), label(to)));
                }
            }
        }
        problems.push(text);
    }
    (problems, graph)
}

#[test]
fn no_import_circles_between_files() {
    let mut problems = Vec::new();
    for src in CRATES {
        let allowed: Vec<(&str, &str)> = ALLOWED
            .iter()
            .filter(|(c, ..)| *c == src)
            .map(|(_, from, to, _)| (*from, *to))
            .collect();
        let (found, graph) = report(src, &allowed);
        println!(
            "{src}: {} files, {} edges, {} problem(s)",
            graph.modules.len(),
            graph.edges.values().map(BTreeMap::len).sum::<usize>(),
            found.len()
        );
        problems.extend(found);
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn references_read_groups_relative_paths_and_skip_text() {
    let source = r##"
        use crate::{alpha, beta::{gamma::{self, Thing}, delta as d}};
        use super::sibling::Item;
        // crate::in_comment::X
        const TEXT: &str = "crate::in_string::X";
        const RAW: &str = r#"crate::in_raw::X"#;
        fn f<'a>(x: &'a str) -> char { let _ = crate::epsilon::call(); 'c' }
        mod tests {
            use super::*;
            use super::super::uncle::Y;
            fn g() { self::helper(); }
        }
    "##;
    let mut found: Vec<String> = references(source, "top::file")
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "alpha",
            "beta::delta",
            "beta::gamma",
            "beta::gamma::Thing",
            "epsilon::call",
            "top::file",
            "top::file::tests::helper",
            "top::sibling::Item",
            "top::uncle::Y",
        ]
    );
}

#[test]
fn circles_between_siblings_fail_and_a_module_with_its_children_passes() {
    let mut graph = Graph::default();
    for m in ["a", "a::x", "a::y", "b", "c"] {
        graph.modules.insert(m.to_string());
    }
    let mut edge = |from: &str, to: &str| {
        graph
            .edges
            .entry(from.to_string())
            .or_default()
            .insert(to.to_string(), String::new());
    };
    edge("a", "a::x");
    edge("a::x", "a");
    edge("a::y", "a");
    edge("b", "c");
    edge("c", "b");
    let found = circles(&graph);
    assert_eq!(found.len(), 2, "{found:?}");
    let family = found
        .iter()
        .find(|c| c.contains(&"a".to_string()))
        .expect("the a family is found");
    assert!(within_one_module(family));
    let pair = found
        .iter()
        .find(|c| c.contains(&"b".to_string()))
        .expect("the b, c circle is found");
    assert!(!within_one_module(pair));
    assert!(!within_one_module(&[
        "a::x".to_string(),
        "a::y".to_string()
    ]));
}
