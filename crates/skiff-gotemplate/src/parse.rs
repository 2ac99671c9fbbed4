//! Turns a format string into a tree of text and actions.

use super::{TemplateError, MAX_DEPTH};

/// One node of a parsed template.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Literal text.
    Text(String),
    /// `{{pipeline}}`: prints the pipeline's value.
    Print(Pipeline),
    /// `{{if}}` (an `else if` chain nests in `otherwise`).
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{range}}`, optionally declaring `$index, $element` or `$element`.
    Range {
        vars: Vec<String>,
        over: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{with}}`: the body sees the value as dot, if it is true.
    With {
        value: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
}

/// Commands joined by `|`: each command's result is the last argument of the next.
pub type Pipeline = Vec<Command>;

/// A function call or a single operand.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub args: Vec<Operand>,
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// `.A.B` (empty for `.` itself).
    Field(Vec<String>),
    /// `$name.A.B` (`$` alone is the top-level data).
    Variable(String, Vec<String>),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// A function name.
    Function(String),
    /// `( pipeline )`, optionally followed by `.A.B`.
    Nested(Pipeline, Vec<String>),
}

fn err<T>(msg: impl Into<String>) -> Result<T, TemplateError> {
    Err(TemplateError(msg.into()))
}

/// An action's raw text and what it closes.
enum Item {
    Text(String),
    Action(String),
}

/// Splits the format into text and action items, applying `{{-`/`-}}` trimming and
/// dropping comments.
fn items(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while !rest.is_empty() {
        let Some(open) = rest.find("{{") else {
            push_text(&mut out, rest, trim_next, false);
            break;
        };
        let mut inner = &rest[open + 2..];
        let trim_before =
            inner.starts_with("- ") || inner.starts_with("-\t") || inner.starts_with("-\n");
        push_text(&mut out, &rest[..open], trim_next, trim_before);
        if trim_before {
            inner = &inner[1..];
        }
        let close = find_close(inner).ok_or_else(|| TemplateError("unclosed action".into()))?;
        let mut body = &inner[..close];
        trim_next = body.ends_with(" -") || body.ends_with("\t-") || body.ends_with("\n-");
        if trim_next {
            body = &body[..body.len() - 1];
        }
        rest = &inner[close + 2..];
        let body = body.trim();
        if body.starts_with("/*") {
            if !body.ends_with("*/") {
                return err("unclosed comment");
            }
            continue;
        }
        out.push(Item::Action(body.to_string()));
    }
    Ok(out)
}

fn push_text(out: &mut Vec<Item>, text: &str, trim_start: bool, trim_end: bool) {
    let mut t = text;
    if trim_start {
        t = t.trim_start();
    }
    if trim_end {
        t = t.trim_end();
    }
    if !t.is_empty() {
        out.push(Item::Text(t.to_string()));
    }
}

/// The position of the `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// One level deeper than `depth`, or the error that stops a format nested beyond
/// [`MAX_DEPTH`] before the recursion can exhaust the stack.
fn deeper(depth: usize) -> Result<usize, TemplateError> {
    if depth >= MAX_DEPTH {
        return err(format!(
            "max expression depth exceeded (more than {MAX_DEPTH} levels of nesting)"
        ));
    }
    Ok(depth + 1)
}

/// Parses a whole template.
pub fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let items = items(src)?;
    let mut pos = 0;
    let (nodes, end) = parse_list(&items, &mut pos, 0)?;
    match end {
        None => Ok(nodes),
        Some(word) => err(format!("unexpected {{{{{word}}}}}")),
    }
}

