use super::*;
use crate::notify::{Recipient, TicketFacts};

fn notice(topic: Topic, lang: Lang, kind: &str) -> Notice {
    Notice {
        topic,
        recipient: Recipient {
            login: "jperez".to_owned(),
            name: "José Pérez".to_owned(),
            email: "jperez@mh.gob.sv".to_owned(),
            language: lang,
        },
        ticket: TicketFacts {
            id: "inc_01hx7q".to_owned(),
            kind: kind.to_owned(),
            summary: "Caída del SIAFI".to_owned(),
            unit: Some("DINAFI".to_owned()),
            state: "assigned".to_owned(),
            priority: Some("P2".to_owned()),
            actor: "mlopez".to_owned(),
            comment: Some("¿Desde qué equipo se conecta?".to_owned()),
            solution: Some("Se reinició el servicio de base de datos.".to_owned()),
            resolution_code: Some("workaround".to_owned()),
            // 2024-05-07 14:30:00 UTC = 08:30 in El Salvador (UTC−6), a Tuesday.
            resume_at: Some(1_715_092_200_000),
            sla_metric: None,
            due_at: None,
        },
    }
}

fn render(topic: Topic, lang: Lang) -> Rendered {
    Templates::new()
        .expect("templates compile")
        .render(&notice(topic, lang, "incident"))
        .expect("renders")
}

#[test]
fn every_topic_renders_in_both_languages_with_the_ticket_and_the_recipient() {
    let templates = Templates::new().expect("templates compile");
    for topic in TOPICS {
        for lang in [Lang::Es, Lang::En] {
            let r = templates
                .render(&notice(topic, lang, "incident"))
                .expect("renders");
            let what = format!("{topic:?} in {lang:?}");
            assert!(r.subject.contains("inc_01hx7q"), "{what}: {}", r.subject);
            assert!(
                r.subject.contains("Caída del SIAFI"),
                "{what}: {}",
                r.subject
            );
            assert!(!r.subject.contains('\n'), "{what}: {}", r.subject);
            assert!(r.body.contains("inc_01hx7q"), "{what}: {}", r.body);
            assert!(r.body.contains("José Pérez"), "{what}: {}", r.body);
            assert!(!r.body.contains("{{") && !r.body.contains("{%"), "{what}");
            assert!(!r.body.contains("\n\n\n"), "{what}: no holes\n{}", r.body);
            assert!(
                r.body.contains("\nMinisterio de Hacienda\n"),
                "{what}: signed\n{}",
                r.body
            );
        }
    }
}

