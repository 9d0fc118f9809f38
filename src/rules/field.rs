//! Compiled value expressions: a JSONPath, a template with `{{ $.path }}` holes, or a
//! literal; and the first-of chains built from them.

use jsonpath_rust::parser::model::JpQuery;
use jsonpath_rust::parser::parse_json_path;
use jsonpath_rust::query::js_path_process;
use serde_json::Value;

use super::spec::FieldSpec;

/// A JSONPath compiled once at load time.
#[derive(Debug, Clone)]
pub struct Path {
    source: String,
    query: JpQuery,
}

impl Path {
    pub fn compile(source: &str) -> Result<Self, String> {
        let query =
            parse_json_path(source).map_err(|e| format!("invalid JSONPath `{source}`: {e}"))?;
        Ok(Path {
            source: source.to_owned(),
            query,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every node the path selects; an evaluation error counts as "nothing selected",
    /// since a payload that lacks a field is not a broken rule.
    pub fn select<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        js_path_process(&self.query, value)
            .map(|refs| refs.into_iter().map(|r| r.val()).collect())
            .unwrap_or_default()
    }

    pub fn first<'a>(&self, value: &'a Value) -> Option<&'a Value> {
        self.select(value).into_iter().next()
    }

    pub fn first_text(&self, value: &Value) -> Option<String> {
        self.first(value).and_then(scalar_text)
    }
}

/// Text of a scalar JSON value; `null`, empty strings and containers give nothing.
/// NUL characters are dropped: valid in JSON, but PostgreSQL refuses them in text, and a
/// payload one store keeps and the other refuses forever would be retried for ever.
pub fn scalar_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => without_nul(s.trim()),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    (!text.is_empty()).then_some(text)
}

pub fn without_nul(text: &str) -> String {
    text.replace('\0', "")
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Hole(Path),
}

#[derive(Debug, Clone)]
enum Expr {
    Path(Path),
    Template(Vec<Part>),
}

impl Expr {
    fn compile(source: &str) -> Result<Self, String> {
        if source.starts_with('$') {
            return Path::compile(source).map(Expr::Path);
        }
        Ok(Expr::Template(parse_template(source)?))
    }

    fn eval(&self, value: &Value) -> Option<String> {
        match self {
            Expr::Path(path) => path.first_text(value),
            Expr::Template(parts) => render(parts, value),
        }
    }
}

fn parse_template(source: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = source;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in template `{source}`"))?;
        parts.push(Part::Hole(Path::compile(after[..close].trim())?));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// A template renders only when every hole has a value, so a summary never reads
/// "Host  is down".
fn render(parts: &[Part], value: &Value) -> Option<String> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Hole(path) => out.push_str(&path.first_text(value)?),
        }
    }
    let out = out.trim().to_owned();
    (!out.is_empty()).then_some(out)
}

/// The first expression that yields a non-empty value wins.
#[derive(Debug, Clone)]
pub struct Field(Vec<Expr>);

impl Field {
    pub fn compile(spec: &FieldSpec) -> Result<Self, String> {
        let sources: Vec<&String> = match spec {
            FieldSpec::One(one) => vec![one],
            FieldSpec::FirstOf(many) => many.iter().collect(),
        };
        if sources.is_empty() {
            return Err("empty list of alternatives".to_owned());
        }
        sources
            .into_iter()
            .map(|s| Expr::compile(s))
            .collect::<Result<_, _>>()
            .map(Field)
    }

    pub fn eval(&self, value: &Value) -> Option<String> {
        self.0.iter().find_map(|expr| expr.eval(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(spec: FieldSpec) -> Field {
        Field::compile(&spec).expect("compiles")
    }

    #[test]
    fn first_of_skips_missing_and_empty_values() {
        let f = field(FieldSpec::FirstOf(vec![
            "$.a".into(),
            "$.b".into(),
            "$.c".into(),
        ]));
        assert_eq!(f.eval(&json!({"a": "", "c": 3})), Some("3".into()));
    }

    #[test]
    fn template_renders_holes_and_refuses_partial_text() {
        let f = field(FieldSpec::One(
            "{{ $.check.name }} caído: {{$.message}}".into(),
        ));
        let full = json!({"check": {"name": "Portal"}, "message": "timeout"});
        assert_eq!(f.eval(&full), Some("Portal caído: timeout".into()));
        assert_eq!(f.eval(&json!({"message": "timeout"})), None);
    }

    #[test]
    fn nul_characters_are_dropped() {
        assert_eq!(scalar_text(&json!("a\u{0}b")), Some("ab".into()));
        assert_eq!(scalar_text(&json!("\u{0}")), None);
    }

    #[test]
    fn literal_text_is_a_constant() {
        assert_eq!(
            field(FieldSpec::One("critical".into())).eval(&json!({})),
            Some("critical".into())
        );
    }

    #[test]
    fn bad_paths_and_unclosed_holes_are_refused() {
        assert!(Field::compile(&FieldSpec::One("$.a[".into())).is_err());
        assert!(Field::compile(&FieldSpec::One("x {{ $.a".into())).is_err());
    }
}
