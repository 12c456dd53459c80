//! The shape the folder listing promises (README "Layout"), checked over the sources and the
//! dependency graph rather than trusted: core does no I/O, the library carries no Lambda runtime,
//! and no crate's top-level modules depend on each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Top-level module -> the top-level modules of the same crate it names through `crate::`.
type ModuleGraph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first segment of every `crate::` path in `source`, including each item of a
/// `crate::{a::X, b}` group.
fn crate_paths(source: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let (mut depth, mut start) = (0, true);
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        found.push(ident(&group[i..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(ident(rest));
        }
    }
    found
}

fn module_graph(crate_dir: &str) -> ModuleGraph {
    let src = Path::new(ROOT).join(crate_dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let module_of = |file: &Path| -> Option<String> {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
        // The crate root and the binaries are not modules of the library.
        (!matches!(first.as_str(), "lib" | "main" | "bin")).then_some(first)
    };
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(f)).collect();
    let mut graph: ModuleGraph = modules.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for file in &files {
        let Some(module) = module_of(file) else { continue };
        let source = std::fs::read_to_string(file).unwrap();
        for target in crate_paths(&source) {
            if target != module && modules.contains(&target) {
                graph.get_mut(&module).unwrap().insert(target);
            }
        }
    }
    graph
}

/// A cycle of the graph, as the modules along it, if there is one.
fn find_cycle(graph: &ModuleGraph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &ModuleGraph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &graph[node] {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_cycle_finder_finds_a_cycle_and_only_a_cycle() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g = ModuleGraph::new();
        for (from, to) in edges {
            g.entry(from.to_string()).or_default().insert(to.to_string());
            g.entry(to.to_string()).or_default();
        }
        g
    };
    assert_eq!(find_cycle(&graph(&[("runner", "ledger"), ("events", "ledger"), ("runner", "events")])), None);
    assert_eq!(
        find_cycle(&graph(&[("events", "ledger"), ("ledger", "runner"), ("runner", "events")])),
        Some(vec!["events".into(), "ledger".into(), "runner".into(), "events".into()])
    );
    assert_eq!(
        crate_paths("use crate::db::{a, b};\nuse crate::{error::{Error, Result}, retry};\nx = crate::emf::f();"),
        vec!["db", "error", "retry", "emf"]
    );
}

#[test]
fn no_crate_has_a_cycle_among_its_modules() {
    // cli and seed are one module each; functions is its handlers and one helper module.
    for crate_dir in ["core", "shared", "functions"] {
        let graph = module_graph(crate_dir);
        assert!(!graph.is_empty(), "{crate_dir} has modules to check");
        if let Some(cycle) = find_cycle(&graph) {
            panic!("{crate_dir}'s modules depend on each other in a cycle: {}", cycle.join(" -> "));
        }
    }
}

/// The packages `package` depends on (normal dependencies, transitively), by name.
fn dependencies(package: &str) -> BTreeSet<String> {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{lib}"])
        .current_dir(ROOT)
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn core_depends_on_nothing_that_does_io() {
    let direct: BTreeSet<String> = {
        let manifest = std::fs::read_to_string(Path::new(ROOT).join("core/Cargo.toml")).unwrap();
        let section = manifest.split("[dependencies]").nth(1).expect("core has [dependencies]");
        let section = section.split("\n[").next().unwrap();
        section
            .lines()
            .filter_map(|l| l.split(['.', '=', ' ']).next())
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect()
    };
    // clap, optional (feature `clap`): the CLI parses the vocabulary with its ValueEnum.
    let no_io: BTreeSet<String> =
        ["chrono", "clap", "serde", "serde_json", "thiserror", "uuid"].map(String::from).into();
    assert_eq!(direct, no_io, "core's direct dependencies are vocabulary only");
    let all = dependencies("sync-core");
    for io in ["tokio", "tokio_postgres", "aws_config", "opensearch", "hyper", "reqwest", "lambda_runtime"] {
        assert!(!all.contains(io), "core reaches {io}");
    }
}

#[test]
fn the_library_and_the_cli_carry_no_lambda_runtime_and_no_function_carries_the_seeder_or_clap() {
    for package in ["shared", "tis-sync"] {
        let all = dependencies(package);
        assert!(all.contains("tokio_postgres"), "{package}'s tree was read: {all:?}");
        for lambda in ["lambda_runtime", "aws_lambda_events"] {
            assert!(!all.contains(lambda), "{package} depends on {lambda}");
        }
    }
    let functions = dependencies("functions");
    assert!(functions.contains("lambda_runtime"));
    assert!(!functions.contains("seed"), "a function links the seeder");
    assert!(!functions.contains("clap"), "a function links the CLI's argument parser");
}
