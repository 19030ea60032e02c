//! The `softpos` binary as a user runs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn softpos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_softpos"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("softpos-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn testdata(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../session/testdata")
        .join(p)
        .to_string_lossy()
        .into_owned()
}

const PAN: &str = "5413330089010434";

#[test]
fn cards_lists_builtin_profiles() {
    let o = softpos(&["cards"]);
    assert!(o.status.success());
    let t = text(&o);
    assert!(t.contains("visa-cvn18"));
    assert!(t.contains("mastercard-cvn16"));
}

#[test]
fn tap_prints_outcome_and_masked_trace() {
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--amount",
        "2500",
        "--currency",
        "CNY",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    for want in [
        "Outcome",
        "CVM",
        "ODA",
        "Data record",
        "Trace",
        "GENERATE AC",
        "25.00 CNY",
        "541333******0434",
    ] {
        assert!(t.contains(want), "missing {want}: {t}");
    }
    assert!(!t.contains(PAN), "clear PAN printed");
    assert!(!t.contains("33008901"));
}

#[test]
fn tap_json_has_the_same_facts_without_the_pan() {
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--currency",
        "978",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["currency"], "EUR");
    assert!(v["outcome"]["kind"].is_string());
    assert!(v["outcome"]["data_record"].is_object());
    assert!(v["trace"].as_array().unwrap().len() >= 4);
    assert!(!text(&o).contains(PAN));
}

#[test]
fn record_then_replay_passes_and_masks_unless_asked() {
    let kept = tmp("kept.session.json");
    let masked = tmp("masked.session.json");
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--record",
        kept.to_str().unwrap(),
        "--keep-test-pan",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--record",
        masked.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--keep-test-pan"), "hint shown");
    assert!(std::fs::read_to_string(&kept).unwrap().contains(PAN));
    assert!(!std::fs::read_to_string(&masked).unwrap().contains(PAN));

    let o = softpos(&["replay", kept.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert_eq!(t.lines().last(), Some("1 passed, 0 failed"));
}

#[test]
fn replay_reports_divergence_and_exits_non_zero() {
    let good = tmp("good.session.json");
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--record",
        good.to_str().unwrap(),
        "--keep-test-pan",
    ]);
    assert!(o.status.success());
    let dir = tmp("corpus");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::copy(&good, dir.join("a.session.json")).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&good).unwrap()).unwrap();
    v["transaction"]["unpredictable_numbers"][0] = "00000000".into();
    std::fs::write(dir.join("sub/b.session.json"), v.to_string()).unwrap();
    std::fs::write(dir.join("sub/ignored.json"), "{}").unwrap();
    std::fs::write(dir.join("c.session.json"), "{ not json").unwrap();

    let o = softpos(&["replay", dir.to_str().unwrap()]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].contains("a.session.json: PASS"), "{t}");
    assert!(
        lines[1].contains("c.session.json: FAIL invalid session"),
        "{t}"
    );
    assert!(
        lines[2].contains("b.session.json: FAIL divergence at exchange #"),
        "{t}"
    );
    assert!(lines[2].contains("9F37 Unpredictable Number"), "{t}");
    assert_eq!(lines[3], "1 passed, 2 failed");
}

#[test]
fn replay_of_nothing_is_an_error() {
    let empty = tmp("empty-dir");
    std::fs::create_dir_all(&empty).unwrap();
    let o = softpos(&["replay", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no *.session.json"));
    let o = softpos(&["replay", "/nonexistent/x.session.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("cannot read"));
}

#[test]
fn import_writes_a_session_or_explains() {
    let out = tmp("amex.session.json");
    let o = softpos(&[
        "session",
        "import",
        "--from",
        "binaryfoo",
        &testdata("binaryfoo/amex-cda-in.txt"),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("softpos-card-session/1"));
    let o = softpos(&["replay", out.to_str().unwrap()]);
    assert!(text(&o).lines().last().unwrap().ends_with("failed"));

    let out2 = tmp("locked.session.json");
    let o = softpos(&[
        "session",
        "import",
        "--from",
        "devnied",
        &testdata("devnied/LockedCard"),
        "-o",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("cannot be made replayable"),
        "{}",
        text(&o)
    );
    assert!(!out2.exists(), "no file on failure");
}

#[test]
fn bad_arguments_are_clear_errors() {
    let o = softpos(&["tap", "--card", "no-such-card"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("softpos cards"), "{}", text(&o));
    let o = softpos(&["tap", "--currency", "XXX"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--currency"));
    let o = softpos(&["tap", "--amount", "1000000000000"]);
    assert_eq!(o.status.code(), Some(2));
    let o = softpos(&["session", "import", "--from", "nope", "x", "-o", "y"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!text(&o).contains("panicked"));
}

#[test]
fn session_trace_decodes_without_the_pan() {
    let kept = tmp("trace.session.json");
    let o = softpos(&[
        "tap",
        "--card",
        "mastercard-cvn16",
        "--record",
        kept.to_str().unwrap(),
        "--keep-test-pan",
    ]);
    assert!(o.status.success());
    let o = softpos(&["session", "trace", kept.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("READ RECORD SFI"), "{t}");
    assert!(t.contains("541333******0434"), "{t}");
    assert!(
        !t.contains(PAN),
        "the recording keeps it, the trace never shows it"
    );
    let o = softpos(&["session", "trace", kept.to_str().unwrap(), "--json"]);
    assert!(!text(&o).contains(PAN));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 5);
}
