//! Reading a CI registry file (YAML, JSON or CSV) into a [`Catalog`], and checking it
//! against itself and the registry before anything is stored. An import is all or
//! nothing, so both steps report every problem at once, each with the line to fix.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::Path;

use saphyr_parser::{Event, Parser, ScanError};
use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::model::{
    identifier_key, ConfigItem, Criticality, Dependency, Person, Unit, UnknownCriticality,
    DEFAULT_RELATION,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Csv,
}

impl Format {
    /// By file extension: `.yaml`/`.yml`, `.json`, `.csv` (case-insensitive).
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// By HTTP Content-Type, whatever its parameters (`; charset=utf-8`).
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media_type = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match media_type.as_str() {
            "application/yaml" | "application/x-yaml" | "text/yaml" => Some(Format::Yaml),
            "application/json" => Some(Format::Json),
            "text/csv" => Some(Format::Csv),
            _ => None,
        }
    }
}

/// An item with the 1-based line of the file where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub line: usize,
    pub item: T,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    pub units: Vec<Located<Unit>>,
    pub people: Vec<Located<Person>>,
    pub cis: Vec<Located<ConfigItem>>,
}

/// One reason the file is refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportProblem {
    /// The 1-based line of the file to fix, when the problem has one.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every reason the file is refused, sorted by line (problems without one last).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} in the file", problem_count(.0.len()))]
pub struct ImportErrors(pub Vec<ImportProblem>);

