//! The local history on its own: created from an empty directory,
//! reopened with its rows, updated in place by tsc or QR reference,
//! searched by date, status, kind, amount and last four digits, totalled;
//! and a clear PAN never stored.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pos::history::{Filter, History, Kind, NewRecord, Status};
use pos::sync::Figures;

fn temp_dir() -> std::path::PathBuf {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).unwrap();
    std::env::temp_dir().join(format!("pos-history-{}", hex::encode(b)))
}

/// 2026-11-23 10:00 UTC plus `days`.
fn at(days: u64) -> u64 {
    1_795_428_000_000 + days * 86_400_000
}

fn figures(day: &str, amount: i64, fee: i64) -> Figures {
    Figures {
        fee_bps: 150,
        fee_minor: fee,
        net_minor: amount - fee,
        business_date: day.into(),
        settlement_date: "2026-12-31".into(),
    }
}

fn card(tsc: u32, status: Status, amount: u64, pan: &str, day: u64) -> NewRecord {
    NewRecord {
        tsc: Some(tsc),
        reference: None,
        kind: Kind::Purchase,
        channel: "online".into(),
        status,
        amount_minor: amount,
        currency: 978,
        masked_pan: Some(pan.into()),
        wallet: None,
        payment_id: Some(format!("pay_{tsc}")),
        original_payment_id: None,
        auth_code: None,
        response_code: None,
        message: String::new(),
        figures: (status == Status::Approved).then(|| {
            let a = i64::try_from(amount).unwrap();
            figures(&pos::history::date_of_ms(at(day)), a, a * 150 / 10_000)
        }),
        at_ms: at(day),
    }
}

#[test]
fn created_from_an_empty_directory_and_reopened_with_its_rows() {
    let dir = temp_dir();
    assert!(!dir.exists());
    {
        let mut h = History::open_in(&dir).unwrap();
        assert!(h.search(&Filter::default()).unwrap().is_empty());
        h.record(&card(1, Status::Approved, 1_000, "476173******0119", 0))
            .unwrap();
    }
    assert!(dir.join(pos::history::FILE).exists());
    let h = History::open_in(&dir).unwrap();
    let rows = h.search(&Filter::default()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].business_date, "2026-11-23");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn updates_in_place_and_never_stores_a_clear_pan() {
    let dir = temp_dir();
    let mut h = History::open_in(&dir).unwrap();
    let mut offline = card(5, Status::AcceptedOffline, 700, "4761739001010119", 0);
    offline.channel = "offline".into();
    offline.payment_id = None;
    let id = h.record(&offline).unwrap();
    let stored = h.by_tsc(5).unwrap().unwrap();
    assert_eq!(stored.masked_pan.as_deref(), Some("476173******0119"));
    assert_eq!((stored.fee_minor, stored.payment_id.clone()), (None, None));
    // Delivered the next day: same row, the acquirer's figures and date.
    let mut delivered = card(5, Status::Approved, 700, "476173******0119", 1);
    delivered.channel = "offline".into();
    assert_eq!(h.record(&delivered).unwrap(), id);
    let r = h.by_id(id).unwrap().unwrap();
    assert_eq!(r.status, Status::Approved);
    assert_eq!(r.business_date, "2026-11-24");
    assert_eq!(r.fee_minor, Some(10));
    assert_eq!(h.search(&Filter::default()).unwrap().len(), 1);

    // A QR payment keyed by its order reference, updated when it completes.
    let qr = NewRecord {
        tsc: None,
        reference: Some("qr_order_1".into()),
        kind: Kind::Qr,
        channel: "qr".into(),
        status: Status::AcceptedOffline,
        amount_minor: 880,
        currency: 978,
        masked_pan: None,
        wallet: Some("Alipay".into()),
        payment_id: None,
        original_payment_id: None,
        auth_code: None,
        response_code: None,
        message: "waiting for the customer".into(),
        figures: None,
        at_ms: at(0),
    };
    let qid = h.record(&qr).unwrap();
    let done = NewRecord {
        status: Status::Approved,
        payment_id: Some("pay_qr".into()),
        figures: Some(figures("2026-11-23", 880, 13)),
        ..qr.clone()
    };
    assert_eq!(h.record(&done).unwrap(), qid);
    let q = h.by_id(qid).unwrap().unwrap();
    assert_eq!(
        (q.status, q.payer()),
        (Status::Approved, "Alipay".to_string())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn search_by_date_status_kind_amount_and_last4() {
    let dir = temp_dir();
    let mut h = History::open_in(&dir).unwrap();
    h.record(&card(1, Status::Approved, 1_000, "476173******0119", 0))
        .unwrap();
    h.record(&card(2, Status::Declined, 2_000, "476173******0119", 0))
        .unwrap();
    h.record(&card(3, Status::Approved, 3_000, "541333******0434", 1))
        .unwrap();
    h.record(&card(4, Status::Reversed, 4_000, "541333******0434", 2))
        .unwrap();
    let refund = NewRecord {
        kind: Kind::Refund,
        original_payment_id: Some("pay_3".into()),
        figures: Some(Figures {
            net_minor: -500,
            fee_minor: 0,
            ..figures("2026-11-24", 0, 0)
        }),
        ..card(5, Status::Approved, 500, "541333******0434", 1)
    };
    h.record(&refund).unwrap();
    let tscs = |f: Filter| -> Vec<u32> {
        h.search(&f)
            .unwrap()
            .iter()
            .map(|r| r.tsc.unwrap())
            .collect()
    };
    assert_eq!(
        tscs(Filter {
            from: Some("2026-11-24".into()),
            ..Filter::default()
        }),
        vec![3, 5, 4]
    );
    assert_eq!(
        tscs(Filter {
            from: Some("2026-11-24".into()),
            to: Some("2026-11-24".into()),
            ..Filter::default()
        }),
        vec![3, 5]
    );
    assert_eq!(
        tscs(Filter {
            status: Some(Status::Approved),
            ..Filter::default()
        }),
        vec![1, 3, 5]
    );
    assert_eq!(
        tscs(Filter {
            kind: Some(Kind::Refund),
            ..Filter::default()
        }),
        vec![5]
    );
    assert_eq!(
        tscs(Filter {
            min_amount_minor: Some(2_000),
            max_amount_minor: Some(3_000),
            ..Filter::default()
        }),
        vec![2, 3]
    );
    assert_eq!(
        tscs(Filter {
            last4: Some("0119".into()),
            ..Filter::default()
        }),
        vec![1, 2]
    );
    assert!(tscs(Filter {
        last4: Some("9999".into()),
        ..Filter::default()
    })
    .is_empty());
    assert!(h
        .search(&Filter {
            last4: Some("11".into()),
            ..Filter::default()
        })
        .is_err());
    assert!(h
        .search(&Filter {
            from: Some("24.11.2026".into()),
            ..Filter::default()
        })
        .is_err());
    assert_eq!(h.by_tsc(3).unwrap().unwrap().refunded_minor, 500);

    // Totals: approved purchases minus refunds; declines and reversals
    // are counted but not settled.
    let t = h.totals("2026-11-24").unwrap();
    assert_eq!(
        (t.settled_count, t.gross_minor, t.fees_minor, t.net_minor),
        (2, 2_500, 45, 2_455)
    );
    let t = h.totals("2026-11-23").unwrap();
    assert_eq!((t.settled_count, t.gross_minor), (1, 1_000));
    assert_eq!(t.groups.len(), 2, "{:?}", t.groups);
    assert!(h.totals("yesterday").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}
