//! `vigia report …`: reports on the command line, printed to stdout.

use std::process::ExitCode;

use super::{parse_lang, render, Format, Month, ReportError, Reports};
use crate::config::Config;
use crate::domain::Lang;
use crate::store::Store;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// A unit's monthly report: volume, backlog, SLA compliance and breaches, MTTA and
    /// MTTR, resolution quality, problems, and the annex of every ticket attended with
    /// its state. The month is the unit's (its calendar's time zone).
    Monthly {
        /// Unit code, e.g. DINAFI.
        #[arg(long)]
        unit: String,
        /// YYYY-MM, e.g. 2026-11.
        #[arg(long, value_parser = parse_month)]
        month: Month,
        /// json (the whole report), csv (the annex) or html (a printable page).
        #[arg(long, default_value = "json", value_parser = parse_format)]
        format: Format,
        /// es (Spanish) or en (English): the page's and the definitions' language.
        #[arg(long, default_value = "es", value_parser = parse_language)]
        lang: Lang,
    },
}

fn parse_month(text: &str) -> Result<Month, String> {
    text.parse().map_err(|e: super::BadMonth| e.to_string())
}

fn parse_format(text: &str) -> Result<Format, String> {
    Format::parse(text).ok_or_else(|| "expected json, csv or html".to_owned())
}

fn parse_language(text: &str) -> Result<Lang, String> {
    parse_lang(text).ok_or_else(|| "expected es or en".to_owned())
}

pub async fn run(command: ReportCommand, config: &Config) -> anyhow::Result<ExitCode> {
    let ReportCommand::Monthly {
        unit,
        month,
        format,
        lang,
    } = command;
    let store = Store::connect(&config.database.url, 1).await?;
    store.migrate().await?;
    let now = crate::domain::to_millis(jiff::Timestamp::now());
    let made = Reports::new(&config.sla)
        .monthly(&store, &unit, month, lang, now)
        .await;
    store.close().await;
    let report = match made {
        Ok(report) => report,
        Err(e @ ReportError::UnknownUnit(_)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let (_, body) = render(&report, format, lang)?;
    print!("{body}");
    if !body.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
