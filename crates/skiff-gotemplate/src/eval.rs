//! Executes a parsed template against a [`Value`].

use super::parse::{Command, Node, Operand, Pipeline};
use super::value::Value;
use super::TemplateError;

/// Variables in scope: `$` and those declared by enclosing `range`s.
struct Scope<'a> {
    vars: Vec<(String, Value)>,
    root: &'a Value,
}

impl Scope<'_> {
    fn lookup(&self, name: &str) -> Result<Value, TemplateError> {
        if name == "$" {
            return Ok(self.root.clone());
        }
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| TemplateError(format!("undefined variable \"{name}\"")))
    }
}

/// Runs `nodes` with `data` as dot, appending to `out`.
pub fn execute(nodes: &[Node], data: &Value, out: &mut String) -> Result<(), TemplateError> {
    let mut scope = Scope {
        vars: Vec::new(),
        root: data,
    };
    run(nodes, data, &mut scope, out)
}

fn run(
    nodes: &[Node],
    dot: &Value,
    scope: &mut Scope,
    out: &mut String,
) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&pipeline(p, dot, scope)?.to_string()),
            Node::If {
                cond,
                then,
                otherwise,
            } => {
                let branch = if pipeline(cond, dot, scope)?.truthy() {
                    then
                } else {
                    otherwise
                };
                run(branch, dot, scope, out)?;
            }
            Node::With {
                value,
                body,
                otherwise,
            } => {
                let v = pipeline(value, dot, scope)?;
                if v.truthy() {
                    run(body, &v, scope, out)?;
                } else {
                    run(otherwise, dot, scope, out)?;
                }
            }
            Node::Range {
                vars,
                over,
                body,
                otherwise,
            } => {
                let pairs: Vec<(Value, Value)> = match pipeline(over, dot, scope)? {
                    Value::List(l) => l
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::Int(i as i64), v))
                        .collect(),
                    Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
                    Value::Int(n) => (0..n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
                    Value::Nil | Value::Missing => Vec::new(),
                    other => {
                        return Err(TemplateError(format!("range can't iterate over {other}")))
                    }
                };
                if pairs.is_empty() {
                    run(otherwise, dot, scope, out)?;
                }
                for (key, element) in pairs {
                    let depth = scope.vars.len();
                    match vars.as_slice() {
                        [e] => scope.vars.push((e.clone(), element.clone())),
                        [k, e] => {
                            scope.vars.push((k.clone(), key));
                            scope.vars.push((e.clone(), element.clone()));
                        }
                        _ => {}
                    }
                    let result = run(body, &element, scope, out);
                    scope.vars.truncate(depth);
                    result?;
                }
            }
        }
    }
    Ok(())
}

fn pipeline(p: &Pipeline, dot: &Value, scope: &mut Scope) -> Result<Value, TemplateError> {
    let mut last = None;
    for c in p {
        last = Some(command(c, dot, scope, last)?);
    }
    last.ok_or_else(|| TemplateError("empty pipeline".into()))
}

fn command(
    c: &Command,
    dot: &Value,
    scope: &mut Scope,
    piped: Option<Value>,
) -> Result<Value, TemplateError> {
    if let Operand::Function(name) = &c.args[0] {
        let mut args = c.args[1..]
            .iter()
            .map(|a| operand(a, dot, scope))
            .collect::<Result<Vec<_>, _>>()?;
        args.extend(piped);
        return call(name, &args);
    }
    if c.args.len() > 1 || piped.is_some() {
        return Err(TemplateError(format!(
            "can't give argument to non-function {:?}",
            c.args[0]
        )));
    }
    operand(&c.args[0], dot, scope)
}

fn operand(o: &Operand, dot: &Value, scope: &mut Scope) -> Result<Value, TemplateError> {
    let (base, fields) = match o {
        Operand::Field(f) => (dot.clone(), f.as_slice()),
        Operand::Variable(name, f) => (scope.lookup(name)?, f.as_slice()),
        Operand::Nested(p, f) => (pipeline(p, dot, scope)?, f.as_slice()),
        Operand::Str(s) => return Ok(Value::Str(s.clone())),
        Operand::Int(i) => return Ok(Value::Int(*i)),
        Operand::Bool(b) => return Ok(Value::Bool(*b)),
        Operand::Function(name) => return call(name, &[]),
    };
    fields
        .iter()
        .try_fold(base, |v, name| v.field(name).map_err(TemplateError))
}

