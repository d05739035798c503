//! `lyrebird mock push | pull | diff` and `lyrebird verify` (and, in [`operator`],
//! `lyrebird operator`), black-box: the binary run as a user
//! runs it, against `lyrebird serve` on a real port and a real PostgreSQL. A mock round-trips
//! through files byte for byte, a second push changes nothing, edits made to the files show in a
//! diff and are applied by a push, YAML works as JSON does, and every failure exits with 2 and
//! says what failed.

#[path = "../support/binary.rs"]
mod support;

mod operator;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, User, example};

/// A directory under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lyrebird-cli-{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Every file in it, by path relative to it, with its bytes.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, files);
                } else {
                    let name = path.strip_prefix(root).unwrap().display().to_string();
                    files.insert(name, fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(&self.0, &self.0, &mut files);
        files
    }

    fn names(&self) -> Vec<String> {
        self.files().into_keys().collect()
    }

    fn read(&self, name: &str) -> String {
        fs::read_to_string(self.file(name)).unwrap()
    }

    fn write(&self, name: &str, text: &str) {
        fs::write(self.file(name), text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// How a run of the command ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lyrebird <args> --url <server>` with `key` as LYREBIRD_API_KEY (none: unset).
fn lyrebird(server: &Server, key: Option<&str>, args: &[&str]) -> Run {
    let mut command = support::lyrebird();
    command
        .env_remove("LYREBIRD_API_KEY")
        .env_remove("LYREBIRD_URL")
        .args(args)
        .args(["--url", &server.base]);
    if let Some(key) = key {
        command.env("LYREBIRD_API_KEY", key);
    }
    let output = command.output().unwrap();
    let run = Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    eprintln!(
        "$ lyrebird {}\n{}{}exit {}",
        args.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

/// Runs it as `user` and expects exit code 0.
fn ok(server: &Server, user: &User, args: &[&str]) -> String {
    let run = lyrebird(server, Some(&user.key), args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// A mock with settings of every kind and examples whose names repeat.
async fn orders_mock(server: &Server, user: &User) -> String {
    let mut with_query = example("List orders", "GET", "/orders");
    with_query["request"]["query"] = json!({"page": "2"});
    with_query["priority"] = json!(5);
    let mut templated = example("Create order", "POST", "/orders");
    templated["response"] = json!({
        "status": 201,
        "headers": [{"name": "x-kind", "value": "order"}],
        "body": "{\"id\": \"{{ request.body.id }}\"}",
        "template": true
    });
    server
        .create_mock(
            &user.key,
            json!({
                "name": "orders",
                "delay": "3g",
                "environment": {"region": "eu"},
                "version_tag": "v2",
                "fallback": {"status": 404, "body": {"error": "no such order"}}
            }),
            &[
                example("List orders", "GET", "/orders"),
                with_query,
                templated,
                example("Örder #1 (détails)", "GET", "/orders/1"),
                example("List orders", "HEAD", "/orders"),
            ],
        )
        .await
}

async fn examples_of(server: &Server, user: &User, mock: &str) -> Vec<Value> {
    let path = format!("/api/v1/mocks/{mock}/examples");
    let (status, examples) = server.api(Method::GET, &path, &user.key, None).await;
    assert_eq!(status, StatusCode::OK, "{examples}");
    examples.as_array().unwrap().clone()
}

/// Pulls `mock` into `dir` in `format`, and checks that every file is in it.
fn pull_as(server: &Server, user: &User, dir: &TempDir, mock: &str, format: &str) {
    let args = [
        "mock",
        "pull",
        dir.path(),
        "--mock",
        mock,
        "--format",
        format,
    ];
    ok(server, user, &args);
    let names = dir.names();
    assert!(names.contains(&format!("mock.{format}")), "{names:?}");
    let extension = format!(".{format}");
    assert!(
        names.iter().all(|name| name.ends_with(&extension)),
        "{names:?}"
    );
}

/// The id in `created mock <id> <url>`.
fn created_id(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("created mock "))
        .unwrap_or_else(|| panic!("no `created mock` in {stdout}"));
    line.split(' ').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_mock_goes_through_files_and_back_byte_for_byte() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let alice = server.sign_up("alice@example.com").await;
    let bob = server.sign_up("bob@example.com").await;
    let mock = orders_mock(&server, &alice).await;

    let first = TempDir::new("first");
    let pulled = ok(
        &server,
        &alice,
        &["mock", "pull", first.path(), "--mock", &mock],
    );
    assert!(pulled.contains("5 examples"), "{pulled}");
    assert_eq!(
        first.names(),
        [
            "examples/create-order.json",
            "examples/list-orders-2.json",
            "examples/list-orders-3.json",
            "examples/list-orders.json",
            "examples/rder-1-d-tails.json",
            "mock.json",
        ]
    );
    let settings: Value = serde_json::from_str(&first.read("mock.json")).unwrap();
    assert_eq!(
        settings["examples"],
        json!([
            "list-orders.json",
            "list-orders-2.json",
            "create-order.json",
            "rder-1-d-tails.json",
            "list-orders-3.json"
        ])
    );
    assert_eq!(settings["delay"], "3g");
    assert!(settings.get("id").is_none() && settings.get("url").is_none());
    let listing = first.read("examples/list-orders-2.json");
    assert!(listing.ends_with("}\n") && listing.contains("\n  \"name\": \"List orders\""));
    assert!(!listing.contains("\"id\"") && !listing.contains("position"));

    // To another workspace, where no mock has the name: created, with its id and URL printed.
    let pushed = ok(&server, &bob, &["mock", "push", first.path()]);
    let copy = created_id(&pushed);
    assert!(
        pushed.starts_with(&format!("created mock {copy} http")),
        "{pushed}"
    );
    assert!(pushed.contains("5 created"), "{pushed}");
    let second = TempDir::new("second");
    ok(
        &server,
        &bob,
        &["mock", "pull", second.path(), "--mock", &copy],
    );
    assert_eq!(first.files(), second.files());

    // Pushing again, to either, changes nothing: no write at all.
    let before = examples_of(&server, &bob, &copy).await;
    let again = ok(&server, &bob, &["mock", "push", first.path()]);
    assert!(
        again
            .contains("settings unchanged; examples: 0 created, 0 updated, 5 unchanged, 0 removed"),
        "{again}"
    );
    assert_eq!(examples_of(&server, &bob, &copy).await, before);
    let summary = ok(&server, &alice, &["mock", "push", first.path(), "--json"]);
    let summary: Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["mock"], mock.as_str());
    assert_eq!(summary["created"], false);
    assert_eq!(summary["settings_updated"], false);
    assert_eq!(
        summary["examples"],
        json!({"created": 0, "updated": 0, "unchanged": 5, "removed": 0, "kept": 0, "reordered": false})
    );
    let diff = lyrebird(
        &server,
        Some(&alice.key),
        &["mock", "diff", first.path(), "--exit-code"],
    );
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""));
}

#[tokio::test]
async fn edits_to_the_files_show_in_a_diff_and_a_push_applies_them() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("edits@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "users"}),
            &[
                example("list users", "GET", "/users"),
                example("get user", "GET", "/users/1"),
                example("delete user", "DELETE", "/users/1"),
            ],
        )
        .await;
    let ids: Vec<Value> = examples_of(&server, &user, &mock)
        .await
        .iter()
        .map(|example| example["id"].clone())
        .collect();
    let dir = TempDir::new("edits");
    ok(
        &server,
        &user,
        &["mock", "pull", dir.path(), "--mock", &mock],
    );

    // As a person would in an editor and with git: one file edited, one written from scratch
    // (leaving defaults out), one removed; and a setting changed.
    let edited = dir
        .read("examples/list-users.json")
        .replace("\"status\": 200", "\"status\": 206");
    dir.write("examples/list-users.json", &edited);
    dir.write(
        "examples/new.json",
        r#"{"name": "search users", "request": {"method": "GET", "path": "/users/search"}}"#,
    );
    fs::remove_file(dir.file("examples/delete-user.json")).unwrap();
    let settings = dir
        .read("mock.json")
        .replace("\"private\": false", "\"private\": true");
    dir.write("mock.json", &settings);

    let diff = lyrebird(
        &server,
        Some(&user.key),
        &["mock", "diff", dir.path(), "--exit-code"],
    );
    assert_eq!(diff.code, 1, "{}", diff.stderr);
    for line in [
        "~ mock.json",
        "    -   \"private\": false",
        "    +   \"private\": true",
        "~ examples/list-users.json",
        "    -     \"status\": 200,",
        "    +     \"status\": 206,",
        "+ examples/new.json",
        "- `delete user`: only on the server",
    ] {
        assert!(
            diff.stdout.lines().any(|l| l.starts_with(line)),
            "{line:?} in\n{}",
            diff.stdout
        );
    }
    let plain = lyrebird(&server, Some(&user.key), &["mock", "diff", dir.path()]);
    assert_eq!((plain.code, &plain.stdout), (0, &diff.stdout));

    // Without --prune the example only on the server stays, after the directory's.
    let pushed = ok(&server, &user, &["mock", "push", dir.path()]);
    assert!(
        pushed.contains(
            "settings updated; examples: 1 created, 1 updated, 1 unchanged, 0 removed, \
             1 only on the server kept (--prune removes them)\n"
        ),
        "{pushed}"
    );
    let examples = examples_of(&server, &user, &mock).await;
    let names: Vec<&str> = examples
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["list users", "get user", "search users", "delete user"]
    );
    assert_eq!(examples[0]["id"], ids[0]);
    assert_eq!(examples[0]["response"]["status"], 206);
    assert_eq!(examples[1]["id"], ids[1]);
    assert_eq!(examples[3]["id"], ids[2]);
    let diff = lyrebird(
        &server,
        Some(&user.key),
        &["mock", "diff", dir.path(), "--exit-code"],
    );
    assert_eq!(diff.code, 1);
    assert_eq!(
        diff.stdout,
        "- `delete user`: only on the server (a push keeps it, push --prune deletes it)\n"
    );

    let pruned = ok(&server, &user, &["mock", "push", dir.path(), "--prune"]);
    assert!(
        pruned.contains("examples: 0 created, 0 updated, 3 unchanged, 1 removed"),
        "{pruned}"
    );
    assert_eq!(examples_of(&server, &user, &mock).await.len(), 3);
    let diff = lyrebird(
        &server,
        Some(&user.key),
        &["mock", "diff", dir.path(), "--exit-code"],
    );
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""));
    let versions = format!("/api/v1/mocks/{mock}/versions");
    let newest = |list: &str| {
        let list: Value = serde_json::from_str(list).unwrap();
        list["versions"][0]["number"].as_i64().unwrap()
    };
    let before_again = newest(&server.get(&versions, &user.key).await.1);
    assert!(before_again > 1, "the pushes made versions");
    let again = ok(&server, &user, &["mock", "push", dir.path(), "--prune"]);
    assert!(
        again.contains(
            "settings unchanged; examples: 0 created, 0 updated, 3 unchanged, 0 removed\n"
        ),
        "{again}"
    );
    assert_eq!(
        newest(&server.get(&versions, &user.key).await.1),
        before_again,
        "a push that changes nothing makes no version"
    );

    // Moving a file in the list moves the example, and only that.
    let mut settings: Value = serde_json::from_str(&dir.read("mock.json")).unwrap();
    settings["examples"] = json!(["new.json", "list-users.json", "get-user.json"]);
    dir.write("mock.json", &serde_json::to_string(&settings).unwrap());
    let diff = lyrebird(&server, Some(&user.key), &["mock", "diff", dir.path()]);
    assert_eq!(diff.stdout, "~ the examples are in another order\n");
    let moved = ok(&server, &user, &["mock", "push", dir.path()]);
    assert!(
        moved.contains("3 unchanged, 0 removed, order changed"),
        "{moved}"
    );
    let names: Vec<Value> = examples_of(&server, &user, &mock)
        .await
        .iter()
        .map(|example| example["name"].clone())
        .collect();
    assert_eq!(names, ["search users", "list users", "get user"]);
}

