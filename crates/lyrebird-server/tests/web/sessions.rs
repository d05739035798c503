//! Signing up, logging in and out, CSRF tokens, framing and caching, and throttled logins.

use super::*;

#[tokio::test]
async fn a_new_user_signs_up_and_lands_on_an_empty_dashboard() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let (status, page) = browser.get("/mocks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No mocks yet"), "{page}");
    assert!(
        page.contains("ada@example.com"),
        "the nav shows who is signed in"
    );
    // The flash was shown once.
    assert!(!page.contains("Welcome to Lyrebird"));
    // Signed in, the landing page leads to the dashboard.
    let (_, landing) = browser.get("/").await;
    assert!(landing.contains("No mocks yet"));
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_log_in_and_back() {
    let site = Site::start().await;
    site.signed_up("ada@example.com").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/mocks/new", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=/mocks/new");
    let response = no_redirects
        .post(format!("{}/mocks", site.base))
        .form(&[("name", "Pets")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=/mocks",
        "a form's address answers only POST, so it is not where to come back to"
    );

    let browser = site.browser();
    let (_, login) = browser.get("/login?next=/mocks/new").await;
    let token = hidden_token(&login);
    let (status, page) = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/mocks/new"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Start from scratch"), "{page}");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let (status, page) = browser.post_form("/mocks", &[("name", "Pets")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("security token"), "{page}");
    let (status, _) = browser
        .post_form(
            "/mocks",
            &[("csrf_token", &"0".repeat(64)), ("name", "Pets")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = browser.post_form("/logout", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("No mocks yet"), "nothing was created");

    // Sign-up without the double-submit token, as another site's form would post it.
    let stranger = reqwest::Client::new();
    let response = stranger
        .post(format!("{}/signup", site.base))
        .form(&[("email", "eve@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn api_changes_made_with_the_session_cookie_need_the_csrf_header() {
    let site = Site::start().await;
    let browser = site.signed_up("forged@example.com").await;
    let url = format!("{}/api/v1/mocks", browser.base);
    // What another page can make a browser send: a plain form, or JSON without the header.
    let forged = [
        browser.client.post(&url).form(&[("name", "forged")]),
        browser.client.post(&url).json(&json!({"name": "forged"})),
        browser
            .client
            .post(&url)
            .header("x-csrf-token", "0".repeat(64))
            .json(&json!({"name": "forged"})),
    ];
    for request in forged {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "csrf_token_invalid", "{body}");
    }
    // Reading needs no token; the app's own request, with it, is accepted.
    let listed = browser.client.get(&url).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let (status, created) = browser
        .post_json("/api/v1/mocks", json!({"name": "mine"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, mocks) = browser.get("/api/v1/mocks").await;
    assert!(!mocks.contains("forged"), "{mocks}");
}

#[tokio::test]
async fn pages_cannot_be_framed_and_nothing_showing_a_secret_is_cached() {
    let site = Site::start().await;
    let browser = site.signed_up("frames@example.com").await;
    for path in ["/", "/mocks", "/keys"] {
        let response = browser
            .client
            .get(format!("{}{path}", browser.base))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{path}");
    }
    // The API's answers, a new key's included, are never stored either.
    let token = browser.csrf().await;
    let created = browser
        .client
        .post(format!("{}/api/v1/keys", browser.base))
        .header("x-csrf-token", token)
        .json(&json!({"name": "ci", "scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["cache-control"], "no-store");
    // Static files keep their own caching.
    let script = browser
        .client
        .get(format!("{}/static/app.js", browser.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.headers()["cache-control"], "public, max-age=300");
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let token = browser.csrf().await;
    let (status, page) = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Create my account"), "{page}");
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("Log in"), "back on the log-in page: {page}");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_on_the_api_and_the_page() {
    let site = Site::start().await;
    site.signed_up("ada@example.com").await;
    let browser = site.browser();
    let wrong = json!({"email": "ada@example.com", "password": "not the password"});
    for attempt in 1..=5 {
        let (status, _) = browser.post_json("/api/v1/sessions", wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = browser
        .client
        .post(format!("{}/api/v1/sessions", site.base))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");

    let (_, landing) = browser.get("/login").await;
    let token = hidden_token(&landing);
    let (status, page) = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many failed attempts"), "{page}");

    // Another account is not affected.
    site.signed_up("bob@example.com").await;
}
