//! Continental European street lines, whatever the street's name: a street-type word
//! before the name (`Calle Mayor 5`, `Rua de Pinho, S/N`, `Via Elisa, 991 Appartamento
//! 84`, `rue de Monnet 23`), or a compound ending in one (`Telse-Kranz-Allee 4608`,
//! `Lucasboulevard 7`, `Röhrdanzplatz 83/53`); and the postcode line that may follow a
//! street line on the same or the next line (`58396 Sainte Virginie`, `2068-124 Torres
//! Novas`, `Málaga, 26778`, `2068 LO\nLuinjeberd`).

use std::sync::LazyLock;

use netgpt_crds::workflow::EntityType;
use regex::Regex;

use super::{Detection, ascii_isolated, compile, priority};

/// A house number (`12`, `12a`, `7/6`, `47-26`) or "no number" (`S/N`), then units
/// (`Piso 4`, `Puerta 3`, `Appartamento 84`, `Apt. 80`).
const NUMBER_AND_UNITS: &str = concat!(
    r"(?:[0-9]{1,5}(?:[ ]?[a-zA-Z]\b)?(?:[/\-][0-9]{1,4})?|S/N|s/n)",
    r"(?:,?[ \t]+(?:Apt\.?|Apto\.?|Apartamento|Appartamento|Piso|Puerta|Planta|Esc\.|Escalera|Bloque|Bloco|Andar|",
    r"Interno|Int\.|Scala|Piano|Etage|Étage|Stock|Bât\.?|Bâtiment|Stiege|Tür|Top)[ \t]*[0-9A-Za-zº°]{1,4})*"
);

/// Type word, then the name: capitalised words, with the articles and prepositions of
/// Romance street names between them (`Avenida de la Constitución`).
static TYPED: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            r"\b(?:Calle|C/|C\.|Avenida|Avda\.|Av\.?|Paseo|Pasaje|Plaza|Camino|Carrer|Carretera|Ronda|Rambla|",
            r"Callejón|Cuesta|Urbanización|Alameda|Glorieta|Travesía|Vía|Cañada|Acceso|Vereda|Senda|Plazuela|",
            r"Polígono|Rincón|Subida|Vial|Pasadizo|Rua|R\.|Travessa|Largo|Praça|Praceta|Calçada|Rotunda|Bairro|",
            r"Estrada|Beco|Via|Viale|Piazza|Piazzale|Corso|Vicolo|Vico|Strada|Contrada|Borgo|Rotonda|Stretto|Incrocio|Canale|",
            r"Lungomare|[Rr]ue|[Aa]venue|[Bb]oulevard|[Cc]hemin|[Aa]llée|[Ii]mpasse|[Qq]uai|[Rr]oute|[Pp]lace|[Cc]ours)",
            r"[ \t]+(?:(?:de|del|de la|de las|de los|da|do|dos|das|di|della|dei|degli|delle|du|des|la|le|l'|d')[ \t]*)*",
            r"\p{{Lu}}[\p{{L}}'’.\-]*(?:[ \t]+(?:(?:de|del|da|do|dos|di|della|du|des|la|le|y|e)[ \t]+)?\p{{Lu}}[\p{{L}}'’.\-]*){{0,4}}",
            r",?[ \t]+{number}"
        ),
        number = NUMBER_AND_UNITS
    ))
});

/// A compound street name ending in its type (German, Dutch), then the number. The short
/// endings that English words share (`Spring 2`, `Boring 3`) count only after a hyphen.
static COMPOUND: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        concat!(
            r"\b\p{{Lu}}[\p{{L}}\-]*(?:",
            r"straße|strasse|str\.|gasse|platz|allee|damm|chaussee|ufer|steig|straat|laan|plein|gracht|kade|singel|",
            r"dijk|steeg|dreef|hof|boulevard|weg|baan",
            r"|-(?:Ring|Weg|Hof|Park|Platz|Allee|Straße|Gasse|Damm|Markt|Pad))",
            r"[ \t]+{number}"
        ),
        number = NUMBER_AND_UNITS
    ))
});

/// What may follow a street line: a postcode and its town (`92783 Le GallBourg`,
/// `D-10115 Berlin`, `2068-124 Torres Novas`, `98043, Rometta (ME)`), a Dutch postcode
/// with the town on the next line, or the town before the postcode (`Málaga, 26778`).
static POSTAL_LINE: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        r"^(?:,[ \t]*|[ \t]*\n[ \t]*|[ \t]+)",
        r"(?:",
        r"(?:[A-Z]{1,2}-)?[0-9]{4,5}(?:-[0-9]{3})?(?:[ \t]?[A-Z]{2}(?:[ \t]+|[ \t]*\n[ \t]*)|,?[ \t]+)",
        r"\p{Lu}[\p{L}'’\-]*(?:[ \t]+(?:am|an der|an|im|bei|ob|sur|sous|de|del|di|la|le|les|en)?[ \t]*\p{Lu}[\p{L}'’\-]*){0,3}",
        r"(?:[ \t]+\([A-Z]{2}\))?",
        r"|\p{Lu}[\p{L}'’\-]*(?:[ \t]+\p{Lu}[\p{L}'’\-]*){0,2},[ \t]*[0-9]{4,5}\b",
        r")"
    ))
});

