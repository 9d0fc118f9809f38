//! Why an alert belongs to its incident, in words, in the caller's language: Spanish
//! unless the request's `Accept-Language` prefers English.

use crate::pipeline::correlate::Reason;

pub use crate::domain::Lang;

pub fn explain(reason: &Reason, lang: Lang) -> String {
    match (reason, lang) {
        (Reason::Origin { ci: Some(ci) }, Lang::Es) => format!("abrió el incidente sobre {ci}"),
        (Reason::Origin { ci: Some(ci) }, Lang::En) => format!("opened the incident on {ci}"),
        (Reason::Origin { ci: None }, Lang::Es) => {
            "abrió el incidente; no corresponde a ningún CI, así que la mesa central lo clasifica"
                .to_owned()
        }
        (Reason::Origin { ci: None }, Lang::En) => {
            "opened the incident; it names no CI, so the central desk triages it".to_owned()
        }
        (Reason::Repeat, Lang::Es) => "nueva ocurrencia de una alerta del incidente".to_owned(),
        (Reason::Repeat, Lang::En) => "a new occurrence of an alert of the incident".to_owned(),
        (Reason::SameCi { ci, incident }, Lang::Es) => {
            format!("se unió porque {ci} ya tiene el incidente {incident}")
        }
        (Reason::SameCi { ci, incident }, Lang::En) => {
            format!("joined because {ci} already has incident {incident}")
        }
        (Reason::DependsOn { ci, path, incident }, lang) => {
            let target = path.last().unwrap_or(ci);
            let via = through(path, lang);
            match lang {
                Lang::Es => format!(
                    "se unió porque {ci} depende de {target}{via}, que tiene el incidente {incident}"
                ),
                Lang::En => format!(
                    "joined because {ci} depends on {target}{via}, which has incident {incident}"
                ),
            }
        }
        (Reason::Merged { from, ci, path }, lang) => {
            let target = path.last().unwrap_or(ci);
            let via = through(path, lang);
            match lang {
                Lang::Es => format!(
                    "vino del incidente {from}, fusionado porque {ci} depende de {target}{via}"
                ),
                Lang::En => format!(
                    "came from incident {from}, merged because {ci} depends on {target}{via}"
                ),
            }
        }
    }
}

/// The CIs strictly between the two ends of a path: " (through a, b)".
fn through(path: &[String], lang: Lang) -> String {
    if path.len() <= 2 {
        return String::new();
    }
    let middle = path[1..path.len() - 1].join(", ");
    match lang {
        Lang::Es => format!(" (a través de {middle})"),
        Lang::En => format!(" (through {middle})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_and_spanish_name_the_path_and_the_incident() {
        let reason = Reason::DependsOn {
            ci: "srv-safi-app01".into(),
            path: vec![
                "srv-safi-app01".into(),
                "db-safi-pg01".into(),
                "vm-cluster01".into(),
            ],
            incident: "inc_1".into(),
        };
        assert_eq!(
            explain(&reason, Lang::En),
            "joined because srv-safi-app01 depends on vm-cluster01 (through db-safi-pg01), \
             which has incident inc_1"
        );
        assert_eq!(
            explain(&reason, Lang::Es),
            "se unió porque srv-safi-app01 depende de vm-cluster01 (a través de db-safi-pg01), \
             que tiene el incidente inc_1"
        );
    }

    #[test]
    fn the_language_follows_accept_language_with_spanish_by_default() {
        use axum::http::header::ACCEPT_LANGUAGE;
        use axum::http::HeaderMap;
        let mut headers = HeaderMap::new();
        assert_eq!(Lang::of(&headers), Lang::Es);
        headers.insert(
            ACCEPT_LANGUAGE,
            "fr-FR, en-US;q=0.8, es;q=0.5".parse().expect("hv"),
        );
        assert_eq!(Lang::of(&headers), Lang::En);
    }
}