/// Parses nodes until `{{end}}` or `{{else…}}` (returned, unconsumed in meaning) or the
/// end of input (`None`).
fn parse_list(
    items: &[Item],
    pos: &mut usize,
    depth: usize,
) -> Result<(Vec<Node>, Option<String>), TemplateError> {
    let inner = deeper(depth)?;
    let mut nodes = Vec::new();
    while let Some(item) = items.get(*pos) {
        *pos += 1;
        let action = match item {
            Item::Text(t) => {
                nodes.push(Node::Text(t.clone()));
                continue;
            }
            Item::Action(a) => a.as_str(),
        };
        let (keyword, rest) = split_keyword(action);
        match keyword {
            "end" | "else" => return Ok((nodes, Some(action.to_string()))),
            "if" => nodes.push(parse_if(rest, items, pos, inner)?),
            "range" => {
                let (vars, over) = declarations(rest)?;
                let (body, otherwise) = parse_body(items, pos, "range", inner)?;
                nodes.push(Node::Range {
                    vars,
                    over: pipeline(over)?,
                    body,
                    otherwise,
                });
            }
            "with" => {
                let (body, otherwise) = parse_body(items, pos, "with", inner)?;
                nodes.push(Node::With {
                    value: pipeline(rest)?,
                    body,
                    otherwise,
                });
            }
            "define" | "template" | "block" | "break" | "continue" => {
                return err(format!("{{{{{keyword}}}}} is not supported by skiff"));
            }
            _ => nodes.push(Node::Print(pipeline(action)?)),
        }
    }
    Ok((nodes, None))
}

fn parse_if(
    cond: &str,
    items: &[Item],
    pos: &mut usize,
    depth: usize,
) -> Result<Node, TemplateError> {
    let (then, end) = parse_list(items, pos, depth)?;
    let end = end.ok_or_else(|| TemplateError("unexpected EOF in if".into()))?;
    let otherwise = match split_keyword(&end) {
        ("end", _) => Vec::new(),
        ("else", rest) => match split_keyword(rest) {
            // An `else if` chain nests, so it counts towards the depth.
            ("if", cond) => vec![parse_if(cond, items, pos, deeper(depth)?)?],
            _ => closing_else(items, pos, "if", depth)?,
        },
        (other, _) => return err(format!("unexpected {{{{{other}}}}} in if")),
    };
    Ok(Node::If {
        cond: pipeline(cond)?,
        then,
        otherwise,
    })
}

/// Parses a body and an optional `{{else}}` part, up to `{{end}}`.
fn parse_body(
    items: &[Item],
    pos: &mut usize,
    what: &str,
    depth: usize,
) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
    let (body, end) = parse_list(items, pos, depth)?;
    match end.as_deref().map(split_keyword) {
        None => err(format!("unexpected EOF in {what}")),
        Some(("end", _)) => Ok((body, Vec::new())),
        Some(_) => Ok((body, closing_else(items, pos, what, depth)?)),
    }
}

/// Parses the nodes after a plain `{{else}}`, which must end with `{{end}}`.
fn closing_else(
    items: &[Item],
    pos: &mut usize,
    what: &str,
    depth: usize,
) -> Result<Vec<Node>, TemplateError> {
    let (nodes, end) = parse_list(items, pos, depth)?;
    match end.as_deref().map(split_keyword) {
        Some(("end", _)) => Ok(nodes),
        Some(_) => err(format!("expected {{{{end}}}} after {{{{else}}}} in {what}")),
        None => err(format!("unexpected EOF in {what}")),
    }
}

fn split_keyword(action: &str) -> (&str, &str) {
    let action = action.trim();
    match action.find(|c: char| c.is_whitespace()) {
        Some(i) => (&action[..i], action[i..].trim()),
        None => (action, ""),
    }
}

/// Splits `$i, $e := pipeline` into the variable names and the pipeline text.
fn declarations(s: &str) -> Result<(Vec<String>, &str), TemplateError> {
    let Some((vars, rest)) = s.split_once(":=") else {
        return Ok((Vec::new(), s));
    };
    let names: Vec<String> = vars.split(',').map(|v| v.trim().to_string()).collect();
    if names.len() > 2 || names.iter().any(|n| !n.starts_with('$') || n.len() < 2) {
        return err(format!("bad range declaration {:?}", vars.trim()));
    }
    Ok((names, rest))
}

/// Lexical tokens inside an action.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Pipe,
    Open,
    Close,
    Word(String),
    /// `.A.B` written right after `)`: fields of the parenthesised value.
    Chain(String),
    Str(String),
}

