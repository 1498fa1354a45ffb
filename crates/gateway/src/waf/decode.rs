//! Decode layers applied before the rules look at a value, so an attack does
//! not slip through in another spelling: percent-encoding (repeated, for
//! double encoding), HTML character references, `\uXXXX` / `%uXXXX` / `\xXX`
//! escapes and full-width ASCII. Each pass runs until the value stops
//! changing (at most [`MAX_PASSES`]).

use std::borrow::Cow;

const MAX_PASSES: usize = 3;

/// The value as the rules see it.
pub fn normalize(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(needs_decoding) {
        return Cow::Borrowed(raw);
    }
    let mut current = raw.to_owned();
    for _ in 0..MAX_PASSES {
        let next = fullwidth_to_ascii(&escapes(&html_entities(&percent(&current))));
        if next == current {
            break;
        }
        current = next;
    }
    Cow::Owned(current)
}

/// The SQL view: inline comments (`/**/`, MySQL `/*!50000 … */`) become
/// spaces and whitespace runs collapse, so `UN/**/ION` and `UNION\t\nSELECT`
/// read as the keywords they are to a database.
pub fn sql_view(decoded: &str) -> Cow<'_, str> {
    if is_plain_sql(decoded) {
        return Cow::Borrowed(decoded);
    }
    let mut out = String::with_capacity(decoded.len());
    let mut rest = decoded;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        out.push(' ');
        let after = &rest[start + 2..];
        // A MySQL executable comment runs its content: keep it, drop the marker.
        if let Some(body) = after.strip_prefix('!') {
            rest = body.trim_start_matches(|c: char| c.is_ascii_digit());
            continue;
        }
        rest = after.find("*/").map_or("", |end| &after[end + 2..]);
    }
    out.push_str(rest);
    let out = out.replace("*/", " ");
    let mut collapsed = String::with_capacity(out.len());
    let mut in_space = false;
    for c in out.chars() {
        if c.is_whitespace() {
            if !in_space {
                collapsed.push(' ');
            }
            in_space = true;
        } else {
            collapsed.push(c);
            in_space = false;
        }
    }
    Cow::Owned(collapsed)
}

