//! `lyrebird mock push | pull | diff`: a mock's directory (see [`crate::layout`]) against the
//! mock on the server.
//!
//! The directory's examples and the server's are paired by name (repeated names in order), so
//! an example keeps its id, and whatever refers to it, when its file is edited, renamed or
//! moved. Both sides are compared as the engine reads them, so a file that leaves a default out
//! equals the server's copy that spells it, and a second push changes nothing.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use lyrebird_engine::{Chaos, CollectionSpec, Example, Latency, RateLimit, ResponseSpec};
use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::Status;
use crate::client::{Client, Connection, ServerError};
use crate::layout::{self, Format, Local};
use crate::line_diff;

/// Fields of a mock the server sets; the settings file has the others. (The upstream's headers
/// are write-only: the server shows their names, which a file has no use for.)
const SERVER_MOCK_FIELDS: [&str; 7] = [
    "id",
    "url",
    "path_url",
    "version",
    "upstream_headers",
    "created_at",
    "updated_at",
];
/// Fields of an example the server sets besides its `id`; an example file has none of them.
const SERVER_EXAMPLE_FIELDS: [&str; 3] = ["position", "created_at", "updated_at"];
/// An example's id: kept from the server to pair examples, never written to a file.
const EXAMPLE_ID: &str = "id";

#[derive(Debug, Subcommand)]
pub enum MockCommand {
    /// Makes the mock on the server what DIR says: its settings, and its examples in DIR's
    /// order. Creates the mock when there is none of that name.
    Push(PushArgs),
    /// Writes a mock's settings and examples into DIR, removing example files it no longer has.
    Pull(PullArgs),
    /// Shows how DIR differs from the mock on the server: what a push would change.
    Diff(DiffArgs),
}

/// Which mock a directory goes to.
#[derive(Debug, Args)]
pub struct Target {
    /// The mock's directory.
    pub dir: PathBuf,
    /// The mock's id. Without it, the mock is the one named as the settings file's `name`.
    #[arg(long = "mock", value_name = "ID")]
    pub mock: Option<String>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub target: Target,
    /// Deletes the server's examples that DIR does not have (else they are kept, after DIR's).
    #[arg(long)]
    pub prune: bool,
    /// Prints what was done as one JSON object on standard output, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// The directory to write (created if needed).
    pub dir: PathBuf,
    /// The mock's id.
    #[arg(long = "mock", value_name = "ID")]
    pub mock: String,
    /// The files' format. Default: that of the settings file already in DIR, else json.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    #[command(flatten)]
    pub connection: Connection,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: Target,
    /// Exits with 1 when there are differences (as `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

pub async fn run(command: MockCommand) -> anyhow::Result<Status> {
    match command {
        MockCommand::Push(args) => push(args).await,
        MockCommand::Pull(args) => pull(args).await,
        MockCommand::Diff(args) => diff(args).await,
    }
}

fn mock_path(id: &str) -> String {
    format!("/api/v1/mocks/{id}")
}

fn examples_path(id: &str) -> String {
    format!("/api/v1/mocks/{id}/examples")
}

/// `value`'s members but `fields`, in the order the server gave them (a removal from the map
/// itself may move its last member into the gap).
fn without(value: Value, fields: &[&str]) -> Map<String, Value> {
    match value {
        Value::Object(object) => object
            .into_iter()
            .filter(|(name, _)| !fields.contains(&name.as_str()))
            .collect(),
        _ => Map::new(),
    }
}

fn name_of(example: &Value) -> Option<&str> {
    example.get("name").and_then(Value::as_str)
}

/// An example as the engine reads it (defaults spelt out, members in the engine's order); as it
/// is when the engine refuses it, which the server will too.
fn canonical_example(example: &Value) -> Value {
    serde_json::from_value::<Example>(example.clone())
        .and_then(serde_json::to_value)
        .unwrap_or_else(|_| example.clone())
}

/// A setting as the server reads it, for the settings made of the engine's types; others as
/// they are.
fn canonical_setting(field: &str, value: &Value) -> Value {
    let read = match field {
        "fallback" => serde_json::from_value::<Option<ResponseSpec>>(value.clone())
            .and_then(serde_json::to_value),
        "collections" => serde_json::from_value::<BTreeMap<String, CollectionSpec>>(value.clone())
            .and_then(serde_json::to_value),
        "latency" => {
            serde_json::from_value::<Option<Latency>>(value.clone()).and_then(serde_json::to_value)
        }
        "chaos" => {
            serde_json::from_value::<Option<Chaos>>(value.clone()).and_then(serde_json::to_value)
        }
        "rate_limit" => serde_json::from_value::<Option<RateLimit>>(value.clone())
            .and_then(serde_json::to_value),
        _ => return value.clone(),
    };
    read.unwrap_or_else(|_| value.clone())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("JSON values print")
}

/// A mock on the server: its settings and its examples (objects, without the server's fields
/// but `id`).
struct Remote {
    id: String,
    url: String,
    settings: Map<String, Value>,
    examples: Vec<Value>,
}

impl Remote {
    async fn fetch(client: &Client, view: Value) -> anyhow::Result<Self> {
        let id = view["id"].as_str().unwrap_or_default().to_owned();
        let url = view["url"].as_str().unwrap_or_default().to_owned();
        let examples = match client.get(&examples_path(&id)).await? {
            Value::Array(examples) => examples,
            other => bail!("the server listed examples as {other}"),
        };
        Ok(Self {
            id,
            url,
            settings: without(view, &SERVER_MOCK_FIELDS),
            examples: examples
                .into_iter()
                .map(|example| Value::Object(without(example, &SERVER_EXAMPLE_FIELDS)))
                .collect(),
        })
    }

