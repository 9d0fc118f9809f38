//! What the bot answers, in the person's language (Spanish unless their preference is
//! English). Refusals go to people the desk does not know, so they are in Spanish.

use crate::desk::ticket::{HoldReason, State};
use crate::domain::Lang;

/// Who took a ticket, as a reply tells it.
pub struct Assignment<'a> {
    pub assignee: Option<&'a str>,
    pub tier: Option<i64>,
    pub unit: Option<&'a str>,
    pub central_desk: bool,
}

/// A ticket as a status reply lists it.
pub struct TicketLine<'a> {
    pub id: &'a str,
    pub summary: &'a str,
    pub state: State,
    pub hold_reason: Option<HoldReason>,
}

pub fn opened(lang: Lang, id: &str, summary: &str, who: &Assignment<'_>) -> String {
    let taken = taken_by(lang, who);
    match lang {
        Lang::Es => format!(
            "Registramos su solicitud {id}: «{summary}».\n{taken}\nPara saber cómo va, escriba /estado {id}."
        ),
        Lang::En => format!(
            "We registered your request {id}: “{summary}”.\n{taken}\nTo follow it, send /status {id}."
        ),
    }
}

fn taken_by(lang: Lang, who: &Assignment<'_>) -> String {
    let unit = who.unit.unwrap_or("");
    match (lang, who.central_desk, who.assignee, who.tier) {
        (Lang::Es, true, _, _) => {
            "La recibió la mesa de servicio central, que la asignará en breve.".to_owned()
        }
        (Lang::En, true, _, _) => {
            "The central service desk received it and will assign it shortly.".to_owned()
        }
        (Lang::Es, false, Some(name), Some(tier)) => {
            format!("La atiende {name}, técnico(a) de nivel {tier} de {unit}.")
        }
        (Lang::En, false, Some(name), Some(tier)) => {
            format!("{name}, a tier-{tier} technician of {unit}, is handling it.")
        }
        (Lang::Es, false, _, _) => format!("Quedó en la cola de {unit}."),
        (Lang::En, false, _, _) => format!("It is in the queue of {unit}."),
    }
}

pub fn help(lang: Lang) -> String {
    match lang {
        Lang::Es => "Soy el asistente de la Mesa de Servicio del Ministerio de Hacienda.\n\
            • Describa en un mensaje lo que necesita y registraré su solicitud.\n\
            • /estado muestra sus solicitudes abiertas; /estado ID, una de ellas.\n\
            • /ayuda muestra este mensaje."
            .to_owned(),
        Lang::En => "I am the assistant of the Ministry of Finance's service desk.\n\
            • Describe what you need in one message and I will register your request.\n\
            • /status lists your open requests; /status ID shows one of them.\n\
            • /help shows this message."
            .to_owned(),
    }
}

pub fn unknown_command(lang: Lang, command: &str) -> String {
    let intro = match lang {
        Lang::Es => format!("No conozco la orden /{command}."),
        Lang::En => format!("I do not know the command /{command}."),
    };
    format!("{intro}\n{}", help(lang))
}

pub fn not_text(lang: Lang) -> String {
    match lang {
        Lang::Es => {
            "Por ahora solo leo mensajes de texto: describa su solicitud por escrito, por favor."
                .to_owned()
        }
        Lang::En => {
            "For now I only read text messages: please describe your request in writing.".to_owned()
        }
    }
}