#[tokio::test]
async fn yaml_files_round_trip_as_json_ones_do() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let alice = server.sign_up("yaml-a@example.com").await;
    let bob = server.sign_up("yaml-b@example.com").await;
    let mock = orders_mock(&server, &alice).await;

    let first = TempDir::new("yaml-first");
    pull_as(&server, &alice, &first, &mock, "yaml");
    assert!(first.read("mock.yaml").contains("- list-orders-2.yaml\n"));
    let diff = lyrebird(
        &server,
        Some(&alice.key),
        &["mock", "diff", first.path(), "--exit-code"],
    );
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""));

    let copy = created_id(&ok(&server, &bob, &["mock", "push", first.path()]));
    let second = TempDir::new("yaml-second");
    ok(
        &server,
        &bob,
        &[
            "mock",
            "pull",
            second.path(),
            "--mock",
            &copy,
            "--format",
            "yaml",
        ],
    );
    assert_eq!(first.files(), second.files());
    // A pull keeps the format it finds...
    ok(
        &server,
        &bob,
        &["mock", "pull", second.path(), "--mock", &copy],
    );
    assert_eq!(first.files(), second.files());

    // ...and a pull in the other format replaces the files.
    pull_as(&server, &bob, &second, &copy, "json");
    let diff = lyrebird(
        &server,
        Some(&bob.key),
        &["mock", "diff", second.path(), "--exit-code"],
    );
    assert_eq!((diff.code, diff.stdout.as_str()), (0, ""));

    // A hand-written `.yml` file is read too.
    second.write(
        "examples/extra.yml",
        "name: extra\nrequest:\n  method: GET\n  path: /extra\n",
    );
    let pushed = ok(&server, &bob, &["mock", "push", second.path()]);
    assert!(
        pushed.contains("1 created, 0 updated, 5 unchanged"),
        "{pushed}"
    );
    assert_eq!(
        examples_of(&server, &bob, &copy).await[5]["request"]["path"],
        "/extra"
    );
}