fn problem_count(n: usize) -> String {
    match n {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}

impl ImportErrors {
    fn one(problem: ImportProblem) -> Self {
        ImportErrors(vec![problem])
    }
}

/// Collects problems as the checks find them, in any order.
#[derive(Default)]
struct Problems(Vec<ImportProblem>);

impl Problems {
    fn at(&mut self, line: usize, message: impl Into<String>) {
        self.push(Some(line), message);
    }

    fn push(&mut self, line: Option<usize>, message: impl Into<String>) {
        self.0.push(ImportProblem {
            line,
            message: message.into(),
        });
    }

    fn finish<T>(self, value: T) -> Result<T, ImportErrors> {
        if self.0.is_empty() {
            return Ok(value);
        }
        // Two routes to the same fault (a dependency listed under two relations) say
        // the same thing twice; the reader needs it once.
        let mut seen = HashSet::new();
        let mut problems: Vec<_> = (self.0.into_iter())
            .filter(|p| seen.insert((p.line, p.message.clone())))
            .collect();
        problems.sort_by_key(|p| (p.line.is_none(), p.line));
        Err(ImportErrors(problems))
    }
}

/// Reads a registry file: every record with its line, or every reason the file is
/// refused. Checks each record on its own; [`validate`] checks them together.
pub fn parse(text: &str, format: Format) -> Result<Catalog, ImportErrors> {
    match format {
        // JSON is YAML, so one reader (and one set of line numbers) serves both.
        Format::Yaml | Format::Json => parse_document(text),
        Format::Csv => parse_csv(text),
    }
}

// ---------------------------------------------------------------------------------
// Records on their own

/// The ids and codes a record is known by appear in URL paths.
fn check_key(what: &str, value: &str, wrong: &mut Vec<String>) {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() {
        wrong.push(format!("empty {what}"));
    } else if !value.chars().all(allowed) {
        wrong.push(format!(
            "{what} `{value}` may only contain ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
}

fn trim_in_place(value: &mut String) {
    let trimmed = value.trim();
    if trimmed.len() != value.len() {
        *value = trimmed.to_owned();
    }
}

/// A kind of record the file lists.
trait Record: DeserializeOwned {
    /// What the record is called in messages.
    const NOUN: &'static str;

    /// Trims what users pad by accident, and returns what is wrong with the record
    /// taken on its own.
    fn normalize(&mut self) -> Vec<String>;
}

impl Record for Unit {
    const NOUN: &'static str = "unit";

    fn normalize(&mut self) -> Vec<String> {
        let mut wrong = Vec::new();
        trim_in_place(&mut self.code);
        check_key("unit code", &self.code, &mut wrong);
        if self.name.trim().is_empty() {
            wrong.push(format!("unit `{}` has an empty name", self.code));
        }
        if let Some(head) = &mut self.head {
            trim_in_place(head);
        }
        wrong
    }
}

impl Record for Person {
    const NOUN: &'static str = "person";

    fn normalize(&mut self) -> Vec<String> {
        let mut wrong = Vec::new();
        trim_in_place(&mut self.login);
        trim_in_place(&mut self.unit);
        if self.login.is_empty() {
            wrong.push("empty person login".to_owned());
        }
        if self.name.trim().is_empty() {
            wrong.push(format!("person `{}` has an empty name", self.login));
        }
        if self.unit.is_empty() {
            wrong.push(format!("person `{}` has an empty unit", self.login));
        }
        wrong
    }
}

impl Record for ConfigItem {
    const NOUN: &'static str = "CI";

    fn normalize(&mut self) -> Vec<String> {
        let mut wrong = Vec::new();
        trim_in_place(&mut self.id);
        trim_in_place(&mut self.unit);
        check_key("CI id", &self.id, &mut wrong);
        for (field, value) in [
            ("name", &self.name),
            ("type", &self.kind),
            ("unit", &self.unit),
        ] {
            if value.trim().is_empty() {
                wrong.push(format!("CI `{}` has an empty {field}", self.id));
            }
        }
        self.identifiers = distinct_identifiers(&self.identifiers);
        for dependency in &mut self.depends_on {
            trim_in_place(&mut dependency.ci);
            trim_in_place(&mut dependency.relation);
            if dependency.ci.is_empty() {
                wrong.push(format!(
                    "CI `{}` has a dependency with an empty id",
                    self.id
                ));
            } else if dependency.relation.is_empty() {
                wrong.push(format!(
                    "CI `{}` has a dependency on `{}` with an empty relation",
                    self.id, dependency.ci
                ));
            }
        }
        // One edge per pair: the store keys dependencies by (CI, target).
        let mut targets = HashSet::new();
        for dependency in &self.depends_on {
            if !dependency.ci.is_empty() && !targets.insert(dependency.ci.as_str()) {
                wrong.push(format!(
                    "CI `{}` lists `{}` more than once in depends_on",
                    self.id, dependency.ci
                ));
            }
        }
        wrong
    }
}

/// Trimmed, without blanks, and once per lookup key: a CI naming itself twice is
/// clumsy, not wrong.
fn distinct_identifiers<S: AsRef<str>>(identifiers: &[S]) -> Vec<String> {
    let mut seen = HashSet::new();
    identifiers
        .iter()
        .map(|i| i.as_ref().trim())
        .filter(|i| !i.is_empty() && seen.insert(identifier_key(i)))
        .map(str::to_owned)
        .collect()
}

/// Keeps the record if it is sound, else reports why at its line.
fn accept<T: Record>(
    mut record: T,
    line: usize,
    out: &mut Vec<Located<T>>,
    problems: &mut Problems,
) {
    let wrong = record.normalize();
    if wrong.is_empty() {
        out.push(Located { line, item: record });
    }
    for message in wrong {
        problems.at(line, message);
    }
}

// ---------------------------------------------------------------------------------
// YAML and JSON

/// The three lists a registry document may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Units = 0,
    People = 1,
    ConfigItems = 2,
}

impl Section {
    fn from_key(key: &str) -> Option<Section> {
        match key {
            "units" => Some(Section::Units),
            "people" => Some(Section::People),
            "config_items" => Some(Section::ConfigItems),
            _ => None,
        }
    }
}

fn parse_document(text: &str) -> Result<Catalog, ImportErrors> {
    let value: Value =
        serde_norway::from_str(text).map_err(|e| ImportErrors::one(document_problem(text, &e)))?;
    // Values carry no positions, so a second, event-level pass finds them.
    let lines = ItemLines::of(text).map_err(|e| ImportErrors::one(scan_problem(&e)))?;
    let mapping = match value {
        Value::Mapping(mapping) => mapping,
        Value::Null => return Ok(Catalog::default()),
        _ => {
            return Err(ImportErrors::one(ImportProblem {
                line: Some(1),
                message: "the file must be a mapping of `units`, `people` and `config_items`"
                    .to_owned(),
            }))
        }
    };
    let mut catalog = Catalog::default();
    let mut problems = Problems::default();
    for (key, value) in mapping {
        read_section(&key, value, &lines, &mut catalog, &mut problems);
    }
    problems.finish(catalog)
}

/// One top-level entry of the document.
fn read_section(
    key: &Value,
    value: Value,
    lines: &ItemLines,
    catalog: &mut Catalog,
    problems: &mut Problems,
) {
    let Some(key) = key.as_str() else {
        problems.push(None, format!("top-level key {key:?} is not text"));
        return;
    };
    let key_line = lines.keys.get(key).copied();
    let Some(section) = Section::from_key(key) else {
        let message =
            format!("unknown top-level key `{key}` (expected units, people or config_items)");
        problems.push(key_line, message);
        return;
    };
    let items = match value {
        Value::Sequence(items) => items,
        Value::Null => return,
        _ => return problems.push(key_line, format!("`{key}` must be a list")),
    };
    let at = ItemsAt {
        lines: &lines.items[section as usize],
        // Only an aliased list (`units: *shared`) has items the event pass did not see.
        fallback: key_line.unwrap_or(1),
    };
    match section {
        Section::Units => read_items(items, &at, &mut catalog.units, problems),
        Section::People => read_items(items, &at, &mut catalog.people, problems),
        Section::ConfigItems => read_items(items, &at, &mut catalog.cis, problems),
    }
}

/// The lines where the items of one list start.
struct ItemsAt<'a> {
    lines: &'a [usize],
    fallback: usize,
}

/// Each item on its own, so that one bad item does not hide the others.
fn read_items<T: Record>(
    items: Vec<Value>,
    at: &ItemsAt,
    out: &mut Vec<Located<T>>,
    problems: &mut Problems,
) {
    for (index, mut item) in items.into_iter().enumerate() {
        let line = at.lines.get(index).copied().unwrap_or(at.fallback);
        let record = (item.apply_merge()).and_then(|()| serde_norway::from_value::<T>(item));
        match record {
            Ok(record) => accept(record, line, out, problems),
            Err(e) => problems.at(line, format!("invalid {}: {e}", T::NOUN)),
        }
    }
}

/// The reason a document does not load.
fn document_problem(text: &str, error: &serde_norway::Error) -> ImportProblem {
    // libyaml places a repeated top-level key (two `config_items:` after pasting two
    // files together) at the top of the document; the event pass knows its line.
    if let Ok(ItemLines {
        repeated_key: Some((key, first, line)),
        ..
    }) = ItemLines::of(text)
    {
        return ImportProblem {
            line: Some(line),
            message: format!("top-level key `{key}` is already on line {first}"),
        };
    }
    yaml_syntax_problem(error)
}

fn yaml_syntax_problem(error: &serde_norway::Error) -> ImportProblem {
    let message = error.to_string();
    let Some(location) = error.location() else {
        return ImportProblem {
            line: None,
            message: format!("syntax error: {message}"),
        };
    };
    // The line goes in front like every problem's; the column stays in the text.
    let (line, column) = (location.line(), location.column());
    let message = message.replacen(
        &format!(" at line {line} column {column}"),
        &format!(" at column {column}"),
        1,
    );
    ImportProblem {
        line: Some(line),
        message: format!("syntax error: {message}"),
    }
}

fn scan_problem(error: &ScanError) -> ImportProblem {
    ImportProblem {
        line: Some(error.marker().line()),
        message: format!(
            "syntax error: {} at column {}",
            error.info(),
            error.marker().col() + 1
        ),
    }
}

/// Where each top-level key and each item of the three lists starts.
#[derive(Debug, Default)]
struct ItemLines {
    keys: HashMap<String, usize>,
    items: [Vec<usize>; 3],
    /// The first top-level key written twice: its name, first line and second line.
    repeated_key: Option<(String, usize, usize)>,
}

/// What an open collection is, for the items and keys it holds.
enum Frame {
    TopLevel {
        expect_key: bool,
        section: Option<Section>,
    },
    List(Section),
    Other,
}

impl ItemLines {
    fn of(text: &str) -> Result<ItemLines, ScanError> {
        let mut lines = ItemLines::default();
        let mut open: Vec<Frame> = Vec::new();
        for event in Parser::new_from_str(text) {
            let (event, span) = event?;
            match event {
                Event::MappingEnd | Event::SequenceEnd => {
                    open.pop();
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let frame = lines.on_node(open.last_mut(), &event, span.start.line());
                    open.push(frame);
                }
                Event::Scalar(..) | Event::Alias(..) => {
                    lines.on_node(open.last_mut(), &event, span.start.line());
                }
                _ => {}
            }
        }
        Ok(lines)
    }

    fn on_key(&mut self, key: &str, line: usize) {
        match self.keys.get(key) {
            Some(&first) => {
                self.repeated_key
                    .get_or_insert_with(|| (key.to_owned(), first, line));
            }
            None => {
                self.keys.insert(key.to_owned(), line);
            }
        }
    }

    /// Notes a node's line where it matters; returns the frame it opens, if it is a
    /// collection.
    fn on_node(&mut self, parent: Option<&mut Frame>, node: &Event, line: usize) -> Frame {
        match parent {
            None if matches!(node, Event::MappingStart(..)) => Frame::TopLevel {
                expect_key: true,
                section: None,
            },
            Some(Frame::TopLevel {
                expect_key,
                section,
            }) => {
                *expect_key = !*expect_key;
                if !*expect_key {
                    // This node is a key.
                    *section = None;
                    if let Event::Scalar(key, ..) = node {
                        self.on_key(key, line);
                        *section = Section::from_key(key);
                    }
                    return Frame::Other;
                }
                match (section.take(), node) {
                    (Some(section), Event::SequenceStart(..)) => Frame::List(section),
                    _ => Frame::Other,
                }
            }
            Some(Frame::List(section)) => {
                self.items[*section as usize].push(line);
                Frame::Other
            }
            _ => Frame::Other,
        }
    }
}

// ---------------------------------------------------------------------------------
// CSV

const CSV_REQUIRED: [&str; 5] = ["id", "name", "type", "unit", "criticality"];
const CSV_LISTS: [&str; 2] = ["identifiers", "depends_on"];

/// What each column of a CSV file holds.
struct CsvColumns {
    /// Known columns by name, lowercase.
    known: HashMap<&'static str, usize>,
    /// Every other named column: an attribute, named as its header writes it.
    attributes: Vec<(usize, String)>,
    /// Columns without a name, which must stay empty.
    unnamed: Vec<usize>,
    width: usize,
}

impl CsvColumns {
    fn read(header: &csv::StringRecord) -> Result<CsvColumns, ImportErrors> {
        let mut columns = CsvColumns {
            known: HashMap::new(),
            attributes: Vec::new(),
            unnamed: Vec::new(),
            width: header.len(),
        };
        let mut problems = Problems::default();
        let mut seen = HashSet::new();
        for (index, name) in header.iter().enumerate() {
            let lower = name.to_lowercase();
            if name.is_empty() {
                columns.unnamed.push(index);
                continue;
            }
            if !seen.insert(lower.clone()) {
                problems.at(1, format!("column `{name}` appears twice in the header"));
                continue;
            }
            match CSV_REQUIRED.iter().chain(&CSV_LISTS).find(|c| **c == lower) {
                Some(known) => {
                    columns.known.insert(known, index);
                }
                None => columns.attributes.push((index, name.to_owned())),
            }
        }
        for required in CSV_REQUIRED {
            if !columns.known.contains_key(required) {
                problems.at(1, format!("the header has no `{required}` column"));
            }
        }
        problems.finish(columns)
    }

    fn cell<'r>(&self, record: &'r csv::StringRecord, column: &str) -> &'r str {
        self.known
            .get(column)
            .and_then(|&index| record.get(index))
            .unwrap_or("")
    }

    /// The CI a row describes, and what is wrong with the row beyond what
    /// [`Record::normalize`] finds.
    fn config_item(&self, record: &csv::StringRecord) -> (ConfigItem, Vec<String>) {
        let mut wrong = Vec::new();
        let criticality = criticality(self.cell(record, "criticality"))
            .map_err(|e| wrong.push(e))
            .ok();
        let depends_on = list(self.cell(record, "depends_on"))
            .filter_map(|entry| dependency(entry).map_err(|e| wrong.push(e)).ok())
            .collect();
        let identifiers: Vec<&str> = list(self.cell(record, "identifiers")).collect();
        wrong.extend(self.stray_cells(record));
        let ci = ConfigItem {
            id: self.cell(record, "id").to_owned(),
            name: self.cell(record, "name").to_owned(),
            kind: self.cell(record, "type").to_owned(),
            unit: self.cell(record, "unit").to_owned(),
            // A stand-in: the row is refused anyway when the cell is wrong.
            criticality: criticality.unwrap_or(Criticality::Low),
            identifiers: distinct_identifiers(&identifiers),
            attributes: self.attributes(record),
            depends_on,
        };
        (ci, wrong)
    }

    /// The row's cells in the other columns, as text.
    fn attributes(&self, record: &csv::StringRecord) -> BTreeMap<String, serde_json::Value> {
        (self.attributes.iter())
            .filter_map(|(index, name)| {
                let value = record.get(*index).filter(|v| !v.is_empty())?;
                Some((name.clone(), serde_json::Value::from(value)))
            })
            .collect()
    }

    /// Values in columns the header does not name would be lost without a word.
    fn stray_cells(&self, record: &csv::StringRecord) -> Vec<String> {
        let beyond = self.width..record.len();
        self.unnamed
            .iter()
            .copied()
            .chain(beyond)
            .filter_map(|index| {
                let value = record.get(index).filter(|v| !v.is_empty())?;
                Some(format!(
                    "value `{value}` in column {}, which has no name in the header",
                    index + 1
                ))
            })
            .collect()
    }
}

