//! The README's Results against the runs they come from: every test P / R / F, interval
//! count, isolated-note count and shared / unshared exact proportion quoted in a Results
//! section must be the one in that run's `report.md` (committed in
//! `pipelines/results/NAME/`, generated from the run's tables). A README edited by hand, or a
//! rerun whose numbers were not carried over, fails here. The same holds for the coverage sweep
//! and the remedies of "Beyond the paper".

use std::collections::BTreeMap;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The README section `### {title}...` up to the next heading, without emphasis marks.
fn readme_section(title: &str) -> String {
    let readme = read("README.md");
    let start = readme
        .find(&format!("### {title}"))
        .unwrap_or_else(|| panic!("README has no section {title}"));
    let rest = &readme[start + 4..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    rest[..end].replace("**", "")
}

/// `value` (as the report prints it, 4 decimals) at `decimals`, either way the rounding of
/// the unrounded table value can go.
fn roundings(value: f64, decimals: usize) -> Vec<String> {
    [-0.00005, 0.0, 0.00005]
        .iter()
        .map(|d| format!("{:.*}", decimals, value + d))
        .collect()
}

/// Test-split (P, R, F) per network of a report's framewise metrics table.
fn test_prf(report: &str) -> BTreeMap<String, [f64; 3]> {
    report
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|c| c.len() > 8 && c[2] == "test")
        .map(|c| {
            let f = |i: usize| c[i].parse::<f64>().unwrap();
            (c[1].to_string(), [f(6), f(7), f(8)])
        })
        .collect()
}

/// Per network of a report's findings: the lines under its `**name**` heading.
fn findings(report: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let section = report.split("## Findings").nth(1).unwrap_or_default();
    for block in section.split("\n**").skip(1) {
        if let Some((name, body)) = block.split_once("**") {
            // The third-party systems the pipelines name are checked by their Systems rows
            // (`systems_numbers_are_the_runs`), not as networks.
            if ["basic-pitch", "adsr-cnn"].contains(&name) {
                continue;
            }
            out.insert(name.to_string(), body.to_string());
        }
    }
    out
}

