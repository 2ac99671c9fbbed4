//! # skiff-gotemplate: the Go text/template subset behind `inspect --format`
//!
//! skopeo formats its inspect output with Go's text/template (through containers/common's
//! report package). Scripts rely on a small part of it — `{{.Digest}}`,
//! `{{index .Labels "k"}}`, `{{range .RepoTags}}…{{end}}`, `{{json .Labels}}` — so skiff
//! implements that part rather than embedding a Go runtime:
//!
//! * actions with field chains (`.A.B`), variables (`$`, `$x`), literals, parenthesised
//!   pipelines and `|` pipes; `{{-`/`-}}` trimming and `{{/* comments */}}`;
//! * `if`/`else if`/`else`, `range` (with `$i, $e :=`), `with`, `end`;
//! * Go's builtins `and or not eq ne lt le gt ge len index print printf println`, plus
//!   `json join upper lower` from the report package;
//! * values print as Go's `%v` prints them (`[a b]`, `map[k:v]`, `{…}`, times as
//!   `2006-01-02 15:04:05 +0000 UTC`);
//! * as in skopeo: `\t` and `\n` in the format are escapes, tab-separated cells are aligned
//!   into columns, a leading `table` is ignored, a newline is always appended, and
//!   `{{json .}}` prints the usual indented JSON.
//!
//! Not implemented: `define`/`template`/`block`, assignment outside `range`, method calls
//! other than a digest's `Hex`/`Encoded`/`Algorithm`. They are refused with a clear error.
//! Nesting (parentheses, `if`/`range`/`with`, `else if` chains) is limited to
//! [`MAX_DEPTH`] levels, so a hostile format cannot overflow the stack.
//!
//! ## Why not the `gotmpl` crate
//!
//! `gotmpl` 0.6 reimplements text/template well, but its data model has no structs and no
//! methods, and skopeo's output depends on both: `{{.LayersData}}` prints Go structs as
//! `[{type 42 map[]}]` (gotmpl prints maps with sorted keys), `{{.Digest.Encoded}}` calls a
//! method of `digest.Digest` (gotmpl has no method hook), and `{{.Nope}}` on a struct is an
//! error in Go but `<no value>` for a map. This crate keeps those Go semantics.

mod eval;
mod parse;
mod tabs;
mod value;

pub use value::Value;

/// How deeply parentheses and control structures may nest. Go stops at 10,000 on a
/// goroutine stack that grows; a thread's fixed stack wants a lower bound, and no
/// real format comes near it.
pub const MAX_DEPTH: usize = 100;

/// A template error, worded like Go's (`template: …`).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(pub String);

/// What a format string asks for.
pub enum Rendering {
    /// The ordinary indented JSON (`{{json .}}`).
    Json,
    /// Text produced by the template.
    Text(String),
}