fn criticality(cell: &str) -> Result<Criticality, String> {
    if cell.is_empty() {
        return Err("empty `criticality` cell".to_owned());
    }
    cell.parse().map_err(|e: UnknownCriticality| e.to_string())
}

/// A `;`-separated cell.
fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|e| !e.is_empty())
}

/// `ci_id` or `relation:ci_id`.
fn dependency(entry: &str) -> Result<Dependency, String> {
    let (relation, ci) = entry
        .split_once(':')
        .map_or((DEFAULT_RELATION, entry), |(r, c)| (r.trim(), c.trim()));
    if relation.is_empty() || ci.is_empty() {
        return Err(format!(
            "dependency `{entry}` must be written `ci_id` or `relation:ci_id`"
        ));
    }
    Ok(Dependency {
        ci: ci.to_owned(),
        relation: relation.to_owned(),
    })
}

fn csv_problem(error: &csv::Error) -> ImportProblem {
    ImportProblem {
        line: error.position().map(|p| p.line() as usize),
        message: format!("unreadable CSV: {error}"),
    }
}

fn parse_csv(text: &str) -> Result<Catalog, ImportErrors> {
    let mut reader = csv::ReaderBuilder::new()
        // Short rows read as empty cells, long ones are checked by `stray_cells`.
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| ImportErrors::one(csv_problem(&e)))?;
    let columns = CsvColumns::read(header)?;
    let mut catalog = Catalog::default();
    let mut problems = Problems::default();
    for record in reader.records() {
        let record = match record {
            Ok(record) => record,
            Err(e) => {
                problems.0.push(csv_problem(&e));
                continue;
            }
        };
        let line = record.position().map_or(1, |p| p.line() as usize);
        let (mut ci, mut wrong) = columns.config_item(&record);
        if wrong.is_empty() {
            accept(ci, line, &mut catalog.cis, &mut problems);
            continue;
        }
        wrong.extend(ci.normalize());
        for message in wrong {
            problems.at(line, message);
        }
    }
    problems.finish(catalog)
}

// ---------------------------------------------------------------------------------
// Validation

/// What the registry already holds, for checks that look beyond the file.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// Unit codes in the database.
    pub units: HashSet<String>,
    /// CI id -> its identifiers and dependency ids.
    pub cis: HashMap<String, ExistingCi>,
}

#[derive(Debug, Clone, Default)]
pub struct ExistingCi {
    pub identifiers: Vec<String>,
    pub depends_on: Vec<String>,
}

const ROLES: [&str; 4] = ["admin", "unit_head", "technician", "requester"];

/// All-or-nothing validation: every problem at once, each with its line.
pub fn validate(catalog: &Catalog, existing: &Existing) -> Result<(), ImportErrors> {
    let mut problems = Problems::default();
    let file_units = first_of_each(&catalog.units, "unit", |u| &u.code, &mut problems);
    first_of_each(&catalog.people, "person", |p| &p.login, &mut problems);
    let file = FileCis::new(&catalog.cis, &mut problems);
    let known_unit = |code: &str| file_units.contains_key(code) || existing.units.contains(code);
    check_people(&catalog.people, &known_unit, &mut problems);
    for Located { line, item: ci } in &catalog.cis {
        if !known_unit(&ci.unit) {
            problems.at(
                *line,
                format!("unknown unit `{}` for CI `{}`", ci.unit, ci.id),
            );
        }
    }
    check_identifiers(&file, existing, &mut problems);
    report_cycles(
        &Graph::merged(&file, existing, &mut problems),
        &mut problems,
    );
    problems.finish(())
}

/// Index of the first item with each key; every later one is reported.
fn first_of_each<'a, T>(
    items: &'a [Located<T>],
    noun: &str,
    key: impl Fn(&T) -> &String,
    problems: &mut Problems,
) -> HashMap<&'a str, usize> {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (index, located) in items.iter().enumerate() {
        let key = key(&located.item).as_str();
        match first.get(key) {
            Some(&earlier) => problems.at(
                located.line,
                format!(
                    "{noun} `{key}` is already listed on line {}",
                    items[earlier].line
                ),
            ),
            None => {
                first.insert(key, index);
            }
        }
    }
    first
}

fn check_people(
    people: &[Located<Person>],
    known_unit: &dyn Fn(&str) -> bool,
    problems: &mut Problems,
) {
    for Located { line, item: person } in people {
        if !known_unit(&person.unit) {
            problems.at(
                *line,
                format!(
                    "unknown unit `{}` for person `{}`",
                    person.unit, person.login
                ),
            );
        }
        if let Some(message) = role_problem(person) {
            problems.at(*line, message);
        }
    }
}

fn role_problem(person: &Person) -> Option<String> {
    let login = &person.login;
    match (person.role.as_str(), person.tier) {
        ("technician", Some(1..=3)) => None,
        ("technician", Some(tier)) => Some(format!(
            "technician `{login}` has tier {tier}; tiers are 1, 2 and 3"
        )),
        ("technician", None) => Some(format!("technician `{login}` needs a tier (1, 2 or 3)")),
        (role, _) if !ROLES.contains(&role) => Some(format!(
            "person `{login}` has unknown role `{role}` \
             (expected admin, unit_head, technician or requester)"
        )),
        (role, Some(_)) => Some(format!(
            "person `{login}` is {role} and cannot have a tier (only technicians do)"
        )),
        (_, None) => None,
    }
}

/// The file's CIs, and where the first of each id is.
struct FileCis<'a> {
    all: &'a [Located<ConfigItem>],
    first: HashMap<&'a str, usize>,
    /// Later copies of a duplicated CI are already refused; checking them as well
    /// would only repeat the duplicate as clashes with itself.
    is_first: Vec<bool>,
}

impl<'a> FileCis<'a> {
    fn new(all: &'a [Located<ConfigItem>], problems: &mut Problems) -> FileCis<'a> {
        let first = first_of_each(all, "CI", |ci| &ci.id, problems);
        let mut is_first = vec![false; all.len()];
        for &index in first.values() {
            is_first[index] = true;
        }
        FileCis {
            all,
            first,
            is_first,
        }
    }

    fn firsts(&self) -> impl Iterator<Item = &'a Located<ConfigItem>> + '_ {
        (self.all.iter().zip(&self.is_first))
            .filter(|(_, first)| **first)
            .map(|(ci, _)| ci)
    }
}

/// [`identifier_key`], without allocating for the usual identifier already in that form:
/// registries reach hundreds of thousands of identifiers.
fn lookup_key(identifier: &str) -> Cow<'_, str> {
    let trimmed = identifier.trim();
    if trimmed
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(trimmed)
    } else {
        Cow::Owned(identifier_key(trimmed))
    }
}

