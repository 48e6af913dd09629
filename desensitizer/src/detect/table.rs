//! Tables pasted into a prompt (comma-, semicolon-, tab- or pipe-separated, a header row
//! first): the header says what a column holds, so a `first_name` or `ship_city` cell is a
//! name or a place whatever its words are (`1041;Aleksandra;Kowalska;1984-02-19`), where
//! the word lists and the model see a row of bare values without context.

use netgpt_crds::workflow::EntityType;

use super::{Detection, priority};

/// Separators a header row may use, tried in this order.
const SEPARATORS: &[char] = &['\t', ';', '|', ','];

/// Rows read after a header before a row of another width ends the table.
const MAX_ROWS: usize = 10_000;

/// What a column holds, from its header (lower case, spaces and hyphens as `_`).
fn column_kind(header: &str) -> Option<EntityType> {
    let name: String = header
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`' || c == '*')
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect();
    let kind = match name.as_str() {
        "name" | "full_name" | "fullname" | "first_name" | "firstname" | "given_name" | "last_name" | "lastname"
        | "surname" | "family_name" | "customer" | "customer_name" | "client" | "client_name" | "contact"
        | "contact_name" | "employee" | "employee_name" | "patient" | "patient_name" | "recipient" | "owner"
        | "holder" | "account_holder" | "passenger" | "guest" | "student" | "member" | "tenant" | "nombre"
        | "apellido" | "apellidos" | "vorname" | "nachname" | "nom" | "prénom" | "prenom" | "cognome" | "姓名" => {
            EntityType::Person
        }
        "city" | "town" | "ship_city" | "billing_city" | "shipping_city" | "country" | "state" | "region"
        | "province" | "county" | "suburb" | "district" | "hometown" | "birthplace" | "place_of_birth" | "locality"
        | "ciudad" | "stadt" | "ort" | "ville" | "città" | "城市" => EntityType::Location,
        "address" | "street" | "street_address" | "address1" | "address_1" | "address_line1" | "address_line_1"
        | "ship_address" | "shipping_address" | "billing_address" | "addr" | "home_address" | "dirección"
        | "direccion" | "adresse" | "straße" | "strasse" | "indirizzo" | "地址" => EntityType::StreetAddress,
        "dob"
        | "date_of_birth"
        | "birth_date"
        | "birthdate"
        | "birthday"
        | "born"
        | "geburtsdatum"
        | "fecha_de_nacimiento"
        | "出生日期" => EntityType::DateOfBirth,
        _ => return None,
    };
    Some(kind)
}

/// The cells of `line` (byte ranges into it), split at `separator` outside double quotes.
fn cells(line: &str, separator: char) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            out.push((start, i));
            start = i + c.len_utf8();
        }
    }
    out.push((start, line.len()));
    // A pipe table's outer bars leave an empty first and last cell.
    if separator == '|' {
        if out.first().is_some_and(|&(s, e)| line[s..e].trim().is_empty()) {
            out.remove(0);
        }
        if out.last().is_some_and(|&(s, e)| line[s..e].trim().is_empty()) {
            out.pop();
        }
    }
    out
}

/// A cell's value without the spaces and quotes around it, as a byte range of `line`.
fn value(line: &str, (start, end): (usize, usize)) -> Option<(usize, usize)> {
    let cell = line.get(start..end)?;
    let trimmed = cell.trim_matches(|c: char| c.is_whitespace() || c == '"');
    if !trimmed.chars().any(char::is_alphanumeric) {
        return None;
    }
    let offset = cell.find(trimmed)?;
    Some((start + offset, start + offset + trimmed.len()))
}

/// A Markdown table's rule line (`|---|:--:|`).
fn rule_line(line: &str) -> bool {
    line.contains('-') && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t' | '+'))
}

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    if !text.contains('\n') {
        return;
    }
    // (offset, line) of every line, without a trailing `\r`.
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .scan(0usize, |at, line| {
            let here = *at;
            *at += line.len() + 1;
            Some((here, line.strip_suffix('\r').unwrap_or(line)))
        })
        .collect();
    let mut i = 0;
    while i + 1 < lines.len() {
        let (_, header) = lines[i];
        let Some((separator, kinds)) = header_row(header) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while j < lines.len() && j - i <= MAX_ROWS {
            let (offset, row) = lines[j];
            if separator == '|' && rule_line(row) {
                j += 1;
                continue;
            }
            let row_cells = cells(row, separator);
            if row_cells.len() != kinds.len() {
                break;
            }
            for (&cell, kind) in row_cells.iter().zip(&kinds) {
                let (Some(kind), Some((start, end))) = (kind, value(row, cell)) else { continue };
                let rank = if *kind == EntityType::DateOfBirth { priority::SHAPE } else { priority::FIELD_VALUE };
                out.push(Detection::new(offset + start, offset + end, *kind, rank));
            }
            j += 1;
        }
        i = j.max(i + 1);
    }
}

/// The separator and the column kinds of a header row: two cells or more, at least one of
/// a known kind, none longer than a column name is.
fn header_row(line: &str) -> Option<(char, Vec<Option<EntityType>>)> {
    SEPARATORS.iter().find_map(|&separator| {
        if !line.contains(separator) {
            return None;
        }
        let row = cells(line, separator);
        let names: Vec<&str> = row.iter().filter_map(|&(s, e)| line.get(s..e)).collect();
        if names.len() < 2 || names.iter().any(|n| n.trim().chars().count() > 32) {
            return None;
        }
        let kinds: Vec<Option<EntityType>> = names.iter().map(|n| column_kind(n)).collect();
        kinds.iter().any(Option::is_some).then_some((separator, kinds))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(EntityType, &str)> {
        let mut out = Vec::new();
        detect(text, &mut out);
        out.iter().map(|d| (d.kind, &text[d.start..d.end])).collect()
    }

    #[test]
    fn cells_under_typed_headers() {
        let csv =
            "id;first_name;last_name;dob\n1041;Aleksandra;Kowalska;1984-02-19\n1042;Bartosz;Lewandowski;1991-10-05";
        assert_eq!(
            found(csv),
            [
                (EntityType::Person, "Aleksandra"),
                (EntityType::Person, "Kowalska"),
                (EntityType::DateOfBirth, "1984-02-19"),
                (EntityType::Person, "Bartosz"),
                (EntityType::Person, "Lewandowski"),
                (EntityType::DateOfBirth, "1991-10-05"),
            ]
        );
        let quoted = "order_id,customer,ship_city,total\nSO-10455,\"Obi, Ifeoma\",Port Harcourt,42500.00";
        assert_eq!(found(quoted), [(EntityType::Person, "Obi, Ifeoma"), (EntityType::Location, "Port Harcourt")]);
        let markdown = "| Name | City |\n|---|---|\n| Ana Lima | Recife |";
        assert_eq!(found(markdown), [(EntityType::Person, "Ana Lima"), (EntityType::Location, "Recife")]);
    }

    #[test]
    fn tables_without_typed_columns_and_ragged_rows_are_left_alone() {
        assert!(found("sku,product,colour,qty\nGR-221,Grace Tote,navy,40").is_empty());
        // A row of another width ends the table.
        assert_eq!(
            found("name,city\nAna,Recife\nsee you, Bob, at five"),
            [(EntityType::Person, "Ana"), (EntityType::Location, "Recife")]
        );
        assert!(found("name, city").is_empty());
    }
}