    fn example_id(&self, index: usize) -> &Value {
        &self.examples[index][EXAMPLE_ID]
    }

    /// The example without its id: as its file has it.
    fn document(&self, index: usize) -> Value {
        Value::Object(without(self.examples[index].clone(), &[EXAMPLE_ID]))
    }
}

/// The mock `target` names: by id, else by the settings' name among the workspace's mocks;
/// `None` when no mock has that name.
async fn find(client: &Client, target: &Target, local: &Local) -> anyhow::Result<Option<Remote>> {
    let view = match &target.mock {
        Some(id) => client.get(&mock_path(id)).await?,
        None => {
            let name = local.settings.get("name").and_then(Value::as_str);
            let name = name.ok_or_else(|| {
                anyhow!(
                    "{} has no `name`; give one, or the mock's id with --mock",
                    local.settings_file.display()
                )
            })?;
            let Value::Array(mocks) = client.get("/api/v1/mocks").await? else {
                bail!("the server listed mocks as something else than a list");
            };
            let mut named = mocks.into_iter().filter(|mock| name_of(mock) == Some(name));
            match (named.next(), named.next()) {
                (None, _) => return Ok(None),
                (Some(mock), None) => mock,
                (Some(_), Some(_)) => {
                    bail!("more than one mock is named `{name}`; say which with --mock ID")
                }
            }
        }
    };
    Remote::fetch(client, view).await.map(Some)
}

/// Where one of the directory's examples stands against the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// The server has no example of its name (left): a push creates it.
    New,
    /// It pairs with the server's example at this index, which differs: a push updates it.
    Changed(usize),
    /// It pairs with the server's example at this index, the same.
    Same(usize),
}

impl Standing {
    fn pair(self) -> Option<usize> {
        match self {
            Standing::New => None,
            Standing::Changed(i) | Standing::Same(i) => Some(i),
        }
    }
}

/// How the directory stands against the mock on the server.
struct Comparison {
    /// For each of the directory's examples, in order.
    examples: Vec<Standing>,
    /// The server examples the directory does not have, in their order.
    server_only: Vec<usize>,
    /// The settings whose values the directory changes.
    settings: Vec<String>,
}

