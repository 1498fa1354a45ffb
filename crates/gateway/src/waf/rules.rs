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
    PhpInjection,
    JavaInjection,
    NodejsInjection,
    TemplateInjection,
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
            Self::PhpInjection => "php_injection",
            Self::JavaInjection => "java_injection",
            Self::NodejsInjection => "nodejs_injection",
            Self::TemplateInjection => "template_injection",
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
            Self::PhpInjection => modes.php_injection,
            Self::JavaInjection => modes.java_injection,
            Self::NodejsInjection => modes.nodejs_injection,
            Self::TemplateInjection => modes.template_injection,
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
    /// [`View::Decoded`], and again as a shell reads it: quotes,
    /// backslashes, `$IFS` and empty expansions removed, brace lists
    /// expanded (`decode::shell_view`).
    Shell,
    /// The decoded request path as a whole.
    Path,
    /// The `User-Agent` header.
    UserAgent,
    /// [`View::Decoded`], for values in the request head only (query, path,
    /// header and cookie values): what is ordinary in a body's text.
    Head,
}

pub struct Rule {
    pub id: &'static str,
    pub group: Group,
    pub view: View,
    /// The lowest `gateway.waf.paranoia_level` that runs the rule.
    pub level: u8,
    pattern: &'static str,
}

const fn rule(id: &'static str, group: Group, view: View, pattern: &'static str) -> Rule {
    Rule {
        id,
        group,
        view,
        level: 1,
        pattern,
    }
}

/// A paranoia-level-2 rule: attack text anywhere in a value, breakout or
/// not. Prose about attacks, and code outside markdown code, trips it.
const fn strict(id: &'static str, group: Group, view: View, pattern: &'static str) -> Rule {
    Rule {
        id,
        group,
        view,
        level: 2,
        pattern,
    }
}

/// Fragments spliced into patterns.
const FRAGMENTS: &[(&str, &str)] = &[
    // Up to and just past the value's first quote, and any quotes, spaces
    // and parentheses right after it (a decoy `" '` must not hide the real
    // one): the string-literal breakout. (Backticks are markdown's code
    // quotes far more often than MySQL's.)
    ("@QUOTE@", r#"^[^'"]*['"][\s+)'"]*"#),
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
        r#"(\(\s*select\b|not\b|true\b|false\b|null\b|@|['"`]|\(?\s*[\w.]+\s*(=|<|>|!=|\blike\b|\bin\s*\(|\bbetween\b|\bregexp\b)|@SQLFN@\s*\()"#,
    ),
    (
        "@SQLFN@",
        r"(sleep|benchmark|pg_sleep|if|ascii|ord|substring|substr|mid|char|chr|length|exists|select|updatexml|extractvalue|concat|count|version|user|database)",
    ),
    // A shell command in the shape an injection uses it.
    (
        "@CMD@",
        r#"((env|nice|nohup|exec|command|builtin|time|doas)\s+)*((whoami|uname(\s+-[a-z]+)?|ifconfig|ipconfig(\s+/all)?|systeminfo|tasklist|printenv|id)\s*($|[;&|#)`'"<>])|(cat|more|less|head|tail|nl|tac|strings|od|xxd|type)(\s+|\s*<\s*)[^\s;&|]*([\\/~$%]|\.\.)|(ls|dir)(\s*$|\s+-[a-z]+|\s+([a-z]:)?[\\/~])|rm\s+-[a-z]*[rf]|(chmod|chown)\s+\S+\s+\S|(wget|curl|tftp|ftp|scp|nc|ncat|netcat|telnet|socat|nslookup|dig|ping)\s+\S|(bash|sh|zsh|ksh|dash|csh|tcsh|powershell|pwsh|cmd(\.exe)?)(\s+(-[a-z]+|/c\b)|\s*$|\s*[;&|<>])|(python[0-9.]*|perl|ruby|php|node|lua)\s+-[a-z]*[cerm]\b|(sleep|timeout)\s+\d+\s*($|[;&|#)`])|(/usr)?/s?bin/[a-z]+|(echo|printf)\s+[^;&|]*(>|\|)|net\s+(user|localgroup|view|share)|reg\s+(add|query|delete)|certutil|bitsadmin|rundll32|regsvr32|mshta|wmic|taskkill|useradd|usermod|crontab\s+-|sudo\s+\S|su\s+-|nohup\s+\S|xterm\s+-|mkfifo\s)"#,
    ),
    // Every event handler attribute of HTML, SVG and the platform, old and
    // new (`on` + a name): after a quote breakout, where `on…=` in prose
    // must be an event to count. Inside a tag any `on…=` counts.
    (
        "@EVENT@",
        r"on(abort|activate|after(print|scriptexecute|update)|animation(cancel|end|iteration|start)|auxclick|before(activate|copy|cut|deactivate|editfocus|input|match|paste|print|scriptexecute|toggle|unload|update)|begin|blur|bounce|cancel|canplay(through)?|cellchange|change|click|close|command|content(visibilityautostatechange|lost|restored)|contextmenu|contextlost|contextrestored|controlselect|copy|cuechange|cut|data(available|setchanged|setcomplete)|dblclick|deactivate|drag\w*|drop|durationchange|emptied|end(ed)?|error(update)?|filterchange|finish|focus(in|out)?|formdata|fullscreen(change|error)|gotpointercapture|hashchange|help|input|invalid|key(down|press|up)|languagechange|layoutcomplete|load\w*|losecapture|lostpointercapture|message(error)?|mouse\w+|move(end|start)?|offline|online|open|orientationchange|page(hide|reveal|show|swap)|paste|pause|play(ing)?|pointer\w+|popstate|progress|propertychange|ratechange|readystatechange|rejectionhandled|repeat|reset|resize(end|start)?|row(enter|exit|sdelete|sinserted)|scroll\w*|search|securitypolicyviolation|seek(ed|ing)|select\w*|show|slotchange|stalled|start|storage|submit|suspend|timeout|timeupdate|toggle|touch\w+|track|transition\w+|unhandledrejection|unload|volumechange|waiting|webkit\w+|wheel|zoom)",
    ),
];

