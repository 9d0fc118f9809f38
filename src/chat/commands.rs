//! What a chat message asks for: a command (`/estado`, `/ayuda`…) or, in plain text,
//! a new request. Pure.

/// Longest ticket summary taken from a message's first line, in characters.
pub const SUMMARY_CHARS: usize = 120;

#[derive(Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/ayuda`, `/help`, `/start`.
    Help,
    /// `/estado` or `/status`: the sender's open tickets, or the one named.
    Status(Option<&'a str>),
    /// Plain text: a new request.
    Open(&'a str),
    /// A command the bot does not know (as written, without the bot's name).
    Unknown(&'a str),
}

impl<'a> Command<'a> {
    pub fn parse(text: &'a str) -> Command<'a> {
        let text = text.trim();
        let Some(command) = text.strip_prefix('/') else {
            return Command::Open(text);
        };
        let mut words = command.split_whitespace();
        let word = words.next().unwrap_or("");
        // In groups Telegram writes `/estado@MesaBot`.
        let name = word.split('@').next().unwrap_or(word);
        match name.to_lowercase().as_str() {
            "ayuda" | "help" | "start" => Command::Help,
            "estado" | "status" => Command::Status(words.next()),
            _ => Command::Unknown(name),
        }
    }
}

/// A ticket's summary from a message: its first non-empty line, cut to
/// `SUMMARY_CHARS` with an ellipsis.
pub fn summary_of(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= SUMMARY_CHARS {
        return line.to_owned();
    }
    let cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// The start of a message, kept with a refusal: enough to know what was asked, not
/// the whole of someone's personal data.
pub fn excerpt(text: &str, chars: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let cut: String = text.chars().take(chars).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_read_in_spanish_and_english_with_or_without_the_bots_name() {
        assert_eq!(Command::parse("/ayuda"), Command::Help);
        assert_eq!(Command::parse("/HELP"), Command::Help);
        assert_eq!(Command::parse("/start"), Command::Help);
        assert_eq!(Command::parse("/estado"), Command::Status(None));
        assert_eq!(Command::parse(" /status@MesaBot "), Command::Status(None));
        assert_eq!(
            Command::parse("/estado req_01abc"),
            Command::Status(Some("req_01abc"))
        );
        assert_eq!(Command::parse("/borrar todo"), Command::Unknown("borrar"));
    }

    #[test]
    fn plain_text_opens_a_request() {
        assert_eq!(
            Command::parse("  La impresora no imprime\n"),
            Command::Open("La impresora no imprime")
        );
    }

    #[test]
    fn the_summary_is_the_first_line_cut_to_length() {
        assert_eq!(summary_of("\n  Sin VPN \nDesde ayer"), "Sin VPN");
        let long = "á".repeat(300);
        let summary = summary_of(&long);
        assert_eq!(summary.chars().count(), SUMMARY_CHARS);
        assert!(summary.ends_with('…'));
    }

    #[test]
    fn excerpts_keep_the_start_of_the_message() {
        assert_eq!(excerpt(" hola ", 10), "hola");
        assert_eq!(excerpt("abcdefghijkl", 5), "abcde…");
    }
}
