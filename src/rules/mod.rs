//! Declarative rules: `rules/{source}.yaml` files that say how to read a source's payloads.
//!
//! In: a payload (JSON) and the name of the source that sent it. Out: one normalized
//! [`Signal`] per alert, and the name of the rule that matched. Stores nothing.
//! Loading compiles every JSONPath once; a file that does not compile is refused whole,
//! with its file, line and reason.

mod field;
mod fingerprint;
mod rule;
mod spec;
mod tests_runner;
mod time;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::domain::Signal;
pub use fingerprint::ready_made as ready_made_fingerprint;
pub use rule::{AlertError, Readout, Rule};
pub use tests_runner::{run_tests, TestFailure};

/// A rule-file problem: which file, which line (when known) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

impl std::error::Error for RuleFileError {}

/// Every problem found while loading a rules directory.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct LoadError(pub Vec<RuleFileError>);

/// The compiled rules of one source (one file).
#[derive(Debug)]
pub struct SourceRules {
    pub source: String,
    pub description: Option<String>,
    /// Seconds without an update after which an open event resolves itself.
    pub resolve_timeout: Option<u64>,
    pub file: PathBuf,
    pub rules: Vec<Rule>,
    text: String,
    spec_tests: Vec<spec::TestSpec>,
}

/// Why a payload was refused by its source's rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("no rule of source `{source_name}` matches: {}", .reasons.join("; "))]
    NoRuleMatches {
        source_name: String,
        reasons: Vec<String>,
    },
    #[error("rule `{rule}` of source `{source_name}` could not read the payload: {}",
        .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    BadAlerts {
        source_name: String,
        rule: String,
        errors: Vec<AlertError>,
    },
}

/// What a payload becomes.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluated {
    pub rule: String,
    pub signals: Vec<Signal>,
    /// Alerts of the payload the rule could not read (the others were).
    pub refused: Vec<AlertError>,
}

impl SourceRules {
    /// The first rule whose conditions hold reads the payload.
    pub fn evaluate(&self, payload: &Value) -> Result<Evaluated, Rejection> {
        let mut reasons = Vec::new();
        for rule in &self.rules {
            match rule.applies_to(payload) {
                Ok(()) => {
                    return rule
                        .evaluate(&self.source, payload)
                        .map(|readout| Evaluated {
                            rule: rule.name.clone(),
                            signals: readout.signals,
                            refused: readout.refused,
                        })
                        .map_err(|errors| Rejection::BadAlerts {
                            source_name: self.source.clone(),
                            rule: rule.name.clone(),
                            errors,
                        })
                }
                Err(why) => reasons.push(format!("rule `{}`: {why}", rule.name)),
            }
        }
        Err(Rejection::NoRuleMatches {
            source_name: self.source.clone(),
            reasons,
        })
    }

    /// 1-based line of the test called `name`, for messages.
    fn test_line(&self, name: &str) -> Option<usize> {
        let tests_start = self
            .text
            .lines()
            .position(|l| l.starts_with("tests:"))
            .unwrap_or(0);
        line_of_name(&self.text, name, tests_start)
    }
}

/// 1-based line, at or after `from` (0-based), of the list item `name: <name>` (bare or
/// quoted, inline `- name:` or on its own line).
fn line_of_name(text: &str, name: &str, from: usize) -> Option<usize> {
    let wanted = [name.to_owned(), format!("\"{name}\""), format!("'{name}'")];
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, line)| {
            let item = line.trim_start().trim_start_matches("- ").trim();
            // In an inline map (`- { name: x, input: … }`) the name ends at the first comma.
            let (item, inline) = match item.strip_prefix('{') {
                Some(rest) => (rest.trim(), true),
                None => (item, false),
            };
            item.strip_prefix("name:")
                .map(|rest| match inline {
                    true => rest.split(',').next().unwrap_or(rest).trim(),
                    false => rest.trim(),
                })
                .is_some_and(|value| wanted.iter().any(|w| w == value))
        })
        .map(|(i, _)| i + 1)
}

/// All sources' rules, by source name.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub dir: PathBuf,
    sources: BTreeMap<String, Arc<SourceRules>>,
}

