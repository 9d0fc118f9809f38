//! Email text: one template per topic and language under `templates/{es,en}/`, compiled
//! into the binary. A template's first line is the subject; the rest is the plain-text
//! body, followed by the language's `footer.txt`. Words that depend on the ticket
//! (kind names and their gender, resolution codes, the resume time in El Salvador) are
//! prepared here, so templates stay plain text with a few conditions.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::{Notice, NotifyError, Topic};
use crate::domain::{from_millis, Lang};

const TOPICS: [Topic; 13] = [
    Topic::Assigned,
    Topic::SlaWarning,
    Topic::SlaBreached,
    Topic::ApprovalGranted,
    Topic::ApprovalRejected,
    Topic::Reopened,
    Topic::Resumed,
    Topic::ApprovalRequested,
    Topic::Unsolvable,
    Topic::ProblemRequested,
    Topic::InfoRequested,
    Topic::Resolved,
    Topic::Received,
];

/// Name and source of every topic's template, checked when the notifier starts.
const SOURCES: &[(&str, &str)] = &[
    ("es/assigned", include_str!("templates/es/assigned.txt")),
    ("es/received", include_str!("templates/es/received.txt")),
    ("es/resumed", include_str!("templates/es/resumed.txt")),
    (
        "es/approval_requested",
        include_str!("templates/es/approval_requested.txt"),
    ),
    ("es/unsolvable", include_str!("templates/es/unsolvable.txt")),
    (
        "es/problem_requested",
        include_str!("templates/es/problem_requested.txt"),
    ),
    (
        "es/info_requested",
        include_str!("templates/es/info_requested.txt"),
    ),
    ("es/resolved", include_str!("templates/es/resolved.txt")),
    (
        "es/approval_granted",
        include_str!("templates/es/approval_granted.txt"),
    ),
    (
        "es/approval_rejected",
        include_str!("templates/es/approval_rejected.txt"),
    ),
    ("es/reopened", include_str!("templates/es/reopened.txt")),
    (
        "es/sla_warning",
        include_str!("templates/es/sla_warning.txt"),
    ),
    (
        "es/sla_breached",
        include_str!("templates/es/sla_breached.txt"),
    ),
    ("en/assigned", include_str!("templates/en/assigned.txt")),
    ("en/received", include_str!("templates/en/received.txt")),
    ("en/resumed", include_str!("templates/en/resumed.txt")),
    (
        "en/approval_requested",
        include_str!("templates/en/approval_requested.txt"),
    ),
    ("en/unsolvable", include_str!("templates/en/unsolvable.txt")),
    (
        "en/problem_requested",
        include_str!("templates/en/problem_requested.txt"),
    ),
    (
        "en/info_requested",
        include_str!("templates/en/info_requested.txt"),
    ),
    ("en/resolved", include_str!("templates/en/resolved.txt")),
    (
        "en/approval_granted",
        include_str!("templates/en/approval_granted.txt"),
    ),
    (
        "en/approval_rejected",
        include_str!("templates/en/approval_rejected.txt"),
    ),
    ("en/reopened", include_str!("templates/en/reopened.txt")),
    (
        "en/sla_warning",
        include_str!("templates/en/sla_warning.txt"),
    ),
    (
        "en/sla_breached",
        include_str!("templates/en/sla_breached.txt"),
    ),
];

/// The signature under every email, by language.
const FOOTERS: &[(&str, &str)] = &[
    ("es/footer", include_str!("templates/es/footer.txt")),
    ("en/footer", include_str!("templates/en/footer.txt")),
];

/// The desk's time zone: times in notifications are local times there.
const DESK_TIME_ZONE: &str = "America/El_Salvador";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

pub struct Templates {
    env: Environment<'static>,
    zone: jiff::tz::TimeZone,
}

