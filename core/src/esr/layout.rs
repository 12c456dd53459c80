//! The byte layout of ESR interface files, in one place.
//!
//! ASSUMPTION, to be confirmed against ESR's (non-public) interface specification before go-live:
//! the layout below follows what is known of the files (a header, one record per applicant or
//! notification, a trailer with the count) but the exact record types, field order and
//! encodings have not been checked against the specification.
//!
//! - Text, UTF-8, one record per line, lines ending in LF.
//! - Fields separated by `|`; a `|`, CR or LF inside a value becomes a space.
//! - Dates as `yyyyMMdd`; missing values are empty fields.
//! - Header: `HDR|<APP or DNC>|<deanery>|<run date>|<8-digit sequence>`
//! - Applicant (APP files): `APL|` + the applicant fields in `APPLICANT_FIELDS` order.
//! - Notification (DNC files): `NTF|<type>|<placement id>|` + the fields in `NOTIFICATION_FIELDS` order.
//! - Trailer: `TRL|<number of records>`

use chrono::NaiveDate;
use serde_json::Value;

use super::Kind;

/// Applicant fields, in file order (esr-export.md "Records").
pub const APPLICANT_FIELDS: &[&str] = &[
    "effectiveDate",
    "lastName",
    "firstName",
    "middleNames",
    "title",
    "dob",
    "gender",
    "address",
    "homeTel",
    "mobileTel",
    "nationality",
    "nationalTrainingNumber",
    "gmcNumber",
    "positionId",
    "positionNumber",
    "projectedHireDate",
    "projectedEndDate",
];

/// Notification fields, in file order.
pub const NOTIFICATION_FIELDS: &[&str] = &[
    "effectiveDate",
    "lastName",
    "firstName",
    "gmcNumber",
    "positionId",
    "positionNumber",
    "projectedHireDate",
    "projectedEndDate",
    "reason",
];

const ADDRESS_PARTS: &[&str] = &["line1", "line2", "line3", "line4", "town", "county", "postcode"];

const DATE_FIELDS: &[&str] = &["effectiveDate", "dob", "projectedHireDate", "projectedEndDate"];

/// One record to write: for applicants the applicant JSON; for notifications the type, the
/// placement and the notification JSON.
pub enum Line<'a> {
    Applicant(&'a Value),
    Notification { notification_type: i32, placement_id: i64, fields: &'a Value },
}

/// `DE_<DEANERY>_APP_<yyyyMMdd>_<8-digit sequence>.DAT` (notifications: `_DNC_`).
pub fn file_name(kind: Kind, deanery: &str, date: NaiveDate, sequence: i64) -> String {
    format!("DE_{deanery}_{}_{}_{sequence:08}.DAT", kind.file_code(), date.format("%Y%m%d"))
}

pub fn render(kind: Kind, deanery: &str, date: NaiveDate, sequence: i64, lines: &[Line<'_>]) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(&format!("HDR|{}|{deanery}|{}|{sequence:08}\n", kind.file_code(), date.format("%Y%m%d")));
    for line in lines {
        match line {
            Line::Applicant(applicant) => {
                out.push_str("APL");
                push_fields(&mut out, applicant, APPLICANT_FIELDS);
            }
            Line::Notification { notification_type, placement_id, fields } => {
                out.push_str(&format!("NTF|{notification_type}|{placement_id}"));
                push_fields(&mut out, fields, NOTIFICATION_FIELDS);
            }
        }
        out.push('\n');
    }
    out.push_str(&format!("TRL|{}\n", lines.len()));
    out.into_bytes()
}

fn push_fields(out: &mut String, values: &Value, fields: &[&str]) {
    for field in fields {
        out.push('|');
        out.push_str(&field_text(field, &values[*field]));
    }
}

fn field_text(field: &str, value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // An address given as lines (object or array) is written on one line.
        Value::Array(items) => {
            items.iter().map(|v| field_text("", v)).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
        }
        Value::Object(map) => {
            // Address parts in postal order; any other key after them, by name.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|k| (ADDRESS_PARTS.iter().position(|p| p == k).unwrap_or(usize::MAX), k.as_str()));
            keys.iter().map(|k| field_text("", &map[*k])).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", ")
        }
    };
    let text = if DATE_FIELDS.contains(&field) {
        NaiveDate::parse_from_str(&text, "%Y-%m-%d").map(|d| d.format("%Y%m%d").to_string()).unwrap_or(text)
    } else {
        text
    };
    text.replace(['|', '\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2021, 8, 4).unwrap()
    }

    #[test]
    fn file_names_follow_the_interface_convention() {
        assert_eq!(file_name(Kind::App, "LDN", date(), 123), "DE_LDN_APP_20210804_00000123.DAT");
        assert_eq!(file_name(Kind::Notification, "MER", date(), 7), "DE_MER_DNC_20210804_00000007.DAT");
    }

    #[test]
    fn an_app_file_matches_the_golden_file() {
        let first = json!({
            "effectiveDate": "2021-08-04", "lastName": "Smith", "firstName": "Anna", "middleNames": "Maria",
            "title": "Dr", "dob": "1990-02-03", "gender": "F",
            "address": {"line1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"},
            "homeTel": "0113 000 0000", "mobileTel": null, "nationality": "British",
            "nationalTrainingNumber": "LDN/123/456", "gmcNumber": "7654321", "positionId": 991,
            "positionNumber": "LDN/RX1/001", "projectedHireDate": "2021-08-06", "projectedEndDate": "2022-08-05"
        });
        let second = json!({
            "effectiveDate": "2021-08-04", "lastName": "O'Neil | Jones", "firstName": "Sam\nJo",
            "positionId": 992, "positionNumber": "LDN/RX1/002", "projectedHireDate": "2021-09-01"
        });
        let bytes = render(Kind::App, "LDN", date(), 123, &[Line::Applicant(&first), Line::Applicant(&second)]);
        assert_eq!(String::from_utf8(bytes).unwrap(), include_str!("testdata/DE_LDN_APP_20210804_00000123.DAT"));
    }

    #[test]
    fn a_notification_file_matches_the_golden_file() {
        let withdrawal = json!({"effectiveDate": "2021-08-10", "lastName": "Brown", "firstName": "Bob",
            "gmcNumber": "1234567", "positionNumber": "MER/X/9", "reason": "Withdrawn"});
        let bytes = render(
            Kind::Notification,
            "MER",
            date(),
            7,
            &[Line::Notification { notification_type: 2, placement_id: 555, fields: &withdrawal }],
        );
        assert_eq!(String::from_utf8(bytes).unwrap(), include_str!("testdata/DE_MER_DNC_20210804_00000007.DAT"));
    }

    #[test]
    fn an_empty_file_is_a_header_and_a_trailer() {
        let bytes = render(Kind::App, "SEV", date(), 1, &[]);
        assert_eq!(String::from_utf8(bytes).unwrap(), "HDR|APP|SEV|20210804|00000001\nTRL|0\n");
    }
}