use Group::{
    CommandInjection as Cmdi, JavaInjection as Java, NodejsInjection as Nodejs,
    PhpInjection as Php, Protocol, Scanners, Sqli, TemplateInjection as Template, Traversal, Xss,
};
use View::{Decoded, Head, Path, Shell, Sql, UserAgent};

pub static RULES: &[Rule] = &[
    // --- SQL injection -------------------------------------------------
    rule(
        "sqli-boolean-breakout",
        Sqli,
        Sql,
        r#"@QUOTE@((or|and|xor|having|div)\b[\s+]*@OPERAND@|(\|\||&&)[\s+]*@OPERAND@)|@QUOTE@\|\|\s*['"]"#,
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
        r#"<[a-z][^>]*[\s/"'`]on[a-z]{3,}\s*=|@QUOTE@([^<>]*?[\s/"'`])?@EVENT@\s*=|(^|[\s/])@EVENT@\s*=\s*['"`]?[\w$.]+\s*[(`]"#,
    ),
    rule(
        "xss-script-url",
        Xss,
        Decoded,
        r#"(j\s*a\s*v\s*a|v\s*b|l\s*i\s*v\s*e)\s*s\s*c\s*r\s*i\s*p\s*t\s*:[\s!~+\-]*(//|/\*|[\w$.\x80-\xFF]+\s*[(`=\[]|\(|\[|\{)"#,
    ),
    rule(
        "xss-dangerous-tag",
        Xss,
        Decoded,
        r"<\s*(iframe|frame|frameset|object|embed|applet|base|isindex|form)\b|<\s*meta\b[^>]*http-equiv|<\s*(animate|set)\b[^>]*\b(attributename|to|values)\s*=\s*['\x22]?\s*(href|javascript)",
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
        r#"(style\s*=|<\s*style|\{)[^>]*(expression\s*\(|-moz-binding\s*:|behavior\s*:\s*url)|@import\s+['"]?\s*(javascript|data|vbscript)\s*:|<\s*style\b[^>]*>[^<]*@import"#,
    ),
    rule(
        "xss-script-breakout",
        Xss,
        Decoded,
        r"@QUOTE@[;,)+\-*/|&]+\s*(alert|prompt|confirm|eval|settimeout|setinterval|function|fetch|import|document\s*\.|window\s*\.|top\s*\[|self\s*\[|this\s*\[|constructor|location\s*=)\s*[(.\[`=]|^\s*`\s*[;,)+]+\s*(alert|prompt|confirm|eval|fetch|import|document\s*\.|window\s*\.)|\$\{\s*(alert|prompt|confirm|eval|settimeout|setinterval|fetch|import|document\s*\.|window\s*\.|top\s*\[|self\s*\[)\s*[(.\[`=]",
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
        r"(^|[\\/=;])\.{2,};?([\\/]|$)|(\.{2,}[\\/]){3,}|\.{2}\xEF\xBF\xBD|(\xEF\xBF\xBD){2,}[\\/]",
    ),
    rule(
        "traversal-sensitive-file",
        Traversal,
        Decoded,
        r"(^\s*|\.\.[\\/]+|file:/+|[=:]\s*)[\\/.]*(etc[\\/](passwd|shadow|group|gshadow|sudoers|master\.passwd)|proc[\\/](self|\d+)[\\/](environ|cmdline|maps|mem|status|fd)|(windows|winnt)[\\/](win\.ini|system\.ini|system32[\\/](config|drivers)[\\/])|boot\.ini|inetpub[\\/]|\.ssh[\\/]|\.aws[\\/]|\.git[\\/]|\.env\b|\.htpasswd|\.htaccess|web\.config|wp-config\.php|var[\\/]log[\\/]|root[\\/])|^\s*\\\\[\w.-]+\\[\w$]+\\|[\\/](win|system|boot)\.ini\b",
    ),
    rule(
        "traversal-stream-wrapper",
        Traversal,
        Decoded,
        r"\b(php|phar|zip|expect|glob|jar|netdoc|gopher|dict|ldap|tftp|data)://|(^\s*|[=(]\s*)file:/",
    ),
    rule(
        "traversal-path-segment",
        Traversal,
        Path,
        r"(^|/)\.\.(/|$)|/\.(git|svn|hg|bzr|env|aws|ssh|htaccess|htpasswd|ds_store|npmrc|dockerenv)(/|$|\.)",
    ),
    // --- Command injection -----------------------------------------------
    // The injected command may follow harmless ones (`x;true;id`); not
    // after single `|`s, which tables and prose use as separators.
    rule(
        "cmdi-breakout",
        Cmdi,
        Shell,
        r"@SHELL@([^;&|\n]*(;|&&|\|\|)\s*)*@CMD@",
    ),
    // A line break ends a shell command too; the injected one is the last line.
    rule(
        "cmdi-newline-breakout",
        Cmdi,
        Shell,
        r"^[^;&|`$\n]*\n\s*@CMD@[^\n]*$",
    ),
    rule(
        "cmdi-substitution",
        Cmdi,
        Shell,
        r"\$\(\s*(@CMD@|(printf|echo|base64|xxd|rev|tr)\s)|^\s*`\s*(id|whoami|uname(\s+-a)?|cat\s+/etc/\w+|/bin/\w+|nc\s+-\w+|sleep\s+\d+|ping\s+-[cn]\s*\d+)\s*`\s*$",
    ),
    rule(
        "cmdi-shell-idiom",
        Cmdi,
        Shell,
        r#"\$\{IFS\}|\$IFS\$9|/dev/(tcp|udp)/\S|\bnc(at)?\s+(-\w+\s+)*-[ec]\s|\bbash\s+-i\s*>&|\bmkfifo\s+/tmp/|(;|\||&&)\s*(/usr)?/bin/(ba|z|k|da)?sh\b|\b(sh|bash)\s+-c\s+['"]|\bpowershell(\.exe)?\s+(-\w+\s+)*-(enc|encodedcommand|e|c|command)\b|\biex\s*\(|\binvoke-(expression|webrequest)\b|\bcmd(\.exe)?\s+/c\s|\$\{\w+:-?\d+(:\d+)?\}|\bcall\s+%\w+%|%\w+%%\w+%|(^|[;&|`(]\s*)(\$\{?[a-z_]\w*\}?){2,}(\s|$)|--(upload|receive)-pack\s*=|-o\s*proxycommand\s*="#,
    ),
    // A path spelled in wildcards (`/???/c?t`, `/b*/e*o`): only the shell
    // reads it, and only an injection spells a path that way.
    rule(
        "cmdi-glob-path",
        Cmdi,
        Shell,
        r"(^|[\s;|&`(<>])(/[a-z]*[?*\[][a-z?*\[\]]*){1,}/[a-z?*\[\]]*[a-z]*[?*][a-z?*\[\]]*",
    ),
    // --- PHP injection -----------------------------------------------------
    rule(
        "php-open-tag",
        Php,
        Decoded,
        r"<\?(php\b|=)|<\?\s+(echo|system|eval|exec|passthru|shell_exec|print|include|require)\b|\bpd9waha",
    ),
    rule(
        "php-dangerous-call",
        Php,
        Decoded,
        r#"(^|[^.\w$>:])\(?\s*(system|exec|passthru|shell_exec|popen|proc_open|pcntl_exec|assert|eval|create_function|call_user_func(_array)?|preg_replace|include(_once)?|require(_once)?|file_(get|put)_contents|fopen|readfile|highlight_file|show_source|phpinfo|base64_decode|gzinflate|str_rot13|unserialize|fsockopen|mail|putenv|ini_set|move_uploaded_file)\s*\)?\s*(/\*[^*]*\*/\s*)*\(\s*(\$|['"]|\$_|chr\s*\(|[a-z_0-9]+\s*\()|\bphpinfo\s*\(\s*\)|\b(array_map|array_filter|array_walk|usort|uasort|call_user_func(_array)?|register_shutdown_function|ob_start|preg_replace_callback)\s*\(\s*['"](system|exec|passthru|shell_exec|assert|eval|popen|proc_open)['"]|['"](system|exec|passthru|shell_exec|assert|popen|proc_open)['"]\s*\(\s*['"$]|(^|[;{]\s*)\$[a-z_]\w*\s*\(\s*['"$]|\(\s*[\w'"]+\s*\.\s*[\w().'"\s]+\)\s*\(\s*['"$]"#,
    ),
    rule(
        "php-superglobal",
        Php,
        Decoded,
        r"\$_(get|post|request|cookie|server|files|env|session)\s*\[|\$globals\s*\[|\$\{\s*[a-z_]+\s*\}\s*\(|\bphp://(input|filter|fd|memory|temp|stdin)",
    ),
    rule(
        "php-object-injection",
        Php,
        Decoded,
        r#"(^|[;{=\s])[oc]:\+?\d+:"[\w\\]+":\+?\d+:\{|^a:\d+:\{[sibdoa]:"#,
    ),
    // --- Java injection ----------------------------------------------------
    rule(
        "java-jndi-lookup",
        Java,
        Decoded,
        r"\$\{[^}]{0,60}?(j\W{0,40}n\W{0,40}d\W{0,40}i|\$\{(lower|upper|env|sys|date|main|::-)[^}]*\}[^}]*:)|\$\{[^}]{0,60}\$\{[^}]{0,40}:-|\$\{\s*(jndi|ldap|rmi|dns|iiop|corba|nds|nis|env|sys|java|lower|upper|main|spring|k8s|docker|bundle|ctx|sd|web|date)\s*:",
    ),
    rule(
        "java-runtime-exec",
        Java,
        Decoded,
        r#"(java\.lang\.)?runtime\s*\.\s*getruntime\s*\(\s*\)\s*\.\s*exec|\bnew\s+(java\.lang\.)?processbuilder\s*\(|java\.lang\.(runtime|processbuilder|reflect|system\s*\.\s*(exit|getenv|setproperty)|class\s*\.\s*forname)|class\s*\.\s*forname\s*\(|javax\.script\.scriptenginemanager|getclass\s*\(\s*\)\s*\.\s*(forname|getclassloader)|class\s*\.\s*module\s*\.\s*classloader|\bclassloader\s*\.\s*(resources|parent|urls)|\binit\s*=\s*runscript\s+from|"@type"\s*:\s*"[\w$]+(\.[\w$]+){2,}"|\[\s*"(ch\.qos\.logback|com\.sun\.rowset|org\.apache\.xbean|com\.zaxxer\.hikari|com\.mchange\.v2|org\.springframework\.(context|beans))\."#,
    ),
    rule(
        "java-expression-injection",
        Java,
        Decoded,
        r"(%|\$|#)\{[^}]*(#_memberaccess|@java\.|@ognl|#context|#request|#application|\.getclass\s*\(|t\s*\(\s*java\.|new\s+java\.|runtime|processbuilder)|#_memberaccess|\bognlcontext\b|\bt\s*\(\s*java\.lang",
    ),
    rule(
        "java-deserialization",
        Java,
        Decoded,
        r"(^|[\s=:])(ro0ab|aced0005)[a-z0-9+/=]*|\bh4siaaaaaaaa",
    ),
    // --- Node.js injection -------------------------------------------------
    rule(
        "nodejs-child-process",
        Nodejs,
        Decoded,
        r#"(require|import)\s*\(\s*['"`](child_process|fs|net|vm|os|http)['"`]\s*\)|require\s*\(\s*['"`][^'"`]*['"`]\s*\+|child_process\s*['"`]?\s*\)?\s*\.\s*(exec|spawn|fork|execsync|spawnsync|execfile)|process\s*\.\s*(mainmodule|binding|dlopen|kill|exit)\b|global\s*\.\s*process\b|\bprocess\s*\.\s*env\s*\[|\.constructor\s*\(\s*['"`]return\s|\bfunction\s*\(\s*['"`]\s*return\b|\beval\s*\(\s*(buffer\s*\.\s*from|atob|decodeuricomponent|unescape|string\s*\.\s*fromcharcode)\s*\("#,
    ),
    rule(
        "nodejs-prototype-pollution",
        Nodejs,
        Decoded,
        r#"__proto__\s*(\[|\.|['"]?\s*[:\]=])|constructor\s*(\[\s*['"]prototype['"]\s*\]|\.\s*prototype)\s*(\[|\.|=)|\[\s*['"](__proto__|constructor)['"]\s*\]|['"]constructor['"]\s*:\s*\{\s*['"]prototype['"]"#,
    ),
    rule(
        "nodejs-nosql-operator",
        Nodejs,
        Decoded,
        r#"\{\s*['"]?\$(where|ne|gt|gte|lt|lte|regex|nin|in|or|and|nor|not|exists|expr|function|accumulator)['"]?\s*:|\[\s*\$(ne|gt|gte|lt|lte|regex|nin|in|where|exists)\s*\]|^\s*\$where\s*[=:]|\bsleep\s*\(\s*\d+\s*\)\s*\|\|"#,
    ),
    // --- Template injection --------------------------------------------------
    rule(
        "template-expression",
        Template,
        Decoded,
        r#"\{\{[^}]*\[\s*['"]([^'"]*['"]\s*\+|_)|\{\{[^}]*(__class__|__mro__|__subclasses__|__globals__|__builtins__|__init__|__import__|config\b|self\b|request\b|cycler|joiner|namespace|lipsum|url_for|get_flashed_messages|\|\s*attr\s*\(|\d+\s*[*+]\s*['"\d]|\.\s*(popen|system|exec|eval|read)\s*\(|range\s*\(|constructor)|\$\{\s*\d+\s*[*+/-]\s*\d+\s*\}|#\{\s*\d+\s*[*+/-]\s*\d+\s*\}|\{\{\s*\d+\s*[*+/-]\s*['"]?\d+['"]?\s*\}\}|\$\{\{[^}]*\}\}|\{%\s*(import|include|set|for|if|debug|load)\b[^%]*(os|subprocess|__|popen|system)|\|\s*(filter|map|reduce|sort)\s*\(\s*['"](system|exec|passthru|shell_exec|popen)|\$\{[^}]*\.\s*(system|popen|exec|spawn)\s*\("#,
    ),
    rule(
        "template-engine-directive",
        Template,
        Decoded,
        r#"<#(assign|import|include)\b|freemarker\.template\.utility|\?new\s*\(|#set\s*\(\s*\$[a-z_]+\s*=|\$[a-z_]+\.getclass\s*\(|<%=?[^%]*(system|exec|eval|`|%x|io\.popen|file\s*\.\s*(read|open|readlines)|runtime|require|process|import\s+(os|subprocess)|os\s*\.\s*(popen|system))|\{php\}|\{\s*(system|exec|passthru)\s*\(|__\$\{[^}]*\}__|\[\[\$\{|\{\{#with\s+['"]s['"]|\{\{\s*this\.constructor"#,
    ),
    // --- Paranoia level 2: attack text anywhere ------------------------------
    strict(
        "sqli-statement-anywhere",
        Sqli,
        Sql,
        r"\bunion(\s+(all|distinct))?\s*\(?\s*select\b|\bselect\b[^;]{1,120}?\bfrom\b[^;]{0,120}?\b(where|limit|order\s+by|group\s+by|union)\b|\b(insert\s+into|delete\s+from|drop\s+(table|database|schema)|truncate\s+table|alter\s+table)\b|\bupdate\s+[\w.`\x22]+\s+set\b|\b(or|and|xor)\s+\(?\s*['\x22]?\w+['\x22]?\s*(=|<>|!=|<|>|\blike\b)\s*['\x22]?\w+|\b(sleep|benchmark|pg_sleep)\s*\(|\bwaitfor\s+(delay|time)\b|(--|#)\s*$",
    ),
    strict(
        "xss-handler-anywhere",
        Xss,
        Decoded,
        r"\bon[a-z]{3,}\s*=|\b(java|vb)script\s*:|<\s*[a-z]+[^>]*\b(src|href|action|formaction|data)\s*=",
    ),
    strict("cmdi-command-anywhere", Cmdi, Shell, r"(^|[\s(])@CMD@"),
    strict(
        "traversal-file-anywhere",
        Traversal,
        Decoded,
        r"\b(etc[\\/](passwd|shadow|group|hosts|issue)|win\.ini|boot\.ini|system32[\\/]|proc[\\/]self[\\/])|\.\.[\\/]",
    ),
    strict(
        "php-function-anywhere",
        Php,
        Decoded,
        r"\b(system|exec|passthru|shell_exec|popen|proc_open|eval|assert|base64_decode|phpinfo|file_get_contents|include|require)\s*\(",
    ),
    // --- Protocol ----------------------------------------------------------
    rule("protocol-nul-byte", Protocol, Decoded, r"\x00"),
    // A line break in a head value, and a header after it: nothing a query,
    // path or header value carries but an injection (a body's text may).
    rule(
        "protocol-header-injection",
        Protocol,
        Head,
        r"[\r\n]\s*[a-z][\w-]*\s*:([^/]|/[^/]|$)",
    ),
    // A line break and what follows it read as a second message or a header
    // by anything that writes the value into HTTP: request/response splitting.
    rule(
        "protocol-splitting",
        Protocol,
        Decoded,
        r"[\r\n]\s*(get|post|put|delete|head|options|patch|trace|connect)\s+\S+\s+http/\d|[\r\n]\s*http/\d(\.\d)?\s+\d{3}|\r\n?\s*(set-cookie|location|content-[a-z]+|transfer-encoding|host|refresh|cookie|authorization|referer|x-[a-z-]+|access-control-allow-[a-z]+)\s*:|\n\s*(set-cookie|content-length|transfer-encoding)\s*:|\n\s*location\s*:\s*(https?:|//)|\r\n\r\n\s*<[a-z!]|([\xC0-\xDF]|[\xE0-\xEF][\x80-\xBF])[\x8A\x8D]\s*(set-cookie|location|content-[a-z]+|x-[a-z-]+|host)\s*:",
    ),
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
    pub shell: RuleSet,
    pub path: RuleSet,
    pub user_agent: RuleSet,
    pub head: RuleSet,
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
    /// The rules of the groups `modes` does not switch off, up to paranoia `level`.
    pub fn new(modes: &WafModes, level: u8) -> Result<Self, regex::Error> {
        let set = |view: View| -> Result<RuleSet, regex::Error> {
            let rules: Vec<&'static Rule> = RULES
                .iter()
                .filter(|r| {
                    r.view == view && r.level <= level && r.group.mode(modes) != WafMode::Off
                })
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
            shell: set(Shell)?,
            path: set(Path)?,
            user_agent: set(UserAgent)?,
            head: set(Head)?,
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
        CompiledRules::new(&WafModes::default(), 2).unwrap();
        let mut ids: Vec<_> = RULES.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len());
        for rule in RULES {
            assert!(!expand(rule.pattern).contains("@QUOTE@"), "{}", rule.id);
        }
    }
}
