//! Postman `{{name}}` variables: the collection's and the environment's values, with variables
//! inside variables resolved (to a bounded depth, so a loop cannot hang an import), and within
//! [`MAX_RESOLVED_BYTES`] for the whole import, so that a few short variables that each name
//! the next a hundred times cannot ask for gigabytes.

use std::cell::Cell;
use std::collections::BTreeMap;

use lyrebird_engine::resolve_variables;

use crate::ImportError;

/// How many times a value may refer to another variable before resolution stops.
const MAX_DEPTH: usize = 10;

/// Most bytes of text that resolving variables may make in one import.
pub(crate) const MAX_RESOLVED_BYTES: usize = 64 * 1024 * 1024;

/// The variables an import resolves from; the environment's values win over the collection's.
#[derive(Debug)]
pub(crate) struct Variables {
    values: BTreeMap<String, String>,
    /// What is left of [`MAX_RESOLVED_BYTES`]; at zero, text is left as written.
    remaining: Cell<usize>,
}

impl Variables {
    pub(crate) fn new(values: BTreeMap<String, String>) -> Self {
        Self {
            values,
            remaining: Cell::new(MAX_RESOLVED_BYTES),
        }
    }

    /// Every value with its own variables resolved, so a base URL built from other variables is
    /// known in full.
    pub(crate) fn resolved_values(&self) -> Vec<String> {
        self.values
            .values()
            .map(|value| self.resolve(value))
            .collect()
    }

    /// The variables, for the mock's environment; refused when resolving them ran out of
    /// [`MAX_RESOLVED_BYTES`] or they are more than a mock's environment holds.
    pub(crate) fn into_map(self) -> Result<BTreeMap<String, String>, ImportError> {
        if self.remaining.get() == 0 {
            return Err(ImportError::invalid(
                "variables",
                format!(
                    "resolving the variables makes more than {} MiB of text",
                    MAX_RESOLVED_BYTES >> 20
                ),
            ));
        }
        lyrebird_engine::check_environment(&self.values)
            .map_err(|message| ImportError::invalid("variables", message))?;
        Ok(self.values)
    }

    /// Replaces every defined variable, again inside the replacements; undefined ones and
    /// Postman's dynamic values (`{{$guid}}`) stay as written, and so does everything once the
    /// import's budget is spent.
    pub(crate) fn resolve(&self, text: &str) -> String {
        let mut current = text.to_owned();
        for _ in 0..MAX_DEPTH {
            let Some(next) = resolve_variables(&current, &self.values, self.remaining.get()) else {
                self.remaining.set(0);
                return text.to_owned();
            };
            if next == current {
                break;
            }
            current = next;
        }
        let grown = current.len().saturating_sub(text.len());
        self.remaining
            .set(self.remaining.get().saturating_sub(grown));
        current
    }
}

/// True when the text holds a `{{...}}` reference: a variable, a dynamic value or a helper.
pub(crate) fn has_reference(text: &str) -> bool {
    text.find("{{")
        .is_some_and(|start| text[start + 2..].contains("}}"))
}

/// True when the text refers to something Postman fills in when answering: a dynamic value
/// (`{{$guid}}`), a request helper (`{{$body 'a.b'}}`) or a variable (`{{name}}`). Other
/// `{{...}}` text is not Postman's and is sent as written.
pub(crate) fn has_dynamic_reference(text: &str) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return false;
        };
        let inner = after[..end].trim();
        let is_variable = !inner.is_empty()
            && inner
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if inner.starts_with('$') || is_variable {
            return true;
        }
        rest = &after[end + 2..];
    }
    false
}

/// True when the whole text is one reference (`{{id}}`) or an OpenAPI-to-Postman placeholder
/// (`<string>`, `<long>`): a value the file does not really give.
pub(crate) fn is_placeholder(text: &str) -> bool {
    let text = text.trim();
    let wrapped = |open: &str, close: &str| {
        text.len() > open.len() + close.len()
            && text.starts_with(open)
            && text.ends_with(close)
            && !text[open.len()..text.len() - close.len()].contains(open)
    };
    wrapped("{{", "}}") || wrapped("<", ">")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn variables_inside_variables_resolve() {
        let vars = vars(&[("baseUrl", "https://h/{{account}}"), ("account", "42")]);
        assert_eq!(
            vars.resolve("{{baseUrl}}/x/{{other}}"),
            "https://h/42/x/{{other}}"
        );
    }

    #[test]
    fn a_variable_loop_stops() {
        let vars = vars(&[("a", "{{b}}"), ("b", "{{a}}")]);
        let resolved = vars.resolve("{{a}}");
        assert!(resolved == "{{a}}" || resolved == "{{b}}");
    }

    #[test]
    fn placeholders_are_whole_references_or_angle_brackets() {
        assert!(is_placeholder("{{token}}"));
        assert!(is_placeholder("<string>"));
        assert!(!is_placeholder("Bearer {{token}}"));
        assert!(!is_placeholder("{{a}}{{b}}"));
        assert!(has_reference("Bearer {{token}}"));
        assert!(!has_reference("{ \"a\": {} }"));
    }

    #[test]
    fn dynamic_references_are_postman_names_only() {
        assert!(has_dynamic_reference("id: {{$guid}}"));
        assert!(has_dynamic_reference("{{ $body 'a.b' }}"));
        assert!(has_dynamic_reference("hello {{user_name}}"));
        assert!(!has_dynamic_reference(
            "{{ randomInt(5,10) }} and {{ a b }}"
        ));
    }
}
