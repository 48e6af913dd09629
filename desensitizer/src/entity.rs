//! Names of entity types: placeholder labels (`EMAIL`), metric labels and corpus labels
//! (the CRD's camelCase spelling, so one name is used from the manifest to the metrics).

use netgpt_crds::workflow::EntityType;

/// Every entity type the desensitizer detects.
pub const ALL: [EntityType; 12] = [
    EntityType::Person,
    EntityType::Email,
    EntityType::Phone,
    EntityType::CreditCard,
    EntityType::Iban,
    EntityType::IpAddress,
    EntityType::StreetAddress,
    EntityType::NationalId,
    EntityType::DateOfBirth,
    EntityType::ApiKey,
    EntityType::UrlCredentials,
    EntityType::Location,
];

/// Types whose detection is confirmed by a checksum (Luhn, mod-97, ISO 7064; US SSNs by
/// their numbering rules); the evaluation holds them to a higher recall target.
pub const VALIDATED: [EntityType; 3] = [EntityType::CreditCard, EntityType::Iban, EntityType::NationalId];

/// Position of a type in [`ALL`] (for fixed-size per-type tables).
pub fn index(kind: EntityType) -> usize {
    ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Upper-case label used in placeholders: `[EMAIL]`, `[EMAIL_1]`.
pub fn label(kind: EntityType) -> &'static str {
    match kind {
        EntityType::Person => "PERSON",
        EntityType::Email => "EMAIL",
        EntityType::Phone => "PHONE",
        EntityType::CreditCard => "CREDIT_CARD",
        EntityType::Iban => "IBAN",
        EntityType::IpAddress => "IP_ADDRESS",
        EntityType::StreetAddress => "STREET_ADDRESS",
        EntityType::NationalId => "NATIONAL_ID",
        EntityType::DateOfBirth => "DATE_OF_BIRTH",
        EntityType::ApiKey => "API_KEY",
        EntityType::UrlCredentials => "URL_CREDENTIALS",
        EntityType::Location => "LOCATION",
    }
}

/// The CRD's camelCase name (`creditCard`), used in metrics and the evaluation corpus.
pub fn name(kind: EntityType) -> &'static str {
    match kind {
        EntityType::Person => "person",
        EntityType::Email => "email",
        EntityType::Phone => "phone",
        EntityType::CreditCard => "creditCard",
        EntityType::Iban => "iban",
        EntityType::IpAddress => "ipAddress",
        EntityType::StreetAddress => "streetAddress",
        EntityType::NationalId => "nationalId",
        EntityType::DateOfBirth => "dateOfBirth",
        EntityType::ApiKey => "apiKey",
        EntityType::UrlCredentials => "urlCredentials",
        EntityType::Location => "location",
    }
}

/// Parses a camelCase name back into a type.
pub fn from_name(name: &str) -> Option<EntityType> {
    ALL.iter().copied().find(|kind| self::name(*kind) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_crd_serialization() {
        for kind in ALL {
            let json = serde_json::to_value(kind).expect("serializes");
            assert_eq!(json, serde_json::Value::String(name(kind).to_string()));
            assert_eq!(from_name(name(kind)), Some(kind));
            assert_eq!(ALL[index(kind)], kind);
        }
    }
}
