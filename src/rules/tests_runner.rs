//! Runs the `tests:` of rule files: each feeds a payload to the source's rules and checks
//! the signals (or the rejection) against what the test expects.

use serde_json::Value;

use super::{RuleFileError, RuleSet, SourceRules};

/// A failed rule test, located at its `name:` line.
pub type TestFailure = RuleFileError;

/// Runs every test of every source; returns how many passed and every failure.
pub fn run_tests(rules: &RuleSet) -> (usize, Vec<TestFailure>) {
    let mut passed = 0;
    let mut failures = Vec::new();
    for source in rules.sources() {
        for test in &source.spec_tests {
            match run_one(source, test) {
                Ok(()) => passed += 1,
                Err(reason) => failures.push(RuleFileError {
                    file: source.file.clone(),
                    line: source.test_line(&test.name),
                    reason: format!("test `{}`: {reason}", test.name),
                }),
            }
        }
    }
    (passed, failures)
}

fn run_one(source: &SourceRules, test: &super::spec::TestSpec) -> Result<(), String> {
    if test.expect.is_none() && test.expect_error.is_none() {
        return Err("set `expect`, `expect_error`, or both".to_owned());
    }
    let payload = load_payload(source, test)?;
    let evaluated = match source.evaluate(&payload) {
        Ok(evaluated) => evaluated,
        Err(rejection) => {
            return match &test.expect_error {
                Some(fragment) => contains(&rejection.to_string(), fragment),
                None => Err(format!("expected signals, got: {rejection}")),
            }
        }
    };
    if let Some(expected) = &test.expect {
        let actual: Vec<Value> = evaluated
            .signals
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect();
        compare_signals(expected, &actual)?;
    }
    let refused: Vec<String> = evaluated.refused.iter().map(ToString::to_string).collect();
    match (&test.expect_error, refused.is_empty()) {
        (None, true) => Ok(()),
        (None, false) => Err(format!("alerts were refused: {}", refused.join("; "))),
        (Some(fragment), false) => contains(&refused.join("; "), fragment),
        (Some(_), true) => Err(format!(
            "expected an error, got {} signal(s) from rule `{}`",
            evaluated.signals.len(),
            evaluated.rule
        )),
    }
}

fn contains(text: &str, fragment: &str) -> Result<(), String> {
    if text.contains(fragment) {
        Ok(())
    } else {
        Err(format!(
            "expected an error containing `{fragment}`, got: {text}"
        ))
    }
}

fn load_payload(source: &SourceRules, test: &super::spec::TestSpec) -> Result<Value, String> {
    match (&test.payload, &test.input) {
        (Some(rel), None) => {
            let base = source
                .file
                .parent()
                .unwrap_or_else(|| std::path::Path::new("."));
            let path = base.join(rel);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read payload {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("payload {} is not JSON: {e}", path.display()))
        }
        (None, Some(inline)) => Ok(inline.clone()),
        _ => Err("set exactly one of `payload` (a file) or `input` (inline)".to_owned()),
    }
}

fn compare_signals(expected: &[Value], actual: &[Value]) -> Result<(), String> {
    if expected.len() != actual.len() {
        return Err(format!(
            "expected {} signal(s), got {}: {}",
            expected.len(),
            actual.len(),
            Value::Array(actual.to_vec())
        ));
    }
    for (i, (want, got)) in expected.iter().zip(actual).enumerate() {
        if let Some(path) = first_mismatch(want, got, String::new()) {
            let got_at = lookup(got, &path).cloned().unwrap_or(Value::Null);
            let want_at = lookup(want, &path).cloned().unwrap_or(Value::Null);
            return Err(format!(
                "signal #{i}: `{path}` is {got_at}, expected {want_at}"
            ));
        }
    }
    Ok(())
}

/// Objects in the expectation are subsets; anything else must be equal.
fn first_mismatch(want: &Value, got: &Value, at: String) -> Option<String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().find_map(|(k, wv)| {
            let path = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            match g.get(k) {
                Some(gv) => first_mismatch(wv, gv, path),
                None if wv.is_null() => None,
                None => Some(path),
            }
        }),
        _ if want == got => None,
        _ => Some(if at.is_empty() {
            "(signal)".to_owned()
        } else {
            at
        }),
    }
}

fn lookup<'a>(value: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .try_fold(value, |v, key| v.as_object().and_then(|o| o.get(key)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expectations_are_subsets_of_objects() {
        let got = json!({"a": 1, "labels": {"x": "1", "y": "2"}});
        assert_eq!(
            first_mismatch(&json!({"labels": {"x": "1"}}), &got, String::new()),
            None
        );
        assert_eq!(
            first_mismatch(&json!({"labels": {"x": "2"}}), &got, String::new()),
            Some("labels.x".to_owned())
        );
        assert_eq!(
            first_mismatch(&json!({"b": 1}), &got, String::new()),
            Some("b".to_owned())
        );
    }
}
