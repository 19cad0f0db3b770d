//! Durations end to end against the embedded emulator: compared by length
//! whatever their spelling, and years, months or weeks refused with the
//! same length in days.

use crate::support::cli_common::{self, run as pim};

use std::path::Path;

use cli_common::text;

/// Replaces every `from` with `to` in the example's configuration files.
fn respell(dir: &Path, pairs: &[(&str, &str)]) {
    for file in ["assignments.pim.hcl", "policies.pim.hcl"] {
        let path = dir.join(file);
        let mut src = std::fs::read_to_string(&path).unwrap();
        for (from, to) in pairs {
            src = src.replace(&format!("\"{from}\""), &format!("\"{to}\""));
        }
        std::fs::write(&path, src).unwrap();
    }
}

fn assert_no_changes(dir: &Path, when: &str) {
    let out = pim(dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{when}: {}", text(&out));
    assert!(text(&out).contains("No changes."), "{when}: {}", text(&out));
}

#[test]
fn durations_compare_by_length_whatever_their_spelling() {
    let dir = cli_common::contoso("durations-length", None);
    // The emulator answers PT4H, P365D and P90D for these, as Graph does.
    respell(
        &dir,
        &[
            ("PT4H", "PT240M"),
            ("P365D", "PT8760H"),
            ("P90D", "PT2160H"),
        ],
    );
    let out = pim(&dir, &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_changes(&dir, "as applied");
    // The example's tenant has grants pim does not manage (drift of its
    // own); none of what pim applied reads as changed.
    let out = pim(&dir, &["drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("(pim applied"), "{}", text(&out));
    assert!(!text(&out).contains("outside of pim"), "{}", text(&out));

    // State recorded PT2160H and PT240M; the same lengths spelt otherwise
    // are no change either.
    let state = std::fs::read_to_string(dir.join("pim.state.json")).unwrap();
    assert!(state.contains("\"PT2160H\""), "state keeps the declaration");
    respell(
        &dir,
        &[
            ("PT240M", "PT4H"),
            ("PT8760H", "P365D"),
            ("PT2160H", "P90D"),
        ],
    );
    assert_no_changes(&dir, "respelt");

    // A state written by an earlier pim, which took months: P3M reads as
    // P90D, the length the configuration now says.
    std::fs::write(
        dir.join("pim.state.json"),
        state.replace("\"PT2160H\"", "\"P3M\""),
    )
    .unwrap();
    assert_no_changes(&dir, "months in state");

    // A different length is a change.
    respell(&dir, &[("PT2H", "PT3H")]);
    let out = pim(&dir, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("~ activation.max_duration = \"PT2H\" -> \"PT3H\""),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn years_months_and_weeks_are_refused_with_their_days() {
    let dir = cli_common::contoso("durations-calendar", None);
    respell(&dir, &[("P90D", "P3M"), ("P365D", "P1Y"), ("PT2H", "P2W")]);
    let out = pim(&dir, &["validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    for (written, days) in [("P3M", "P90D"), ("P1Y", "P365D"), ("P2W", "P14D")] {
        assert!(
            t.contains(&format!("error: \"{written}\" counts")),
            "{written}: {t}"
        );
        assert!(
            t.contains(&format!("hint: write \"{days}\"")),
            "{days}: {t}"
        );
    }
    let out = pim(
        &dir,
        &["activate", "Global Administrator", "--duration", "P1W"],
    );
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out)
            .contains("\"P1W\" counts weeks, which Graph's durations cannot hold; write \"P7D\""),
        "{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
