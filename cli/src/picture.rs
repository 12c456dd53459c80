//! The job graph as a picture (`tis-sync graph --format mermaid|dot`) or the runbook's table
//! (`--format markdown`), drawn from `sync_core::graph` so that it cannot drift from what runs:
//! each schedule (UTC), each edge (a follow-up starts when its predecessor's run succeeds), each
//! fan-in (a job with several predecessors waits for all of them, for the same as-of date). The
//! README's diagram and the runbook's table are this output; a test fails when they are not.

use sync_core::graph::{self, GRAPH};
use sync_core::{reval, JobName};

fn id(job: JobName) -> String {
    job.as_str().replace('-', "_")
}

/// What a node says besides its name: a fan-in's rule.
fn fan_in(job: JobName) -> Option<String> {
    let predecessors = graph::predecessors(job);
    (predecessors.len() > 1).then(|| format!("fan-in: after all {} succeed", predecessors.len()))
}

pub fn mermaid() -> String {
    let mut out = String::from("flowchart LR\n");
    for node in GRAPH {
        let job = node.job;
        match fan_in(job) {
            Some(rule) => out.push_str(&format!("  {}{{{{\"{job}<br/>{rule}\"}}}}\n", id(job))),
            None => out.push_str(&format!("  {}[\"{job}\"]\n", id(job))),
        }
    }
    for node in GRAPH {
        if let Some(schedule) = node.schedule {
            out.push_str(&format!("  at_{}([\"{} UTC\"]) --> {}\n", id(node.job), schedule.at, id(node.job)));
        }
    }
    for node in GRAPH {
        for follow_up in node.follow_ups {
            out.push_str(&format!("  {} -- succeeded --> {}\n", id(node.job), id(*follow_up)));
        }
    }
    out
}

/// What follows what: each job (its function is `<stack>-<job>`), when it is scheduled, and
/// what its success starts.
pub fn markdown() -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::ASCII_MARKDOWN).set_header([
        "job (function `<stack>-<job>`)",
        "scheduled",
        "its success starts",
    ]);
    for node in GRAPH {
        let scheduled = match node.schedule {
            Some(schedule) => format!("{} UTC", schedule.at),
            None => "(follow-up)".into(),
        };
        let starts = match (node.follow_ups, reval::FEEDS.contains(&node.job)) {
            ([], true) => "nothing (sends the revalidation feed: RabbitMQ or SQS)".to_string(),
            ([], false) => "nothing".to_string(),
            (follow_ups, _) => follow_ups.iter().map(|job| job.as_str()).collect::<Vec<_>>().join(", "),
        };
        table.add_row([node.job.to_string(), scheduled, starts]);
    }
    format!("{table}\n")
}

pub fn dot() -> String {
    let mut out = String::from("digraph jobs {\n  rankdir=LR;\n  node [shape=box];\n");
    for node in GRAPH {
        let job = node.job;
        match fan_in(job) {
            Some(rule) => out.push_str(&format!("  \"{job}\" [shape=hexagon, label=\"{job}\\n{rule}\"];\n")),
            None => out.push_str(&format!("  \"{job}\";\n")),
        }
    }
    for node in GRAPH {
        if let Some(schedule) = node.schedule {
            let at = format!("at {} UTC", schedule.at);
            out.push_str(&format!("  \"{at}\" [shape=oval];\n  \"{at}\" -> \"{}\";\n", node.job));
        }
    }
    for node in GRAPH {
        for follow_up in node.follow_ups {
            out.push_str(&format!("  \"{}\" -> \"{follow_up}\" [label=\"succeeded\"];\n", node.job));
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_schedule_edge_and_fan_in_is_drawn_in_both_forms() {
        let (mermaid, dot) = (mermaid(), dot());
        for node in GRAPH {
            assert!(mermaid.contains(&format!("\"{}", node.job)), "{}", node.job);
            assert!(dot.contains(&format!("\"{}\"", node.job)), "{}", node.job);
            if let Some(schedule) = node.schedule {
                assert!(mermaid.contains(&format!(
                    "at_{}([\"{} UTC\"]) --> {}",
                    id(node.job),
                    schedule.at,
                    id(node.job)
                )));
                assert!(dot.contains(&format!("\"at {} UTC\" -> \"{}\"", schedule.at, node.job)));
            }
            for follow_up in node.follow_ups {
                assert!(mermaid.contains(&format!("{} -- succeeded --> {}", id(node.job), id(*follow_up))));
                assert!(dot.contains(&format!("\"{}\" -> \"{follow_up}\"", node.job)));
            }
        }
        let edges = GRAPH.iter().map(|n| n.follow_ups.len()).sum::<usize>();
        assert_eq!(mermaid.matches(" -- succeeded --> ").count(), edges);
        assert_eq!(dot.matches("[label=\"succeeded\"]").count(), edges);
        // The person index waits for four jobs, the posts index for two.
        assert!(mermaid.contains("person-elasticsearch-sync<br/>fan-in: after all 4 succeed"), "{mermaid}");
        assert!(dot.contains("post-elasticsearch-sync\\nfan-in: after all 2 succeed"), "{dot}");
    }
}
