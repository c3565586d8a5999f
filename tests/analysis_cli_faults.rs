//! Faults met through the command line: processes of a cluster started with different
//! inputs or without their peers, empty and bad inputs, output permissions, and the
//! documented DuckDB queries over what `analyze` and `watch` write.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::fixture::*;
use entangle::sink::predictions_table::PredictionRow;

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    rolls: Vec<(String, entangle::labels::PianoRoll)>,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let rolls = random_rolls(&mut Rng(21), "s", 4, 80);
    write_labels(&root.join("labels.parquet"), &rolls);
    write_labels(&root.join("fewer.parquet"), &rolls[..2]);
    std::fs::create_dir_all(root.join("in")).unwrap();
    write_rows(
        &root.join("in/a.parquet"),
        &prediction_rows(&mut Rng(1), "m", &rolls),
    );
    Setup {
        _dir: dir,
        root,
        rolls,
    }
}

use common::entangle_command as entangle;

fn analyze(s: &Setup, labels: &str, out: &str) -> Command {
    let mut cmd = entangle();
    cmd.arg("analyze")
        .arg("--predictions")
        .arg(s.root.join("in"))
        .arg("--labels")
        .arg(s.root.join(labels))
        .arg("--out")
        .arg(s.root.join(out));
    cmd
}

fn hostfile(s: &Setup, n: usize) -> PathBuf {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let text: String = listeners
        .iter()
        .map(|l| format!("{}\n", l.local_addr().unwrap()))
        .collect();
    let path = s.root.join("hosts.txt");
    std::fs::write(&path, text).unwrap();
    path
}

fn in_cluster(mut cmd: Command, hosts: &Path, process: usize, timeout: &str) -> Command {
    cmd.args(["--processes", "2", "--process", &process.to_string()])
        .arg("--hostfile")
        .arg(hosts)
        .args(["--peer-timeout", timeout]);
    cmd
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Defect 4: processes given different labels both refuse, naming what differs.
#[test]
fn processes_started_with_different_labels_refuse_naming_it() {
    let s = setup();
    let hosts = hostfile(&s, 2);
    let started = Instant::now();
    let children: Vec<_> = [("labels.parquet", 0), ("fewer.parquet", 1)]
        .into_iter()
        .map(|(labels, process)| {
            in_cluster(analyze(&s, labels, "out"), &hosts, process, "20")
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "{err}");
        assert!(err.contains("not started alike"), "{err}");
        assert!(err.contains("labels: process"), "{err}");
        assert!(err.contains("4 shards"), "{err}");
        assert!(err.contains("2 shards"), "{err}");
    }
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!s.root.join("out").exists());
}

/// Defect 4: a process whose peer never starts gives up after `--peer-timeout`.
#[test]
fn a_missing_peer_gives_up_after_the_timeout() {
    let s = setup();
    let hosts = hostfile(&s, 2);
    for process in [0, 1] {
        let started = Instant::now();
        let output = in_cluster(analyze(&s, "labels.parquet", "out"), &hosts, process, "0.5")
            .output()
            .unwrap();
        let err = stderr(&output);
        assert!(!output.status.success(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10), "{err}");
        let expected = match process {
            0 => "process(es) 1 (127.0.0.1:",
            _ => "process 0 at 127.0.0.1:",
        };
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("within 0.5 s"), "{err}");
    }
}

/// Defect 4: processes that agree produce the tables one process does.
#[test]
fn two_processes_give_the_tables_of_one() {
    let s = setup();
    assert!(
        analyze(&s, "labels.parquet", "one")
            .status()
            .unwrap()
            .success()
    );
    let hosts = hostfile(&s, 2);
    let children: Vec<_> = (0..2)
        .map(|p| {
            in_cluster(analyze(&s, "labels.parquet", "two"), &hosts, p, "20")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(
        table_bytes(&s.root.join("one")),
        table_bytes(&s.root.join("two"))
    );
}

/// Defect 8: an empty predictions file is accepted with a warning naming it.
#[test]
fn an_empty_predictions_file_is_warned_about() {
    let s = setup();
    write_rows(&s.root.join("in/empty.parquet"), &[]);
    let output = analyze(&s, "labels.parquet", "out").output().unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(
        err.contains("empty.parquet: an empty predictions table (0 rows)"),
        "{err}"
    );
}

/// Defect 8 and issue 17: every output gets the permissions of the umask, the change log
/// like the tables; and a failed run leaves no output folder (nor an empty log in one).
#[test]
fn outputs_follow_the_umask_and_a_failed_run_leaves_no_folder() {
    use std::os::unix::fs::PermissionsExt;
    let s = setup();
    let output = analyze(&s, "labels.parquet", "out").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|m| u32::from_str_radix(m.trim(), 8).unwrap())
        .unwrap();
    let mut names = Vec::new();
    for entry in std::fs::read_dir(s.root.join("out")).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(mode, 0o666 & !umask, "{name}: mode {mode:o}");
        names.push(name);
    }
    assert!(names.contains(&"changes.jsonl".to_string()), "{names:?}");
    assert!(names.contains(&"analysis.json".to_string()), "{names:?}");

    let bad = PredictionRow {
        model: "m".into(),
        shard: s.rolls[0].0.clone(),
        frame: 0,
        pitches: entangle::pitchset::PitchSet::EMPTY,
        probs: None,
    };
    write_rows(&s.root.join("in/dup.parquet"), &[bad.clone(), bad]);
    let output = analyze(&s, "labels.parquet", "new-out").output().unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("duplicate prediction"),
        "{}",
        stderr(&output)
    );
    assert!(
        !s.root.join("new-out").exists(),
        "a failed run left a folder"
    );
}

/// The SQL blocks of a schema document.
fn sql_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    text.split("```sql")
        .skip(1)
        .map(|block| {
            let body = block.split_once('\n').unwrap().1;
            body[..body.find("```").unwrap()].to_string()
        })
        .collect()
}

/// Defect 8: every query documented for the analysis outputs runs in DuckDB, against a log
/// holding every kind of line (the `frame_metrics` ones broke schema inference).
#[test]
fn every_documented_query_over_the_analysis_outputs_runs() {
    let s = setup();
    let out = s.root.join("out");
    let output = analyze(&s, "labels.parquet", "out").output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let log = std::fs::read_to_string(out.join("changes.jsonl")).unwrap();
    for table in [
        "combinations",
        "additions",
        "omissions",
        "frame_metrics",
        "positions",
    ] {
        assert!(log.contains(&format!("\"table\":\"{table}\"")), "{table}");
    }
    let mut queries = 0;
    for doc in [
        "schemas/changes.md",
        "schemas/combinations.md",
        "schemas/additions.md",
        "schemas/frame_metrics.md",
        "schemas/positions.md",
    ] {
        for sql in sql_blocks(doc) {
            let result = Command::new(common::python())
                .current_dir(&out)
                .args([
                    "-c",
                    "import sys, duckdb\nfor stmt in sys.argv[1].split(';'):\n    if stmt.strip() and not all(l.strip().startswith('--') or not l.strip() for l in stmt.splitlines()): duckdb.sql(stmt).fetchall()",
                    &sql,
                ])
                .output()
                .unwrap();
            assert!(
                result.status.success(),
                "{doc}: {sql}\n{}",
                String::from_utf8_lossy(&result.stderr)
            );
            queries += 1;
        }
    }
    assert!(queries >= 5);
}
