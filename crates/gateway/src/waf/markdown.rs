//! Per-field policy for markdown: an article's `body` is markdown, and code
//! in it — SQL, shell, HTML, `<script>` — is what people write about. The
//! content of a fenced code block is text to every CommonMark renderer (it is
//! shown, escaped, never parsed as HTML) and data to the services (stored,
//! never interpreted), so it is not inspected; everything outside the fences
//! is, with every rule.
//!
//! The scanner must never take for code what a renderer does not, so it
//! trusts only the unambiguous and closes early: a fence opens only at the
//! very left margin (a fence indented at all may belong to a list item or a
//! quote), and closes at any line that starts, after any indentation, with a
//! run of its character at least as long, whatever follows (renderers differ
//! on what may follow; closing too early only inspects more), or runs to the
//! end as CommonMark says. Everything is inspected when the fences cannot be
//! trusted: a line outside them that starts with `<` (a raw-HTML block, where
//! a "fence" is raw HTML too), or a carriage return not followed by a line
//! feed (a line ending to CommonMark, not to this scanner). Indented code
//! stays inspected.
//!
//! Code spans (`` `…` ``) are code too: a backtick run closed by a run of the
//! same length on the same line, not escaped, leaves its content out — but
//! only when the whole body leaves no doubt: every backtick run on a prose
//! line makes a span (a renderer pairs them across lines), no span holds a
//! `|` when the body has a table (a table row splits there first), and the prose around the spans has
//! nothing a renderer reads before spans — an HTML tag or autolink (`<` and a
//! letter, `/`, `!` or `?`), a table (`|`), a link or reference definition
//! (`](`, `][`, `]:`) or a bare URL (`://`, `www.`). Otherwise the spans are
//! inspected with the prose.

use std::borrow::Cow;

/// The JSON fields (by path) that hold markdown.
pub const MARKDOWN_FIELDS: &[&[&str]] = &[&["article", "body"]];

pub fn is_markdown_field(path: &[String]) -> bool {
    MARKDOWN_FIELDS
        .iter()
        .any(|field| field.len() == path.len() && field.iter().zip(path).all(|(a, b)| a == b))
}

/// An opening fence: at the left margin, three or more backticks or tildes.
fn opens(line: &str) -> Option<(u8, usize)> {
    let marker = *line.as_bytes().first()?;
    if marker != b'`' && marker != b'~' {
        return None;
    }
    let run = line.bytes().take_while(|&b| b == marker).count();
    // A backtick fence's info string may not contain a backtick.
    let valid = run >= 3 && (marker == b'~' || !line[run..].contains('`'));
    valid.then_some((marker, run))
}

/// Whether `line` could close the fence for some renderer.
fn closes(line: &str, (marker, run): (u8, usize)) -> bool {
    let rest = line.trim_start_matches([' ', '\t']);
    rest.bytes().take_while(|&b| b == marker).count() >= run
}

/// Whether `line` closes the fence for CommonMark: at most three spaces of
/// indentation, a run at least as long, nothing after it but white space.
fn closes_for_commonmark(line: &str, (marker, run): (u8, usize)) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[indent..];
    let length = rest.bytes().take_while(|&b| b == marker).count();
    indent <= 3 && length >= run && rest[length..].trim().is_empty()
}

fn opens_html(line: &str) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    indent <= 3 && line[indent..].starts_with('<')
}

/// The markdown with the contents of its fenced code blocks and code spans
/// left out (the fence lines and backticks themselves stay), or all of it
/// when they cannot be trusted.
pub fn outside_code(markdown: &str) -> Cow<'_, str> {
    let lone_cr = markdown
        .match_indices('\r')
        .any(|(i, _)| markdown.as_bytes().get(i + 1) != Some(&b'\n'));
    if !markdown.contains(['`', '~']) || lone_cr {
        return Cow::Borrowed(markdown);
    }
    let Some((outside_fences, _)) = fences_and_spans_out(markdown, false) else {
        return Cow::Borrowed(markdown);
    };
    match fences_and_spans_out(markdown, true) {
        Some((prose, true)) if !could_hold_a_span(&prose) && !links(&outside_fences) => {
            Cow::Owned(prose)
        }
        // Spans that cannot be trusted: the fences alone.
        _ => Cow::Owned(outside_fences),
    }
}