/// Who answers to one lookup key.
#[derive(Default)]
struct KeyUsers<'a> {
    /// CIs with this id: two are enough to find one other than the CI asking.
    ids: [Option<&'a str>; 2],
    /// The CI that has it as an identifier.
    identifier_of: Option<&'a str>,
}

impl<'a> KeyUsers<'a> {
    fn add_id(&mut self, id: &'a str) {
        match self.ids {
            [None, _] => self.ids[0] = Some(id),
            [Some(first), None] if first != id => self.ids[1] = Some(id),
            _ => {}
        }
    }

    fn other_than(&self, own: &str) -> Option<&'a str> {
        let ids = self.ids.iter().flatten().copied();
        ids.chain(self.identifier_of).find(|ci| *ci != own)
    }
}

/// Monitoring tools name a CI by any of its identifiers or its id, so each must lead
/// to one CI only.
fn check_identifiers(file: &FileCis, existing: &Existing, problems: &mut Problems) {
    // One map for ids and identifiers alike: one lookup per identifier of the file.
    let file_identifiers: usize = file.all.iter().map(|ci| ci.item.identifiers.len()).sum();
    let capacity = file.all.len() + file_identifiers;
    let mut users: HashMap<Cow<str>, KeyUsers> = HashMap::with_capacity(capacity);
    for id in file.first.keys() {
        users.entry(lookup_key(id)).or_default().add_id(id);
    }
    for (id, ci) in &existing.cis {
        // A CI in the file replaces its existing version, identifiers included (its id
        // is in already).
        if file.first.contains_key(id.as_str()) {
            continue;
        }
        users.entry(lookup_key(id)).or_default().add_id(id);
        for identifier in &ci.identifiers {
            let key_users = users.entry(lookup_key(identifier)).or_default();
            key_users.identifier_of.get_or_insert(id);
        }
    }
    for Located { line, item: ci } in file.firsts() {
        for identifier in &ci.identifiers {
            let key_users = users.entry(lookup_key(identifier)).or_default();
            match key_users.other_than(&ci.id) {
                Some(other) => problems.at(
                    *line,
                    format!(
                        "identifier `{identifier}` of CI `{}` is already used by CI `{other}`",
                        ci.id
                    ),
                ),
                None => key_users.identifier_of = Some(&ci.id),
            }
        }
    }
}

/// The dependency graph as it would be after the import: the file's CIs (nodes in
/// file order), and the existing CIs they reach, each file CI replacing its existing
/// version.
struct Graph<'a> {
    ids: Vec<&'a str>,
    /// The file line of each node; `None` for existing CIs.
    lines: Vec<Option<usize>>,
    edges: Vec<Vec<usize>>,
    /// Nodes below this are the file's CIs.
    file_nodes: usize,
    /// Node of each existing CI reached so far.
    reached: HashMap<&'a str, usize>,
}

impl<'a> Graph<'a> {
    /// Also reports each dependency of the file on a CI that exists nowhere.
    fn merged(file: &FileCis<'a>, existing: &'a Existing, problems: &mut Problems) -> Graph<'a> {
        let mut graph = Graph {
            ids: file.all.iter().map(|ci| ci.item.id.as_str()).collect(),
            lines: file.all.iter().map(|ci| Some(ci.line)).collect(),
            edges: Vec::with_capacity(file.all.len()),
            file_nodes: file.all.len(),
            reached: HashMap::new(),
        };
        for (index, Located { line, item: ci }) in file.all.iter().enumerate() {
            let mut edges = Vec::with_capacity(ci.depends_on.len());
            for dependency in &ci.depends_on {
                match graph.node_of(&dependency.ci, file, existing) {
                    Some(node) => edges.push(node),
                    None => problems.at(
                        *line,
                        format!(
                            "CI `{}` depends on `{}`, which is not in the registry or the file",
                            ci.id, dependency.ci
                        ),
                    ),
                }
            }
            graph.add_edges(if file.is_first[index] {
                edges
            } else {
                Vec::new()
            });
        }
        // Existing CIs join as they are reached: a cycle through the file only runs
        // through CIs the file reaches.
        while graph.edges.len() < graph.ids.len() {
            let id = graph.ids[graph.edges.len()];
            let depends_on = existing.cis.get(id).map_or(&[][..], |ci| &ci.depends_on);
            let edges = (depends_on.iter())
                .filter_map(|target| graph.node_of(target, file, existing))
                .collect();
            graph.add_edges(edges);
        }
        graph
    }

    /// The node of a CI id, added if it is an existing CI not reached before; `None`
    /// for an id nobody has.
    fn node_of(&mut self, id: &str, file: &FileCis, existing: &'a Existing) -> Option<usize> {
        if let Some(&node) = file.first.get(id).or_else(|| self.reached.get(id)) {
            return Some(node);
        }
        let (id, _) = existing.cis.get_key_value(id)?;
        let node = self.ids.len();
        self.reached.insert(id, node);
        self.ids.push(id);
        self.lines.push(None);
        Some(node)
    }

    /// The edges of the next node, once each.
    fn add_edges(&mut self, mut edges: Vec<usize>) {
        edges.sort_unstable();
        edges.dedup();
        self.edges.push(edges);
    }
}

/// Cycles reported in full; past that, one line says there are more.
const MAX_CYCLES: usize = 100;
/// Cycle paths longer than this are shortened in messages.
const MAX_SHOWN: usize = 12;

/// Every file CI on a cycle gets one problem naming a cycle through it: in each cyclic
/// component, the shortest cycle through its first file CI not named yet, until all are.
fn report_cycles(graph: &Graph, problems: &mut Problems) {
    let components = cyclic_components(graph);
    let component_of = component_numbers(&components, graph.ids.len());
    let mut named = vec![false; graph.ids.len()];
    let mut finder = CycleFinder::new(graph.ids.len());
    let mut reported = 0;
    for (number, component) in components.iter().enumerate() {
        let mut members: Vec<usize> = (component.iter().copied())
            .filter(|&node| graph.lines[node].is_some())
            .collect();
        members.sort_unstable();
        for start in members {
            if named[start] {
                continue;
            }
            if reported == MAX_CYCLES {
                let message = format!(
                    "more than {MAX_CYCLES} dependency cycles; \
                     break these and import again to see the rest"
                );
                problems.push(None, message);
                return;
            }
            let cycle = finder.shortest_cycle(graph, start, |node| component_of[node] == number);
            report_cycle(graph, &cycle, &mut named, problems);
            reported += 1;
        }
    }
}

/// The number of each node's component; `usize::MAX` for nodes on no cycle.
fn component_numbers(components: &[Vec<usize>], nodes: usize) -> Vec<usize> {
    let mut component_of = vec![usize::MAX; nodes];
    for (number, component) in components.iter().enumerate() {
        for &node in component {
            component_of[node] = number;
        }
    }
    component_of
}

/// The strongly connected components with a cycle (several nodes, or one that needs
/// itself) among the nodes the file's CIs reach: Tarjan's algorithm, with the
/// depth-first search on an explicit stack since a chain of 100 000 dependencies would
/// overflow the call stack.
fn cyclic_components(graph: &Graph) -> Vec<Vec<usize>> {
    let mut tarjan = Tarjan::new(graph.ids.len());
    for root in 0..graph.file_nodes {
        if tarjan.order[root] == UNSEEN {
            tarjan.run(graph, root);
        }
    }
    tarjan.components
}

const UNSEEN: usize = usize::MAX;