impl Comparison {
    fn new(local: &Local, remote: &Remote) -> Self {
        let mut unpaired: Vec<usize> = (0..remote.examples.len()).collect();
        let examples = local
            .examples
            .iter()
            .map(|example| {
                let name = name_of(&example.example);
                let Some(at) = unpaired
                    .iter()
                    .position(|&i| name.is_some() && name_of(&remote.examples[i]) == name)
                else {
                    return Standing::New;
                };
                let i = unpaired.remove(at);
                match canonical_example(&example.example) == canonical_example(&remote.document(i))
                {
                    true => Standing::Same(i),
                    false => Standing::Changed(i),
                }
            })
            .collect();
        let settings = local
            .settings
            .iter()
            .filter(|(field, value)| {
                remote
                    .settings
                    .get(*field)
                    .map(|old| canonical_setting(field, old))
                    != Some(canonical_setting(field, value))
            })
            .map(|(field, _)| field.clone())
            .collect();
        Self {
            examples,
            server_only: unpaired,
            settings,
        }
    }

    fn count(&self, wanted: fn(&Standing) -> bool) -> usize {
        self.examples
            .iter()
            .filter(|standing| wanted(standing))
            .count()
    }

    /// Whether a push moves some of the server's examples (`prune`: leaving out the ones the
    /// directory does not have): their order after it is not their order now.
    fn reordered(&self, prune: bool) -> bool {
        let kept = self.server_only.iter().copied().filter(|_| !prune);
        let paired = self.examples.iter().filter_map(|standing| standing.pair());
        let order: Vec<usize> = paired.chain(kept).collect();
        order.windows(2).any(|pair| pair[0] > pair[1])
    }

    fn examples_differ(&self, prune: bool) -> bool {
        self.examples
            .iter()
            .any(|standing| !matches!(standing, Standing::Same(_)))
            || (prune && !self.server_only.is_empty())
            || self.reordered(prune)
    }
}

/// Reads `dir` as the mock's files, with the server's fields left out of the examples: an id
/// copied into a file must not take over another mock's example.
fn read_local(dir: &Path) -> anyhow::Result<Local> {
    let mut local = layout::read(dir)?;
    for example in &mut local.examples {
        let document = std::mem::take(&mut example.example);
        let mut document = without(document, &SERVER_EXAMPLE_FIELDS);
        document.remove(EXAMPLE_ID);
        example.example = Value::Object(document);
    }
    Ok(local)
}

async fn push(args: PushArgs) -> anyhow::Result<Status> {
    let local = read_local(&args.target.dir)?;
    let client = Client::new(&args.target.connection)?;
    let settings_file = local.settings_file.display().to_string();
    let (remote, created) = match find(&client, &args.target, &local).await? {
        Some(remote) => (remote, false),
        None => {
            let settings = Value::Object(local.settings.clone());
            let view = client
                .send(Method::POST, "/api/v1/mocks", Some(&settings))
                .await
                .context(settings_file.clone())?;
            (Remote::fetch(&client, view).await?, true)
        }
    };
    let comparison = Comparison::new(&local, &remote);
    let settings_updated = !created && !comparison.settings.is_empty();
    if settings_updated {
        let settings = Value::Object(local.settings.clone());
        client
            .send(Method::PATCH, &mock_path(&remote.id), Some(&settings))
            .await
            .context(settings_file)?;
    }
    if comparison.examples_differ(args.prune) {
        let mut documents: Vec<Value> = Vec::new();
        let mut files: Vec<String> = Vec::new();
        for (example, standing) in local.examples.iter().zip(&comparison.examples) {
            let mut document = example.example.clone();
            if let Some(i) = standing.pair() {
                document[EXAMPLE_ID] = remote.example_id(i).clone();
            }
            documents.push(document);
            files.push(args.target.dir.join(&example.file).display().to_string());
        }
        if !args.prune {
            for &i in &comparison.server_only {
                let kept = remote.examples[i].clone();
                files.push(format!(
                    "the server's example `{}`",
                    name_of(&kept).unwrap_or_default()
                ));
                documents.push(kept);
            }
        }
        client
            .send(
                Method::PUT,
                &examples_path(&remote.id),
                Some(&Value::Array(documents)),
            )
            .await
            .map_err(|error| blame(error, &files))?;
    }
    let removed = if args.prune {
        comparison.server_only.len()
    } else {
        0
    };
    let summary = PushSummary {
        mock: remote.id,
        url: remote.url,
        created,
        settings_updated,
        examples: ExampleCounts {
            created: comparison.count(|s| matches!(s, Standing::New)),
            updated: comparison.count(|s| matches!(s, Standing::Changed(_))),
            unchanged: comparison.count(|s| matches!(s, Standing::Same(_))),
            removed,
            kept: comparison.server_only.len() - removed,
            reordered: comparison.reordered(args.prune),
        },
    };
    match args.json {
        true => println!("{}", serde_json::to_string(&summary)?),
        false => print!("{summary}"),
    }
    Ok(Status::Clean)
}