fn call(name: &str, args: &[Value]) -> Result<Value, TemplateError> {
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(TemplateError(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            )))
        }
    };
    let at_least = |n: usize| {
        if args.len() >= n {
            Ok(())
        } else {
            Err(TemplateError(format!("wrong number of args for {name}")))
        }
    };
    Ok(match name {
        "and" => {
            at_least(1)?;
            args.iter()
                .find(|v| !v.truthy())
                .unwrap_or(&args[args.len() - 1])
                .clone()
        }
        "or" => {
            at_least(1)?;
            args.iter()
                .find(|v| v.truthy())
                .unwrap_or(&args[args.len() - 1])
                .clone()
        }
        "not" => {
            want(1)?;
            Value::Bool(!args[0].truthy())
        }
        "eq" => {
            at_least(2)?;
            Value::Bool(args[1..].iter().any(|v| same(&args[0], v)))
        }
        "ne" => {
            want(2)?;
            Value::Bool(!same(&args[0], &args[1]))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let ord = compare(&args[0], &args[1])?;
            Value::Bool(match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        "len" => {
            want(1)?;
            Value::Int(match &args[0] {
                Value::Str(s) | Value::Digest(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Map(m) => m.len(),
                other => return Err(TemplateError(format!("len of type {}", other.type_name()))),
            } as i64)
        }
        "index" => {
            at_least(1)?;
            args[1..].iter().try_fold(args[0].clone(), index)?
        }
        "print" => Value::Str(go_print(args)),
        "println" => Value::Str(
            args.iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join(" ")
                + "\n",
        ),
        "printf" => {
            at_least(1)?;
            let Value::Str(format) = &args[0] else {
                return Err(TemplateError("printf: format must be a string".into()));
            };
            Value::Str(printf(format, &args[1..]))
        }
        "json" => {
            want(1)?;
            Value::Str(args[0].to_json())
        }
        "join" => {
            want(2)?;
            match &args[0] {
                Value::List(l) => Value::Str(
                    l.iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(&args[1].to_string()),
                ),
                other => {
                    return Err(TemplateError(format!(
                        "join: {} is not a list",
                        other.type_name()
                    )))
                }
            }
        }
        "upper" => {
            want(1)?;
            Value::Str(args[0].to_string().to_uppercase())
        }
        "lower" => {
            want(1)?;
            Value::Str(args[0].to_string().to_lowercase())
        }
        other => return Err(TemplateError(format!("function \"{other}\" not defined"))),
    })
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x) | Value::Digest(x), Value::Str(y) | Value::Digest(y)) => x == y,
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, TemplateError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        _ => Err(TemplateError(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        ))),
    }
}

/// `index`: a list by position, a map by key (missing keys give the zero value "").
fn index(v: Value, key: &Value) -> Result<Value, TemplateError> {
    match (&v, key) {
        (Value::List(l), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|i| l.get(i).cloned())
            .ok_or_else(|| TemplateError(format!("index out of range: {i}"))),
        (Value::Map(m), Value::Str(k)) => {
            Ok(m.get(k).cloned().unwrap_or(Value::Str(String::new())))
        }
        _ => Err(TemplateError(format!(
            "can't index item of type {} with {}",
            v.type_name(),
            key.type_name()
        ))),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither is a string.
fn go_print(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && !is_str(v) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&v.to_string());
    }
    out
}

/// Go's `fmt.Sprintf` for the verbs scripts use: `%v %s %d %q %t %%`.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next();
        if verb == Some('%') {
            out.push('%');
            continue;
        }
        let Some(verb) = verb else {
            out.push_str("%!(NOVERB)");
            break;
        };
        match (verb, args.next()) {
            (_, None) => out.push_str(&format!("%!{verb}(MISSING)")),
            ('q', Some(v)) => {
                out.push_str(&serde_json::to_string(&v.to_string()).unwrap_or_default())
            }
            ('v' | 's' | 'd' | 't', Some(v)) => out.push_str(&v.to_string()),
            (_, Some(v)) => out.push_str(&format!("%!{verb}({v})")),
        }
    }
    out
}