pub fn open_tickets(lang: Lang, tickets: &[TicketLine<'_>]) -> String {
    if tickets.is_empty() {
        return match lang {
            Lang::Es => "No tiene solicitudes abiertas.".to_owned(),
            Lang::En => "You have no open requests.".to_owned(),
        };
    }
    let head = match lang {
        Lang::Es => "Sus solicitudes abiertas:",
        Lang::En => "Your open requests:",
    };
    let lines: Vec<String> = tickets
        .iter()
        .map(|t| {
            let state = state_words(lang, t.state, t.hold_reason);
            format!("• {} — {state} — {}", t.id, t.summary)
        })
        .collect();
    format!("{head}\n{}", lines.join("\n"))
}

pub fn one_ticket(
    lang: Lang,
    t: &TicketLine<'_>,
    who: &Assignment<'_>,
    solution: Option<&str>,
) -> String {
    let state = state_words(lang, t.state, t.hold_reason);
    let mut reply = match lang {
        Lang::Es => format!("Solicitud {}: «{}»\nEstado: {state}.", t.id, t.summary),
        Lang::En => format!("Request {}: “{}”\nState: {state}.", t.id, t.summary),
    };
    if t.state.is_open() {
        reply.push('\n');
        reply.push_str(&taken_by(lang, who));
    }
    if let Some(solution) = solution {
        let label = match lang {
            Lang::Es => "Solución",
            Lang::En => "Solution",
        };
        reply.push_str(&format!("\n{label}: {solution}"));
    }
    reply
}

pub fn no_such_ticket(lang: Lang, id: &str) -> String {
    match lang {
        Lang::Es => format!("No encontré la solicitud {id} entre las que usted puede consultar."),
        Lang::En => format!("I found no request {id} among those you may see."),
    }
}

pub fn not_registered(lang: Lang) -> String {
    match lang {
        Lang::Es => "No pude registrar su solicitud por este medio. Por favor, comuníquese con la Mesa de Servicio por correo o por teléfono.".to_owned(),
        Lang::En => "I could not register your request this way. Please contact the service desk by email or phone.".to_owned(),
    }
}

/// The answer to someone the desk does not know: what to do to be able to use it.
pub fn refused(name: Option<&str>, platform: &str, sender_id: &str) -> String {
    let greeting = match name {
        Some(name) => format!("Hola, {name}."),
        None => "Hola.".to_owned(),
    };
    format!(
        "{greeting} Gracias por escribir a la Mesa de Servicio del Ministerio de Hacienda.\n\
         Su cuenta de {platform} aún no está vinculada a una persona registrada en la Mesa, \
         por lo que no podemos atender solicitudes desde ella.\n\
         Para usar este canal, pida a la administración de la Mesa de Servicio que vincule su \
         cuenta, indicando este identificador: {sender_id}.\n\
         Mientras tanto, puede escribir al correo de la Mesa de Servicio de su unidad."
    )
}

fn state_words(lang: Lang, state: State, hold: Option<HoldReason>) -> String {
    let base = match (lang, state) {
        (Lang::Es, State::New) => "recibida",
        (Lang::Es, State::Assigned) => "asignada",
        (Lang::Es, State::InProgress) => "en atención",
        (Lang::Es, State::OnHold) => "en espera",
        (Lang::Es, State::Resolved) => "resuelta",
        (Lang::Es, State::Closed) => "cerrada",
        (Lang::Es, State::Canceled) => "cancelada",
        (Lang::En, State::New) => "received",
        (Lang::En, State::Assigned) => "assigned",
        (Lang::En, State::InProgress) => "in progress",
        (Lang::En, State::OnHold) => "on hold",
        (Lang::En, State::Resolved) => "resolved",
        (Lang::En, State::Closed) => "closed",
        (Lang::En, State::Canceled) => "canceled",
    };
    let why = match (lang, hold.filter(|_| state == State::OnHold)) {
        (_, None) => return base.to_owned(),
        (Lang::Es, Some(HoldReason::AwaitingUser)) => "esperando su respuesta",
        (Lang::Es, Some(HoldReason::AwaitingApproval)) => "esperando una aprobación",
        (Lang::Es, Some(HoldReason::Rescheduled)) => "reprogramada",
        (Lang::Es, Some(HoldReason::AwaitingProblem)) => "esperando la solución de un problema",
        (Lang::Es, Some(HoldReason::AwaitingVendor)) => "esperando al proveedor",
        (Lang::En, Some(HoldReason::AwaitingUser)) => "awaiting your answer",
        (Lang::En, Some(HoldReason::AwaitingApproval)) => "awaiting approval",
        (Lang::En, Some(HoldReason::Rescheduled)) => "rescheduled",
        (Lang::En, Some(HoldReason::AwaitingProblem)) => "awaiting a problem's solution",
        (Lang::En, Some(HoldReason::AwaitingVendor)) => "awaiting the vendor",
    };
    format!("{base} ({why})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opened_request_names_its_reference_and_who_took_it_in_each_language() {
        let who = Assignment {
            assignee: Some("Ana López"),
            tier: Some(1),
            unit: Some("DINAFI"),
            central_desk: false,
        };
        let es = opened(Lang::Es, "req_01", "Sin VPN", &who);
        assert!(es.contains("req_01") && es.contains("Ana López") && es.contains("nivel 1"));
        assert!(es.contains("/estado req_01"), "{es}");
        let en = opened(Lang::En, "req_01", "Sin VPN", &who);
        assert!(en.contains("tier-1 technician of DINAFI") && en.contains("/status req_01"));
        let central = Assignment {
            central_desk: true,
            ..who
        };
        assert!(opened(Lang::Es, "req_01", "x", &central).contains("mesa de servicio central"));
    }

    #[test]
    fn states_are_worded_with_the_reason_of_a_hold() {
        let line = TicketLine {
            id: "req_01",
            summary: "Sin VPN",
            state: State::OnHold,
            hold_reason: Some(HoldReason::AwaitingUser),
        };
        let es = open_tickets(Lang::Es, &[line]);
        assert!(
            es.contains("req_01 — en espera (esperando su respuesta) — Sin VPN"),
            "{es}"
        );
        assert_eq!(open_tickets(Lang::En, &[]), "You have no open requests.");
    }

    #[test]
    fn a_refusal_says_how_to_get_linked() {
        let text = refused(Some("Gloria"), "telegram", "5550001");
        assert!(text.starts_with("Hola, Gloria."));
        assert!(text.contains("vincule su cuenta") && text.contains("5550001"));
    }
}