pub(super) fn detect(text: &str, out: &mut Vec<Detection>) {
    for regex in [&*TYPED, &*COMPOUND] {
        for m in regex.find_iter(text) {
            // The postcode line after it is taken in after resolution, for every street
            // line alike (`join::adjust`).
            if ascii_isolated(text, m.start(), m.end()) {
                out.push(Detection::new(m.start(), m.end(), EntityType::StreetAddress, priority::ADDRESS));
            }
        }
    }
}

/// Where a postcode line right after a street line ending at `end` ends, if one follows.
pub(super) fn postal_line_end(text: &str, end: usize) -> Option<usize> {
    let rest = text.get(end..)?;
    let m = POSTAL_LINE.find(rest)?;
    // Only the far end must stand apart: the near end is the street line's last character.
    let glued = super::char_at(text, end + m.end()).is_some_and(|c| c.is_alphanumeric());
    (!glued).then_some(end + m.end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        super::super::found_by(detect, text)
    }

    #[test]
    fn typed_street_lines() {
        assert_eq!(found("meet at Av de Alves, S/N at 8 pm"), ["Av de Alves, S/N"]);
        assert_eq!(found("at Viale Gaspare, 14 Appartamento 91 at 8"), ["Viale Gaspare, 14 Appartamento 91"]);
        assert_eq!(
            found("near Urbanización María Segura 70 Puerta 1 please"),
            ["Urbanización María Segura 70 Puerta 1"]
        );
        assert_eq!(found("rue de Cosendey 8, quiet?"), ["rue de Cosendey 8"]);
        assert_eq!(found("Is C. de Hilario Mateos 41 far?"), ["C. de Hilario Mateos 41"]);
        assert_eq!(found("Deliver to R. do Longo, 28 tomorrow."), ["R. do Longo, 28"]);
        assert_eq!(found("Incrocio Raimondo, 4 Piano 4 is where we meet"), ["Incrocio Raimondo, 4 Piano 4"]);
    }

    #[test]
    fn compound_street_names() {
        assert_eq!(found("at Telse-Kranz-Allee 4608."), ["Telse-Kranz-Allee 4608"]);
        assert_eq!(found("Röhrdanzplatz 83/53"), ["Röhrdanzplatz 83/53"]);
        assert_eq!(found("Chloëhof 337\n2068 LO\nLuinjeberd"), ["Chloëhof 337"]);
        assert_eq!(found("Danielle-Dobes-Ring 0"), ["Danielle-Dobes-Ring 0"]);
        assert_eq!(found("Is Chrisbaan 55 far?"), ["Chrisbaan 55"]);
        assert_eq!(found("Bachmannstraße 241\n6868 Kapfenberg"), ["Bachmannstraße 241"]);
    }

    /// The street line's end, then what `postal_line_end` takes in after it.
    fn postal_line<'a>(text: &'a str, street: &str) -> Option<&'a str> {
        let end = text.find(street)? + street.len();
        postal_line_end(text, end).and_then(|to| text.get(end..to))
    }

    #[test]
    fn postcode_lines_after_a_street_line() {
        assert_eq!(postal_line("Rua de Soares, 8\n2068-124 Torres Novas", "8"), Some("\n2068-124 Torres Novas"));
        assert_eq!(postal_line("Borgo Piovani, 922\n98043, Rometta (ME)", "922"), Some("\n98043, Rometta (ME)"));
        assert_eq!(postal_line("Chloëhof 337\n2068 LO\nLuinjeberd", "337"), Some("\n2068 LO\nLuinjeberd"));
        assert_eq!(postal_line("Bachmannstraße 241\n6868 Kapfenberg.", "241"), Some("\n6868 Kapfenberg"));
        assert_eq!(postal_line("Calle Mayor 5\nMálaga, 26778", "5"), Some("\nMálaga, 26778"));
        assert_eq!(postal_line("Calle Mayor 5 at 8 pm", "5"), None);
        assert_eq!(postal_line("Calle Mayor 5, 12345abc", "5"), None);
    }

    #[test]
    fn not_streets() {
        for text in [
            "Spring 2024 was wet",
            "Boring 3 hour meeting",
            "Place 2 eggs in the pan",
            "Route 66 is long",
            "Via 3 hops to the host",
            "the Hauptbahnhof or the Rathaus?",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }
}