/// The numbers in `line` after `prefix`, up to `of`: "Intervals: 228 / 173 / 140 of" ->
/// [228, 173, 140].
fn counts_after(text: &str, prefix: &str) -> Vec<u64> {
    let line = text
        .lines()
        .find(|l| l.contains(prefix))
        .unwrap_or_default();
    let after = line.split(prefix).nth(1).unwrap_or_default();
    after
        .split(" of ")
        .next()
        .unwrap_or_default()
        .split('/')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

fn assert_quoted(section: &str, what: &str, choices: &[String]) {
    assert!(
        choices.iter().any(|c| section.contains(c.as_str())),
        "README quotes none of {choices:?} for {what}"
    );
}

/// Every network's test P / R / F, at the README's precision.
fn check_prf(title: &str, run: &str, decimals: usize) {
    let section = readme_section(title);
    let report = read(&format!("pipelines/results/{run}/report.md"));
    let prf = test_prf(&report);
    assert!(!prf.is_empty(), "{run}: no test rows in report.md");
    for (network, [p, r, f]) in prf {
        let mut choices = Vec::new();
        for p in roundings(p, decimals) {
            for r in roundings(r, decimals) {
                for f in roundings(f, decimals) {
                    choices.push(format!("{p} / {r} / {f}"));
                }
            }
        }
        choices.sort();
        choices.dedup();
        assert_quoted(
            &section,
            &format!("{run} {network} test P / R / F"),
            &choices,
        );
    }
}

/// Per seed instance `family-sN`, in seed order, what `extract` reads from its findings,
/// joined as the README writes them ("228 / 238 / 235").
fn seeds_joined(report: &str, family: &str, extract: impl Fn(&str) -> String) -> String {
    let findings = findings(report);
    (0..)
        .map(|s| format!("{family}-s{s}"))
        .take_while(|n| findings.contains_key(n))
        .map(|n| extract(&findings[&n]))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Per seed instance, the counts of `prefix` at `index` ("Intervals: 228 / 173 / 140 of").
fn per_seed(report: &str, family: &str, prefix: &str, index: usize) -> String {
    seeds_joined(report, family, |body| {
        counts_after(body, prefix)[index].to_string()
    })
}

#[test]
fn fluid_combi_numbers_are_the_runs() {
    check_prf("FLUID-COMBI", "fluid-combi", 2);
    let section = readme_section("FLUID-COMBI");
    let report = read("pipelines/results/fluid-combi/report.md");
    for family in ["smallconvnet", "convnet"] {
        let notes = per_seed(&report, family, "Isolated notes: ", 0);
        assert_quoted(&section, family, &[format!("{notes} of 23")]);
    }
}

#[test]
fn fluid_isol_numbers_are_the_runs() {
    check_prf("FLUID-ISOL", "fluid-isol", 2);
    let section = readme_section("FLUID-ISOL");
    let report = read("pipelines/results/fluid-isol/report.md");
    for family in ["smallconvnet", "convnet"] {
        for (threshold, index) in [("| >= 50 % |", 0), ("| >= 90 % |", 1), ("| >= 99 % of", 2)] {
            let counts = per_seed(&report, family, "Intervals: ", index);
            let row = section
                .lines()
                .find(|l| l.contains(threshold))
                .unwrap_or_else(|| panic!("no README row for {threshold}"));
            assert!(
                row.contains(&counts),
                "{family} {threshold}: {counts} not in {row}"
            );
        }
    }
}

#[test]
fn synth_mus_numbers_are_the_runs() {
    check_prf("SYNTH-MUS", "synth-mus", 3);
    let section = readme_section("SYNTH-MUS");
    let report = read("pipelines/results/synth-mus/report.md");
    for (network, body) in findings(&report) {
        let line = body
            .lines()
            .find(|l| l.contains("Exact proportion"))
            .unwrap();
        for kind in ["shared combinations ", "unshared "] {
            let value: f64 = line.split(kind).nth(1).unwrap()[..5].parse().unwrap();
            assert_quoted(
                &section,
                &format!("{network} {kind}exact proportion"),
                &[format!("{value:.3}")],
            );
        }
    }
}

/// The systems' test P / R / F in README "Systems people use" are the Systems rows of the
/// pipelines' reports (`entangle run pipelines/systems.toml`), at 2 decimals.
#[test]
fn systems_numbers_are_the_runs() {
    let section = readme_section("Systems people use");
    for run in ["fluid-combi", "fluid-isol", "synth-mus"] {
        let report = read(&format!("pipelines/results/{run}/report.md"));
        let systems = report
            .split("## Systems")
            .nth(1)
            .unwrap_or_else(|| panic!("{run}: the report has no Systems section"));
        let mut rows = 0;
        for line in systems.lines().take_while(|l| !l.starts_with("## ")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | system | time base | shards | frames | P | R | F | ...
            let Some(p) = cells.get(5).and_then(|c| c.parse::<f64>().ok()) else {
                continue;
            };
            let (r, f): (f64, f64) = (cells[6].parse().unwrap(), cells[7].parse().unwrap());
            let quoted = roundings(p, 2).into_iter().any(|p| {
                roundings(r, 2).into_iter().any(|r| {
                    roundings(f, 2)
                        .into_iter()
                        .any(|f| section.contains(&format!("{p} / {r} / {f}")))
                })
            });
            assert!(
                quoted,
                "{run}: {} P/R/F {p} / {r} / {f} not in the README",
                cells[1]
            );
            rows += 1;
        }
        assert_eq!(rows, 2, "{run}: two systems");
    }
}

/// The README's coverage table: row label -> cells by coverage percent (header "10 % (18)").
fn coverage_table(section: &str) -> BTreeMap<String, BTreeMap<u32, String>> {
    let rows: Vec<Vec<&str>> = section
        .lines()
        .filter(|l| l.starts_with("| "))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    let header = &rows[0];
    let coverage: Vec<Option<u32>> = header
        .iter()
        .map(|c| c.split(' ').next().and_then(|n| n.parse().ok()))
        .collect();
    rows[1..]
        .iter()
        .map(|row| {
            let cells = row
                .iter()
                .zip(&coverage)
                .filter_map(|(cell, k)| k.map(|k| (k, cell.to_string())))
                .collect();
            (row[1].to_string(), cells)
        })
        .collect()
}

/// The README row of `network` ("ConvNet", "SmallConvNet") whose label `pick` accepts.
fn coverage_row<'a>(
    table: &'a BTreeMap<String, BTreeMap<u32, String>>,
    network: &str,
    pick: fn(&str) -> bool,
) -> &'a BTreeMap<u32, String> {
    let rows: Vec<_> = table
        .iter()
        .filter(|(label, _)| label.starts_with(&format!("{network},")) && pick(label))
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "README coverage table: {network} rows {rows:?}"
    );
    rows[0].1
}