/// What a push did; `--json` prints it as it is.
#[derive(Serialize)]
struct PushSummary {
    mock: String,
    url: String,
    created: bool,
    settings_updated: bool,
    examples: ExampleCounts,
}

#[derive(Serialize)]
struct ExampleCounts {
    created: usize,
    updated: usize,
    unchanged: usize,
    removed: usize,
    /// Only on the server, and kept there (no `--prune`).
    kept: usize,
    reordered: bool,
}

/// For people: `created mock <id> <url>` on a line of its own when the push created it (easy
/// to pick out in a script), then what changed.
impl fmt::Display for PushSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.created {
            writeln!(f, "created mock {} {}", self.mock, self.url)?;
        }
        let settings = match self.settings_updated {
            true => "updated",
            false => "unchanged",
        };
        let ExampleCounts {
            created,
            updated,
            unchanged,
            removed,
            kept,
            reordered,
        } = &self.examples;
        write!(
            f,
            "mock {}: settings {settings}; examples: {created} created, {updated} updated, \
             {unchanged} unchanged, {removed} removed",
            self.mock
        )?;
        if *kept > 0 {
            write!(f, ", {kept} only on the server kept (--prune removes them)")?;
        }
        if *reordered {
            write!(f, ", order changed")?;
        }
        writeln!(f)
    }
}

/// A refusal of the examples sent (its field starts `[index]`) told as one of the files':
/// `<file>: <code>: <message> (<field within the file>)`.
fn blame(error: anyhow::Error, files: &[String]) -> anyhow::Error {
    let Some(refusal) = error.downcast_ref::<ServerError>() else {
        return error;
    };
    let Some((index, field)) = refusal
        .field
        .as_deref()
        .and_then(|field| field.strip_prefix('['))
        .and_then(|field| field.split_once(']'))
    else {
        return error;
    };
    let Some(file) = index.parse::<usize>().ok().and_then(|i| files.get(i)) else {
        return error;
    };
    let field = field.trim_start_matches('.');
    // The engine's messages start with the field as sent (`[1].response.body: ...`), which
    // is shown within the file instead.
    let sent = refusal.field.as_deref().unwrap_or_default();
    let message = refusal.message.strip_prefix(&format!("{sent}: "));
    let within = ServerError {
        code: refusal.code.clone(),
        message: message.unwrap_or(&refusal.message).to_owned(),
        field: (!field.is_empty()).then(|| field.to_owned()),
    };
    anyhow!("{file}: {within}")
}

async fn pull(args: PullArgs) -> anyhow::Result<Status> {
    let client = Client::new(&args.connection)?;
    let remote = Remote::fetch(&client, client.get(&mock_path(&args.mock)).await?).await?;
    let format = match args.format {
        Some(format) => format,
        None => layout::existing_format(&args.dir)?.unwrap_or(Format::Json),
    };
    let examples: Vec<Value> = (0..remote.examples.len())
        .map(|i| remote.document(i))
        .collect();
    layout::write(&args.dir, format, &remote.settings, &examples)?;
    println!(
        "pulled mock {} into {}: {} examples",
        remote.id,
        args.dir.display(),
        examples.len()
    );
    Ok(Status::Clean)
}

