//! The worked examples of docs/versions-and-impact.md, docs/proxy.md, docs/teams.md,
//! docs/invitations.md and docs/operator.md, run as written against the binary: their output is
//! the output the guides show. The scripts find `lyrebird` on their PATH and the server's
//! database in DATABASE_URL, as an operator's shell would.

use super::*;

/// The text of the guide's block after `marker`.
fn block<'a>(guide: &'a str, marker: &str) -> &'a str {
    guide
        .split(marker)
        .nth(1)
        .and_then(|rest| rest.split_once('\n').map(|(_, after_fence)| after_fence))
        .and_then(|rest| rest.split("\n```").next())
        .unwrap_or_else(|| panic!("the guide has the block after {marker}"))
}

/// Runs the guide's worked example against a server started with `env` and checks it prints
/// what the guide shows.
async fn run_worked_example(guide: &str, env: &[(&str, &str)]) {
    for tool in ["curl", "jq"] {
        let found = std::process::Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|output| output.status.success()),
            "the guide's example needs {tool}: install it (deploy/test.sh does, with apt-get)"
        );
    }
    let script = block(guide, "<!-- worked-example -->\n");
    let expected = block(guide, "<!-- worked-example-output -->\n");
    let db = TestDatabase::new().await;
    let url = db.url();
    let mut env = env.to_vec();
    env.push(("DATABASE_URL", &url));
    let server = Server::start_with(&env);
    let key = sign_up(&server, "ada@example.com").await;
    // The script's files (a cookie jar...) go to a folder of its own, not the source tree.
    let workdir = std::env::temp_dir().join(format!("lyrebird-guide-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&workdir).unwrap();
    let binaries = std::path::Path::new(env!("CARGO_BIN_EXE_lyrebird"))
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{binaries}:{}", std::env::var("PATH").unwrap_or_default());
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .env("LYREBIRD", &server.base)
        .env("KEY", &key)
        .current_dir(&workdir)
        .env("DATABASE_URL", &url)
        .env("PATH", path)
        .output()
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&workdir);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim_end(), expected.trim_end(), "{stderr}");
}

#[tokio::test]
async fn the_versions_guides_worked_example_prints_what_the_guide_shows() {
    run_worked_example(include_str!("../../../../docs/versions-and-impact.md"), &[]).await;
}

#[tokio::test]
async fn the_teams_guides_worked_example_prints_what_the_guide_shows() {
    run_worked_example(include_str!("../../../../docs/teams.md"), &[]).await;
}

#[tokio::test]
async fn the_invitations_guides_worked_example_prints_what_the_guide_shows() {
    run_worked_example(include_str!("../../../../docs/invitations.md"), &[]).await;
}

/// The recording's example uses another mock of the same server as its upstream, on loopback.
#[tokio::test]
async fn the_proxy_guides_worked_example_prints_what_the_guide_shows() {
    run_worked_example(
        include_str!("../../../../docs/proxy.md"),
        &[("LYREBIRD_CALLBACK_ALLOW", "127.0.0.1")],
    )
    .await;
}

#[tokio::test]
async fn the_operator_guides_worked_example_prints_what_the_guide_shows() {
    run_worked_example(include_str!("../../../../docs/operator.md"), &[]).await;
}
