//! Expression conditions (docs/expressions.md) in Rhai: compiled once when an example is saved,
//! evaluated per request against one shared, sandboxed engine.
//!
//! The engine reads no files (no module resolver), prints nothing, has no `eval`, and stops any
//! script at [`MAX_OPERATIONS`] operations, [`MAX_EVAL_TIME`], [`MAX_CALL_LEVELS`] nested calls,
//! [`MAX_STRING_BYTES`]-byte strings and [`MAX_COLLECTION_LEN`]-item arrays and maps, so a
//! runaway expression fails its condition with a reason instead of hanging a worker. Variables are strict: a misspelt input is a save-time error, and
//! the same check tells which inputs an expression reads, so evaluation builds only those.
//! `docs/expressions.md` is the user's guide.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use regex::Regex;
use rhai::{AST, Dynamic, Engine, EvalAltResult, Map, ParseError, ParseErrorType, Position, Scope};

use crate::error::SourceError;
use crate::request::Request;
use crate::{jsonpath, xml};

/// Operations one evaluation may run: about 2 ms of a simple loop in a release build
/// (`benches/expressions.rs`).
pub const MAX_OPERATIONS: u64 = 20_000;
/// The longest one evaluation may run. Operations differ widely in cost (copying a string near
/// [`MAX_STRING_BYTES`] is one operation), so the operation limit alone let an expression run
/// for seconds; this bounds every kind of work. It is wall-clock time, so it is generous: an
/// ordinary condition takes microseconds, and a busy machine may pause a thread for a while.
pub const MAX_EVAL_TIME: Duration = Duration::from_millis(50);
/// The longest all the expressions of one request may run together, from the first one's
/// start: without it a mock whose many examples each hold a costly expression would cost one
/// request their number times [`MAX_EVAL_TIME`]. Expressions left once it is spent fail.
pub const MAX_REQUEST_EVAL_TIME: Duration = Duration::from_millis(100);
/// Nested function calls, for scripts that define recursive functions.
pub const MAX_CALL_LEVELS: usize = 16;
/// Longest string an expression may build: room for real bodies, none for doubling loops.
pub const MAX_STRING_BYTES: usize = 4 * 1024 * 1024;
/// Most items an array or map built by an expression may hold.
pub const MAX_COLLECTION_LEN: usize = 10_000;
/// Longest expression source accepted.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;
/// Distinct regular expressions kept compiled; the cache starts over when full.
const REGEX_CACHE_LEN: usize = 1024;

/// The request inputs, in the order of the bit flags in [`Expression::inputs`].
const INPUTS: [&str; 9] = [
    "url", "path", "method", "body", "headers", "query", "form", "params", "cookies",
];
const URL: u16 = 1;

static ENGINE: LazyLock<Engine> = LazyLock::new(build_engine);

thread_local! {
    /// When the evaluation running on this thread must stop ([`MAX_EVAL_TIME`]). Evaluations
    /// are synchronous, so one thread runs one at a time.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The shared time of the request being matched on this thread ([`RequestBudget`]).
    static REQUEST: Cell<RequestClock> = const { Cell::new(RequestClock::Off) };
}

#[derive(Debug, Clone, Copy)]
enum RequestClock {
    /// No request is being matched: each evaluation has only its own limit.
    Off,
    /// A request is being matched and no expression has run yet, so the clock has not been read.
    Armed,
    /// When the request's expression time ends.
    Until(Instant),
}

/// While it lives, the expressions evaluated on this thread share [`MAX_REQUEST_EVAL_TIME`].
/// Starting one reads no clock: a request without expressions pays nothing for it.
pub(crate) struct RequestBudget(RequestClock);

impl RequestBudget {
    pub(crate) fn start() -> Self {
        Self(REQUEST.replace(RequestClock::Armed))
    }
}

impl Drop for RequestBudget {
    fn drop(&mut self) {
        REQUEST.set(self.0);
    }
}

/// What the engine's progress callback ends an evaluation with when its time is up.
const OUT_OF_TIME: &str = "out of time";
static REGEXES: LazyLock<RwLock<HashMap<String, Arc<Regex>>>> = LazyLock::new(Default::default);

/// A compiled expression condition.
#[derive(Debug, Clone)]
pub struct Expression {
    ast: AST,
    /// Bit `i` set when the expression reads `INPUTS[i]`.
    inputs: u16,
}

