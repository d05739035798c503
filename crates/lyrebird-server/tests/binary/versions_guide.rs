//! The worked example of docs/versions-and-impact.md, run as written against the binary: its
//! output is the output the guide shows.

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

#[tokio::test]
async fn the_guides_worked_example_prints_what_the_guide_shows() {
    for tool in ["curl", "jq"] {
        let found = std::process::Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|output| output.status.success()),
            "the guide's example needs {tool}: install it (deploy/test.sh does, with apt-get)"
        );
    }
    let guide = include_str!("../../../../docs/versions-and-impact.md");
    let script = block(guide, "<!-- worked-example -->\n");
    let expected = block(guide, "<!-- worked-example-output -->\n");
    let db = TestDatabase::new().await;
    let server = Server::start_with(&[("DATABASE_URL", &db.url())]);
    let key = sign_up(&server, "ada@example.com").await;
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .env("LYREBIRD", &server.base)
        .env("KEY", &key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim_end(), expected.trim_end(), "{stderr}");
}
