//! The static data to be authenticated (EMV Book 3 §10.3): the records the
//! AFL marks for ODA, in AFL order, then the AIP if the SDA Tag List asks.

use super::OdaError;
use crate::tlv::{self, Tag};

/// Appends one ODA record. For SFI 1 to 10 the record must be a single
/// template 70 and only its value is hashed; for SFI 11 to 30 the record is
/// hashed exactly as read, tag and length included. `record` is the READ
/// RECORD response data without the status word.
pub fn append_record(sfi: u8, record: &[u8], out: &mut Vec<u8>) -> Result<(), OdaError> {
    match sfi {
        1..=10 => {
            let (template, rest) = tlv::parse_one(record)
                .map_err(|_| OdaError::BadStaticData("ODA record is not valid TLV"))?;
            if template.tag != Tag::new(0x70).map_err(|_| OdaError::BadStaticData("tag 70"))?
                || !rest.is_empty()
            {
                // Book 3 §10.3: such a record makes ODA fail.
                return Err(OdaError::BadStaticData(
                    "ODA record in SFI 1-10 is not exactly one template 70",
                ));
            }
            out.extend_from_slice(template.value);
        }
        11..=30 => out.extend_from_slice(record),
        _ => return Err(OdaError::BadStaticData("SFI outside 1-30")),
    }
    Ok(())
}

/// Appends the values the SDA Tag List (9F4A) names. EMV allows it to name
/// only the AIP (tag 82); anything else makes ODA fail.
pub fn append_tag_list(
    sda_tag_list: Option<&[u8]>,
    aip: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), OdaError> {
    match sda_tag_list {
        None | Some([]) => Ok(()),
        Some([0x82]) => {
            if aip.len() != 2 {
                return Err(OdaError::Missing("AIP (82) named by the SDA tag list"));
            }
            out.extend_from_slice(aip);
            Ok(())
        }
        Some(_) => Err(OdaError::BadStaticData(
            "SDA tag list (9F4A) names something other than the AIP",
        )),
    }
}

/// The whole static data: `records` as (SFI, record data) in AFL order,
/// only those the AFL counts for ODA, then the tag list's values.
pub fn build(
    records: &[(u8, &[u8])],
    sda_tag_list: Option<&[u8]>,
    aip: &[u8],
) -> Result<Vec<u8>, OdaError> {
    let mut out = Vec::new();
    for &(sfi, record) in records {
        append_record(sfi, record, &mut out)?;
    }
    append_tag_list(sda_tag_list, aip, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_sfi_hashes_value_long_sfi_hashes_all() {
        let rec = [0x70, 0x03, 0x5A, 0x01, 0x12];
        assert_eq!(
            build(&[(2, &rec)], None, &[]).unwrap(),
            vec![0x5A, 0x01, 0x12]
        );
        assert_eq!(build(&[(11, &rec)], None, &[]).unwrap(), rec.to_vec());
        assert_eq!(
            build(&[(2, &rec)], Some(&[0x82]), &[0x59, 0x80]).unwrap(),
            vec![0x5A, 0x01, 0x12, 0x59, 0x80]
        );
    }

    #[test]
    fn refuses_what_book_3_refuses() {
        let not70 = [0x77, 0x03, 0x5A, 0x01, 0x12];
        assert!(matches!(
            build(&[(1, &not70)], None, &[]),
            Err(OdaError::BadStaticData(_))
        ));
        let trailing = [0x70, 0x03, 0x5A, 0x01, 0x12, 0x00];
        assert!(matches!(
            build(&[(1, &trailing)], None, &[]),
            Err(OdaError::BadStaticData(_))
        ));
        assert!(matches!(
            build(&[(1, &[0x70])], None, &[]),
            Err(OdaError::BadStaticData(_))
        ));
        assert!(matches!(
            build(&[], Some(&[0x5A]), &[]),
            Err(OdaError::BadStaticData(_))
        ));
        assert!(matches!(
            build(&[], Some(&[0x82]), &[0x59]),
            Err(OdaError::Missing(_))
        ));
        assert!(matches!(
            build(&[(31, &[])], None, &[]),
            Err(OdaError::BadStaticData(_))
        ));
    }
}