/// Applies `format` (as given to `--format`) to `data`.
pub fn render(format: &str, data: &Value) -> Result<Rendering, TemplateError> {
    let format = format.trim_start();
    let format = format.strip_prefix("table").map_or(format, str::trim_start);
    if matches!(format.trim(), "{{json .}}" | "{{ json . }}" | "json") {
        return Ok(Rendering::Json);
    }
    let format = format.replace("\\t", "\t").replace("\\n", "\n");
    let nodes = parse::parse(&format)?;
    let mut out = String::new();
    eval::execute(&nodes, data, &mut out)?;
    out.push('\n');
    Ok(Rendering::Text(tabs::align(&out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Value {
        Value::Struct(vec![
            ("Name".into(), Value::Str("registry.example/app".into())),
            (
                "Digest".into(),
                Value::Digest(format!("sha256:{}", "ab".repeat(32))),
            ),
            (
                "RepoTags".into(),
                Value::List(vec![Value::Str("v1".into()), Value::Str("latest".into())]),
            ),
            (
                "Created".into(),
                Value::Time("2024-01-02T03:04:05.5Z".into()),
            ),
            (
                "Labels".into(),
                Value::Map(
                    [
                        ("b.key".to_string(), Value::Str("two".into())),
                        ("a.key".to_string(), Value::Str("one & <1>".into())),
                    ]
                    .into_iter()
                    .collect(),
                ),
            ),
            ("Os".into(), Value::Str("linux".into())),
            (
                "LayersData".into(),
                Value::List(vec![Value::Struct(vec![
                    ("MIMEType".into(), Value::Str("t".into())),
                    ("Size".into(), Value::Int(42)),
                    ("Annotations".into(), Value::Map(Default::default())),
                ])]),
            ),
            ("Env".into(), Value::List(vec![])),
        ])
    }

    fn text(format: &str) -> String {
        match render(format, &data()).unwrap() {
            Rendering::Text(t) => t,
            Rendering::Json => "JSON".into(),
        }
    }

    fn error(format: &str) -> String {
        match render(format, &data()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{format} should fail"),
        }
    }

    /// Expected outputs are what Go's text/template prints for the same data (checked
    /// against skopeo 1.9.3 where it has the function).
    #[test]
    fn fields_and_go_value_printing() {
        assert_eq!(text("{{.Name}}"), "registry.example/app\n");
        assert_eq!(text("{{.RepoTags}}"), "[v1 latest]\n");
        assert_eq!(text("{{.Labels}}"), "map[a.key:one & <1> b.key:two]\n");
        assert_eq!(text("{{.Created}}"), "2024-01-02 03:04:05.5 +0000 UTC\n");
        assert_eq!(text("{{.LayersData}}"), "[{t 42 map[]}]\n");
        assert_eq!(text("{{.Env}}"), "[]\n");
        assert_eq!(text("{{.Digest.Hex}}"), format!("{}\n", "ab".repeat(32)));
        assert_eq!(text("{{.Digest.Algorithm}}"), "sha256\n");
        assert_eq!(text("{{.Labels.missing}}"), "<no value>\n");
        assert_eq!(text("{{index .Labels \"b.key\"}}"), "two\n");
        assert_eq!(text("{{index .Labels \"zz\"}}"), "\n");
        assert_eq!(text("{{index .RepoTags 1}}"), "latest\n");
    }

    #[test]
    fn control_structures_and_variables() {
        assert_eq!(text("{{range .RepoTags}}{{.}},{{end}}"), "v1,latest,\n");
        assert_eq!(
            text("{{range $i, $t := .RepoTags}}{{$i}}={{$t}} {{end}}"),
            "0=v1 1=latest \n"
        );
        assert_eq!(text("{{range .Env}}x{{else}}none{{end}}"), "none\n");
        assert_eq!(
            text("{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}"),
            "a.key:one & <1>;b.key:two;\n"
        );
        assert_eq!(
            text("{{if .Env}}y{{else if .Labels}}l{{else}}n{{end}}"),
            "l\n"
        );
        assert_eq!(
            text("{{with .Os}}[{{.}}] {{$.Name}}{{end}}"),
            "[linux] registry.example/app\n"
        );
        assert_eq!(text("{{- \"a\" }}  \n {{- \"b\" -}} \n c"), "abc\n");
        assert_eq!(text("x{{/* note */}}y"), "xy\n");
    }

    #[test]
    fn functions_and_pipes() {
        assert_eq!(text("{{.Os | upper}} {{lower \"AB\"}}"), "LINUX ab\n");
        assert_eq!(text("{{join .RepoTags \",\"}}"), "v1,latest\n");
        assert_eq!(
            text("{{len .RepoTags}} {{len .Labels}} {{len .Os}}"),
            "2 2 5\n"
        );
        assert_eq!(
            text("{{eq .Os \"linux\"}} {{ne .Os \"linux\"}} {{eq .Os \"x\" \"linux\"}}"),
            "true false true\n"
        );
        assert_eq!(
            text("{{and .Os .Env}} {{or .Env .Os}} {{not .Env}}"),
            "[] linux true\n"
        );
        assert_eq!(text("{{lt 1 2}} {{ge (len .RepoTags) 3}}"), "true false\n");
        assert_eq!(
            text("{{printf \"%s has %d tags: %v %q\" .Os (len .RepoTags) .RepoTags .Os}}"),
            "linux has 2 tags: [v1 latest] \"linux\"\n"
        );
        assert_eq!(text("{{print .Os 1 2}}"), "linux1 2\n");
        assert_eq!(
            text("{{json .Labels}}"),
            "{\"a.key\":\"one \\u0026 \\u003c1\\u003e\",\"b.key\":\"two\"}\n"
        );
        assert_eq!(text("{{json .Created}}"), "\"2024-01-02T03:04:05.5Z\"\n");
    }

    #[test]
    fn skopeo_conventions() {
        assert_eq!(text("{{json .}}"), "JSON");
        assert_eq!(text("table {{.Os}}"), "linux\n");
        assert_eq!(text("a\\tb\\nc"), "a       b\nc\n");
        assert_eq!(
            text("{{range .RepoTags}}{{.}}\\t|\\n{{end}}"),
            "v1      |\nlatest  |\n\n"
        );
        assert_eq!(text("x\n"), "x\n\n");
    }

    #[test]
    fn mistakes_are_reported_like_go() {
        assert!(error("{{.Nope}}").contains("can't evaluate field Nope"));
        assert!(error("{{.Os").contains("unclosed action"));
        assert!(error("{{if .Os}}x").contains("unexpected EOF"));
        assert!(error("{{end}}").contains("unexpected {{end}}"));
        assert!(error("{{frob .Os}}").contains("function \"frob\" not defined"));
        assert!(error("{{index .Os 1 2}}").contains("index"));
        assert!(error("{{define \"x\"}}{{end}}").contains("not supported"));
        assert!(error("{{\"unterminated}}").contains("unclosed action"));
        assert!(error("{{print \"a}}\"").contains("unclosed action"));
        assert!(error("{{print \"a\\q\"}}").contains("unknown escape"));
    }

    /// Formats come from the command line: whatever their shape, the answer is a text or
    /// an error, never a panic. Random strings of template fragments probe the lexer,
    /// parser and evaluator (a fixed-seed generator, so a failure reproduces).
    #[test]
    fn arbitrary_formats_never_panic() {
        let fragments = [
            "{{",
            "}}",
            "{{-",
            "-}}",
            "(",
            ")",
            "|",
            ".",
            ".Labels",
            ".RepoTags",
            "$",
            "$x",
            ":=",
            ",",
            "\"",
            "`",
            "\\",
            " ",
            "if",
            "else",
            "end",
            "range",
            "with",
            "index",
            "printf",
            "\"%d %q %\"",
            "len",
            "eq",
            "json",
            "join",
            "1",
            "-1",
            "x",
            "é",
            "/*",
            "*/",
            "\\t",
            "\t",
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = next(24);
            let format: String = (0..len).map(|_| fragments[next(fragments.len())]).collect();
            let _ = render(&format, &data());
        }
    }

    /// A format nested 30,000 levels deep is refused with an error instead of
    /// overflowing the stack (which aborts the process, skipping every cleanup).
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let n = 30_000;
        let parens = format!("{{{{{}1{}}}}}", "(".repeat(n), ")".repeat(n));
        let ifs = format!("{}x{}", "{{if 1}}".repeat(n), "{{end}}".repeat(n));
        let chain = format!("{{{{if 0}}}}{}x{{{{end}}}}", "{{else if 0}}".repeat(n));
        for format in [parens, ifs, chain] {
            assert!(
                error(&format).contains("max expression depth exceeded"),
                "{}",
                &format[..40]
            );
        }
        let fine = format!("{{{{{}1{}}}}}", "(".repeat(50), ")".repeat(50));
        assert_eq!(text(&fine), "1\n");
    }
}
