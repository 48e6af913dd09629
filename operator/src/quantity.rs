//! Kubernetes resource quantities (`250m`, `2`, `512Mi`, `1e3`) as numbers, so that a
//! spec's request can be checked against its limit before the apiserver refuses the pod
//! template (it would refuse the whole Deployment, and the reconcile would only retry).

/// A string that is not a Kubernetes quantity.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a Kubernetes quantity (e.g. 500m, 2, 256Mi)")]
pub struct QuantityError(pub String);

/// The value of a quantity in base units (cores, bytes). `f64` holds every quantity a
/// pod can use exactly enough to order them.
pub fn parse(quantity: &str) -> Result<f64, QuantityError> {
    let error = || QuantityError(quantity.to_string());
    let split =
        quantity.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))).unwrap_or(quantity.len());
    let (number, suffix) = quantity.split_at(split);
    // `f64::from_str` also takes "inf", "NaN" and exponents; the split above leaves it
    // only signs, digits and dots, and at least one digit is required.
    if !number.contains(|c: char| c.is_ascii_digit()) {
        return Err(error());
    }
    let value: f64 = number.parse().map_err(|_| error())?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E']).ok_or_else(error)?;
            let power: i32 = digits.parse().map_err(|_| error())?;
            10f64.powi(power)
        }
    };
    Ok(value * scale)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn parses_the_notations_kubernetes_accepts() {
        let cases = [
            ("2", 2.0),
            ("250m", 0.25),
            ("0.5", 0.5),
            ("1.5Gi", 1.5 * 1024.0 * 1024.0 * 1024.0),
            ("512Mi", 536_870_912.0),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1E", 1e18),
            ("128k", 128_000.0),
            ("+1", 1.0),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        assert_eq!(parse("536870912"), parse("512Mi"));
    }

    #[test]
    fn refuses_what_is_not_a_quantity() {
        for text in ["", "Mi", "1.2.3", "1 Gi", "1gb", "inf", "NaN", "1e", "1Mi2", "-"] {
            assert!(parse(text).is_err(), "{text:?} parsed");
        }
    }
}
