//! How deep a YAML text nests, found by one linear pass before the parser sees it.
//!
//! The YAML parser's time grows with the square of the nesting it is inside: `a: ` followed by
//! 100,000 `[` and as many `]` (200 KB) took 26 s of CPU before it was refused. This scan bounds
//! nesting first, in time linear in the text, so such a file is refused at once, naming the line.
//!
//! It counts two kinds of nesting and refuses when their sum passes the limit:
//!
//! - flow collections, `[` and `{` where a node starts (after `: `, `- `, `,`, at the start of a
//!   line) or inside another flow collection, outside quoted scalars and comments;
//! - block collections, by indentation: a line indented deeper than the open one opens a level,
//!   and so does each `- ` or `? ` of a compact entry (`- - - a`).
//!
//! Quotes only open where a node starts (`don't` in a plain scalar is not a quote), a `#` only
//! starts a comment after white space, and the lines of a block scalar (`|`, `>`) are skipped
//! whole. The count is an upper bound of the parser's own, close enough that real documents
//! (a deep OpenAPI schema nests a few dozen levels) are far from the limit.

/// The deepest nesting a YAML file may have: the same as JSON's, serde_json's recursion limit.
pub(crate) const MAX_DEPTH: usize = 128;

/// The 1-based line at which `text` nests deeper than `limit`, or `None` when it does not.
pub(crate) fn too_deep_at(text: &str, limit: usize) -> Option<usize> {
    let mut scan = Scan::default();
    text.split('\n')
        .position(|line| scan.too_deep(line.as_bytes(), limit))
        .map(|index| index + 1)
}

/// What is open at the end of the lines read so far.
#[derive(Debug, Default)]
struct Scan {
    /// The indentation of each open block level.
    blocks: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// The quote of a quoted scalar that goes on past the end of a line.
    quote: Option<u8>,
    /// The indentation of the line that began a block scalar: its content is indented more.
    block_scalar: Option<usize>,
}

impl Scan {
    /// Reads one line; whether it nests deeper than `limit`.
    fn too_deep(&mut self, line: &[u8], limit: usize) -> bool {
        let indent = line.iter().take_while(|&&byte| byte == b' ').count();
        let content = &line[indent..];
        let blank = content
            .iter()
            .all(|byte| matches!(byte, b' ' | b'\t' | b'\r'));
        if let Some(parent) = self.block_scalar {
            if blank || indent > parent {
                return false;
            }
            self.block_scalar = None;
        }
        let mut at = indent;
        if self.quote.is_none() && self.flow == 0 {
            if blank || content.first() == Some(&b'#') {
                return false;
            }
            while self.blocks.last().is_some_and(|&open| open > indent) {
                self.blocks.pop();
            }
            if self.blocks.last() != Some(&indent) {
                self.blocks.push(indent);
            }
            // A document's content may begin on its marker's line (`--- [a]`).
            if indent == 0
                && (content.starts_with(b"---") || content.starts_with(b"..."))
                && is_space_or_end(line.get(3))
            {
                at = 3;
            }
            // Each `- ` or `? ` of a compact entry opens a level at its content's column.
            while matches!(line.get(at), Some(b'-' | b'?')) && is_space_or_end(line.get(at + 1)) {
                at += 1;
                while matches!(line.get(at), Some(b' ' | b'\t')) {
                    at += 1;
                }
                self.blocks.push(at);
            }
            if self.blocks.len() > limit {
                return true;
            }
        }
        self.flow_too_deep(line, at, indent, limit)
    }

    /// Reads a line from `at` for quotes, flow collections and block scalar headers.
    fn flow_too_deep(&mut self, line: &[u8], mut at: usize, indent: usize, limit: usize) -> bool {
        // Whether a node may start here: a quote or a flow collection opens only there.
        let mut node_start = true;
        while let Some(&byte) = line.get(at) {
            if let Some(quote) = self.quote {
                if quote == b'"' && byte == b'\\' {
                    at += 1;
                } else if byte == quote {
                    if quote == b'\'' && line.get(at + 1) == Some(&b'\'') {
                        at += 1;
                    } else {
                        self.quote = None;
                        node_start = false;
                    }
                }
                at += 1;
                continue;
            }
            match byte {
                b' ' | b'\t' | b'\r' => {}
                b'#' if at == 0 || matches!(line[at - 1], b' ' | b'\t') => return false,
                b'\'' | b'"' if node_start => {
                    self.quote = Some(byte);
                    node_start = false;
                }
                b'[' | b'{' if node_start || self.flow > 0 => {
                    self.flow += 1;
                    if self.flow + self.blocks.len() > limit {
                        return true;
                    }
                    node_start = true;
                }
                b']' | b'}' if self.flow > 0 => {
                    self.flow -= 1;
                    node_start = false;
                }
                b',' if self.flow > 0 => node_start = true,
                b':' if self.flow > 0 || is_space_or_end(line.get(at + 1)) => node_start = true,
                b'-' | b'?' if node_start && is_space_or_end(line.get(at + 1)) => {}
                b'|' | b'>' if node_start && self.flow == 0 => {
                    self.block_scalar = Some(indent);
                    return false;
                }
                // An anchor or a tag comes before its node.
                b'&' | b'!' if node_start => {
                    while line
                        .get(at + 1)
                        .is_some_and(|&next| !matches!(next, b' ' | b'\t'))
                    {
                        at += 1;
                    }
                }
                _ => node_start = false,
            }
            at += 1;
        }
        false
    }
}

fn is_space_or_end(byte: Option<&u8>) -> bool {
    matches!(byte, None | Some(b' ' | b'\t' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(text: &str) -> usize {
        (1..=MAX_DEPTH)
            .find(|&limit| too_deep_at(text, limit).is_none())
            .expect("within the limit")
    }

    #[test]
    fn flow_and_block_nesting_add_up() {
        assert_eq!(depth("a: 1\n"), 1);
        assert_eq!(depth("a:\n  b:\n    c: [1, {d: [2]}]\n"), 6);
        assert_eq!(depth("- - - a\n"), 4);
        assert_eq!(depth("a:\n- b: 1\n  c: 2\n- d\n"), 2);
    }

    #[test]
    fn brackets_in_quotes_comments_plain_scalars_and_block_scalars_do_not_count() {
        let text = "a: \"[[[\" # [[[\nb: '[[[''[[['\nc: don't [[[\nd: |\n  [[[\n  {{{\ne: ok\n";
        assert_eq!(depth(text), 1);
        let multi_line_quote = "a: \"[[[\n  [[[\"\nb: [1]\n";
        assert_eq!(depth(multi_line_quote), 2);
    }

    #[test]
    fn anchors_tags_and_document_markers_come_before_a_flow_collection() {
        assert_eq!(depth("a: &x [[1]]\nb: !!seq [[2]]\n"), 3);
        assert_eq!(depth("--- [[1]]\n"), 3);
        assert_eq!(depth("---\na: [1]\n...\n"), 2);
    }

    #[test]
    fn the_line_that_goes_too_deep_is_named() {
        let deep = format!(
            "ok: 1\nopenapi: 3.0.0\nx: {}{}\n",
            "[".repeat(500),
            "]".repeat(500)
        );
        assert_eq!(too_deep_at(&deep, MAX_DEPTH), Some(3));
        let indented: String = (0..200)
            .map(|level| format!("{}k:\n", " ".repeat(level)))
            .collect();
        assert_eq!(too_deep_at(&indented, MAX_DEPTH), Some(MAX_DEPTH + 1));
    }
}
