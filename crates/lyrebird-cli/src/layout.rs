//! A mock as a directory of files, laid out for version control:
//!
//! ```text
//! DIR/mock.json              the settings, and "examples": the example files in order
//! DIR/examples/<slug>.json   one example per file, named after the example
//! ```
//!
//! or the same in YAML. File names come from the examples' names, never from their positions,
//! so adding or moving one example does not rename the others; the order lives in the one list
//! in `mock.json`. Files are written the same way every time (JSON with two spaces and a final
//! newline), so that a pull of an unchanged mock changes no byte.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::ValueEnum;
use serde_json::{Map, Value};

/// The settings file's name, before its extension.
const MOCK_FILE: &str = "mock";
/// The folder of the example files.
pub const EXAMPLES_DIR: &str = "examples";
/// The member of the settings file that lists the example files in order.
pub const ORDER_FIELD: &str = "examples";
/// The longest file name made from an example's name, extension aside.
const MAX_SLUG_CHARS: usize = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }

    /// The format of a file by its extension: `.json`, `.yaml` or `.yml`.
    fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "json" => Some(Format::Json),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    fn render(self, value: &Value) -> String {
        match self {
            Format::Json => {
                let mut text = serde_json::to_string_pretty(value).expect("JSON values print");
                text.push('\n');
                text
            }
            Format::Yaml => serde_norway::to_string(value).expect("JSON values print as YAML"),
        }
    }
}

/// Reads a JSON or YAML file (by its extension) into a JSON value; errors name the file.
pub fn read_document(path: &Path) -> anyhow::Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value = match Format::of(path) {
        Some(Format::Yaml) => serde_norway::from_str(&text).map_err(anyhow::Error::new),
        _ => serde_json::from_str(&text).map_err(anyhow::Error::new),
    };
    value.with_context(|| format!("{} is not valid", path.display()))
}

/// An object read from `path`, or an error naming the file.
fn read_object(path: &Path) -> anyhow::Result<Map<String, Value>> {
    match read_document(path)? {
        Value::Object(object) => Ok(object),
        _ => bail!("{} is not an object", path.display()),
    }
}

/// A mock as its directory holds it.
#[derive(Debug)]
pub struct Local {
    /// The settings, without the list of example files.
    pub settings: Map<String, Value>,
    /// The settings file, for messages: `DIR/mock.json`.
    pub settings_file: PathBuf,
    /// The examples in order.
    pub examples: Vec<LocalExample>,
}

#[derive(Debug)]
pub struct LocalExample {
    /// As messages show it: `examples/<name>`.
    pub file: String,
    pub example: Value,
}

/// The settings file of `dir`: the one `mock.json`, `mock.yaml` or `mock.yml` there; `None` if
/// there is none, an error if there are several.
fn settings_file(dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let found: Vec<PathBuf> = ["json", "yaml", "yml"]
        .iter()
        .map(|extension| dir.join(format!("{MOCK_FILE}.{extension}")))
        .filter(|path| path.is_file())
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => bail!(
            "{} holds more than one settings file ({MOCK_FILE}.json, .yaml, .yml); keep one",
            dir.display()
        ),
    }
}

/// The JSON and YAML files in `dir/examples`, by name (none if there is no such folder).
fn example_files(dir: &Path) -> anyhow::Result<BTreeSet<String>> {
    let folder = dir.join(EXAMPLES_DIR);
    if !folder.is_dir() {
        return Ok(BTreeSet::new());
    }
    let mut names = BTreeSet::new();
    for entry in
        fs::read_dir(&folder).with_context(|| format!("cannot read {}", folder.display()))?
    {
        let path = entry?.path();
        if path.is_file()
            && Format::of(&path).is_some()
            && let Some(name) = path.file_name().and_then(|name| name.to_str())
        {
            names.insert(name.to_owned());
        }
    }
    Ok(names)
}