/// What templates see of the ticket: the facts, in the recipient's words.
#[derive(Serialize)]
struct TicketView<'a> {
    id: &'a str,
    summary: &'a str,
    /// The kind's name, e.g. `solicitud de servicio`.
    kind: &'static str,
    /// With its article: `la solicitud de servicio`, `the incident`.
    the_kind: String,
    /// Spanish participles agree with it (`resuelta`, `resuelto`).
    feminine: bool,
    unit: Option<&'a str>,
    priority: Option<&'a str>,
    actor: &'a str,
    by_system: bool,
    comment: Option<&'a str>,
    solution: Option<&'a str>,
    resolution: Option<String>,
    resume_at: Option<String>,
    /// `la resolución`, `the acknowledgement`…
    sla_target: Option<&'static str>,
    due_at: Option<String>,
}

#[derive(Serialize)]
struct RecipientView<'a> {
    name: &'a str,
    login: &'a str,
}

impl Templates {
    pub fn new() -> Result<Self, NotifyError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(NotifyError::Template)?,
        );
        // A misspelt field must fail the tests, not send an email with a hole in it.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in SOURCES {
            // Apart, so a line break in a value cannot move text from subject to body.
            let (subject, body) = source.split_once('\n').unwrap_or((source, ""));
            env.add_template_owned(format!("{name}/subject"), subject)
                .map_err(NotifyError::Template)?;
            env.add_template_owned(format!("{name}/body"), body)
                .map_err(NotifyError::Template)?;
        }
        for (name, source) in FOOTERS {
            env.add_template(name, source)
                .map_err(NotifyError::Template)?;
        }
        let zone = jiff::tz::TimeZone::get(DESK_TIME_ZONE)
            // El Salvador keeps UTC−6 all year; the bundled database always has it.
            .unwrap_or_else(|_| jiff::tz::TimeZone::fixed(jiff::tz::offset(-6)));
        let templates = Templates { env, zone };
        for topic in TOPICS {
            for lang in [Lang::Es, Lang::En] {
                for part in ["subject", "body"] {
                    let name = format!("{}/{part}", name(lang, topic.as_str()));
                    templates
                        .env
                        .get_template(&name)
                        .map_err(NotifyError::Template)?;
                }
            }
        }
        Ok(templates)
    }

    /// The subject and body of a notice in its recipient's language.
    pub fn render(&self, notice: &Notice) -> Result<Rendered, NotifyError> {
        let lang = notice.recipient.language;
        let context = minijinja::context! {
            recipient => Serde(RecipientView {
                name: &notice.recipient.name,
                login: &notice.recipient.login,
            }),
            ticket => Serde(self.ticket_view(notice, lang)),
        };
        let render = |template: &str, part: &str| {
            self.env
                .get_template(&format!("{}/{part}", name(lang, template)))
                .and_then(|t| t.render(&context))
                .map_err(NotifyError::Template)
        };
        let topic = notice.topic.as_str();
        let subject = render(topic, "subject")?;
        let body = render(topic, "body")?;
        let footer = self
            .env
            .get_template(&name(lang, "footer"))
            .and_then(|t| t.render(&context))
            .map_err(NotifyError::Template)?;
        Ok(Rendered {
            // A header must stay on one line, whatever a summary carries.
            subject: one_line(&subject),
            body: format!("{}\n\n{}\n", body.trim(), footer.trim()),
        })
    }

    fn ticket_view<'a>(&self, notice: &'a Notice, lang: Lang) -> TicketView<'a> {
        let t = &notice.ticket;
        let (kind, feminine) = kind_name(&t.kind, lang);
        let by_system = t.actor == "system";
        let actor = match (by_system, lang) {
            (true, Lang::Es) => "la Mesa de Servicio",
            (true, Lang::En) => "the Service Desk",
            (false, _) => t.actor.as_str(),
        };
        let the_kind = match (lang, feminine) {
            (Lang::Es, true) => format!("la {kind}"),
            (Lang::Es, false) => format!("el {kind}"),
            (Lang::En, _) => format!("the {kind}"),
        };
        TicketView {
            id: &t.id,
            summary: &t.summary,
            kind,
            the_kind,
            feminine,
            unit: t.unit.as_deref(),
            priority: t.priority.as_deref(),
            actor,
            by_system,
            comment: t.comment.as_deref().filter(|c| !c.trim().is_empty()),
            solution: t.solution.as_deref().filter(|s| !s.trim().is_empty()),
            resolution: t
                .resolution_code
                .as_deref()
                .map(|code| resolution_name(code, lang)),
            resume_at: t.resume_at.map(|ms| self.local_time(ms, lang)),
            sla_target: t.sla_metric.as_deref().map(|m| sla_target(m, lang)),
            due_at: t.due_at.map(|ms| self.local_time(ms, lang)),
        }
    }

    /// `martes 6 de mayo de 2025 a las 08:30 (hora de El Salvador)`.
    fn local_time(&self, ms: i64, lang: Lang) -> String {
        let local = from_millis(ms).to_zoned(self.zone.clone());
        let month = usize::try_from(local.month() - 1).unwrap_or(0) % 12;
        let weekday = usize::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0) % 7;
        let (day, year) = (local.day(), local.year());
        let (hour, minute) = (local.hour(), local.minute());
        match lang {
            Lang::Es => format!(
                "{} {day} de {} de {year} a las {hour:02}:{minute:02} (hora de El Salvador)",
                WEEKDAYS_ES[weekday], MONTHS_ES[month]
            ),
            Lang::En => format!(
                "{}, {} {day}, {year} at {hour:02}:{minute:02} (El Salvador time)",
                WEEKDAYS_EN[weekday], MONTHS_EN[month]
            ),
        }
    }
}