/// The markdown with its fences' contents (and with `spans`, its code
/// spans' contents) left out, and whether every backtick on a prose line
/// made a span; `None` when a raw-HTML block makes fences untrustworthy.
fn fences_and_spans_out(markdown: &str, spans: bool) -> Option<(String, bool)> {
    let mut prose = String::with_capacity(markdown.len());
    let mut open: Option<(u8, usize)> = None;
    let mut balanced = true;
    let table = markdown.lines().any(is_delimiter_row);
    for line in markdown.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        match open {
            Some(fence_) => {
                if closes(bare, fence_) {
                    // Closed here for some renderer but not for CommonMark
                    // (indented four or more, a tab, text after the run):
                    // where the fence ends is in doubt, so nothing is left out.
                    if !closes_for_commonmark(bare, fence_) {
                        return None;
                    }
                    open = None;
                    prose.push_str(line);
                } else {
                    prose.push('\n');
                }
            }
            None => {
                // A reference definition's title may run over lines and
                // swallow a fence: nothing is left out.
                if opens_html(bare) || bare.contains("]:") {
                    return None;
                }
                open = opens(bare);
                if open.is_some() || !spans {
                    prose.push_str(line);
                } else {
                    let (outside, all_paired) = outside_spans(line, table);
                    balanced &= all_paired;
                    prose.push_str(&outside);
                }
            }
        }
    }
    Some((prose, balanced))
}

/// Whether the prose (spans left out) has what makes a renderer read a
/// backtick as something other than a span's: an HTML tag or autolink
/// (`<` and a letter, `/`, `!` or `?`), a table cell border, a link or
/// reference definition, or a bare URL ([`links`] looks for link syntax
/// inside spans too).
fn could_hold_a_span(prose: &str) -> bool {
    let tag_like = prose.as_bytes().windows(2).any(|w| {
        w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?'))
    });
    tag_like
        || ["|", "](", "][", "]:", "://", "www."]
            .iter()
            .any(|marker| prose.contains(marker))
}