impl Expression {
    /// Compiles `src`, reporting syntax errors, unknown variables and non-boolean constant
    /// expressions with their line and column.
    pub fn compile(src: &str) -> Result<Expression, SourceError> {
        if src.len() > MAX_SOURCE_BYTES {
            return Err(SourceError {
                message: format!("expressions over {MAX_SOURCE_BYTES} bytes are refused"),
                line: None,
                column: None,
            });
        }
        if src.trim().is_empty() {
            return Err(SourceError {
                message: "the expression is empty".to_owned(),
                line: None,
                column: None,
            });
        }
        let ast = ENGINE
            .compile_with_scope(&input_scope(u16::MAX), src)
            .map_err(parse_error)?;
        let mut inputs = 0;
        // An input is read when compiling without it fails on exactly that name; names absent
        // from the source text cannot be read, so they need no such trial.
        for (bit, name) in INPUTS
            .iter()
            .enumerate()
            .filter(|(_, name)| src.contains(*name))
        {
            let mask = !(1 << bit);
            if let Err(ParseError(kind, _)) = ENGINE.compile_with_scope(&input_scope(mask), src)
                && matches!(*kind, ParseErrorType::VariableUndefined(ref var) if var == name)
            {
                inputs |= 1 << bit;
            }
        }
        let expression = Expression { ast, inputs };
        if inputs == 0 {
            // Reads nothing from the request: its value is the same for every request, so find
            // out now whether it is a boolean at all.
            expression
                .eval(&Request::default())
                .map_err(|message| SourceError {
                    message,
                    line: None,
                    column: None,
                })?;
        }
        Ok(expression)
    }

    /// Whether the expression reads `url`: an example with a prefix path needs it (the last
    /// priority level of docs/matching.md, "Rules mode").
    pub fn uses_url(&self) -> bool {
        self.inputs & URL != 0
    }

    /// Evaluates the expression for `request`; anything but `true` or `false` (including hitting
    /// a limit) is an error that says why.
    pub fn eval(&self, request: &Request) -> Result<bool, String> {
        let mut scope = Scope::with_capacity(self.inputs.count_ones() as usize);
        for (bit, name) in INPUTS.iter().enumerate() {
            if self.inputs & (1 << bit) != 0 {
                scope.push_dynamic(*name, input_value(bit, request));
            }
        }
        let now = Instant::now();
        let request_ends = match REQUEST.get() {
            RequestClock::Off => None,
            RequestClock::Armed => {
                let ends = now + MAX_REQUEST_EVAL_TIME;
                REQUEST.set(RequestClock::Until(ends));
                Some(ends)
            }
            RequestClock::Until(ends) => Some(ends),
        };
        let own_end = now + MAX_EVAL_TIME;
        let deadline = request_ends.map_or(own_end, |ends| ends.min(own_end));
        DEADLINE.set(Some(deadline));
        let value = if now >= deadline {
            Err(EvalAltResult::ErrorTerminated(Dynamic::UNIT, rhai::Position::NONE).into())
        } else {
            ENGINE.eval_ast_with_scope::<Dynamic>(&mut scope, &self.ast)
        };
        DEADLINE.set(None);
        let value = value.map_err(|error| match *error {
            EvalAltResult::ErrorTooManyOperations(_) => {
                format!("operation limit of {MAX_OPERATIONS} reached")
            }
            EvalAltResult::ErrorTerminated(..) if deadline < own_end => format!(
                "the request's expression time of {} ms was spent",
                MAX_REQUEST_EVAL_TIME.as_millis()
            ),
            EvalAltResult::ErrorTerminated(..) => {
                format!("time limit of {} ms reached", MAX_EVAL_TIME.as_millis())
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                format!("call depth limit of {MAX_CALL_LEVELS} reached")
            }
            other => other.to_string(),
        })?;
        value.as_bool().map_err(|type_name| {
            format!("the expression must give true or false, but gave a {type_name} ({value})")
        })
    }
}

fn input_value(bit: usize, request: &Request) -> Dynamic {
    match INPUTS[bit] {
        "url" => request.url().into(),
        "path" => request.path.clone().into(),
        "method" => request.method.clone().into(),
        "body" => request.body_text().into_owned().into(),
        "headers" => pairs_to_map(&request.headers).into(),
        "query" => pairs_to_map(request.query_params()).into(),
        "form" => pairs_to_map(request.form_params().unwrap_or_default()).into(),
        "params" => pairs_to_map(request.form_params().unwrap_or(request.query_params())).into(),
        _ => pairs_to_map(request.cookies()).into(),
    }
}