/// Reads the mock in `dir`: the examples in the order of the settings file's `examples` list,
/// then the files it does not list, by name. A listed file that is not there is passed over, as
/// after `git rm examples/<file>`: the list orders the files, the folder says which there are.
pub fn read(dir: &Path) -> anyhow::Result<Local> {
    let settings_file = settings_file(dir)?.ok_or_else(|| {
        anyhow!(
            "{} has no {MOCK_FILE}.json or {MOCK_FILE}.yaml",
            dir.display()
        )
    })?;
    let mut settings = read_object(&settings_file)?;
    let listed: Vec<String> = match settings.remove(ORDER_FIELD) {
        None => Vec::new(),
        Some(list) => serde_json::from_value(list).with_context(|| {
            format!(
                "{}: `{ORDER_FIELD}` is a list of file names in {EXAMPLES_DIR}/",
                settings_file.display()
            )
        })?,
    };
    let mut unlisted = example_files(dir)?;
    let listed: Vec<String> = listed
        .into_iter()
        .filter(|name| unlisted.remove(name))
        .collect();
    let examples = listed
        .into_iter()
        .chain(unlisted)
        .map(|name| {
            let example = Value::Object(read_object(&dir.join(EXAMPLES_DIR).join(&name))?);
            Ok(LocalExample {
                file: format!("{EXAMPLES_DIR}/{name}"),
                example,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Local {
        settings,
        settings_file,
        examples,
    })
}

/// The format of the settings file in `dir`, if there is one.
pub fn existing_format(dir: &Path) -> anyhow::Result<Option<Format>> {
    Ok(settings_file(dir)?.and_then(|path| Format::of(&path)))
}

/// Writes a mock into `dir` so that it mirrors it: the settings file (any other settings file
/// removed) and one file per example, in `examples/`; the JSON and YAML files there that are
/// not the mock's are removed.
pub fn write(
    dir: &Path,
    format: Format,
    settings: &Map<String, Value>,
    examples: &[Value],
) -> anyhow::Result<()> {
    let folder = dir.join(EXAMPLES_DIR);
    fs::create_dir_all(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let names = file_names(examples, format);
    for (name, example) in names.iter().zip(examples) {
        write_file(&folder.join(name), &format.render(example))?;
    }
    for stale in &example_files(dir)? - &names.iter().cloned().collect() {
        remove(&folder.join(stale))?;
    }
    let mut document = settings.clone();
    document.insert(ORDER_FIELD.to_owned(), names.into());
    let file = dir.join(format!("{MOCK_FILE}.{}", format.extension()));
    write_file(&file, &format.render(&Value::Object(document)))?;
    for extension in ["json", "yaml", "yml"] {
        let other = dir.join(format!("{MOCK_FILE}.{extension}"));
        if other != file && other.is_file() {
            remove(&other)?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn remove(path: &Path) -> anyhow::Result<()> {
    fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))
}

/// The file name of each example, in order: the slug of its name, with `-2`, `-3`... after a
/// name already taken.
pub fn file_names(examples: &[Value], format: Format) -> Vec<String> {
    let mut taken = BTreeSet::new();
    examples
        .iter()
        .map(|example| {
            let slug = slug(example["name"].as_str().unwrap_or_default());
            let name = (1..)
                .map(|n| match n {
                    1 => format!("{slug}.{}", format.extension()),
                    n => format!("{slug}-{n}.{}", format.extension()),
                })
                .find(|name| !taken.contains(name))
                .expect("some suffix is free");
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// A file name from an example's name: lowercase ASCII letters and digits, every other run of
/// characters one `-`, at most [`MAX_SLUG_CHARS`]; `example` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(MAX_SLUG_CHARS);
    let slug = slug.trim_end_matches('-');
    match slug {
        "" => "example".to_owned(),
        slug => slug.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn slugs_keep_letters_and_digits() {
        assert_eq!(slug("List users (page 2)"), "list-users-page-2");
        assert_eq!(slug("  GET /users/:id  "), "get-users-id");
        assert_eq!(slug("Überprüfung"), "berpr-fung");
        assert_eq!(slug("¿?"), "example");
        assert_eq!(slug(&"a".repeat(80)), "a".repeat(60));
        assert_eq!(slug(&format!("{} b", "a".repeat(59))), "a".repeat(59));
    }

    #[test]
    fn repeated_names_get_a_number() {
        let examples = [
            json!({"name": "Users"}),
            json!({"name": "users"}),
            json!({"name": "users 2"}),
            json!({}),
        ];
        assert_eq!(
            file_names(&examples, Format::Yaml),
            [
                "users.yaml",
                "users-2.yaml",
                "users-2-2.yaml",
                "example.yaml"
            ]
        );
    }
}
