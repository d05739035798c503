//! `docs/operations.md`'s table of settings against the settings themselves, so that it cannot
//! fall behind: every option of `lyrebird serve` ([`ServeArgs`], read through clap) has a row
//! with its variable and default, and every row is an option that `lyrebird serve --help` lists
//! (the binary's global `--log-format` included) with that variable and default.

use std::collections::BTreeMap;
use std::process::Command;

use clap::Args;
use lyrebird_server::config::ServeArgs;

/// One row of the table, backticks taken off.
#[derive(Debug)]
struct Row {
    variable: String,
    /// The default cell as written: a value in backticks, maybe followed by words, or `(none)`.
    default: String,
}

/// The rows of the table under "## Configuration", by flag (`--listen`).
fn documented() -> BTreeMap<String, Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("\n## Configuration\n")
        .nth(1)
        .expect("docs/operations.md has a Configuration section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|line| line.starts_with("| `--")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, flag, variable, default, meaning, _] = cells[..] else {
            panic!("a row of four cells: {line}");
        };
        assert!(!meaning.is_empty(), "{flag} has no meaning: {line}");
        let row = Row {
            variable: variable.trim_matches('`').to_owned(),
            default: default.to_owned(),
        };
        let flag = flag.trim_matches('`').to_owned();
        assert!(rows.insert(flag.clone(), row).is_none(), "{flag} twice");
    }
    assert!(!rows.is_empty(), "no rows found in:\n{section}");
    rows
}

/// Whether the default cell says `default`: in backticks first, or `(none)` for an empty one.
fn says_default(cell: &str, default: &str) -> bool {
    if default.is_empty() {
        cell == "(none)"
    } else {
        cell.starts_with(&format!("`{default}`"))
    }
}

#[test]
fn every_option_of_lyrebird_serve_is_in_the_table_with_its_variable_and_default() {
    let rows = documented();
    let command = ServeArgs::augment_args(clap::Command::new("serve"));
    let mut missing = Vec::new();
    for arg in command.get_arguments() {
        let flag = format!("--{}", arg.get_long().expect("every setting has a flag"));
        let variable = arg
            .get_env()
            .unwrap_or_else(|| panic!("{flag} has no variable"))
            .to_string_lossy();
        let Some(row) = rows.get(&flag) else {
            missing.push(format!("{flag} ({variable})"));
            continue;
        };
        assert_eq!(row.variable, variable, "the variable of {flag}");
        // No default in clap: the server works one out (the base host), which the cell says.
        if let [default] = arg.get_default_values() {
            let default = default.to_string_lossy();
            assert!(
                says_default(&row.default, &default),
                "{flag} defaults to {default:?}, the table says {}",
                row.default
            );
        }
    }
    assert!(missing.is_empty(), "not in the table: {missing:?}");
}

#[test]
fn every_row_of_the_table_is_an_option_that_help_lists_with_its_variable_and_default() {
    let output = Command::new(env!("CARGO_BIN_EXE_lyrebird"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, row) in documented() {
        // The option's entry: from its flag to the next option's.
        let entry = help
            .split_once(&format!("      {flag} <"))
            .unwrap_or_else(|| panic!("{flag} is not an option of lyrebird serve:\n{help}"))
            .1
            .split("\n  ")
            .take_while(|line| !line.trim_start().starts_with('-'))
            .collect::<String>();
        assert!(
            entry.contains(&format!("[env: {}", row.variable)),
            "{flag}'s variable is not {}: {entry}",
            row.variable
        );
        if let Some(default) = entry
            .split_once("[default: ")
            .and_then(|(_, rest)| rest.split_once(']'))
            .map(|(default, _)| default.trim_matches('"'))
        {
            assert!(
                says_default(&row.default, default),
                "{flag} defaults to {default:?}, the table says {}",
                row.default
            );
        }
    }
}
