//! A line diff for people: the lines of two texts as kept, removed or added (a longest common
//! subsequence), printed with a little context around each change. Mock files are small, and
//! the common start and end of the two texts are set aside first, so the quadratic table only
//! covers the part that changed.

/// How many unchanged lines are shown around a change.
const CONTEXT: usize = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// Every line of `old` and `new`, in order, as kept, removed or added.
fn lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    // longest[i][j]: the length of the longest common subsequence of a[i..] and b[j..].
    let mut longest = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            longest[i][j] = if a[i] == b[j] {
                longest[i + 1][j + 1] + 1
            } else {
                longest[i + 1][j].max(longest[i][j + 1])
            };
        }
    }
    let mut result: Vec<Line> = old[..prefix].iter().map(|line| Line::Same(line)).collect();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            result.push(Line::Same(a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j == b.len() || (i < a.len() && longest[i + 1][j] >= longest[i][j + 1]) {
            result.push(Line::Removed(a[i]));
            i += 1;
        } else {
            result.push(Line::Added(b[j]));
            j += 1;
        }
    }
    result.extend(
        old[old.len() - suffix..]
            .iter()
            .map(|line| Line::Same(line)),
    );
    result
}

/// The changes from `old` to `new`: `-` and `+` lines with up to [`CONTEXT`] unchanged lines
/// around them, each line after `indent`; parts left out are marked `...`. Empty when the
/// texts have the same lines.
pub fn render(old: &str, new: &str, indent: &str) -> String {
    let lines = lines(old, new);
    let changed = |line: &Line| !matches!(line, Line::Same(_));
    if !lines.iter().any(changed) {
        return String::new();
    }
    let near_a_change = |i: usize| {
        lines[i.saturating_sub(CONTEXT)..lines.len().min(i + CONTEXT + 1)]
            .iter()
            .any(changed)
    };
    let mut out = String::new();
    let mut gap = false;
    for (i, line) in lines.iter().enumerate() {
        if !near_a_change(i) {
            gap = true;
            continue;
        }
        if std::mem::take(&mut gap) {
            out.push_str(&format!("{indent}  ...\n"));
        }
        let (mark, text) = match line {
            Line::Same(text) => (' ', text),
            Line::Removed(text) => ('-', text),
            Line::Added(text) => ('+', text),
        };
        out.push_str(&format!("{indent}{mark} {text}\n"));
    }
    if gap {
        out.push_str(&format!("{indent}  ...\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(render("a\nb\n", "a\nb\n", ""), "");
    }

    #[test]
    fn a_changed_line_is_shown_with_its_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            render(old, new, "  "),
            "    ...\n    3\n    4\n  - 5\n  + five\n    6\n    7\n    ...\n"
        );
    }

    #[test]
    fn additions_and_removals_keep_the_common_lines() {
        let old = "a\nb\nc\n";
        let new = "a\nx\nc\nd\n";
        assert_eq!(render(old, new, ""), "  a\n- b\n+ x\n  c\n+ d\n");
    }

    #[test]
    fn everything_new_is_all_additions() {
        assert_eq!(render("", "a\nb\n", ""), "+ a\n+ b\n");
    }
}
