#[test]
fn probe() {
    for name in cardsim::Profile::builtin_names() {
        match softpos_tests::tap(name, 1500) {
            Ok(t) => println!("{name}: {:?} cvm={:?} oda={:?} reason={:?} n={}", t.outcome.kind, t.outcome.cvm, t.outcome.oda, t.outcome.reason.as_ref().map(|r| r.text().to_string()), t.exchanges.len()),
            Err(e) => println!("{name}: ERR {e}"),
        }
        match softpos_tests::tap(name, 50000) {
            Ok(t) => println!("  50000: {:?} cvm={:?} oda={:?} reason={:?}", t.outcome.kind, t.outcome.cvm, t.outcome.oda, t.outcome.reason.as_ref().map(|r| r.text().to_string())),
            Err(e) => println!("  ERR {e}"),
        }
    }
}