struct Tarjan {
    /// Discovery order of each node, or [`UNSEEN`].
    order: Vec<usize>,
    /// Lowest discovery order reachable within the current search tree.
    low: Vec<usize>,
    on_stack: Vec<bool>,
    /// Nodes whose component is not complete yet.
    stack: Vec<usize>,
    discovered: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan {
    fn new(nodes: usize) -> Tarjan {
        Tarjan {
            order: vec![UNSEEN; nodes],
            low: vec![0; nodes],
            on_stack: vec![false; nodes],
            stack: Vec::new(),
            discovered: 0,
            components: Vec::new(),
        }
    }

    fn discover(&mut self, node: usize) {
        self.order[node] = self.discovered;
        self.low[node] = self.discovered;
        self.discovered += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
    }

    fn run(&mut self, graph: &Graph, root: usize) {
        // (node, index of its next edge to follow)
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        self.discover(root);
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            if let Some(&target) = graph.edges[node].get(*next) {
                *next += 1;
                if self.order[target] == UNSEEN {
                    self.discover(target);
                    path.push((target, 0));
                } else if self.on_stack[target] {
                    self.low[node] = self.low[node].min(self.order[target]);
                }
                continue;
            }
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                self.low[parent] = self.low[parent].min(self.low[node]);
            }
            if self.low[node] == self.order[node] {
                self.close_component(graph, node);
            }
        }
    }

    /// Pops the component whose first-discovered node is `head`.
    fn close_component(&mut self, graph: &Graph, head: usize) {
        let mut component = Vec::new();
        while let Some(node) = self.stack.pop() {
            self.on_stack[node] = false;
            component.push(node);
            if node == head {
                break;
            }
        }
        if component.len() > 1 || graph.edges[head].contains(&head) {
            self.components.push(component);
        }
    }
}

/// Breadth-first searches for the shortest cycle through a node, sharing one set of
/// arrays: a node is seen in the current search when it carries that search's number.
struct CycleFinder {
    seen_in: Vec<usize>,
    came_from: Vec<usize>,
    search: usize,
    queue: VecDeque<usize>,
}

impl CycleFinder {
    fn new(nodes: usize) -> CycleFinder {
        CycleFinder {
            seen_in: vec![0; nodes],
            came_from: vec![0; nodes],
            search: 0,
            queue: VecDeque::new(),
        }
    }

    /// The shortest cycle through `start` among the nodes `inside` accepts, from
    /// `start`.
    fn shortest_cycle(
        &mut self,
        graph: &Graph,
        start: usize,
        inside: impl Fn(usize) -> bool,
    ) -> Vec<usize> {
        self.search += 1;
        self.queue.clear();
        self.queue.push_back(start);
        while let Some(node) = self.queue.pop_front() {
            for &target in &graph.edges[node] {
                if target == start {
                    return self.path_back(start, node);
                }
                if inside(target) && self.seen_in[target] != self.search {
                    self.seen_in[target] = self.search;
                    self.came_from[target] = node;
                    self.queue.push_back(target);
                }
            }
        }
        // Unreachable for a node of a cyclic component; a lone node reads as a self-cycle.
        vec![start]
    }

    /// The path the search took from `start` to `last`.
    fn path_back(&self, start: usize, last: usize) -> Vec<usize> {
        let (mut path, mut at) = (vec![last], last);
        while at != start {
            at = self.came_from[at];
            path.push(at);
        }
        path.reverse();
        path
    }
}

/// Reports the cycle at each of its file CIs not named by an earlier one, the path
/// starting from that CI: one cycle per CI is enough to act on, and a long cycle
/// repeated at thousands of lines is not.
fn report_cycle(graph: &Graph, cycle: &[usize], named: &mut [bool], problems: &mut Problems) {
    let ids: Vec<&str> = cycle.iter().map(|&n| graph.ids[n]).collect();
    for (start, &node) in cycle.iter().enumerate() {
        if let (Some(line), false) = (graph.lines[node], named[node]) {
            problems.at(line, cycle_message(&ids, start));
            named[node] = true;
        }
    }
}

/// `dependency cycle: a → b → c → a`, starting at `ids[start]`.
fn cycle_message(ids: &[&str], start: usize) -> String {
    let len = ids.len();
    let at = |step: usize| ids[(start + step) % len];
    let mut path: Vec<String> = Vec::with_capacity(MAX_SHOWN + 2);
    if len <= MAX_SHOWN {
        path.extend((0..len).map(|step| at(step).to_owned()));
    } else {
        let (head, tail) = (MAX_SHOWN / 2, MAX_SHOWN / 2);
        path.extend((0..head).map(|step| at(step).to_owned()));
        path.push(format!("… {} more …", len - head - tail));
        path.extend((len - tail..len).map(|step| at(step).to_owned()));
    }
    path.push(at(0).to_owned());
    format!("dependency cycle: {}", path.join(" → "))
}

/// A unit sent through the API, trimmed and checked as a file's would be.
pub fn normalize_unit(unit: &mut Unit) -> Result<(), String> {
    all_right(unit.normalize())
}

/// A CI sent through the API, trimmed and checked as a file's would be.
pub fn normalize_ci(ci: &mut ConfigItem) -> Result<(), String> {
    all_right(ci.normalize())
}