/// A name that repeats keeps its first value.
fn pairs_to_map(pairs: &[(String, String)]) -> Map {
    let mut map = Map::new();
    for (name, value) in pairs {
        map.entry(name.as_str().into())
            .or_insert_with(|| value.clone().into());
    }
    map
}

/// A scope declaring the inputs whose bit is set in `mask`, for compiling under strict variables.
fn input_scope(mask: u16) -> Scope<'static> {
    let mut scope = Scope::new();
    for (bit, name) in INPUTS.iter().enumerate() {
        if mask & (1 << bit) != 0 {
            scope.push_dynamic(*name, Dynamic::UNIT);
        }
    }
    scope
}

fn parse_error(error: ParseError) -> SourceError {
    let ParseError(kind, position) = error;
    SourceError {
        message: kind.to_string(),
        line: position.line().map(|l| l as u32),
        column: position.position().map(|c| c as u32),
    }
}

/// A compiled regular expression from the shared cache. `whole` anchors it to the whole text.
pub(crate) fn regex(pattern: &str, whole: bool) -> Result<Arc<Regex>, String> {
    let key = if whole {
        format!("^(?:{pattern})$")
    } else {
        pattern.to_owned()
    };
    if let Some(regex) = REGEXES
        .read()
        .ok()
        .and_then(|cache| cache.get(&key).cloned())
    {
        return Ok(regex);
    }
    let regex = regex::RegexBuilder::new(&key)
        .size_limit(1 << 20)
        .build()
        .map(Arc::new)
        .map_err(|error| format!("invalid regular expression {pattern:?}: {error}"))?;
    if let Ok(mut cache) = REGEXES.write() {
        if cache.len() >= REGEX_CACHE_LEN {
            cache.clear();
        }
        cache.insert(key, regex.clone());
    }
    Ok(regex)
}

type Fallible<T> = Result<T, Box<EvalAltResult>>;

fn runtime_error(message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(message.into(), Position::NONE).into()
}

fn regex_match(text: &str, pattern: &str) -> Fallible<bool> {
    Ok(regex(pattern, true).map_err(runtime_error)?.is_match(text))
}

fn regex_find(text: &str, pattern: &str) -> Fallible<bool> {
    Ok(regex(pattern, false).map_err(runtime_error)?.is_match(text))
}

fn json_path(text: &str, path: &str) -> Fallible<Dynamic> {
    match jsonpath::select_in_text(text, path).map_err(runtime_error)? {
        Some(value) => rhai::serde::to_dynamic(value),
        None => Ok(Dynamic::UNIT),
    }
}

fn xpath(text: &str, expr: &str) -> Fallible<Dynamic> {
    xml::check_xpath(expr).map_err(runtime_error)?;
    Ok(xml::xpath(text, expr).map_or(Dynamic::UNIT, Dynamic::from))
}

fn build_engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new())
        .disable_symbol("eval")
        .on_print(|_| {})
        .on_debug(|_, _, _| {})
        .set_strict_variables(true)
        .set_max_operations(MAX_OPERATIONS)
        // Called after every operation; one may take long, so each is followed by a look at
        // the clock (tens of nanoseconds).
        .on_progress(|_| {
            DEADLINE
                .get()
                .is_some_and(|deadline| Instant::now() > deadline)
                .then(|| OUT_OF_TIME.into())
        })
        .set_max_call_levels(MAX_CALL_LEVELS)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(MAX_STRING_BYTES)
        .set_max_array_size(MAX_COLLECTION_LEN)
        .set_max_map_size(MAX_COLLECTION_LEN)
        .set_max_variables(256)
        .set_max_functions(64);
    engine
        .register_custom_operator("matches", 130)
        .expect("`matches` is not a Rhai keyword");
    engine
        .register_fn("matches", regex_match)
        .register_fn("matches", |_: (), _: &str| false)
        .register_fn("regex_match", regex_match)
        .register_fn("regex_match", |_: (), _: &str| false)
        .register_fn("regex_find", regex_find)
        .register_fn("regex_find", |_: (), _: &str| false)
        .register_fn("is_json", jsonpath::is_json)
        .register_fn("is_json", |_: ()| false)
        .register_fn("json_path", json_path)
        .register_fn("json_path", |_: (), _: &str| Dynamic::UNIT)
        .register_fn("is_xml", xml::is_xml)
        .register_fn("is_xml", |_: ()| false)
        .register_fn("xpath", xpath)
        .register_fn("xpath", |_: (), _: &str| Dynamic::UNIT);
    engine
}
