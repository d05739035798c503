//! Schemathesis, run against the served OpenAPI document of a real server on a real loopback
//! port and a real PostgreSQL, with all its checks: the document must describe what the server
//! really does (statuses, bodies, content types, constraints), and the server must not fail on
//! any input the document allows or forbids.
//!
//! `./deploy/test.sh` installs the pinned Schemathesis and sets `LYREBIRD_SCHEMATHESIS` to it.

#[path = "support/in_process.rs"]
mod in_process;
#[path = "api/support.rs"]
#[allow(dead_code)] // The API tests' support; this file uses part of it.
mod support;

use std::process::Command;
use std::time::Instant;

use serde_json::json;
use support::{TestApp, example};

/// Generated cases per operation and phase: enough to reach every documented status, few enough
/// that the run takes a few minutes on a small machine.
const MAX_EXAMPLES: &str = "60";

/// The live stream of calls (server-sent events) answers until the client leaves: a fuzzer
/// waiting for the end of its body would wait forever, and its checks read whole bodies, so it
/// is left out; `tests/calls.rs` tests it.
const STREAM: &str = "/api/v1/mocks/{id}/calls/stream";

/// `positive_data_acceptance` sends requests the schema allows and expects them accepted. These
/// operations take input whose validity JSON Schema cannot state, so the check is left out for
/// them alone (every other check still runs on them):
/// - the example and mock writes and the try: the engine checks an example as a whole (a prefix
///   path needs an expression rule, templates must compile against the mock's environment, a
///   header name must be a token, a fallback is checked as a response), which the served
///   example schema, being the engine's types, does not express;
/// - the imports: the body is a file of another format (a Postman collection, an OpenAPI
///   description, a HAR, a native document), read by its own rules;
/// - sign-up and log-in: an email address is read by the store's own parser;
/// - the call searches: the filters (`4xx`, RFC 3339 times, `true`/`false`) are small languages
///   read by the call log's parser;
/// - setting a state: its scenarios and collections must be ones the mock's examples and
///   settings name, and its records must carry their collection's id field;
/// - changing the password and deleting the account: the current password and the email typed
///   must be the account's (and deleting it takes a session, which the fuzzer does not have).
///
/// Besides, the server refuses a NUL character in any text (the database cannot store it),
/// which the description does not state yet; on these operations it is among the refusals.
const POSITIVE_DATA_NOT_DESCRIBABLE: &str = r#"
[[operations]]
include-path-regex = "^/api/v1/mocks/\\{id\\}/(examples|try)|^/api/v1/imports/|^/api/v1/(accounts|sessions)$|^/api/v1/mocks/\\{id\\}/calls"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/api/v1/mocks(/\\{id\\})?$"
include-method-regex = "POST|PATCH"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path = "/api/v1/mocks/{id}/state"
include-method = "PUT"
checks.positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/api/v1/account(/password)?$"
include-method-regex = "PUT|DELETE"
checks.positive_data_acceptance.enabled = false
"#;

/// The coverage phase of `POST .../examples` and `PUT .../state` crashes Python 3.11's compiler
/// inside Hypothesis (an AST recursion-depth `SystemError`) on their schemas' free-form JSON;
/// their fuzzing and stateful phases still run.
const KNOWN_FUZZER_LIMITS: &str = r#"
[[operations]]
include-path = "/api/v1/mocks/{id}/examples"
include-method = "POST"
phases.coverage.enabled = false

[[operations]]
include-path = "/api/v1/mocks/{id}/state"
include-method = "PUT"
phases.coverage.enabled = false
"#;

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_the_document_true_to_the_server() {
    let Ok(schemathesis) = std::env::var("LYREBIRD_SCHEMATHESIS") else {
        panic!(
            "LYREBIRD_SCHEMATHESIS is not set: run ./deploy/test.sh, which installs the pinned \
             Schemathesis and sets it, or set it to the path of a `schemathesis` executable"
        );
    };
    let app = TestApp::start().await;
    let user = app.sign_up("fuzz@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "fuzzed"})).await;
    let example_id = app
        .add_example(&user.key, &mock, example("kept", "/kept"))
        .await;
    // Deleting is fuzzed on things of their own, so the other operations keep real ids to
    // work with: a second mock, a second example and a second key.
    let doomed_mock = app.create_mock(&user.key, json!({"name": "doomed"})).await;
    let doomed_example = app
        .add_example(&user.key, &mock, example("doomed", "/doomed"))
        .await;
    let (_, doomed_key) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "doomed", "scope": "mock"}),
        )
        .await;
    let doomed_key = doomed_key["key"]["id"].as_str().unwrap();

    // Cargo's scratch directory for integration tests; the port keeps concurrent runs apart.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "schemathesis-{}",
        app.base.rsplit(':').next().unwrap()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[parameters]
"path.id" = "{mock}"
"path.example_id" = "{example_id}"

[[operations]]
include-path = "/api/v1/mocks/{{id}}"
include-method = "DELETE"
parameters = {{ "path.id" = "{doomed_mock}" }}

[[operations]]
include-path = "/api/v1/mocks/{{id}}/examples/{{example_id}}"
include-method = "DELETE"
parameters = {{ "path.example_id" = "{doomed_example}" }}

[[operations]]
include-path = "/api/v1/keys/{{id}}"
parameters = {{ "path.id" = "{doomed_key}" }}
{POSITIVE_DATA_NOT_DESCRIBABLE}{KNOWN_FUZZER_LIMITS}"#
        ),
    )
    .unwrap();

    let started = Instant::now();
    let base = app.base.clone();
    let key = user.key.clone();
    let report = dir.join("report");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(&schemathesis)
            // Its cache (`.schemathesis/`) goes to the scratch directory, not the checkout.
            .current_dir(&dir)
            .arg("--config-file")
            .arg(&config)
            .args(["--no-color", "run"])
            .arg(format!("{base}/api/v1/openapi.json"))
            // Every check runs: Schemathesis 4 enables all unless told otherwise, and `--checks
            // all` would also override the configuration's one exclusion below.
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--exclude-path", STREAM])
            .args(["--request-timeout", "20"])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--seed", "1", "--workers", "2"])
            .arg("--report-dir")
            .arg(&report)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {schemathesis}: {e}"))
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Schemathesis failed ({}) after {:?}:\n{stdout}\n{stderr}",
        output.status,
        started.elapsed()
    );
    eprintln!("Schemathesis passed in {:?}", started.elapsed());
}