fn all_right(wrong: Vec<String>) -> Result<(), String> {
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = include_str!("../../tests/fixtures/ministerio.yaml");
    const JSON: &str = include_str!("../../tests/fixtures/ministerio.json");
    const CSV: &str = include_str!("../../tests/fixtures/ministerio.csv");

    /// The 1-based line of the first line of `text` containing `needle`.
    fn line_of(text: &str, needle: &str) -> usize {
        let found = text.lines().position(|l| l.contains(needle));
        found
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("`{needle}` not in the text"))
    }

    fn problems(result: Result<impl fmt::Debug, ImportErrors>) -> Vec<(Option<usize>, String)> {
        let errors = result.expect_err("the file should be refused");
        errors.0.into_iter().map(|p| (p.line, p.message)).collect()
    }

    fn items<T: Clone>(located: &[Located<T>]) -> Vec<T> {
        located.iter().map(|l| l.item.clone()).collect()
    }

    fn ci<'a>(catalog: &'a Catalog, id: &str) -> &'a Located<ConfigItem> {
        let found = catalog.cis.iter().find(|c| c.item.id == id);
        found.unwrap_or_else(|| panic!("no CI `{id}`"))
    }

    fn dep(ci: &str, relation: &str) -> Dependency {
        Dependency {
            ci: ci.to_owned(),
            relation: relation.to_owned(),
        }
    }

    fn yaml(text: &str) -> Catalog {
        parse(text, Format::Yaml).expect("the test file should parse")
    }

    fn existing_ci(identifiers: &[&str], depends_on: &[&str]) -> ExistingCi {
        ExistingCi {
            identifiers: identifiers.iter().map(|s| s.to_string()).collect(),
            depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// A header line so that the file's own lines are easy to count: line N of the
    /// test text is `lines[N - 1]`.
    fn registry(cis: &[&str]) -> String {
        let mut text = String::from("units:\n  - { code: U, name: Unidad }\nconfig_items:\n");
        for ci in cis {
            text.push_str("  - ");
            text.push_str(ci);
            text.push('\n');
        }
        text
    }

    fn validate_yaml(text: &str, existing: &Existing) -> Result<(), ImportErrors> {
        validate(&yaml(text), existing)
    }

    #[test]
    fn format_by_extension_and_content_type() {
        assert_eq!(Format::from_path(Path::new("a/b.YAML")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.yml")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("b.Json")), Some(Format::Json));
        assert_eq!(Format::from_path(Path::new("b.csv")), Some(Format::Csv));
        assert_eq!(Format::from_path(Path::new("b.txt")), None);
        assert_eq!(Format::from_path(Path::new("csv")), None);
        let by_type = Format::from_content_type;
        assert_eq!(by_type("application/yaml"), Some(Format::Yaml));
        assert_eq!(by_type("application/x-yaml"), Some(Format::Yaml));
        assert_eq!(by_type("Text/YAML; charset=utf-8"), Some(Format::Yaml));
        assert_eq!(
            by_type("application/json;charset=UTF-8"),
            Some(Format::Json)
        );
        assert_eq!(by_type(" text/csv ; header=present"), Some(Format::Csv));
        assert_eq!(by_type("text/plain"), None);
    }

    #[test]
    fn problems_display_with_their_line_and_count() {
        let at = ImportProblem {
            line: Some(12),
            message: "bad".into(),
        };
        let general = ImportProblem {
            line: None,
            message: "worse".into(),
        };
        assert_eq!(at.to_string(), "line 12: bad");
        assert_eq!(general.to_string(), "worse");
        assert_eq!(
            ImportErrors(vec![at.clone()]).to_string(),
            "1 problem in the file"
        );
        assert_eq!(
            ImportErrors(vec![at, general]).to_string(),
            "2 problems in the file"
        );
    }

    #[test]
    fn fixture_yaml_parses_with_lines() {
        let catalog = yaml(YAML);
        assert_eq!(
            (catalog.units.len(), catalog.people.len(), catalog.cis.len()),
            (4, 13, 19)
        );
        assert_eq!(ci(&catalog, "net-core-sw01").line, 41);
        assert_eq!(catalog.cis[18].line, 62);
        assert_eq!(catalog.units[0].line, 7);
        assert_eq!(catalog.people[0].line, 25);
        for located in &catalog.units {
            assert_eq!(
                located.line,
                line_of(YAML, &format!("- code: {}", located.item.code))
            );
        }
        for located in &catalog.people {
            assert_eq!(
                located.line,
                line_of(YAML, &format!("{{ login: {},", located.item.login))
            );
        }
        for located in &catalog.cis {
            assert_eq!(
                located.line,
                line_of(YAML, &format!("{{ id: {},", located.item.id))
            );
        }

        let units: Vec<_> = catalog.units.iter().map(|u| u.item.code.as_str()).collect();
        assert_eq!(units, ["DINAFI", "DGA", "DGII", "DGT"]);
        let tech = &catalog.people[4].item;
        assert_eq!(
            (tech.login.as_str(), tech.role.as_str(), tech.tier),
            ("proveedor.oracle", "technician", Some(3))
        );
        let vm = &ci(&catalog, "vm-cluster01").item;
        assert_eq!(vm.kind, "hardware");
        assert_eq!(vm.criticality, Criticality::Critical);
        assert_eq!(vm.identifiers, ["esx-cluster01"]);
        assert_eq!(
            vm.depends_on,
            [
                dep("dc-power-ups01", DEFAULT_RELATION),
                dep("net-core-sw01", DEFAULT_RELATION)
            ]
        );
        let db = &ci(&catalog, "db-safi-pg01").item;
        assert_eq!(
            db.identifiers,
            ["db-safi-pg01", "10.1.2.21", "10.1.2.21:9187"]
        );
        assert!(ci(&catalog, "doc-sla-pagos").item.identifiers.is_empty());
    }

    #[test]
    fn fixture_yaml_validates_against_an_empty_registry() {
        assert_eq!(validate(&yaml(YAML), &Existing::default()), Ok(()));
    }

    #[test]
    fn fixture_json_is_the_same_registry() {
        let from_yaml = yaml(YAML);
        let from_json = parse(JSON, Format::Json).expect("the JSON fixture should parse");
        assert_eq!(items(&from_json.units), items(&from_yaml.units));
        assert_eq!(items(&from_json.people), items(&from_yaml.people));
        assert_eq!(items(&from_json.cis), items(&from_yaml.cis));
        // Each item starts at its `{`, the line before its first key.
        for located in &from_json.cis {
            assert_eq!(
                located.line + 1,
                line_of(JSON, &format!("\"id\": \"{}\"", located.item.id))
            );
        }
        assert_eq!(
            from_json.units[0].line + 1,
            line_of(JSON, "\"code\": \"DINAFI\"")
        );
        assert_eq!(validate(&from_json, &Existing::default()), Ok(()));
    }

    #[test]
    fn fixture_csv_is_the_same_cis() {
        let from_csv = parse(CSV, Format::Csv).expect("the CSV fixture should parse");
        assert!(from_csv.units.is_empty() && from_csv.people.is_empty());
        assert_eq!(items(&from_csv.cis), items(&yaml(YAML).cis));
        let lines: Vec<usize> = from_csv.cis.iter().map(|c| c.line).collect();
        assert_eq!(lines, (2..=20).collect::<Vec<_>>());
        let existing = Existing {
            units: ["DINAFI", "DGA", "DGII", "DGT"].map(String::from).into(),
            ..Existing::default()
        };
        assert_eq!(validate(&from_csv, &existing), Ok(()));
    }

    #[test]
    fn typed_dependencies_in_yaml_and_csv() {
        let text = registry(&[
            "{ id: app, name: App, type: server, unit: U, criticality: high, depends_on: [db, { ci: vm, relation: runs_on }, { ci: sw }] }",
        ]);
        let expected = [
            dep("db", DEFAULT_RELATION),
            dep("vm", "runs_on"),
            dep("sw", DEFAULT_RELATION),
        ];
        assert_eq!(yaml(&text).cis[0].item.depends_on, expected);
        let csv = "id,name,type,unit,criticality,depends_on\napp,App,server,U,high, db ; runs_on : vm;;sw\n";
        let catalog = parse(csv, Format::Csv).expect("the CSV should parse");
        assert_eq!(catalog.cis[0].item.depends_on, expected);
    }

    #[test]
    fn csv_columns_in_any_order_and_case_with_attributes() {
        let csv = "\u{feff}Criticality, UNIT ,Name,Id,Type,Location,Vendor,Identifiers\n\
                   high,U,App,app,server,Sala 2,,APP; app ;10.0.0.1;\n";
        let catalog = parse(csv, Format::Csv).expect("the CSV should parse");
        let app = &catalog.cis[0];
        assert_eq!(app.line, 2);
        assert_eq!((app.item.id.as_str(), app.item.unit.as_str()), ("app", "U"));
        assert_eq!(app.item.criticality, Criticality::High);
        // A second spelling of the same identifier is dropped, not refused.
        assert_eq!(app.item.identifiers, ["APP", "10.0.0.1"]);
        assert!(app.item.depends_on.is_empty());
        let attributes: Vec<_> = app.item.attributes.iter().collect();
        assert_eq!(
            attributes,
            [(&"Location".to_owned(), &serde_json::json!("Sala 2"))]
        );
    }

    #[test]
    fn csv_without_a_unit_column_is_one_problem_on_the_header() {
        let csv = "id,name,type,criticality\napp,App,server,high\ndb,DB,database,low\n";
        assert_eq!(
            problems(parse(csv, Format::Csv)),
            [(Some(1), "the header has no `unit` column".to_owned())]
        );
    }

    #[test]
    fn csv_row_problems_carry_the_row_line() {
        let csv = "id,name,type,unit,criticality,depends_on\n\
                   ok,Ok,server,U,low,\n\
                   a,,server,U,urgent,\n\
                   b,B,server,U,,db;:x\n\
                   \"c\nd\",C,server,U,low,\n\
                   e,E,server,U,low,,stray\n";
        assert_eq!(
            problems(parse(csv, Format::Csv)),
            [
                (
                    Some(3),
                    "unknown criticality `urgent` (expected one of low, medium, high, critical)"
                        .to_owned()
                ),
                (Some(3), "CI `a` has an empty name".to_owned()),
                (Some(4), "empty `criticality` cell".to_owned()),
                (
                    Some(4),
                    "dependency `:x` must be written `ci_id` or `relation:ci_id`".to_owned()
                ),
                (
                    Some(5),
                    "CI id `c\nd` may only contain ASCII letters, digits, `.`, `_` and `-`"
                        .to_owned()
                ),
                (
                    Some(7),
                    "value `stray` in column 7, which has no name in the header".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn yaml_syntax_error_gives_its_line() {
        let text = "units:\n  - code: U\n    name: Unidad\n  - code: [V\nconfig_items: []\n";
        let found = problems(parse(text, Format::Yaml));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Some(5));
        assert!(found[0].1.starts_with("syntax error: "), "{}", found[0].1);
        assert!(!found[0].1.contains("at line 5"), "{}", found[0].1);
    }

    #[test]
    fn json_syntax_error_gives_its_line() {
        let text = "{\n  \"units\": [\n    { \"code\": \"U\", \"name\": \"Unidad\" }\n    { \"code\": \"V\" }\n  ]\n}\n";
        let found = problems(parse(text, Format::Json));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, Some(4), "{}", found[0].1);
    }

    #[test]
    fn repeated_top_level_key_gives_both_lines() {
        let text = "units:\n  - { code: U, name: Unidad }\nconfig_items: []\n\nunits: []\n";
        assert_eq!(
            problems(parse(text, Format::Yaml)),
            [(
                Some(5),
                "top-level key `units` is already on line 1".to_owned()
            )]
        );
    }

    #[test]
    fn each_bad_item_is_reported_at_its_line() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: high, colour: red }",
            "{ id: b, name: B, type: server, unit: U, criticality: urgent }",
            "{ id: c, name: C, type: server, criticality: low }",
            "{ id: d, name: D, type: server, unit: U, criticality: low }",
            "{ id: e f, name: E, type: server, unit: U, criticality: low }",
            "{ id: ' ', name: ' ', type: server, unit: U, criticality: low }",
        ]);
        let found = problems(parse(&text, Format::Yaml));
        let lines: Vec<_> = found.iter().map(|(line, _)| line.unwrap_or(0)).collect();
        assert_eq!(lines, [4, 5, 6, 8, 9, 9], "{found:?}");
        assert!(
            found[0].1.starts_with("invalid CI: unknown field `colour`"),
            "{}",
            found[0].1
        );
        assert!(
            found[1]
                .1
                .starts_with("invalid CI: unknown variant `urgent`"),
            "{}",
            found[1].1
        );
        assert!(
            found[2].1.starts_with("invalid CI: missing field `unit`"),
            "{}",
            found[2].1
        );
        assert_eq!(
            found[3].1,
            "CI id `e f` may only contain ASCII letters, digits, `.`, `_` and `-`"
        );
        assert_eq!(found[4].1, "empty CI id");
        assert_eq!(found[5].1, "CI `` has an empty name");
    }

    #[test]
    fn lookup_key_is_identifier_key() {
        for identifier in [
            "host-a",
            " Host-A ",
            "10.0.0.1:9100",
            "ÁRBOL",
            "straße",
            "İx",
            "",
        ] {
            assert_eq!(
                lookup_key(identifier),
                identifier_key(identifier),
                "{identifier}"
            );
        }
        assert!(matches!(lookup_key(" host-a "), Cow::Borrowed("host-a")));
    }

    #[test]
    fn items_are_trimmed_and_identifiers_deduplicated() {
        let text = "units:\n  - { code: ' U ', name: Unidad }\nconfig_items:\n  - { id: ' a ', name: A, type: server, unit: ' U', criticality: low, identifiers: [Host-A, ' host-a ', '', other], depends_on: [' b '] }\n  - { id: b, name: B, type: server, unit: U, criticality: low }\n";
        let catalog = yaml(text);
        assert_eq!(catalog.units[0].item.code, "U");
        let a = &catalog.cis[0].item;
        assert_eq!((a.id.as_str(), a.unit.as_str()), ("a", "U"));
        assert_eq!(a.identifiers, ["Host-A", "other"]);
        assert_eq!(a.depends_on, [dep("b", DEFAULT_RELATION)]);
        assert_eq!(validate(&catalog, &Existing::default()), Ok(()));
    }

    #[test]
    fn unknown_top_level_key_and_non_list_section() {
        let text = "units:\n  - { code: U, name: Unidad }\nservices: []\npeople: 3\n";
        assert_eq!(
            problems(parse(text, Format::Yaml)),
            [
                (
                    Some(3),
                    "unknown top-level key `services` (expected units, people or config_items)"
                        .to_owned()
                ),
                (Some(4), "`people` must be a list".to_owned()),
            ]
        );
    }

    #[test]
    fn block_style_items_start_at_their_first_key() {
        let text = "people:\n  # staff\n  - login: ana\n    name: Ana\n    email: ana@x\n    unit: U\n    role: requester\n\n  - login: luis\n    name: Luis\n    email: luis@x\n    unit: U\n    role: admin\n";
        let lines: Vec<_> = yaml(text).people.iter().map(|p| p.line).collect();
        assert_eq!(lines, [3, 9]);
    }

    #[test]
    fn unknown_unit_is_reported_for_cis_and_people() {
        let text = "units:\n  - { code: U, name: Unidad }\npeople:\n  - { login: ana, name: Ana, email: a@x, unit: X, role: requester }\n  - { login: luis, name: Luis, email: l@x, unit: OLD, role: requester }\nconfig_items:\n  - { id: a, name: A, type: server, unit: Y, criticality: low }\n  - { id: b, name: B, type: server, unit: U, criticality: low }\n  - { id: c, name: C, type: server, unit: OLD, criticality: low }\n";
        let existing = Existing {
            units: HashSet::from(["OLD".to_owned()]),
            ..Existing::default()
        };
        assert_eq!(
            problems(validate_yaml(text, &existing)),
            [
                (Some(4), "unknown unit `X` for person `ana`".to_owned()),
                (Some(7), "unknown unit `Y` for CI `a`".to_owned()),
            ]
        );
    }

    #[test]
    fn duplicates_are_reported_at_the_second_occurrence() {
        let text = "units:\n  - { code: U, name: Unidad }\n  - { code: U, name: Otra }\npeople:\n  - { login: ana, name: Ana, email: a@x, unit: U, role: requester }\n  - { login: ana, name: Ana, email: a@x, unit: U, role: admin }\nconfig_items:\n  - { id: a, name: A, type: server, unit: U, criticality: low, identifiers: [host-a] }\n  - { id: b, name: B, type: server, unit: U, criticality: low }\n  - { id: a, name: A2, type: server, unit: U, criticality: low, identifiers: [host-a] }\n";
        assert_eq!(
            problems(validate_yaml(text, &Existing::default())),
            [
                (Some(3), "unit `U` is already listed on line 2".to_owned()),
                (
                    Some(6),
                    "person `ana` is already listed on line 5".to_owned()
                ),
                (Some(10), "CI `a` is already listed on line 8".to_owned()),
            ]
        );
    }

    #[test]
    fn identifier_shared_by_two_cis_of_the_file() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, identifiers: [a, 10.0.0.1] }",
            "{ id: b, name: B, type: server, unit: U, criticality: low, identifiers: [b] }",
            "{ id: c, name: C, type: server, unit: U, criticality: low, identifiers: [' 10.0.0.1', B] }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &Existing::default())),
            [
                (
                    Some(6),
                    "identifier `10.0.0.1` of CI `c` is already used by CI `a`".to_owned()
                ),
                (
                    Some(6),
                    "identifier `B` of CI `c` is already used by CI `b`".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn identifier_equal_to_another_cis_id() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, identifiers: [LATER] }",
            "{ id: later, name: L, type: server, unit: U, criticality: low }",
            "{ id: c, name: C, type: server, unit: U, criticality: low, identifiers: [old] }",
        ]);
        let existing = Existing {
            cis: HashMap::from([("old".to_owned(), existing_ci(&[], &[]))]),
            ..Existing::default()
        };
        assert_eq!(
            problems(validate_yaml(&text, &existing)),
            [
                (
                    Some(4),
                    "identifier `LATER` of CI `a` is already used by CI `later`".to_owned()
                ),
                (
                    Some(6),
                    "identifier `old` of CI `c` is already used by CI `old`".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn identifier_of_an_existing_ci_is_refused_unless_that_ci_is_reimported() {
        let existing = Existing {
            cis: HashMap::from([("db".to_owned(), existing_ci(&["DB-Host", "10.0.0.5"], &[]))]),
            ..Existing::default()
        };
        let clash = registry(&["{ id: app, name: App, type: server, unit: U, criticality: low, identifiers: [db-host] }"]);
        assert_eq!(
            problems(validate_yaml(&clash, &existing)),
            [(
                Some(4),
                "identifier `db-host` of CI `app` is already used by CI `db`".to_owned()
            )]
        );
        let reimport = registry(&["{ id: db, name: DB, type: database, unit: U, criticality: low, identifiers: [db-host, 10.0.0.5] }"]);
        assert_eq!(validate_yaml(&reimport, &existing), Ok(()));
        // The re-imported CI gives up what it no longer lists, for others to take.
        let moved = registry(&[
            "{ id: db, name: DB, type: database, unit: U, criticality: low, identifiers: [db-host] }",
            "{ id: app, name: App, type: server, unit: U, criticality: low, identifiers: [10.0.0.5] }",
        ]);
        assert_eq!(validate_yaml(&moved, &existing), Ok(()));
    }

    #[test]
    fn dependency_on_an_unknown_ci() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, depends_on: [b, ghost] }",
            "{ id: b, name: B, type: server, unit: U, criticality: low }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &Existing::default())),
            [(
                Some(4),
                "CI `a` depends on `ghost`, which is not in the registry or the file".to_owned()
            )]
        );
    }

    #[test]
    fn dependency_on_an_existing_ci_is_fine() {
        let existing = Existing {
            cis: HashMap::from([("vm".to_owned(), existing_ci(&["vm01"], &[]))]),
            ..Existing::default()
        };
        let text = registry(&[
            "{ id: app, name: App, type: server, unit: U, criticality: low, depends_on: [vm] }",
        ]);
        assert_eq!(validate_yaml(&text, &existing), Ok(()));
    }

    #[test]
    fn cycle_is_reported_on_each_members_line() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, depends_on: [b] }",
            "{ id: x, name: X, type: server, unit: U, criticality: low, depends_on: [a] }",
            "{ id: b, name: B, type: server, unit: U, criticality: low, depends_on: [c] }",
            "{ id: c, name: C, type: server, unit: U, criticality: low, depends_on: [a] }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &Existing::default())),
            [
                (Some(4), "dependency cycle: a → b → c → a".to_owned()),
                (Some(6), "dependency cycle: b → c → a → b".to_owned()),
                (Some(7), "dependency cycle: c → a → b → c".to_owned()),
            ]
        );
    }

    #[test]
    fn every_file_ci_on_a_cycle_is_named() {
        // c is only on the longer cycle a → c → b → a.
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, depends_on: [b, c] }",
            "{ id: b, name: B, type: server, unit: U, criticality: low, depends_on: [a] }",
            "{ id: c, name: C, type: server, unit: U, criticality: low, depends_on: [b] }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &Existing::default())),
            [
                (Some(4), "dependency cycle: a → b → a".to_owned()),
                (Some(5), "dependency cycle: b → a → b".to_owned()),
                (Some(6), "dependency cycle: c → b → a → c".to_owned()),
            ]
        );
    }

    #[test]
    fn past_a_hundred_cycles_one_problem_says_there_are_more() {
        let cis: Vec<String> = (0..MAX_CYCLES + 5)
            .map(|i| format!("{{ id: c{i}, name: C, type: server, unit: U, criticality: low, depends_on: [c{i}] }}"))
            .collect();
        let cis: Vec<&str> = cis.iter().map(String::as_str).collect();
        let found = problems(validate_yaml(&registry(&cis), &Existing::default()));
        assert_eq!(found.len(), MAX_CYCLES + 1);
        assert_eq!(found[0], (Some(4), "dependency cycle: c0 → c0".to_owned()));
        let last = &found[MAX_CYCLES];
        assert_eq!(last.0, None);
        assert!(
            last.1.starts_with("more than 100 dependency cycles"),
            "{}",
            last.1
        );
    }

    #[test]
    fn self_dependency_is_a_cycle() {
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, depends_on: [a] }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &Existing::default())),
            [(Some(4), "dependency cycle: a → a".to_owned())]
        );
    }

    #[test]
    fn cycle_through_existing_cis_is_reported_at_the_file_cis() {
        let existing = Existing {
            cis: HashMap::from([
                ("vm".to_owned(), existing_ci(&[], &["san"])),
                ("san".to_owned(), existing_ci(&[], &["app"])),
                ("app".to_owned(), existing_ci(&[], &[])),
            ]),
            ..Existing::default()
        };
        let text = registry(&[
            "{ id: app, name: App, type: server, unit: U, criticality: low, depends_on: [vm] }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &existing)),
            [(Some(4), "dependency cycle: app → vm → san → app".to_owned())]
        );
    }

    #[test]
    fn a_file_ci_replaces_the_dependencies_of_its_existing_version() {
        let existing = Existing {
            cis: HashMap::from([
                ("app".to_owned(), existing_ci(&[], &["db"])),
                ("db".to_owned(), existing_ci(&[], &[])),
            ]),
            ..Existing::default()
        };
        // db → app would close a cycle with the stored app → db, but app drops it.
        let text = registry(&[
            "{ id: db, name: DB, type: database, unit: U, criticality: low, depends_on: [app] }",
            "{ id: app, name: App, type: server, unit: U, criticality: low }",
        ]);
        assert_eq!(validate_yaml(&text, &existing), Ok(()));
    }

    #[test]
    fn people_roles_and_tiers() {
        let text = "units:\n  - { code: U, name: Unidad }\npeople:\n\
            - { login: a, name: A, email: a@x, unit: U, role: technician, tier: 2 }\n\
            - { login: b, name: B, email: b@x, unit: U, role: technician }\n\
            - { login: c, name: C, email: c@x, unit: U, role: technician, tier: 4 }\n\
            - { login: d, name: D, email: d@x, unit: U, role: unit_head, tier: 1 }\n\
            - { login: e, name: E, email: e@x, unit: U, role: boss }\n\
            - { login: f, name: F, email: f@x, unit: U, role: requester }\n";
        assert_eq!(
            problems(validate_yaml(text, &Existing::default())),
            [
                (Some(5), "technician `b` needs a tier (1, 2 or 3)".to_owned()),
                (Some(6), "technician `c` has tier 4; tiers are 1, 2 and 3".to_owned()),
                (Some(7), "person `d` is unit_head and cannot have a tier (only technicians do)".to_owned()),
                (Some(8), "person `e` has unknown role `boss` (expected admin, unit_head, technician or requester)".to_owned()),
            ]
        );
    }

    #[test]
    fn several_kinds_of_problems_are_all_reported_in_line_order() {
        let existing = Existing {
            cis: HashMap::from([("old".to_owned(), existing_ci(&["legacy"], &[]))]),
            ..Existing::default()
        };
        let text = registry(&[
            "{ id: a, name: A, type: server, unit: U, criticality: low, depends_on: [b] }",
            "{ id: b, name: B, type: server, unit: NOPE, criticality: low, identifiers: [LEGACY], depends_on: [a, ghost] }",
            "{ id: a, name: A, type: server, unit: U, criticality: low }",
        ]);
        assert_eq!(
            problems(validate_yaml(&text, &existing)),
            [
                (Some(4), "dependency cycle: a → b → a".to_owned()),
                (Some(5), "unknown unit `NOPE` for CI `b`".to_owned()),
                (
                    Some(5),
                    "identifier `LEGACY` of CI `b` is already used by CI `old`".to_owned()
                ),
                (
                    Some(5),
                    "CI `b` depends on `ghost`, which is not in the registry or the file"
                        .to_owned()
                ),
                (Some(5), "dependency cycle: b → a → b".to_owned()),
                (Some(6), "CI `a` is already listed on line 4".to_owned()),
            ]
        );
    }

    #[test]
    fn a_long_chain_validates_and_a_long_cycle_is_shortened() {
        let n = 20_000;
        let chain = |closing: bool| Catalog {
            cis: (0..n)
                .map(|i| {
                    let next = if i + 1 < n {
                        Some(i + 1)
                    } else {
                        closing.then_some(0)
                    };
                    Located {
                        line: i + 1,
                        item: ConfigItem {
                            id: format!("ci{i}"),
                            name: "CI".into(),
                            kind: "server".into(),
                            unit: "U".into(),
                            criticality: Criticality::Low,
                            identifiers: vec![format!("host{i}")],
                            attributes: Default::default(),
                            depends_on: next
                                .map(|j| dep(&format!("ci{j}"), DEFAULT_RELATION))
                                .into_iter()
                                .collect(),
                        },
                    }
                })
                .collect(),
            ..Catalog::default()
        };
        let existing = Existing {
            units: HashSet::from(["U".to_owned()]),
            ..Existing::default()
        };
        assert_eq!(validate(&chain(false), &existing), Ok(()));
        let found = problems(validate(&chain(true), &existing));
        assert_eq!(found.len(), n);
        assert_eq!(
            found[1],
            (Some(2), format!("dependency cycle: ci1 → ci2 → ci3 → ci4 → ci5 → ci6 → … {} more … → ci19995 → ci19996 → ci19997 → ci19998 → ci19999 → ci0 → ci1", n - 12))
        );
    }

    #[test]
    fn a_dependency_listed_twice_is_refused_at_its_line() {
        let text = "units:\n  - { code: U, name: U }\nconfig_items:\n  - { id: a, name: A, type: server, unit: U, criticality: low }\n  - { id: b, name: B, type: server, unit: U, criticality: low, depends_on: [a, { ci: a, relation: runs_on }] }\n";
        let problems = parse(text, Format::Yaml).expect_err("refused").0;
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, Some(5));
        assert!(
            problems[0].message.contains("`a` more than once"),
            "{problems:?}"
        );
    }
}
