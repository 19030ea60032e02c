#![no_main]
//! The kernel fed arbitrary card answers: it must end every transaction in
//! an outcome, without panicking and within a bounded number of commands.

use kernel::testing::{example_config, example_inputs};
use kernel::{oda::CaKeyStore, ResponseApdu, Step, Transaction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input is a sequence of answers, each prefixed by its length as
    // two big-endian bytes (seeds: fuzz/seeds/kernel_responses/, made
    // from the recorded sessions by scripts/fuzz-seeds.py).
    let Ok((mut tx, mut step)) =
        Transaction::start(example_config(CaKeyStore::test()), example_inputs(1500))
    else {
        return;
    };
    let mut rest = data;
    let mut exchanges = 0u32;
    while let Step::Transmit(_) = step {
        exchanges += 1;
        assert!(exchanges < 500, "kernel did not end");
        let [hi, lo, tail @ ..] = rest else {
            let _ = tx.card_removed();
            return;
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (answer, tail) = tail.split_at(len);
        rest = tail;
        let Ok(r) = ResponseApdu::parse(answer) else {
            let _ = tx.card_removed();
            return;
        };
        step = tx.handle(r).expect("the kernel refused a card answer as caller misuse");
    }
});
