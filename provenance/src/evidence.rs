//! The one scale on which every finding states its strength. It is deliberately coarse:
//! the figures behind each finding are reported beside it, and the words are what a
//! reader of the report acts on.

use serde::{Deserialize, Serialize};

/// How much a finding moves the question "is this endpoint its vendor's own model?".
/// Ordered from weakest to strongest so findings can be sorted and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceStrength {
    /// Too little data to say anything either way.
    Insufficient,
    /// The data were enough, and they show nothing unusual.
    None,
    /// Consistent with the hypothesis, and also with innocent explanations.
    Weak,
    /// Hard to explain without the hypothesis, but not impossible.
    Moderate,
    /// Very hard to explain without shared weights, shared tokenizer or shared answers.
    Strong,
}

impl EvidenceStrength {
    /// The word used in report text ("strong evidence", "weak evidence").
    pub fn label(self) -> &'static str {
        match self {
            EvidenceStrength::Insufficient => "insufficient data",
            EvidenceStrength::None => "no evidence",
            EvidenceStrength::Weak => "weak evidence",
            EvidenceStrength::Moderate => "moderate evidence",
            EvidenceStrength::Strong => "strong evidence",
        }
    }
}

impl std::fmt::Display for EvidenceStrength {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strengths_order_from_insufficient_to_strong() {
        assert!(EvidenceStrength::Insufficient < EvidenceStrength::None);
        assert!(EvidenceStrength::Weak < EvidenceStrength::Moderate);
        assert!(EvidenceStrength::Moderate < EvidenceStrength::Strong);
        assert_eq!(EvidenceStrength::Strong.to_string(), "strong evidence");
    }
}