/// The shell view: the value as a POSIX shell would read the words in it.
/// Quotes and backslashes join what they split (`c'a't`, `c\at`, `"c"at`
/// are `cat`), `$IFS` (`${IFS}`, `$IFS$9`) is a space, empty expansions
/// (`$@`, `$*`, `$1`…`$9`, `${x:0:0}`-like `${}` forms aside) vanish, and a
/// brace list `{cat,/etc/passwd}` is its words. Command rules read this
/// view, so the spelling tricks shells allow do not hide a command.
pub fn shell_view(decoded: &str) -> Cow<'_, str> {
    if !decoded.contains(['\'', '"', '\\', '$', '{', '`']) {
        return Cow::Borrowed(decoded);
    }
    let mut out = String::with_capacity(decoded.len());
    let mut rest = decoded;
    while let Some(c) = rest.chars().next() {
        let lower = rest.get(..7).map(str::to_ascii_lowercase);
        match c {
            '\'' | '"' => rest = &rest[1..],
            '\\' => {
                // The escaped character stands for itself.
                rest = &rest[1..];
                if let Some(next) = rest.chars().next() {
                    out.push(next);
                    rest = &rest[next.len_utf8()..];
                }
            }
            '$' if lower.as_deref().is_some_and(|l| l.starts_with("${ifs}")) => {
                out.push(' ');
                rest = &rest[6..];
            }
            '$' if rest
                .get(..4)
                .is_some_and(|l| l.eq_ignore_ascii_case("$ifs")) =>
            {
                out.push(' ');
                rest = &rest[4..];
            }
            '$' if rest[1..].starts_with(|n: char| n == '@' || n == '*' || n.is_ascii_digit()) => {
                rest = &rest[2..];
            }
            // `$'…'` and `$"…"` are quotes; `$()` is empty.
            '$' if rest[1..].starts_with(['\'', '"']) => rest = &rest[1..],
            '$' if rest[1..].starts_with("()") => rest = &rest[3..],
            // A variable other than IFS: unset, as far as an injection may
            // assume (`c${u}at`); the written form is inspected as well.
            '$' => match variable(rest) {
                Some(used) => rest = &rest[used..],
                None => {
                    out.push('$');
                    rest = &rest[1..];
                }
            },
            // An empty command substitution.
            '`' if rest[1..].starts_with('`') => rest = &rest[2..],
            '{' => match brace_list(rest) {
                Some((words, used)) => {
                    out.push_str(&words);
                    rest = &rest[used..];
                }
                None => {
                    out.push('{');
                    rest = &rest[1..];
                }
            },
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Cow::Owned(out)
}

/// The bytes of a `$name` or `${name}` expansion at the start of `s`.
fn variable(s: &str) -> Option<usize> {
    let name = |t: &str| {
        t.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let rest = &s[1..];
    if let Some(braced) = rest.strip_prefix('{') {
        let len = name(braced);
        (len > 0 && braced[len..].starts_with('}')).then_some(len + 3)
    } else {
        let len = name(rest);
        (len > 0 && rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
            .then_some(len + 1)
    }
}

/// `{a,b,c}` (no spaces, at least one comma) as `a b c`, and the bytes used.
/// Looks no further than the first `}`, `{` or white space: each `{` of a
/// value costs at most the length of its own list, never the rest of the value.
fn brace_list(s: &str) -> Option<(String, usize)> {
    let end = 1 + s[1..].find(|c: char| c == '}' || c == '{' || c.is_whitespace())?;
    let inner = &s[1..end];
    if !s[end..].starts_with('}') || !inner.contains(',') {
        return None;
    }
    Some((inner.replace(',', " "), end + 1))
}

/// No comment marker (no `*` at all) and no whitespace but single spaces:
/// the SQL view is the value itself. One pass over the value: three
/// substring searches cost more than the rules on a short value.
fn is_plain_sql(s: &str) -> bool {
    let mut after_space = false;
    for c in s.chars() {
        match c {
            '*' => return false,
            ' ' if after_space => return false,
            ' ' => after_space = true,
            c if c.is_whitespace() => return false,
            _ => after_space = false,
        }
    }
    true
}

fn needs_decoding(b: u8) -> bool {
    matches!(b, b'%' | b'&' | b'\\') || b >= 0x80
}

/// `%XX` sequences decoded; malformed ones are left as they are (the
/// protocol rules judge them), and bytes that are not UTF-8 become U+FFFD.
fn percent(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    String::from_utf8_lossy(&percent_encoding::percent_decode_str(s).collect::<Vec<u8>>())
        .into_owned()
}

/// `&lt;`, `&#60;`, `&#x3c;` (with or without the `;`, as browsers accept).
fn html_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match entity(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character a reference after `&` stands for, and the bytes it used.
fn entity(s: &str) -> Option<(char, usize)> {
    let semicolon = |used: usize| used + usize::from(s[used..].starts_with(';'));
    if let Some(num) = s.strip_prefix('#') {
        let (digits, radix, prefix) = match num.strip_prefix(['x', 'X']) {
            Some(hex) => (hex, 16, 2),
            None => (num, 10, 1),
        };
        let len = digits
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit() && (radix == 16 || b.is_ascii_digit()))
            .count();
        if len == 0 || len > 8 {
            return None;
        }
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        return Some((char::from_u32(code)?, semicolon(prefix + len)));
    }
    const NAMED: &[(&str, char)] = &[
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("amp", '&'),
        ("colon", ':'),
        ("semi", ';'),
        ("lpar", '('),
        ("rpar", ')'),
        ("sol", '/'),
        ("bsol", '\\'),
        ("equals", '='),
        ("grave", '`'),
        ("period", '.'),
        ("comma", ','),
        ("excl", '!'),
        ("num", '#'),
        ("lsqb", '['),
        ("rsqb", ']'),
        ("tab", '\t'),
        ("newline", '\n'),
        ("nbsp", ' '),
    ];
    let len = s.bytes().take_while(u8::is_ascii_alphabetic).count();
    let name = &s[..len];
    NAMED
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, c)| (c, semicolon(len)))
}

/// `\uXXXX`, `%uXXXX` (IIS) and `\xXX` escapes.
fn escapes(s: &str) -> String {
    if !s.contains("\\u") && !s.contains("\\x") && !s.contains("%u") && !s.contains("%U") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['\\', '%']) {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let decoded = match after.as_bytes().first() {
            Some(b'u' | b'U') => hex_char(&after[1..], 4).map(|c| (c, 5)),
            Some(b'x' | b'X') if rest.as_bytes()[i] == b'\\' => {
                hex_char(&after[1..], 2).map(|c| (c, 3))
            }
            _ => None,
        };
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push_str(&rest[i..=i]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn hex_char(s: &str, len: usize) -> Option<char> {
    let digits = s.get(..len)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(digits, 16).ok()?)
}

/// U+FF01–U+FF5E are full-width forms of `!`–`~`; some back ends fold them,
/// as they fold the division and fraction slashes to `/`.
/// Full-width ASCII as ASCII, and every Unicode space (and the byte-order
/// mark) as an ASCII space: JavaScript reads U+00A0, U+2028, U+3000… as
/// white space, and the rules' classes are ASCII (`rules.rs`).
fn fullwidth_to_ascii(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{FEFF}' => ' ',
            // Other slashes a path may be spelled with.
            '\u{2215}' | '\u{2044}' | '\u{29F8}' => '/',
            '\u{29F5}' | '\u{FE68}' => '\\',
            c if !c.is_ascii() && c.is_whitespace() => ' ',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_html_and_unicode_layers_nest() {
        assert_eq!(normalize("%253Cscript%253E"), "<script>");
        assert_eq!(normalize("&lt;img&#32;src&#x3D;x&gt;"), "<img src=x>");
        assert_eq!(normalize("\\u003cscript\\x3e"), "<script>");
        assert_eq!(normalize("%u0027 or 1=1"), "' or 1=1");
        assert_eq!(normalize("\u{FF1C}script\u{FF1E}"), "<script>");
        assert_eq!(normalize("java&Tab;script&colon;"), "java\tscript:");
        assert_eq!(
            normalize("x';\u{2028}alert\u{A0}(1)\u{3000}\u{FEFF}"),
            "x'; alert (1)  "
        );
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert!(matches!(normalize("hello world"), Cow::Borrowed(_)));
        assert_eq!(normalize("Tom & Jerry: 100% fun"), "Tom & Jerry: 100% fun");
        assert_eq!(normalize("naïve café"), "naïve café");
    }

    #[test]
    fn shell_view_reads_words_as_a_shell_does() {
        assert_eq!(shell_view(";c'a't /etc/passwd"), ";cat /etc/passwd");
        assert_eq!(shell_view(";c\\at /e\"t\"c/passwd"), ";cat /etc/passwd");
        assert_eq!(shell_view(";cat$IFS/etc/passwd"), ";cat /etc/passwd");
        assert_eq!(shell_view(";cat${IFS}/etc$9/passwd"), ";cat /etc/passwd");
        assert_eq!(shell_view(";{cat,/etc/passwd}"), ";cat /etc/passwd");
        assert_eq!(shell_view("w$@hoami"), "whoami");
        assert_eq!(shell_view("{ \"a\": 1 }"), "{ a: 1 }");
        assert!(matches!(shell_view("plain words; here"), Cow::Borrowed(_)));
        assert_eq!(shell_view("{a,{b,c}"), "{a,b c");
        assert_eq!(shell_view("x;who$()ami"), "x;whoami");
        assert_eq!(shell_view("x;who``ami"), "x;whoami");
        assert_eq!(shell_view("x;c${u}at /etc/shadow"), "x;cat /etc/shadow");
        assert_eq!(shell_view("x;$'id'"), "x;id");
        assert_eq!(shell_view("5 $ and {x}"), "5 $ and {x}");
    }

    #[test]
    fn many_open_braces_cost_their_length_once() {
        let value = format!("{}{}", "{".repeat(1 << 20), ",}".repeat(1 << 19));
        let started = std::time::Instant::now();
        assert!(shell_view(&value).len() >= value.len() / 2);
        // Quadratic, this took minutes; linear, milliseconds (debug build).
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn sql_view_drops_comments_and_collapses_space() {
        assert_eq!(sql_view("UN/**/ION/**/SELECT"), "UN ION SELECT");
        assert_eq!(sql_view("1 /*!50000UNION*/ SELECT"), "1 UNION SELECT");
        assert_eq!(sql_view("a\t\n  b"), "a b");
        assert_eq!(sql_view("a  b"), "a b");
        assert_eq!(sql_view("a\u{a0}b"), "a b");
        assert_eq!(sql_view("2 * 3 = 6"), "2 * 3 = 6");
        assert!(matches!(sql_view("it's a b"), Cow::Borrowed(_)));
    }
}
