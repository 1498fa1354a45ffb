//! The rule set: one regular expression per rule, grouped by attack class.
//!
//! Injection only works where a value *leaves* its context: a SQL string
//! literal is closed by the first quote, a shell argument by the first
//! metacharacter. Rules that look for SQL keywords, shell commands or
//! JavaScript calls are therefore anchored at that first breakout point
//! (`@QUOTE@`, `@NUMBER@`, `@SHELL@` below), which is what keeps prose and
//! markdown articles with code — SQL, shell and JavaScript alike — out of
//! their reach. Payloads that are dangerous anywhere (script tags, event
//! handlers, `javascript:` URLs, sensitive file paths, shell idioms) are
//! matched anywhere.
//!
//! Patterns are byte patterns over the UTF-8 text with ASCII-only classes
//! (see [`CompiledRules::new`]), so their cost per byte is the same
//! whatever the script.

use regex::bytes::{RegexSet, RegexSetBuilder};
use serde::Serialize;

use crate::config::{WafMode, WafModes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    Sqli,
    Xss,
    Traversal,
    CommandInjection,
    Protocol,
    Scanners,
    IpDeny,
}

impl Group {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqli => "sqli",
            Self::Xss => "xss",
            Self::Traversal => "traversal",
            Self::CommandInjection => "command_injection",
            Self::Protocol => "protocol",
            Self::Scanners => "scanners",
            Self::IpDeny => "ip_deny",
        }
    }

    pub fn mode(self, modes: &WafModes) -> WafMode {
        match self {
            Self::Sqli => modes.sqli,
            Self::Xss => modes.xss,
            Self::Traversal => modes.traversal,
            Self::CommandInjection => modes.command_injection,
            Self::Protocol => modes.protocol,
            Self::Scanners => modes.scanners,
            Self::IpDeny => modes.ip_deny,
        }
    }
}

/// Which form of a value a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every inspected value after the decode layers.
    Decoded,
    /// [`View::Decoded`] with SQL comments removed and whitespace collapsed.
    Sql,
    /// The decoded request path as a whole.
    Path,
    /// The `User-Agent` header.
    UserAgent,
}

pub struct Rule {
    pub id: &'static str,
    pub group: Group,
    pub view: View,
    pattern: &'static str,
}

const fn rule(id: &'static str, group: Group, view: View, pattern: &'static str) -> Rule {
    Rule {
        id,
        group,
        view,
        pattern,
    }
}

