//! Dates of birth: a date right after a birth label (`born on`, `DOB:`, `出生日期`). A bare
//! date is not personal data; the label is what makes it one.

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, compile, number_isolated, priority};

static DOB: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"(?i)(?:born on|born|date of birth|birth date|birthdate|d\.o\.b\.?|dob|birthday|出生日期|出生于|出生在|生日",
        // Abbreviations only as a field of their own (`Ingeborg Strand, f. 12.05.1947`):
        // English b., Scandinavian f. (født, född), Polish ur., Czech and Slovak nar.
        r"|(?m:^|[,(])\s*(?:b|f|ur|nar)\.",
        // The languages of the sites' neighbours: German, French, Spanish, Italian, Dutch.
        r"|geboren am|geboren|geb\.|geburtsdatum|née? le|née?|date de naissance|nacid[oa] el|nacid[oa]",
        r"|fecha de nacimiento|nat[oa] il|nat[oa]|data di nascita|geboortedatum|nascid[oa] em|data de nascimento|født|fødselsdato",
        // Swedish, Polish, Czech, Finnish.
        r"|född|födelsedatum|urodzon[ya]|data urodzenia|narozen[aá]?|datum narození|syntynyt)",
        // Where before when: `born in Lyon, France, on …` (a place of at most 60
        // characters, no sentence end inside).
        r"(?:\s+(?:in|at|à|en|a)\s+[^.!?;\n]{1,60}?,?\s+(?:on|le|el|il|am|op)\s+)?",
        // `date of birth: …`, `born 1990-…`, or `date of birth. It's …`.
        r"(?:\s*(?:is|was|:|：|是|为|-)\s*|[.,]?\s*(?:it's|it is)\s+|\s*\(\s*|\s+(?:on\s+)?the\s+|\s+|)",
        r"(",
        r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}",
        r"|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}",
        r"|[0-9]{1,2}[/.\-][0-9]{1,2}[/.\-][0-9]{2,4}",
        r"|[0-9]{1,2}[ \-](?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?[ \-][0-9]{4}",
        r"|[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日",
        r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? [0-9]{1,2}(?:st|nd|rd|th)?,? [0-9]{4}",
        r"|[0-9]{1,2}(?:st|nd|rd|th)? (?:of )?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,? [0-9]{4}",
        r")",
    ))
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for caps in DOB.captures_iter(text) {
        if let Some(m) = caps.get(1)
            && number_isolated(text, m.start(), m.end())
        {
            out.push(Detection::new(m.start(), m.end(), EntityType::DateOfBirth, priority::SHAPE));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn labelled_dates() {
        assert_eq!(found("I was born on March 3, 1987."), ["March 3, 1987"]);
        assert_eq!(found("DOB: 03/12/1990"), ["03/12/1990"]);
        assert_eq!(found("your date of birth. It's 1939-01-22"), ["1939-01-22"]);
        assert_eq!(found("出生日期：1990年3月12日"), ["1990年3月12日"]);
        assert!(found("the meeting is on 2024-05-01").is_empty());
        assert_eq!(found("I was born in Caldas da Rainha, Hong Kong, on 10/11/1980."), ["10/11/1980"]);
        assert_eq!(found("geboren am 14.12.1992 in Graz"), ["14.12.1992"]);
        assert_eq!(found("née le 03/04/1977"), ["03/04/1977"]);
        assert_eq!(found("Fecha de nacimiento: 1985-04-16"), ["1985-04-16"]);
        assert_eq!(found("Mrs. Beatrice Mwangi, b. 1951-04-30, follow-up"), ["1951-04-30"]);
        assert_eq!(found("Mr. Abdullahi Musa (DOB 01-Jan-1940) lives alone"), ["01-Jan-1940"]);
        assert_eq!(found("please confirm your date of birth (1983/10/14) and address"), ["1983/10/14"]);
        assert_eq!(found("Ana Paula Ferreira, nascida em 17/01/1990, Rua da Consolação"), ["17/01/1990"]);
        assert!(found("see section b. 2024-05-01 of the plan").is_empty());
        assert_eq!(found("b. 1988-03-04 — is that enough on the form?"), ["1988-03-04"]);
        assert_eq!(found("Library card: Ingeborg Strand, f. 12.05.1947, Storgata 14"), ["12.05.1947"]);
        assert_eq!(found("Anna Nowak (ur. 03.02.1961) mieszka w Gdańsku"), ["03.02.1961"]);
        assert_eq!(found("Karin Berg, född 1979-06-21, Göteborg"), ["1979-06-21"]);
        assert!(found("see chapter f. 2024-05-01 of the plan").is_empty());
        assert_eq!(found("I was born on the 9th of January 1965 — what zodiac"), ["9th of January 1965"]);
        // A place, then a sentence end: the date after it is not the birth date.
        assert!(found("born in Lyon. On 2024-05-01 we met").is_empty());
    }
}