fn unseen(label: &str) -> bool {
    label.contains("unseen")
}

fn seen(label: &str) -> bool {
    label.contains("seen") && !label.contains("unseen")
}

fn validation_f(label: &str) -> bool {
    label.contains("validation F")
}

/// Every cell of the coverage sweep's report (mean [min, max] over seeds, unseen and seen
/// intervals, per network and coverage) is the README table's cell in the same row and
/// column, and the SmallConvNet's validation F per seed is each coverage's run report's.
#[test]
fn coverage_sweep_numbers_are_the_run() {
    let table = coverage_table(&readme_section("Coverage sweep"));
    let report = read("pipelines/results/coverage-sweep-seeds/report.md");
    let mut checked = 0;
    for line in report.lines().filter(|l| l.starts_with("| ")) {
        let c: Vec<&str> = line.split('|').map(str::trim).collect();
        // | network | coverage % | seeds | unseen exact | seen exact | ...
        let Ok(coverage) = c[2].parse::<u32>() else {
            continue;
        };
        let network = match c[1] {
            "convnet" => "ConvNet",
            "smallconvnet" => "SmallConvNet",
            other => panic!("unexpected network {other}"),
        };
        for (pick, what, cell) in [
            (unseen as fn(&str) -> bool, "unseen", c[4]),
            (seen, "seen", c[5]),
        ] {
            let row = coverage_row(&table, network, pick);
            let quoted = row.get(&coverage).map(String::as_str).unwrap_or("");
            let expected = if cell == "n/a" { "" } else { cell };
            assert_eq!(quoted, expected, "{network} {what} at {coverage} %");
            checked += 1;
        }
    }
    assert_eq!(checked, 20, "2 networks x 5 coverages x (unseen, seen)");
    let validation = coverage_row(&table, "SmallConvNet", validation_f);
    for (coverage, cell) in validation {
        let run = read(&format!(
            "pipelines/results/coverage-sweep-seeds/coverage-{coverage}.md"
        ));
        let quoted: Vec<&str> = cell.split(" / ").collect();
        let seeds: Vec<f64> = (0..3)
            .map(|s| {
                let row = run
                    .lines()
                    .find(|l| l.starts_with(&format!("| smallconvnet-s{s} | validation |")))
                    .unwrap_or_else(|| panic!("coverage {coverage}: no validation row of s{s}"));
                row.split('|')
                    .map(str::trim)
                    .nth(8)
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(quoted.len(), 3, "{cell}");
        for (q, f) in quoted.iter().zip(seeds) {
            assert!(
                roundings(f, 2).iter().any(|r| r == q),
                "SmallConvNet validation F at {coverage} %: README {q}, run {f}"
            );
        }
    }
    assert_eq!(validation.len(), 5);
}

/// README "The paper's remedy": every remedy network's test P / R / F, and per network with
/// seeds its exact proportion on the unseen intervals and its counts of intervals exact in at
/// least half their frames and with a note omitted in at least half, seed by seed.
#[test]
fn remedies_numbers_are_the_run() {
    check_prf("The paper's remedy", "remedies-fluid-isol", 2);
    let section = readme_section("The paper's remedy");
    let report = read("pipelines/results/remedies-fluid-isol/report.md");
    let families = [
        "convnet",
        "convnet-mixtrain01",
        "convnet-mixtrain1",
        "convnet-mixtrain10",
    ];
    for family in families {
        // "... unshared 0.176 (25300 frames)" and "...; 47 are transcribed exactly ...".
        let exact = seeds_joined(&report, family, |body| {
            let after = body.split("unshared ").nth(1).unwrap_or_default();
            after.split(' ').next().unwrap_or_default().to_string()
        });
        let omitted = per_seed(&report, family, "Intervals: ", 0);
        let exact_half = seeds_joined(&report, family, |body| {
            let before = body.split(" are transcribed exactly").next();
            let last = before.unwrap_or_default().rsplit(' ').next();
            last.unwrap_or_default().to_string()
        });
        for (what, quoted) in [
            ("exact", exact),
            ("omitted", omitted),
            ("exact in half", exact_half),
        ] {
            assert!(
                quoted.matches(" / ").count() == 2,
                "{family}: three seeds expected for {what}, got {quoted:?}"
            );
            assert!(
                section.contains(&format!("| {quoted} |")),
                "{family} {what}: README quotes no cell {quoted:?}"
            );
        }
    }
}
