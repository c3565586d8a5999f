//! The architectures against the paper's appendix Tables 1-3, row by row: layer type, output
//! dimensions (with kernel / window) and parameter count. `tests/golden/paper_tables.txt` is
//! the three tables as they appear in the paper's text (one `Input` row starts each table).

mod common;

use entangle::model::{aunet, convnet, parameter_count, small_convnet, summarize};

/// (first word of the layer type, dimensions, parameters) per paper row.
fn paper_tables() -> Vec<Vec<(String, String, usize)>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/paper_tables.txt"
    ))
    .unwrap();
    let is_dims = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_digit() || c == 'x' || c == '@')
    };
    let mut tables: Vec<Vec<(String, String, usize)>> = Vec::new();
    let is_table_row = |l: &&str| !l.trim().is_empty() && !l.starts_with('#');
    for line in text.lines().filter(is_table_row) {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let n = tokens.len();
        let (dims, params) = if n >= 3
            && tokens[n - 1].chars().all(|c| c.is_ascii_digit())
            && is_dims(tokens[n - 2])
        {
            (tokens[n - 2], tokens[n - 1].parse().unwrap())
        } else {
            (tokens[n - 1], 0)
        };
        let kind = tokens[0].trim_end_matches(',').to_string();
        if kind == "Input" {
            tables.push(Vec::new());
        }
        tables
            .last_mut()
            .unwrap()
            .push((kind, dims.to_string(), params));
    }
    tables
}

fn ours(arch: &entangle::model::Architecture) -> Vec<(String, String, usize)> {
    summarize(arch)
        .unwrap()
        .into_iter()
        .map(|r| {
            let dims = match r.window {
                Some((h, w)) => format!("{}@{h}x{w}", r.output),
                None => r.output.to_string(),
            };
            (
                r.kind.split([' ', ',']).next().unwrap().to_string(),
                dims,
                r.params,
            )
        })
        .collect()
}

#[test]
fn every_row_matches_the_papers_tables() {
    let tables = paper_tables();
    assert_eq!(tables.len(), 3);
    for (arch, paper) in [
        (convnet(88), &tables[0]),
        (small_convnet(23), &tables[1]),
        (aunet(88), &tables[2]),
    ] {
        let ours = ours(&arch);
        assert_eq!(ours.len(), paper.len(), "{}: number of rows", arch.name);
        for (i, (a, b)) in ours.iter().zip(paper).enumerate() {
            assert_eq!(a, b, "{} row {i}", arch.name);
        }
    }
}

#[test]
fn parameter_totals_are_the_papers() {
    assert_eq!(parameter_count(&convnet(88)).unwrap(), 1_877_880);
    assert_eq!(parameter_count(&small_convnet(23)).unwrap(), 5_327);
    assert_eq!(parameter_count(&aunet(88)).unwrap(), 964_673);
    // Output size is a parameter: SmallConvNet for the piano has 65 more output units.
    assert_eq!(
        parameter_count(&small_convnet(88)).unwrap(),
        5_327 + 65 * 17
    );
}

#[test]
fn the_summary_command_prints_the_table() {
    let out = common::entangle_command()
        .args(["model", "summary", "smallconvnet", "--outputs", "23"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("Conv (Id)")
            && l.contains(" 8x1x53@1x3 ")
            && l.ends_with(" 192")),
        "{text}"
    );
    assert!(text.trim_end().ends_with("5,327"), "{text}");
    let bad = common::entangle_command()
        .args(["model", "summary", "resnet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{stderr}");
    assert!(
        stderr.contains("'resnet'") && stderr.contains("convnet, smallconvnet, aunet"),
        "{stderr}"
    );
}
