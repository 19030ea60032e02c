//! No sequence of card answers may panic the kernel or make it loop: every
//! run ends in an outcome within a bounded number of exchanges.

use kernel::testing::{example_config, example_inputs};
use kernel::{oda::CaKeyStore, ResponseApdu, Step, Transaction};
use proptest::prelude::*;

/// Answers that look like a card's: status words that steer the kernel
/// (61xx, 6Cxx, 9000, errors) with TLV-ish bodies.
fn answer() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        // Templates the kernel expects, with random content.
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(|v| {
            let mut out = vec![0x6F, u8::try_from(v.len()).unwrap_or(u8::MAX)];
            out.extend(v);
            out
        }),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(|v| {
            let mut out = vec![0x77, u8::try_from(v.len()).unwrap_or(u8::MAX)];
            out.extend(v);
            out
        }),
        proptest::collection::vec(any::<u8>(), 0..60).prop_map(|v| {
            let mut out = vec![0x70, u8::try_from(v.len()).unwrap_or(u8::MAX)];
            out.extend(v);
            out
        }),
    ];
    let sw = prop_oneof![
        Just([0x90, 0x00]),
        Just([0x61, 0x10]),
        Just([0x6C, 0x05]),
        Just([0x6A, 0x82]),
        Just([0x69, 0x85]),
        any::<[u8; 2]>(),
    ];
    (body, sw).prop_map(|(mut b, sw)| {
        b.extend_from_slice(&sw);
        b
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn no_answer_sequence_panics(answers in proptest::collection::vec(answer(), 0..40), amount in 0u64..1_000_000) {
        let (mut tx, mut step) = Transaction::start(example_config(CaKeyStore::test()), example_inputs(amount)).unwrap();
        let mut answers = answers.into_iter();
        let mut exchanges = 0;
        loop {
            match step {
                Step::Done(_) => break,
                Step::Transmit(_) => {
                    exchanges += 1;
                    prop_assert!(exchanges < 200, "the kernel did not end");
                    let Some(raw) = answers.next() else {
                        let _ = tx.card_removed();
                        break;
                    };
                    let r = ResponseApdu::parse(&raw).unwrap();
                    step = tx.handle(r).unwrap();
                }
            }
        }
    }
}
