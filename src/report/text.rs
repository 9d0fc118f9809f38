//! The report's words in Spanish (the default) and English: headings, the names of
//! kinds, states and channels, month names and the definitions printed with every report.
//! They live in `text/{es,en}.json`, compiled in; a test checks both say the same things.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::model::Definition;
use super::ReportError;
use crate::domain::Lang;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub lang: String,
    pub months: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// Codes (kinds, states, hold reasons, channels, metrics, aging buckets) → words.
    pub words: BTreeMap<String, String>,
    pub definitions: Vec<Definition>,
}

const ES: &str = include_str!("text/es.json");
const EN: &str = include_str!("text/en.json");

impl Text {
    pub fn of(lang: Lang) -> Result<Text, ReportError> {
        let source = match lang {
            Lang::Es => ES,
            Lang::En => EN,
        };
        serde_json::from_str(source).map_err(ReportError::Text)
    }

    /// A heading; its key when missing, so a gap shows instead of failing the report.
    pub fn label(&self, key: &str) -> String {
        self.labels
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// The word for a code; the code itself when there is none (a category, a new code).
    pub fn word(&self, code: &str) -> String {
        self.words
            .get(code)
            .cloned()
            .unwrap_or_else(|| code.to_owned())
    }

    /// `noviembre de 2026`, `November 2026`.
    pub fn month_name(&self, year: i16, month: i8) -> String {
        let index = usize::try_from(month - 1).unwrap_or(0);
        let name = self.months.get(index).cloned().unwrap_or_default();
        self.label("month_of")
            .replace("{month}", &name)
            .replace("{year}", &year.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_load_and_say_the_same_things() {
        let es = Text::of(Lang::Es).expect("Spanish text");
        let en = Text::of(Lang::En).expect("English text");
        assert_eq!((es.lang.as_str(), en.lang.as_str()), ("es", "en"));
        assert_eq!(es.months.len(), 12);
        assert_eq!(en.months.len(), 12);
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&es.labels), keys(&en.labels));
        assert_eq!(keys(&es.words), keys(&en.words));
        let terms = |t: &Text| {
            t.definitions
                .iter()
                .map(|d| d.key.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(terms(&es), terms(&en));
        assert_eq!(es.month_name(2026, 11), "noviembre de 2026");
        assert_eq!(en.month_name(2026, 11), "November 2026");
    }

    #[test]
    fn every_code_the_report_prints_has_a_word() {
        use crate::desk::ticket::{Channel, HoldReason, Kind, State};
        let es = Text::of(Lang::Es).expect("Spanish text");
        let codes = Kind::ALL
            .iter()
            .map(|k| k.as_str())
            .chain(State::ALL.iter().map(|s| s.as_str()))
            .chain(HoldReason::ALL.iter().map(|h| h.as_str()))
            .chain(Channel::ALL.iter().map(|c| c.as_str()))
            .chain(super::super::monthly::METRICS)
            .chain(super::super::monthly::AGING);
        for code in codes {
            assert!(es.words.contains_key(code), "no word for `{code}`");
        }
    }
}