/// Fragments spliced into patterns.
const FRAGMENTS: &[(&str, &str)] = &[
    // Up to and just past the value's first quote: the string-literal breakout.
    // (Backticks are markdown's code quotes far more often than MySQL's.)
    ("@QUOTE@", r#"^[^'"]*['"][\s+)]*"#),
    // A value that starts as a number and then goes on: the numeric breakout.
    ("@NUMBER@", r"^\s*-?\d+\s*\)*\s*"),
    // Up to and including the value's first shell metacharacter.
    ("@SHELL@", r"^[^;&|`$\n]*(;|&&?|\|\|?|\$\()\s*"),
    // Something SQL can evaluate after AND/OR: a comparison, literal or call.
    (
        "@OPERAND@",
        r#"(\(|not\b|true\b|false\b|null\b|\d[\d.*+/\s-]*(=|<|>|!=|\blike\b|\bin\b|\bbetween\b|--|#|;|$)|@|['"`][^'"`]*['"`]\s*(=|<|>|!=|\blike\b)|[\w.]+\s*(=|<|>|!=|\blike\b|\bis\b|\bin\s*\(|\bbetween\b|\bregexp\b)|@SQLFN@\s*\()"#,
    ),
    // The same after a number, where a bare second number is ordinary prose.
    (
        "@NUMOPERAND@",
        r#"(not\b|true\b|false\b|null\b|@|['"`]|\(?\s*[\w.]+\s*(=|<|>|!=|\blike\b|\bin\s*\(|\bbetween\b|\bregexp\b)|@SQLFN@\s*\()"#,
    ),
    (
        "@SQLFN@",
        r"(sleep|benchmark|pg_sleep|if|ascii|ord|substring|substr|mid|char|chr|length|exists|select|updatexml|extractvalue|concat|count|version|user|database)",
    ),
    // A shell command in the shape an injection uses it.
    (
        "@CMD@",
        r#"((whoami|uname(\s+-[a-z]+)?|ifconfig|ipconfig(\s+/all)?|systeminfo|tasklist|printenv|id)\s*($|[;&|#)`'"])|(cat|more|less|head|tail|nl|tac|strings|od|xxd|type)\s+[^\s;&|]*([\\/~$%]|\.\.)|(ls|dir)(\s*$|\s+-[a-z]+|\s+([a-z]:)?[\\/~])|rm\s+-[a-z]*[rf]|(chmod|chown)\s+\S+\s+\S|(wget|curl|tftp|ftp|scp|nc|ncat|netcat|telnet|socat|nslookup|dig|ping)\s+\S|(bash|sh|zsh|ksh|dash|csh|tcsh|powershell|pwsh|cmd(\.exe)?)(\s+(-[a-z]+|/c\b)|\s*$|\s*[;&|<>])|(python[0-9.]*|perl|ruby|php|node|lua)\s+-[a-z]*[cerm]\b|(sleep|timeout)\s+\d+\s*($|[;&|#)`])|(/usr)?/s?bin/[a-z]+|(echo|printf)\s+[^;&|]*(>|\|)|net\s+(user|localgroup|view|share)|reg\s+(add|query|delete)|certutil|bitsadmin|rundll32|regsvr32|mshta|wmic|taskkill|useradd|usermod|crontab\s+-|sudo\s+\S|su\s+-|nohup\s+\S|xterm\s+-|mkfifo\s)"#,
    ),
    (
        "@EVENT@",
        r"on(abort|activate|afterprint|animation(start|end|iteration)|auxclick|before(print|unload|input|toggle)|begin|blur|canplay\w*|change|click|contextmenu|copy|cut|dblclick|drag\w*|drop|durationchange|end|ended|error|focus(in|out)?|formdata|hashchange|input|invalid|key(down|press|up)|load\w*|message|mouse\w+|page(show|hide)|paste|pause|play(ing)?|pointer\w+|popstate|progress|readystatechange|repeat|reset|resize|scroll\w*|search|select\w*|show|start|submit|toggle|touch\w+|transition\w+|unload|wheel)",
    ),
];

use Group::{CommandInjection as Cmdi, Protocol, Scanners, Sqli, Traversal, Xss};
use View::{Decoded, Path, Sql, UserAgent};

pub static RULES: &[Rule] = &[
    // --- SQL injection -------------------------------------------------
    rule(
        "sqli-boolean-breakout",
        Sqli,
        Sql,
        r"@QUOTE@((or|and|xor|having|div)\b[\s+]*@OPERAND@|(\|\||&&)[\s+]*@OPERAND@)",
    ),
    rule(
        "sqli-numeric-breakout",
        Sqli,
        Sql,
        r"@NUMBER@((or|and|xor|having|div)\b\s*@NUMOPERAND@|(\|\||&&)\s*@NUMOPERAND@|order\s+by\s+\d|group\s+by\s+\d|procedure\s+analyse|(--|#)\s*$)",
    ),
    rule(
        "sqli-comment-breakout",
        Sqli,
        Sql,
        r"@QUOTE@(--(\s|$|\+)|#(\s|$)|;\s*(--|#|$)|(order|group)\s+by\s+(\d|\w+\s*\()|procedure\s+analyse)",
    ),
    rule(
        "sqli-stacked-query",
        Sqli,
        Sql,
        r"(@QUOTE@|@NUMBER@);\s*(drop|truncate|alter|create|insert|delete|update|shutdown|exec|execute|declare|grant|revoke|select|waitfor|set|begin|call|load|copy)\b",
    ),
    rule(
        "sqli-union-breakout",
        Sqli,
        Sql,
        r"(@QUOTE@|@NUMBER@|^\s*\)*\s*)union(\s+(all|distinct))?\s*\(?\s*select\b",
    ),
    rule(
        "sqli-union-probe",
        Sqli,
        Sql,
        r"\bunion(\s+(all|distinct))?\s*\(?\s*select\s*\(?\s*(null\b|\d+\s*(,|from\b|--|#|$)|@@|0x|char\s*\(|concat|group_concat|version\s*\(|user\s*\(|database\s*\(|schema_name|table_name|column_name|password|load_file)",
    ),
    rule(
        "sqli-tautology",
        Sqli,
        Sql,
        r#"['"`]\s*\)*\s*(or|and)\s+\(*['"`]?\d+['"`]?\s*(=|<|>)\s*['"`]?\d+|['"`]\s*\)*\s*or\s*\(*['"`][^'"`]*['"`]\s*(=|like)\s*['"`]|\bor\s+1\s*=\s*1\b"#,
    ),
    rule(
        "sqli-dangerous-function",
        Sqli,
        Sql,
        r#"benchmark\s*\(\s*\d+\s*,|\bpg_sleep\s*\(|\bwaitfor\s+(delay|time)\s+['"]|dbms_pipe\.receive_message|dbms_lock\.sleep|\butl_(inaddr|http)\.|\bload_file\s*\(|\binto\s+(out|dump)file\b|\bxp_cmdshell\b|\bsp_(executesql|oacreate|makewebtask)\b|@@(version|datadir|hostname|basedir)\b|\bextractvalue\s*\(|\bupdatexml\s*\(|\bexp\s*\(\s*~|\bgeometrycollection\s*\(|(^|[^.\w])sleep\s*\(\s*\d+\s*\)\s*(--|#|$|['"`)=])|\b(char|chr)\s*\(\s*\d+\s*\)\s*(\|\||\+)\s*(char|chr)\s*\(|;\s*(exec|execute)\s+(master\.|xp_|sp_)"#,
    ),
    // --- Cross-site scripting -------------------------------------------
    rule("xss-script-tag", Xss, Decoded, r"<\s*/?\s*script\b"),
    rule(
        "xss-event-handler",
        Xss,
        Decoded,
        r#"<[a-z][^>]*[\s/"'`]@EVENT@\s*=|@QUOTE@([^<>]*?[\s/"'`])?@EVENT@\s*="#,
    ),
    rule(
        "xss-script-url",
        Xss,
        Decoded,
        r"(j\s*a\s*v\s*a|v\s*b|l\s*i\s*v\s*e)\s*s\s*c\s*r\s*i\s*p\s*t\s*:\s*(//|/\*|[\w$.\x80-\xFF]+\s*[(`=\[]|\(|\[)",
    ),
    rule(
        "xss-dangerous-tag",
        Xss,
        Decoded,
        r"<\s*(iframe|frame|frameset|object|embed|applet|base|isindex)\b|<\s*meta\b[^>]*http-equiv|<\s*(animate|set)\b[^>]*\b(attributename|to|values)\s*=\s*['\x22]?\s*(href|javascript)",
    ),
    rule(
        "xss-data-url",
        Xss,
        Decoded,
        r"\bdata\s*:\s*(text/html|application/(x-)?(xhtml\+xml|javascript|ecmascript)|image/svg\+xml|text/javascript)\s*[;,]",
    ),
    rule(
        "xss-css-expression",
        Xss,
        Decoded,
        r#"(style\s*=|<\s*style|\{)[^>]*(expression\s*\(|-moz-binding\s*:|behavior\s*:\s*url)|@import\s+['"]?\s*(javascript|data|vbscript)\s*:"#,
    ),
    rule(
        "xss-script-breakout",
        Xss,
        Decoded,
        r"@QUOTE@[;,)+\-*/|&]+\s*(alert|prompt|confirm|eval|settimeout|setinterval|function|fetch|import|document\s*\.|window\s*\.|top\s*\[|self\s*\[|this\s*\[|constructor|location\s*=)\s*[(.\[`=]",
    ),
    rule(
        "xss-tag-breakout",
        Xss,
        Decoded,
        r"@QUOTE@/?>\s*<\s*[a-z!/]",
    ),
    rule(
        "xss-template-injection",
        Xss,
        Decoded,
        r"\{\{[^}]*(constructor|\$on\b|\$eval|alert\s*\(|\bcall\s*\()|constructor\s*\.\s*constructor\s*\(",
    ),
    // --- Path traversal and local file inclusion -------------------------
    rule(
        "traversal-dot-dot",
        Traversal,
        Decoded,
        r"(^|[\\/=;])\.{2,};?([\\/]|$)|(\.{2,}[\\/]){3,}|\.{2}\xEF\xBF\xBD",
    ),
    rule(
        "traversal-sensitive-file",
        Traversal,
        Decoded,
        r"(^\s*|\.\.[\\/]+|file:/+|[=:]\s*)[\\/.]*(etc[\\/](passwd|shadow|group|gshadow|sudoers|master\.passwd)|proc[\\/](self|\d+)[\\/](environ|cmdline|maps|mem|status|fd)|(windows|winnt)[\\/](win\.ini|system\.ini|system32[\\/](config|drivers)[\\/])|boot\.ini|inetpub[\\/]|\.ssh[\\/]|\.aws[\\/]|\.git[\\/]|\.env\b|\.htpasswd|\.htaccess|web\.config|wp-config\.php|var[\\/]log[\\/]|root[\\/])",
    ),
    rule(
        "traversal-stream-wrapper",
        Traversal,
        Decoded,
        r"\b(php|phar|zip|expect|glob|jar|netdoc|gopher|dict|ldap|tftp)://|(^\s*|[=(]\s*)file:/",
    ),
    rule(
        "traversal-path-segment",
        Traversal,
        Path,
        r"(^|/)\.\.(/|$)|/\.(git|svn|hg|bzr|env|aws|ssh|htaccess|htpasswd|ds_store|npmrc|dockerenv)(/|$|\.)",
    ),
    // --- Command injection -----------------------------------------------
    rule("cmdi-breakout", Cmdi, Decoded, r"@SHELL@@CMD@"),
    // A line break ends a shell command too; the injected one is the last line.
    rule(
        "cmdi-newline-breakout",
        Cmdi,
        Decoded,
        r"^[^;&|`$\n]*\n\s*@CMD@[^\n]*$",
    ),
    rule(
        "cmdi-substitution",
        Cmdi,
        Decoded,
        r"\$\(\s*@CMD@|^\s*`\s*(id|whoami|uname(\s+-a)?|cat\s+/etc/\w+|/bin/\w+|nc\s+-\w+|sleep\s+\d+|ping\s+-[cn]\s*\d+)\s*`\s*$",
    ),
    rule(
        "cmdi-shell-idiom",
        Cmdi,
        Decoded,
        r#"\$\{IFS\}|\$IFS\$9|/dev/(tcp|udp)/\S|\bnc(at)?\s+(-\w+\s+)*-[ec]\s|\bbash\s+-i\s*>&|\bmkfifo\s+/tmp/|(;|\||&&)\s*(/usr)?/bin/(ba|z|k|da)?sh\b|\b(sh|bash)\s+-c\s+['"]|\bpowershell(\.exe)?\s+(-\w+\s+)*-(enc|encodedcommand|e|c|command)\b|\biex\s*\(|\binvoke-(expression|webrequest)\b|\bcmd(\.exe)?\s+/c\s"#,
    ),
    // --- Protocol ----------------------------------------------------------
    rule("protocol-nul-byte", Protocol, Decoded, r"\x00"),
    // --- Scanners ------------------------------------------------------------
    rule(
        "scanner-user-agent",
        Scanners,
        UserAgent,
        r"sqlmap|nikto|\bnmap\b|masscan|zmap|zgrab|acunetix|nessus|openvas|\bw3af|wpscan|joomscan|droopescan|dirbuster|\bdirb\b|gobuster|feroxbuster|\bffuf\b|wfuzz|nuclei|jaeles|arachni|skipfish|havij|netsparker|appscan|burpsuite|burp collaborator|owasp[ _-]?zap|zaproxy|commix|\bhydra\b|whatweb|xsser|fimap|fuzz faster u fool|bbqsql|sqlninja|pangolin|webinspect|\bparos\b|morfeus|zmeu|dotdotpwn|wapiti|metasploit|nmap scripting engine|wafw00f|httprint|webshag|uniscan|interactsh",
    ),
    rule(
        "scanner-probe-path",
        Scanners,
        Path,
        r"\.(php\d?|asp|aspx|jsp|cgi|pl|cfm)$|/(wp-admin|wp-login|wp-content|wp-includes|phpmyadmin|pma|xmlrpc|cgi-bin|hnap1|boaform|solr/admin|vendor/phpunit|manager/html|jmx-console|\.well-known/security\.txt\.php)(/|$|\.)",
    ),
];

/// The rules of the enabled groups, compiled into one set per view.
pub struct CompiledRules {
    pub decoded: RuleSet,
    pub sql: RuleSet,
    pub path: RuleSet,
    pub user_agent: RuleSet,
}

pub struct RuleSet {
    set: RegexSet,
    rules: Vec<&'static Rule>,
}

impl RuleSet {
    /// Every rule matching `value`, in rule-table order.
    pub fn matching(&self, value: &str) -> Vec<&'static Rule> {
        let value = value.as_bytes();
        if self.rules.is_empty() || !self.set.is_match(value) {
            return Vec::new();
        }
        self.set
            .matches(value)
            .into_iter()
            .filter_map(|i| self.rules.get(i).copied())
            .collect()
    }
}