#[tokio::test]
async fn failures_exit_with_2_and_say_what_failed() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("failures@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "shop"}),
            &[example("home", "GET", "/")],
        )
        .await;
    let dir = TempDir::new("failures");
    ok(
        &server,
        &user,
        &["mock", "pull", dir.path(), "--mock", &mock],
    );
    let key = Some(user.key.as_str());

    let unknown = "0190a0a0-0000-7000-8000-000000000000";
    let run = lyrebird(
        &server,
        key,
        &["mock", "pull", dir.path(), "--mock", unknown],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "GET /api/v1/mocks/{unknown}: not_found: not found in this workspace"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = lyrebird(&server, None, &["mock", "diff", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("LYREBIRD_API_KEY is not set"),
        "{}",
        run.stderr
    );

    let run = lyrebird(&server, Some("lb_wrong"), &["mock", "diff", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid_credentials"), "{}", run.stderr);

    // A file that is not JSON: named, with the parser's reason, and nothing sent.
    dir.write("examples/broken.json", "{\"name\": \"broken\",\n  oops }");
    let run = lyrebird(&server, key, &["mock", "push", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("examples/broken.json is not valid: key must be a string at line 2"),
        "{}",
        run.stderr
    );
    dir.write("examples/broken.json", "name: [unclosed\n");
    fs::rename(
        dir.file("examples/broken.json"),
        dir.file("examples/broken.yaml"),
    )
    .unwrap();
    let run = lyrebird(&server, key, &["mock", "push", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("examples/broken.yaml is not valid: "),
        "{}",
        run.stderr
    );
    fs::remove_file(dir.file("examples/broken.yaml")).unwrap();

    // An example the server refuses: the file, the server's reason, the field within the file;
    // nothing is changed.
    dir.write(
        "examples/bad-template.json",
        r#"{"name": "bad", "request": {"path": "/bad"},
            "response": {"body": "{{ oops", "template": true}}"#,
    );
    let run = lyrebird(&server, key, &["mock", "push", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("examples/bad-template.json: invalid_example: syntax error: ")
            && run.stderr.trim_end().ends_with("(response.body)"),
        "{}",
        run.stderr
    );
    assert_eq!(examples_of(&server, &user, &mock).await.len(), 1);
    fs::remove_file(dir.file("examples/bad-template.json")).unwrap();

    // A setting the server refuses: the settings file and the field.
    let settings = dir
        .read("mock.json")
        .replace("\"delay\": \"none\"", "\"delay\": \"5g\"");
    dir.write("mock.json", &settings);
    let run = lyrebird(&server, key, &["mock", "push", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("mock.json: PATCH /api/v1/mocks/")
            && run.stderr.contains("invalid_field: ")
            && run.stderr.contains("(delay)"),
        "{}",
        run.stderr
    );

    // Two mocks of the name: which one is asked for.
    server
        .create_mock(&user.key, json!({"name": "shop"}), &[])
        .await;
    let run = lyrebird(&server, key, &["mock", "diff", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("more than one mock is named `shop`; say which with --mock ID"),
        "{}",
        run.stderr
    );

    // No server there.
    let mut command = support::lyrebird();
    let output = command
        .args(["mock", "diff", dir.path(), "--url", "http://127.0.0.1:9"])
        .env("LYREBIRD_API_KEY", &user.key)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("cannot reach the server at http://127.0.0.1:9"),
        "{stderr}"
    );

    // Usage: clap's own exit code is 2 as well.
    let run = lyrebird(&server, key, &["mock", "pull", dir.path()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--mock <ID>"), "{}", run.stderr);

    // A verify file that does not say what to check is refused before anything is sent.
    dir.write("checks.yaml", "checks:\n  - name: vague\n    count: 1\n");
    let run = lyrebird(
        &server,
        key,
        &[
            "verify",
            dir.file("checks.yaml").to_str().unwrap(),
            "--mock",
            &mock,
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("checks.yaml: check `vague`: give one of `request`, `order` or `unmatched`"),
        "{}",
        run.stderr
    );
}

/// The CI job of docs/testing-with-lyrebird.md, as written there, in a repository of its own:
/// `lyrebird serve` on its embedded database, an account, the mock pushed, the tests run
/// against it, then `lyrebird verify`. Passing tests pass the job; a test that no longer sends
/// what the checks expect fails it, with the nearest call explained.
#[test]
fn the_documented_ci_job_runs_as_written() {
    let guide = include_str!("../../../../docs/testing-with-lyrebird.md");
    let script = guide
        .split("<!-- ci-recipe -->\n```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("the guide has the CI job's script");
    let repository = TempDir::new("ci");
    fs::create_dir_all(repository.file("mocks/orders/examples")).unwrap();
    repository.write(
        "mocks/orders/mock.json",
        r#"{"name": "orders", "examples": ["list.json", "create.json"]}"#,
    );
    repository.write(
        "mocks/orders/examples/list.json",
        r#"{"name": "list", "request": {"method": "GET", "path": "/orders"}, "response": {"body": []}}"#,
    );
    repository.write(
        "mocks/orders/examples/create.json",
        r#"{"name": "create", "request": {"method": "POST", "path": "/orders"}, "response": {"status": 201}}"#,
    );
    repository.write(
        "mocks/orders/verify.yaml",
        "checks:\n  - name: one order placed\n    request: {method: POST, path: /orders}\n    count: 1\n  - name: every call matched an example\n    unmatched: none\n",
    );
    let tests = |calls: &str| {
        let lines: String = calls
            .split(',')
            .map(|call| {
                let (method, path) = call.split_once(' ').unwrap();
                format!("curl -s -X {method} -H \"x-lyrebird-state: $RUN\" \"$ORDERS_API{path}\" > /dev/null\n")
            })
            .collect();
        repository.write(
            "run-tests.sh",
            &format!("#!/usr/bin/env bash\nset -e\n{lines}"),
        );
    };
    let binaries = Path::new(env!("CARGO_BIN_EXE_lyrebird")).parent().unwrap();
    // Each run is a fresh job: a database of its own.
    let run = |job: &str| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = format!("{}:{}", binaries.display(), std::env::var("PATH").unwrap());
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("chmod +x run-tests.sh && {script}"))
            .current_dir(repository.path())
            .env_clear()
            .env("PATH", path)
            .env("HOME", repository.path())
            .env("LYREBIRD_LISTEN", format!("127.0.0.1:{port}"))
            .env("LYREBIRD_DATA_DIR", repository.file(job))
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        eprintln!("{stdout}{stderr}");
        (output.status.code(), stdout)
    };

    tests("GET /orders,POST /orders");
    let (code, stdout) = run("first-job");
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("ok   one order placed"), "{stdout}");
    assert!(
        stdout.contains("ok   every call matched an example"),
        "{stdout}"
    );

    // The code under test changed: it no longer places the order, and calls a path the mock
    // does not know.
    tests("GET /orders,PUT /orders");
    let (code, stdout) = run("second-job");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL one order placed: 0 calls fit the pattern; expected exactly 1"),
        "{stdout}"
    );
    assert!(stdout.contains("nearest: PUT /orders"), "{stdout}");
    assert!(
        stdout.contains("FAIL every call matched an example"),
        "{stdout}"
    );
}