fn name(lang: Lang, template: &str) -> String {
    format!("{}/{template}", lang.as_str())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

const WEEKDAYS_ES: [&str; 7] = [
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
];
const MONTHS_ES: [&str; 12] = [
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];
const WEEKDAYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The kind's name, and whether it is feminine in Spanish. A kind this version does
/// not know is named generically rather than shown as a code.
fn kind_name(kind: &str, lang: Lang) -> (&'static str, bool) {
    match (kind, lang) {
        ("incident", Lang::Es) => ("incidente", false),
        ("service_request", Lang::Es) => ("solicitud de servicio", true),
        ("event", Lang::Es) => ("evento", false),
        ("problem", Lang::Es) => ("problema", false),
        ("incident", Lang::En) => ("incident", false),
        ("service_request", Lang::En) => ("service request", false),
        ("event", Lang::En) => ("event", false),
        ("problem", Lang::En) => ("problem", false),
        (_, Lang::Es) => ("requerimiento", false),
        (_, Lang::En) => ("request", false),
    }
}

/// The desk's default resolution codes in words; a code configured beyond them is shown
/// as it is.
fn resolution_name(code: &str, lang: Lang) -> String {
    let words = match (code, lang) {
        ("solved", Lang::Es) => "Resuelto",
        ("workaround", Lang::Es) => "Solución alternativa",
        ("change_applied", Lang::Es) => "Cambio aplicado",
        ("vendor_fix", Lang::Es) => "Corrección del proveedor",
        ("user_guidance", Lang::Es) => "Orientación al usuario",
        ("no_fault_found", Lang::Es) => "No se encontró falla",
        ("solved", Lang::En) => "Solved",
        ("workaround", Lang::En) => "Workaround",
        ("change_applied", Lang::En) => "Change applied",
        ("vendor_fix", Lang::En) => "Vendor fix",
        ("user_guidance", Lang::En) => "User guidance",
        ("no_fault_found", Lang::En) => "No fault found",
        _ => code,
    };
    words.to_owned()
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;

/// The target a clock measures, as the recipient reads it.
fn sla_target(metric: &str, lang: Lang) -> &'static str {
    match (metric, lang) {
        ("acknowledge", Lang::Es) => "la atención (primera respuesta)",
        ("acknowledge", Lang::En) => "the acknowledgement",
        (_, Lang::Es) => "la resolución",
        (_, Lang::En) => "the resolution",
    }
}