#[test]
fn assigned_in_spanish_names_the_ticket_its_priority_and_who_assigned_it() {
    let r = render(Topic::Assigned, Lang::Es);
    assert_eq!(
        r.subject,
        "Se le asignó el incidente inc_01hx7q «Caída del SIAFI»"
    );
    assert!(
        r.body.starts_with("Estimado(a) José Pérez:\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("Prioridad: P2\n"), "{}", r.body);
    assert!(r.body.contains("Unidad: DINAFI\n"), "{}", r.body);
    assert!(
        r.body
            .contains("Asignación realizada por: mlopez\n\nComentario:\n¿Desde qué equipo"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("Mesa de Servicio\nMinisterio de Hacienda\n"),
        "{}",
        r.body
    );
}

#[test]
fn an_automatic_assignment_says_the_desk_made_it() {
    let mut n = notice(Topic::Assigned, Lang::Es, "incident");
    n.ticket.actor = "system".to_owned();
    let r = Templates::new()
        .expect("compile")
        .render(&n)
        .expect("renders");
    assert!(
        r.body
            .contains("Asignación realizada por: la Mesa de Servicio (automática)"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("system"), "{}", r.body);
}

#[test]
fn resolved_tells_the_solution_and_resolution_in_the_right_gender() {
    let templates = Templates::new().expect("compile");
    let es = templates
        .render(&notice(Topic::Resolved, Lang::Es, "service_request"))
        .expect("renders");
    assert_eq!(
        es.subject,
        "Su solicitud de servicio inc_01hx7q fue resuelta: «Caída del SIAFI»"
    );
    assert!(
        es.body
            .contains("Solución:\nSe reinició el servicio de base de datos.\n"),
        "{}",
        es.body
    );
    assert!(
        es.body
            .contains("Código de resolución: Solución alternativa\n"),
        "{}",
        es.body
    );

    let incident = templates
        .render(&notice(Topic::Resolved, Lang::Es, "incident"))
        .expect("renders");
    assert!(
        incident
            .subject
            .starts_with("Su incidente inc_01hx7q fue resuelto:"),
        "{}",
        incident.subject
    );

    let en = templates
        .render(&notice(Topic::Resolved, Lang::En, "service_request"))
        .expect("renders");
    assert_eq!(
        en.subject,
        "Your service request inc_01hx7q was resolved: “Caída del SIAFI”"
    );
    assert!(
        en.body
            .contains("Solution:\nSe reinició el servicio de base de datos.\n"),
        "{}",
        en.body
    );
    assert!(
        en.body.contains("Resolution code: Workaround\n"),
        "{}",
        en.body
    );
}

#[test]
fn info_requested_carries_the_question() {
    let es = render(Topic::InfoRequested, Lang::Es);
    assert!(
        es.body
            .contains("Consulta de mlopez:\n¿Desde qué equipo se conecta?\n"),
        "{}",
        es.body
    );
    let en = render(Topic::InfoRequested, Lang::En);
    assert!(
        en.body
            .contains("Question from mlopez:\n¿Desde qué equipo se conecta?\n"),
        "{}",
        en.body
    );
}

#[test]
fn resumed_shows_the_time_in_el_salvador() {
    let es = render(Topic::Resumed, Lang::Es);
    assert!(
        es.body
            .contains("se reanudó el martes 7 de mayo de 2024 a las 08:30 (hora de El Salvador)"),
        "{}",
        es.body
    );
    let en = render(Topic::Resumed, Lang::En);
    assert!(
        en.body
            .contains("resumed on Tuesday, May 7, 2024 at 08:30 (El Salvador time)"),
        "{}",
        en.body
    );
}

#[test]
fn approval_and_escalations_carry_the_request_text() {
    for (topic, es_label, en_label) in [
        (Topic::ApprovalRequested, "Solicitud:", "Request:"),
        (Topic::Unsolvable, "Motivo:", "Reason:"),
        (Topic::ProblemRequested, "Justificación:", "Justification:"),
    ] {
        let es = render(topic, Lang::Es);
        assert!(
            es.body
                .contains(&format!("{es_label}\n¿Desde qué equipo se conecta?")),
            "{}",
            es.body
        );
        assert!(es.body.contains("mlopez"), "{}", es.body);
        let en = render(topic, Lang::En);
        assert!(
            en.body
                .contains(&format!("{en_label}\n¿Desde qué equipo se conecta?")),
            "{}",
            en.body
        );
    }
}

#[test]
fn missing_optional_facts_leave_no_empty_labels() {
    let mut n = notice(Topic::Resolved, Lang::Es, "incident");
    n.ticket.solution = None;
    n.ticket.resolution_code = None;
    n.ticket.priority = None;
    n.ticket.comment = None;
    let r = Templates::new()
        .expect("compile")
        .render(&n)
        .expect("renders");
    assert!(!r.body.contains("Solución:"), "{}", r.body);
    assert!(!r.body.contains("Código de resolución"), "{}", r.body);
    let mut n = notice(Topic::Assigned, Lang::En, "incident");
    n.ticket.priority = None;
    n.ticket.unit = None;
    n.ticket.comment = None;
    let r = Templates::new()
        .expect("compile")
        .render(&n)
        .expect("renders");
    assert!(!r.body.contains("Priority:"), "{}", r.body);
    assert!(!r.body.contains("Comment:"), "{}", r.body);
}

#[test]
fn a_summary_with_line_breaks_keeps_the_subject_on_one_line() {
    let mut n = notice(Topic::Assigned, Lang::Es, "incident");
    n.ticket.summary = "Caída\r\ndel SIAFI".to_owned();
    let r = Templates::new()
        .expect("compile")
        .render(&n)
        .expect("renders");
    assert_eq!(
        r.subject,
        "Se le asignó el incidente inc_01hx7q «Caída del SIAFI»"
    );
}