async fn diff(args: DiffArgs) -> anyhow::Result<Status> {
    let local = read_local(&args.target.dir)?;
    let client = Client::new(&args.target.connection)?;
    let settings_file = local
        .settings_file
        .strip_prefix(&args.target.dir)
        .unwrap_or(&local.settings_file)
        .display()
        .to_string();
    let Some(remote) = find(&client, &args.target, &local).await? else {
        println!("+ {settings_file}: no mock has this name; a push creates it");
        for example in &local.examples {
            println!("+ {}", example.file);
        }
        return Ok(differences(args.exit_code));
    };
    let comparison = Comparison::new(&local, &remote);
    let mut out = String::new();
    if !comparison.settings.is_empty() {
        let pick = |settings: &Map<String, Value>| {
            let picked: Map<String, Value> = comparison
                .settings
                .iter()
                .filter_map(|field| {
                    let value = settings.get(field)?;
                    Some((field.clone(), canonical_setting(field, value)))
                })
                .collect();
            pretty(&Value::Object(picked))
        };
        out.push_str(&format!("~ {settings_file}\n"));
        out.push_str(&line_diff::render(
            &pick(&remote.settings),
            &pick(&local.settings),
            "    ",
        ));
    }
    for (example, standing) in local.examples.iter().zip(&comparison.examples) {
        match standing {
            Standing::New => out.push_str(&format!("+ {}\n", example.file)),
            Standing::Changed(i) => {
                out.push_str(&format!("~ {}\n", example.file));
                out.push_str(&line_diff::render(
                    &pretty(&canonical_example(&remote.document(*i))),
                    &pretty(&canonical_example(&example.example)),
                    "    ",
                ));
            }
            Standing::Same(_) => {}
        }
    }
    for &i in &comparison.server_only {
        let name = name_of(&remote.examples[i]);
        out.push_str(&format!(
            "- `{}`: only on the server (a push keeps it, push --prune deletes it)\n",
            name.unwrap_or_default()
        ));
    }
    if comparison.reordered(false) {
        out.push_str("~ the examples are in another order\n");
    }
    if out.is_empty() {
        return Ok(Status::Clean);
    }
    print!("{out}");
    Ok(differences(args.exit_code))
}

/// The status of a diff that found differences.
fn differences(exit_code: bool) -> Status {
    match exit_code {
        true => Status::Flagged,
        false => Status::Clean,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::layout::LocalExample;

    fn local(names: &[&str]) -> Local {
        Local {
            settings: Map::new(),
            settings_file: PathBuf::from("mock.json"),
            examples: names
                .iter()
                .map(|name| LocalExample {
                    file: format!("examples/{name}.json"),
                    example: json!({"name": name, "request": {"path": "/"}}),
                })
                .collect(),
        }
    }

    fn remote(names: &[&str]) -> Remote {
        Remote {
            id: "m".to_owned(),
            url: String::new(),
            settings: Map::new(),
            examples: names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    json!({"id": i.to_string(), "name": name, "request": {"path": "/"},
                           "response": {"status": 200}})
                })
                .collect(),
        }
    }

    #[test]
    fn examples_pair_by_name_repeated_names_in_order() {
        let comparison = Comparison::new(
            &local(&["b", "a", "a", "c"]),
            &remote(&["a", "b", "a", "d"]),
        );
        assert_eq!(
            comparison.examples,
            [
                Standing::Same(1),
                Standing::Same(0),
                Standing::Same(2),
                Standing::New
            ]
        );
        assert_eq!(comparison.server_only, [3]);
        assert!(comparison.reordered(true));
    }

    #[test]
    fn defaults_left_out_are_no_change() {
        let comparison = Comparison::new(&local(&["a", "b"]), &remote(&["a", "b"]));
        assert!(!comparison.examples_differ(false));
    }

    #[test]
    fn a_refused_example_is_blamed_on_its_file() {
        let refusal = ServerError {
            code: "invalid_example".to_owned(),
            message: "[1].response.status: bad status".to_owned(),
            field: Some("[1].response.status".to_owned()),
        };
        let error = anyhow::Error::new(refusal).context("PUT /api/v1/mocks/m/examples");
        let files = ["examples/a.json".to_owned(), "examples/b.json".to_owned()];
        assert_eq!(
            blame(error, &files).to_string(),
            "examples/b.json: invalid_example: bad status (response.status)"
        );
    }
}