fn tokens(s: &str) -> Result<Vec<Token>, TemplateError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let mut after_space = false;
    while let Some(&c) = chars.peek() {
        let spaced = std::mem::take(&mut after_space);
        match c {
            c if c.is_whitespace() => {
                chars.next();
                after_space = true;
            }
            '|' => {
                chars.next();
                out.push(Token::Pipe);
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        None => return err("unterminated quoted string"),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => lit.push('\n'),
                            Some('t') => lit.push('\t'),
                            Some(c @ ('"' | '\\')) => lit.push(c),
                            other => {
                                return err(format!("unknown escape \\{}", other.unwrap_or(' ')))
                            }
                        },
                        Some(c) => lit.push(c),
                    }
                }
                out.push(Token::Str(lit));
            }
            '`' => {
                chars.next();
                let lit: String = chars.by_ref().take_while(|&c| c != '`').collect();
                out.push(Token::Str(lit));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '|' | '(' | ')' | '"' | '`') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                if word.starts_with('.') && !spaced && out.last() == Some(&Token::Close) {
                    out.push(Token::Chain(word));
                } else {
                    out.push(Token::Word(word));
                }
            }
        }
    }
    Ok(out)
}

/// Parses the text of an action as a pipeline.
fn pipeline(s: &str) -> Result<Pipeline, TemplateError> {
    if s.trim().is_empty() {
        return err("missing value for command");
    }
    let toks = tokens(s)?;
    let mut pos = 0;
    let p = parse_pipeline(&toks, &mut pos, 0)?;
    if pos != toks.len() {
        return err(format!("unexpected {:?} in operand", toks[pos]));
    }
    Ok(p)
}

fn parse_pipeline(
    toks: &[Token],
    pos: &mut usize,
    depth: usize,
) -> Result<Pipeline, TemplateError> {
    let mut commands = Vec::new();
    let mut args = Vec::new();
    while let Some(t) = toks.get(*pos) {
        match t {
            Token::Close => break,
            Token::Pipe => {
                *pos += 1;
                commands.push(Command {
                    args: std::mem::take(&mut args),
                });
            }
            _ => args.push(parse_operand(toks, pos, depth)?),
        }
    }
    commands.push(Command { args });
    if commands.iter().any(|c| c.args.is_empty()) {
        return err("missing command in pipeline");
    }
    Ok(commands)
}

fn parse_operand(toks: &[Token], pos: &mut usize, depth: usize) -> Result<Operand, TemplateError> {
    let Some(t) = toks.get(*pos).cloned() else {
        return err("missing operand");
    };
    *pos += 1;
    Ok(match t {
        Token::Str(s) => Operand::Str(s),
        Token::Open => {
            let inner = parse_pipeline(toks, pos, deeper(depth)?)?;
            if toks.get(*pos) != Some(&Token::Close) {
                return err("unclosed left paren");
            }
            *pos += 1;
            let fields = match toks.get(*pos) {
                Some(Token::Chain(w)) => {
                    *pos += 1;
                    field_chain(w)?
                }
                _ => Vec::new(),
            };
            Operand::Nested(inner, fields)
        }
        Token::Word(w) => word(&w)?,
        Token::Close | Token::Pipe | Token::Chain(_) => return err(format!("unexpected {t:?}")),
    })
}

fn field_chain(w: &str) -> Result<Vec<String>, TemplateError> {
    if w == "." {
        return Ok(Vec::new());
    }
    let names: Vec<String> = w[1..].split('.').map(str::to_string).collect();
    if names
        .iter()
        .any(|n| n.is_empty() || !n.chars().all(|c| c.is_alphanumeric() || c == '_'))
    {
        return err(format!("bad field {w:?}"));
    }
    Ok(names)
}

fn word(w: &str) -> Result<Operand, TemplateError> {
    if w.starts_with('.') {
        return Ok(Operand::Field(field_chain(w)?));
    }
    if let Some(var) = w.strip_prefix('$') {
        let (name, fields) = match var.find('.') {
            Some(i) => (&var[..i], field_chain(&var[i..])?),
            None => (var, Vec::new()),
        };
        return Ok(Operand::Variable(format!("${name}"), fields));
    }
    match w {
        "true" => return Ok(Operand::Bool(true)),
        "false" => return Ok(Operand::Bool(false)),
        _ => {}
    }
    if let Ok(i) = w.parse::<i64>() {
        return Ok(Operand::Int(i));
    }
    if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(Operand::Function(w.to_string()));
    }
    err(format!("unexpected {w:?} in operand"))
}
