//! The call log's text search through its index, against a real PostgreSQL: every call that
//! holds the text is found, in order and page by page, and no other; blocks whose trigrams are
//! not known are read by every search. (tests/calls.rs has the window of a search the index
//! cannot narrow.)

use lyrebird_store::calls::{CallFilter, NewCall, StoredBody, TextScope};
use lyrebird_store::testing::{TestDatabase, encoded, listed_ids};
use lyrebird_store::{Caller, MockId};
use time::OffsetDateTime;
use uuid::Uuid;

fn body(text: &str) -> StoredBody {
    StoredBody {
        text: text.to_owned(),
        base64: false,
        size: text.len() as u64,
    }
}

/// Calls with text in every searched place, some of it rare, some not ASCII, in any case.
fn calls(owner: &Caller, mock: MockId, start: OffsetDateTime) -> Vec<NewCall> {
    (0..3000)
        .map(|i| {
            let mut call = lyrebird_store::testing::call(
                owner.workspace.id(),
                mock,
                // Two calls per millisecond: equal times are ordered by id.
                start + time::Duration::milliseconds(i / 2),
            );
            call.path = format!("/orders/{}", i * 7 % 1000);
            call.request_headers = vec![
                ("accept".into(), "application/json".into()),
                (
                    "x-request-id".into(),
                    format!("{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).into(),
                ),
            ];
            call.response_headers = vec![("content-type".into(), "application/json".into())];
            call.response_body = body(&format!("{{\"id\": {i}, \"state\": \"paid\"}}"));
            match i % 500 {
                7 => call
                    .request_headers
                    .push(("X-Trace".into(), "Needle-Alpha".into())),
                123 => call.response_body = body("{\"error\": \"NEEDLE-alpha\"}"),
                250 => call.query = "city=Straße&name=Ünïcode".into(),
                333 => call.request_body = body("Größe: \u{212A}elvin"),
                499 => call
                    .response_headers
                    .push(("Set-Cookie".into(), "zq=1".into())),
                _ => {}
            }
            call
        })
        .collect()
}

/// Whether a search for `text` in `scope` keeps the call, worked out plainly.
fn holds(call: &NewCall, text: &str, scope: TextScope) -> bool {
    let text = text.to_lowercase();
    let headers = |headers: &[lyrebird_store::calls::Header]| -> Vec<String> {
        headers
            .iter()
            .flat_map(|(name, value)| [name.to_string(), value.to_string()])
            .collect()
    };
    let mut request = vec![
        call.path.clone(),
        call.query.clone(),
        call.request_body.text.clone(),
    ];
    request.extend(headers(&call.request_headers));
    let mut response = vec![call.response_body.text.clone()];
    response.extend(headers(&call.response_headers));
    let fields: Vec<String> = match scope {
        TextScope::Anywhere => request.into_iter().chain(response).collect(),
        TextScope::Request => request,
        TextScope::Response => response,
    };
    fields
        .iter()
        .any(|field| field.to_lowercase().contains(&text))
}

/// A mock with [`calls`] logged in the batches `batches` makes of them.
async fn logged(
    batches: impl FnOnce(&[NewCall]) -> Vec<Vec<NewCall>>,
) -> (TestDatabase, Caller, MockId, Vec<NewCall>) {
    let db = TestDatabase::new().await;
    let owner = db.sign_up("owner@example.com").await;
    let mock = db.mock(&owner).await;
    let start =
        OffsetDateTime::now_utc().replace_millisecond(0).unwrap() - time::Duration::hours(1);
    let calls = calls(&owner, mock, start);
    for batch in batches(&calls) {
        db.store()
            .insert_calls(&encoded(&batch), &[])
            .await
            .unwrap();
    }
    (db, owner, mock, calls)
}

fn search(text: &str, scope: TextScope) -> CallFilter {
    CallFilter {
        text: Some(text.to_owned()),
        text_in: scope,
        ..CallFilter::default()
    }
}

/// Newest first, by time then id.
fn newest_first<'a>(calls: impl Iterator<Item = &'a NewCall>) -> Vec<Uuid> {
    let mut calls: Vec<&NewCall> = calls.collect();
    calls.sort_by_key(|call| std::cmp::Reverse((call.at, call.id)));
    calls.into_iter().map(|call| call.id).collect()
}

#[tokio::test]
async fn a_text_search_finds_every_call_that_holds_the_text_and_no_other() {
    // Two servers logging the mock at once: their blocks overlap in time.
    let (db, owner, mock, calls) = logged(|calls| {
        let (even, odd): (Vec<NewCall>, Vec<NewCall>) = calls
            .iter()
            .cloned()
            .partition(|call| call.id.as_bytes()[15] % 2 == 0);
        even.chunks(700)
            .chain(odd.chunks(900))
            .map(<[NewCall]>::to_vec)
            .collect()
    })
    .await;
    let store = db.store();
    for (text, scope) in [
        ("needle-alpha", TextScope::Anywhere),
        ("NEEDLE-ALPHA", TextScope::Request),
        ("Needle-Alpha", TextScope::Response),
        ("x-trace", TextScope::Anywhere),
        ("straße", TextScope::Anywhere),
        ("STRASSE", TextScope::Anywhere),
        ("ÜNÏCODE", TextScope::Request),
        ("größe: k", TextScope::Anywhere),
        ("\u{212A}ELVIN", TextScope::Anywhere),
        ("/orders/13", TextScope::Anywhere),
        ("\"id\": 12", TextScope::Response),
        ("\"paid\"", TextScope::Request),
        ("zq=1", TextScope::Response),
        ("zq", TextScope::Anywhere),
        ("ü", TextScope::Request),
        ("7c15", TextScope::Anywhere),
        ("application/json", TextScope::Response),
        ("nowhere to be found", TextScope::Anywhere),
    ] {
        let expected = newest_first(calls.iter().filter(|call| holds(call, text, scope)));
        for limit in [3, 200] {
            let ids = listed_ids(store, &owner, mock, &search(text, scope), limit).await;
            assert_eq!(ids, expected, "{text:?} in {scope:?}, {limit} a page");
        }
    }
}

#[tokio::test]
async fn blocks_whose_trigrams_are_not_known_are_read_by_every_search() {
    let (db, owner, mock, calls) =
        logged(|calls| calls.chunks(1000).map(<[NewCall]>::to_vec).collect()).await;
    let store = db.store();
    let filter = search("needle-alpha", TextScope::Anywhere);
    let expected = newest_first(
        calls
            .iter()
            .filter(|call| holds(call, "needle-alpha", TextScope::Anywhere)),
    );
    assert_eq!(expected.len(), 12);
    assert_eq!(listed_ids(store, &owner, mock, &filter, 50).await, expected);

    // Sets the oldest block's trigrams (an SQL expression).
    let set_oldest = async |trigrams: &str| {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE call_blocks SET trigrams = {trigrams} WHERE id = \
             (SELECT id FROM call_blocks WHERE mock_id = $1 ORDER BY first_at LIMIT 1)"
        )))
        .bind(mock)
        .execute(store.pool())
        .await
        .unwrap();
    };

    // The oldest block's set said to hold nothing: the search no longer reads it, so the
    // index is what decides which blocks are read.
    set_oldest("'{}'").await;
    let in_newer_blocks = &expected[..8];
    assert_eq!(
        listed_ids(store, &owner, mock, &filter, 50).await,
        in_newer_blocks
    );

    // A block as the migration left those written before the index: read by every search.
    set_oldest("DEFAULT").await;
    assert_eq!(listed_ids(store, &owner, mock, &filter, 50).await, expected);
}