impl RuleSet {
    /// Loads and compiles every `*.yaml` / `*.yml` file of `dir`; any error refuses all.
    pub fn load(dir: &FsPath) -> Result<Self, LoadError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            LoadError(vec![RuleFileError {
                file: dir.to_owned(),
                line: None,
                reason: format!("cannot read the rules directory: {e}"),
            }])
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
            .collect();
        files.sort();
        let mut sources = BTreeMap::new();
        let mut errors = Vec::new();
        for file in files {
            match load_file(&file) {
                Ok(rules) if sources.contains_key(&rules.source) => errors.push(RuleFileError {
                    file: file.clone(),
                    line: None,
                    reason: format!("a second file for source `{}`; keep one", rules.source),
                }),
                Ok(rules) => {
                    sources.insert(rules.source.clone(), Arc::new(rules));
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(RuleSet {
                dir: dir.to_owned(),
                sources,
            })
        } else {
            Err(LoadError(errors))
        }
    }

    pub fn get(&self, source: &str) -> Option<&Arc<SourceRules>> {
        self.sources.get(source)
    }

    pub fn sources(&self) -> impl Iterator<Item = &Arc<SourceRules>> {
        self.sources.values()
    }

    /// What a stored event of `source`, made by `rule`, does about incidents today; `None`
    /// if the rule is gone.
    pub fn policy_for(
        &self,
        source: &str,
        rule: &str,
        severity: crate::domain::Severity,
    ) -> Option<crate::domain::IncidentPolicy> {
        let rules = self.sources.get(source)?;
        let rule = rules.rules.iter().find(|r| r.name == rule)?;
        Some(rule.policy_for(severity))
    }
}

fn load_file(file: &FsPath) -> Result<SourceRules, RuleFileError> {
    let fail = |line, reason: String| RuleFileError {
        file: file.to_owned(),
        line,
        reason,
    };
    let source = file
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|s| valid_source_name(s))
        .ok_or_else(|| {
            fail(
                None,
                "the file name must be the source name: lowercase letters, digits, `-` or `_`"
                    .to_owned(),
            )
        })?
        .to_owned();
    let text =
        std::fs::read_to_string(file).map_err(|e| fail(None, format!("cannot read: {e}")))?;
    let spec: spec::RuleFileSpec = serde_norway::from_str(&text)
        .map_err(|e| fail(e.location().map(|l| l.line()), e.to_string()))?;
    if spec.rules.is_empty() {
        return Err(fail(None, "the file defines no rules".to_owned()));
    }
    let resolve_timeout = spec
        .resolve_timeout
        .as_deref()
        .map(rule::parse_duration)
        .transpose()
        .map_err(|e| {
            let line = text.lines().position(|l| l.starts_with("resolve_timeout:"));
            fail(line.map(|l| l + 1), format!("resolve_timeout: {e}"))
        })?;
    let mut rules = Vec::with_capacity(spec.rules.len());
    for rule_spec in &spec.rules {
        let rule = Rule::compile(rule_spec, spec.correlation.as_ref()).map_err(|reason| {
            let line = line_of_name(&text, &rule_spec.name, 0);
            fail(line, reason)
        })?;
        rules.push(rule);
    }
    Ok(SourceRules {
        source,
        description: spec.description,
        resolve_timeout,
        file: file.to_owned(),
        rules,
        text,
        spec_tests: spec.tests,
    })
}

pub fn valid_source_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::line_of_name;

    const TEXT: &str = "rules:\n  - name: fp num, vs string\n  - name: fp num\ntests:\n  - { name: \"quoted\", input: {} }\n  - name: fp num\n";

    #[test]
    fn names_are_found_whole_not_as_prefixes() {
        assert_eq!(line_of_name(TEXT, "fp num", 0), Some(3));
        assert_eq!(line_of_name(TEXT, "fp num, vs string", 0), Some(2));
    }

    #[test]
    fn quoted_inline_names_and_later_sections_are_found() {
        assert_eq!(line_of_name(TEXT, "quoted", 0), Some(5));
        assert_eq!(line_of_name(TEXT, "fp num", 3), Some(6));
        assert_eq!(line_of_name(TEXT, "absent", 0), None);
    }
}