/// A table's delimiter row (`|---|:--:|`, `:-`, `-:`), in a quote or a list
/// item too: without one there is no table.
fn is_delimiter_row(line: &str) -> bool {
    // Past any quote markers and list markers (a marker and a space).
    let mut row = line.trim_start();
    loop {
        let digits = row.bytes().take_while(u8::is_ascii_digit).count();
        if let Some(rest) = row.strip_prefix('>') {
            row = rest.trim_start();
        } else if let Some(rest) = ["- ", "* ", "+ "].iter().find_map(|m| row.strip_prefix(m)) {
            row = rest.trim_start();
        } else if digits > 0
            && let Some(rest) = [". ", ") "]
                .iter()
                .find_map(|m| row[digits..].strip_prefix(m))
        {
            row = rest.trim_start();
        } else {
            break;
        }
    }
    let row = row.trim();
    row.contains('-')
        && (row.contains('|') || row.contains(':'))
        && row
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// Link syntax anywhere outside fenced code (spans included: a link's text
/// or reference is read before the spans in it).
fn links(markdown: &str) -> bool {
    ["](", "][", "]:"]
        .iter()
        .any(|marker| markdown.contains(marker))
}

/// A line of prose with the contents of its code spans (a backtick run
/// closed by the next run as long, on the same line) left out, and whether
/// every backtick run on it made a span. A span's content with a `|` in it
/// is kept: a table row splits there first. A backslash before an opening
/// run (an escape outside spans, text inside) counts as a run left unpaired.
/// Linear in the line: each run is looked at once, as opener or as closer.
fn outside_spans(line: &str, table: bool) -> (Cow<'_, str>, bool) {
    if !line.contains('`') {
        return (Cow::Borrowed(line), true);
    }
    let bytes = line.as_bytes();
    // Every backtick run, (start, length), and per length the runs in order.
    let mut runs = Vec::new();
    let mut by_length =
        std::collections::HashMap::<usize, std::collections::VecDeque<usize>>::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let length = bytes[i..].iter().take_while(|&&b| b == b'`').count();
            by_length.entry(length).or_default().push_back(runs.len());
            runs.push((i, length));
            i += length;
        } else {
            i += 1;
        }
    }
    let mut out = String::with_capacity(line.len());
    let (mut kept, mut all_paired, mut k) = (0, true, 0);
    while let Some(&(start, length)) = runs.get(k) {
        // An opener after a backslash may be escaped (a closer after one
        // is not: inside a span a backslash is text): left to the rules.
        if start > 0 && bytes[start - 1] == b'\\' {
            return (Cow::Borrowed(line), false);
        }
        let closer = by_length.get_mut(&length).and_then(|later| {
            while later.front().is_some_and(|&j| j <= k) {
                later.pop_front();
            }
            later.front().copied()
        });
        match closer {
            Some(j) => {
                let end = runs[j].0;
                if !(table && line[start + length..end].contains('|')) {
                    out.push_str(&line[kept..start + length]);
                    out.push(' ');
                    kept = end;
                }
                k = j + 1;
            }
            // No closing run here: a renderer may close it on a later line.
            None => {
                all_paired = false;
                k += 1;
            }
        }
    }
    out.push_str(&line[kept..]);
    (Cow::Owned(out), all_paired)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_code_is_left_out_and_prose_kept() {
        let body = "Intro with it's quotes.\n\n```sh\necho '<script>' && cat /etc/passwd\n```\nAfter.\n~~~~\n' OR 1=1--\n~~~\n~~~~~\nend";
        let prose = outside_code(body);
        assert!(
            !prose.contains("<script>")
                && !prose.contains("/etc/passwd")
                && !prose.contains("OR 1=1")
        );
        assert!(
            prose.contains("Intro with it's quotes.")
                && prose.contains("After.")
                && prose.contains("end")
        );
    }

    #[test]
    fn code_spans_are_left_out() {
        let prose = outside_code(
            "Type `' OR 1=1 --` or ``<img src=x onerror=alert(1)>`` and see; `${jndi:ldap://x/a}`.",
        );
        assert!(
            !prose.contains("OR 1=1") && !prose.contains("onerror") && !prose.contains("jndi"),
            "{prose:?}"
        );
        assert!(
            prose.contains("Type `") && prose.contains("and see;"),
            "{prose:?}"
        );
    }

    #[test]
    fn crlf_line_ends_are_line_ends() {
        let prose = outside_code("Intro\r\n```\r\n<script>alert(1)</script>\r\n```\r\nAfter");
        assert!(
            !prose.contains("script") && prose.contains("After"),
            "{prose:?}"
        );
    }

    #[test]
    fn an_unclosed_fence_runs_to_the_end() {
        assert!(!outside_code("text\n```\n<script>alert(1)</script>").contains("script"));
    }

    #[test]
    fn what_is_not_surely_code_stays_inspected() {
        for body in [
            // Not fences: indented, a backtick in the info string, two backticks.
            "    ```\n<script>alert(1)</script>\n```",
            "  ```\n<script>alert(1)</script>\n```",
            "```js`\n<script>alert(1)</script>\n```",
            "``\n<script>alert(1)</script>\n``",
            // Inside a quote or a list: not taken for code.
            "> ```\n> <script>alert(1)</script>\n> ```",
            "- a\n  ```\n<script>alert(1)</script>\n```",
            "- <div>\n  ```\n  <script>alert(1)</script>\n  ```",
            // Closed early wherever some renderer closes: indented closers,
            // trailing text (marked), odd whitespace; the rest is prose.
            "```\nx\n   ```\n<script>alert(1)</script>",
            "```\nx\n```~\n<script>alert(1)</script>",
            "```\nx\n```\u{a0}\n<script>alert(1)</script>",
            "~~~\nx\n\t~~~\n<script>alert(1)</script>",
            // A lone CR ends a line for CommonMark.
            "~~~\n~~~\r<script>alert(1)</script>\n~~~",
            "text\r<div>\n```\n<script>alert(1)</script>\n```",
            // An HTML block anywhere outside the fences: the fences may be raw HTML.
            "<div>\n```\n<script>alert(1)</script>\n```\n</div>",
            "```\nx\n```\n <p>\n```\n<img src=x onerror=alert(1)>\n```",
            // Backticks that make no span on one line, or that an HTML tag
            // on the line may hold, or a span over two lines.
            "`<script>alert(1)</script>",
            "\\`<script>alert(1)</script>`",
            "`x` \\`<script>alert(1)</script>`",
            "``<script>alert(1)</script>`",
            "<img alt=\"`\" src=x onerror=alert(1) title=\"`\">",
            "<https://x.example/`>` <script>alert(1)</script>`",
            "`a\n<script>alert(1)</script>`",
            // What a renderer reads before spans, anywhere in the body.
            "see `a\n` <img src=x onerror=alert(1)> `",
            "> <div>\n> `<img src=x onerror=alert(1)>`",
            "- <div>\n  `<img src=x onerror=alert(1)>`",
            "a <img\nx=\"`\" src=x onerror=alert(1) y=\"`\">",
            "| a | b | c |\n|---|---|---|\n| `x | <img src=x onerror=alert(1)> | y` |",
            "[``](x) <img src=x onerror=alert(1)> ``",
            "https://a.b/` <img src=x onerror=alert(1)> `",
            "[click][`x]\n\n[`x]: javascript:alert(1)//`",
            // Delimiter rows without a pipe, in quotes and lists.
            "h\n:-\n`<img src=x onerror=alert(1)>|`",
            "> h\n> :-:\n> `<img src=x onerror=alert(1)>|`",
            // Fences CommonMark closes elsewhere than some renderer.
            "```\nx\n    ```\n```\n<img src=x onerror=alert(1)>",
            "```\nx\n``` y\n```\n<img src=x onerror=alert(1)>",
            // A reference title over several lines.
            "[x]: /u \"\n```\n\"\n<img src=x onerror=alert(1)>\n```",
        ] {
            let prose = outside_code(body);
            assert!(prose.contains("alert(1)"), "{body:?} → {prose:?}");
        }
    }

    #[test]
    fn only_the_article_body_is_markdown() {
        let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(is_markdown_field(&path(&["article", "body"])));
        for other in [
            &["comment", "body"][..],
            &["article", "title"],
            &["body"],
            &["article", "body", "x"],
        ] {
            assert!(!is_markdown_field(&path(other)), "{other:?}");
        }
    }
}