impl CompiledRules {
    pub fn new(modes: &WafModes) -> Result<Self, regex::Error> {
        let set = |view: View| -> Result<RuleSet, regex::Error> {
            let rules: Vec<&'static Rule> = RULES
                .iter()
                .filter(|r| r.view == view && r.group.mode(modes) != WafMode::Off)
                .collect();
            let patterns: Vec<String> = rules.iter().map(|r| expand(r.pattern)).collect();
            // ASCII classes (`\b`, `\w`, `\s`, `\d`, case folding): what
            // the rules mean, since SQL, shells and HTML spell their syntax
            // in ASCII. Unicode ones cost time on other scripts without
            // bound: a Unicode `\b` makes the lazy DFA give up on the first
            // non-ASCII byte and fall back to an engine that is slower by
            // the number of states (1 MiB of "€" took 2 s).
            let set = RegexSetBuilder::new(&patterns)
                .unicode(false)
                .case_insensitive(true)
                .size_limit(64 << 20)
                .dfa_size_limit(64 << 20)
                .build()?;
            Ok(RuleSet { set, rules })
        };
        Ok(Self {
            decoded: set(Decoded)?,
            sql: set(Sql)?,
            path: set(Path)?,
            user_agent: set(UserAgent)?,
        })
    }
}

/// The pattern with its `@FRAGMENT@`s spliced in (fragments may nest).
fn expand(pattern: &str) -> String {
    let mut out = pattern.to_owned();
    while out.contains('@') {
        let before = out.clone();
        for (name, fragment) in FRAGMENTS {
            out = out.replace(name, fragment);
        }
        if out == before {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_compiles_and_ids_are_unique() {
        CompiledRules::new(&WafModes::default()).unwrap();
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for rule in RULES {
            assert!(!expand(rule.pattern).contains("@QUOTE@"), "{}", rule.id);
        }
    }
}
