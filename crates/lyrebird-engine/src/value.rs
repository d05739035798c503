//! Compiled value conditions for query parameters, headers, cookies and form parameters.
//!
//! A [`ValueMatch`] from the example format becomes a [`ValueCheck`] once, at compile time, so
//! that regular expressions are built a single time and every request only runs them.

use regex::{Regex, RegexBuilder};

use crate::model::{ValueMatch, ValueRule};

/// Compiled regular expressions are capped so that a saved pattern cannot claim unbounded memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub(crate) enum ValueCheck {
    Equals(String),
    /// Anchored: the expression must match the whole value.
    Matches(Regex),
    Absent,
    Present,
}

impl ValueCheck {
    pub(crate) fn compile(value: &ValueMatch) -> Result<Self, String> {
        Ok(match value {
            ValueMatch::Equals(text) | ValueMatch::Rule(ValueRule::Equals(text)) => {
                Self::Equals(text.clone())
            }
            ValueMatch::Rule(ValueRule::Matches(pattern)) => Self::Matches(compile_regex(pattern)?),
            ValueMatch::Rule(ValueRule::Absent(true) | ValueRule::Present(false)) => Self::Absent,
            ValueMatch::Rule(ValueRule::Present(true) | ValueRule::Absent(false)) => Self::Present,
        })
    }

    /// Whether the values a request has under one name (none, one or several) satisfy this
    /// condition; one fitting value is enough.
    pub(crate) fn accepts<'a>(&self, mut values: impl Iterator<Item = &'a str>) -> bool {
        match self {
            Self::Equals(expected) => values.any(|value| value == expected),
            Self::Matches(regex) => values.any(|value| regex.is_match(value)),
            Self::Absent => values.next().is_none(),
            Self::Present => values.next().is_some(),
        }
    }

    /// True for conditions that require the name to be there; an `absent` condition does not make
    /// a request parameter "named by the rule" for the "url equal" levels, where the example must
    /// name every query parameter the request sends (docs/matching.md, "Levels without a form
    /// body").
    pub(crate) fn requires_presence(&self) -> bool {
        !matches!(self, Self::Absent)
    }

    /// The condition in words, for explanations: `1`, `matching ^\d+$`, `absent`, `present`.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Equals(text) => text.clone(),
            Self::Matches(regex) => {
                let anchored = regex.as_str();
                let inner = anchored
                    .strip_prefix("^(?:")
                    .and_then(|rest| rest.strip_suffix(")$"))
                    .unwrap_or(anchored);
                format!("matching {inner}")
            }
            Self::Absent => "absent".to_owned(),
            Self::Present => "present".to_owned(),
        }
    }
}

/// Builds a size-limited regular expression that must match a whole value.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| format!("invalid regular expression: {error}"))
}

/// The first value for `name` in name/value pairs such as query parameters, for explanations.
pub(crate) fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    values_of(pairs, name).next()
}

/// Every value for `name` in name/value pairs.
pub(crate) fn values_of<'a>(
    pairs: &'a [(String, String)],
    name: &str,
) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: ValueMatch) -> ValueCheck {
        ValueCheck::compile(&value).expect("compiles")
    }

    #[test]
    fn a_regular_expression_must_match_the_whole_value() {
        let digits = check(ValueMatch::Rule(ValueRule::Matches(r"\d+".into())));
        assert!(digits.accepts(["123"].into_iter()));
        assert!(!digits.accepts(["12a"].into_iter()));
        assert_eq!(digits.describe(), r"matching \d+");
    }

    #[test]
    fn one_fitting_value_among_repeated_names_is_enough() {
        let equals = check(ValueMatch::Equals("2".into()));
        assert!(equals.accepts(["1", "2"].into_iter()));
        assert!(!equals.accepts(std::iter::empty()));
    }

    #[test]
    fn absent_and_present_look_only_at_the_name() {
        let absent = check(ValueMatch::Rule(ValueRule::Absent(true)));
        assert!(absent.accepts(std::iter::empty()));
        assert!(!absent.accepts([""].into_iter()));
        let present = check(ValueMatch::Rule(ValueRule::Present(true)));
        assert!(present.accepts([""].into_iter()));
    }

    #[test]
    fn an_invalid_regular_expression_is_reported() {
        let error = ValueCheck::compile(&ValueMatch::Rule(ValueRule::Matches("(".into())))
            .expect_err("unbalanced");
        assert!(error.starts_with("invalid regular expression"), "{error}");
    }
}
