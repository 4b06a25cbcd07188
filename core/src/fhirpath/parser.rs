//! Lexer and recursive-descent parser: FHIRPath text → [`Node`] tree.
//!
//! Function names are resolved here, once, to [`Func`] so evaluation never looks at strings for
//! dispatch and an unknown function or a wrong argument count is a compile-time error with a
//! position, not a surprise at run time.

use super::FhirPathError;
use super::datetime::{DateTime, Time};
use super::decimal::Decimal;

/// Maximum nesting of the parse tree; deeper input is rejected instead of overflowing the stack.
pub const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// Backtick-delimited identifier: never a keyword.
    Delim(String),
    Str(String),
    Num(String),
    /// `@…` date or date-time literal text (without `@`).
    DateTime(String),
    /// `@T…` time literal text (without `@T`).
    Time(String),
    /// `%name`.
    Ext(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    Sym(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

const SYMS: &[&str] = &[
    "<=", ">=", "!=", "!~", ".", "[", "]", "(", ")", "{", "}", ",", "+", "-", "*", "/", "|", "&",
    "=", "~", "<", ">",
];

fn syntax(src: &str, pos: usize, message: impl Into<String>) -> FhirPathError {
    FhirPathError::syntax(src, pos, message)
}

fn lex(src: &str) -> Result<Vec<Token>, FhirPathError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let start = i;
            i += 2;
            loop {
                if i + 1 >= b.len() {
                    return Err(syntax(src, start, "unterminated comment: expected `*/`"));
                }
                if b[i] == b'*' && b[i + 1] == b'/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        let pos = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(src[pos..i].to_string()),
                pos,
            });
            continue;
        }
        if c.is_ascii_digit() {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Num(src[pos..i].to_string()),
                pos,
            });
            continue;
        }
        match c {
            b'\'' | b'`' => {
                let (s, end) = lex_quoted(src, i, c)?;
                i = end;
                out.push(Token {
                    tok: if c == b'`' {
                        Tok::Delim(s)
                    } else {
                        Tok::Str(s)
                    },
                    pos,
                });
            }
            b'@' => {
                i += 1;
                let start = i;
                let is_time = b.get(i) == Some(&b'T');
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'-' | b':' | b'+' | b'.'))
                {
                    // A `.` only continues the literal when followed by a digit (milliseconds),
                    // otherwise it is an invocation: `@2014.precision()`.
                    if b[i] == b'.' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        break;
                    }
                    // `+`/`-` only as part of a time zone or date separator.
                    if b[i] == b'+' && !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                        break;
                    }
                    i += 1;
                }
                let text = &src[start..i];
                if text.is_empty() {
                    return Err(syntax(
                        src,
                        pos,
                        "expected a date, date-time or time after `@`",
                    ));
                }
                if is_time {
                    out.push(Token {
                        tok: Tok::Time(text[1..].to_string()),
                        pos,
                    });
                } else {
                    out.push(Token {
                        tok: Tok::DateTime(text.to_string()),
                        pos,
                    });
                }
            }
            b'%' => {
                i += 1;
                let name = if b.get(i) == Some(&b'`') || b.get(i) == Some(&b'\'') {
                    let (s, end) = lex_quoted(src, i, b[i])?;
                    i = end;
                    s
                } else {
                    let s = i;
                    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                        i += 1;
                    }
                    if s == i {
                        return Err(syntax(src, pos, "expected a variable name after `%`"));
                    }
                    src[s..i].to_string()
                };
                out.push(Token {
                    tok: Tok::Ext(name),
                    pos,
                });
            }
            b'$' => {
                i += 1;
                let s = i;
                while i < b.len() && b[i].is_ascii_alphabetic() {
                    i += 1;
                }
                let name = &src[s..i];
                if !matches!(name, "this" | "index" | "total") {
                    return Err(syntax(src, pos, "expected `$this`, `$index` or `$total`"));
                }
                out.push(Token {
                    tok: Tok::Special(name.to_string()),
                    pos,
                });
            }
            _ => {
                let rest = &src[i..];
                let Some(sym) = SYMS.iter().find(|s| rest.starts_with(**s)) else {
                    let ch = rest.chars().next().unwrap_or('?');
                    return Err(syntax(src, pos, format!("unexpected character `{ch}`")));
                };
                i += sym.len();
                out.push(Token {
                    tok: Tok::Sym(sym),
                    pos,
                });
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

fn lex_quoted(src: &str, start: usize, q: u8) -> Result<(String, usize), FhirPathError> {
    let b = src.as_bytes();
    let mut i = start + 1;
    let mut s = String::new();
    loop {
        let Some(&c) = b.get(i) else {
            return Err(syntax(
                src,
                start,
                format!("unterminated literal: expected closing {}", q as char),
            ));
        };
        if c == q {
            return Ok((s, i + 1));
        }
        if c == b'\\' {
            let Some(&e) = b.get(i + 1) else {
                return Err(syntax(src, i, "unterminated escape"));
            };
            i += 2;
            match e {
                b'n' => s.push('\n'),
                b'r' => s.push('\r'),
                b't' => s.push('\t'),
                b'f' => s.push('\u{c}'),
                b'u' => {
                    let hex = src
                        .get(i..i + 4)
                        .ok_or_else(|| syntax(src, i, "expected 4 hex digits after \\u"))?;
                    let v = u32::from_str_radix(hex, 16)
                        .map_err(|_| syntax(src, i, "expected 4 hex digits after \\u"))?;
                    s.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += 4;
                }
                b'\\' | b'/' | b'"' | b'\'' | b'`' => s.push(e as char),
                _ => {
                    return Err(syntax(
                        src,
                        i - 2,
                        format!("invalid escape `\\{}`", e as char),
                    ));
                }
            }
            continue;
        }
        // copy one UTF-8 character
        let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
        s.push(ch);
        i += ch.len_utf8();
    }
}

/// A literal value in an expression.
#[derive(Debug, Clone)]
pub enum Lit {
    Empty,
    Bool(bool),
    Str(String),
    Int(i64),
    Dec(Decimal),
    Date(DateTime),
    DateTime(DateTime),
    Time(Time),
    Quantity(Decimal, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Or,
    Xor,
    Implies,
}

/// A (possibly namespace-qualified) type name: `Quantity`, `System.Integer`, `FHIR.Patient`.
#[derive(Debug, Clone)]
pub struct TypeSpec {
    pub namespace: Option<String>,
    pub name: String,
}

macro_rules! funcs {
    ($($v:ident = $n:literal ($min:literal, $max:literal)),* $(,)?) => {
        /// Every function the engine knows, resolved at compile time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $($v),* }
        impl Func {
            fn lookup(name: &str) -> Option<(Func, usize, usize)> {
                Some(match name { $($n => (Func::$v, $min, $max),)* _ => return None })
            }
            pub fn name(self) -> &'static str {
                match self { $(Func::$v => $n),* }
            }
        }
    };
}

funcs! {
    Empty = "empty"(0,0), Exists = "exists"(0,1), All = "all"(1,1), AllTrue = "allTrue"(0,0),
    AnyTrue = "anyTrue"(0,0), AllFalse = "allFalse"(0,0), AnyFalse = "anyFalse"(0,0),
    SubsetOf = "subsetOf"(1,1), SupersetOf = "supersetOf"(1,1), Count = "count"(0,0),
    Distinct = "distinct"(0,0), IsDistinct = "isDistinct"(0,0), Where = "where"(1,1),
    Select = "select"(1,1), Repeat = "repeat"(1,1), OfType = "ofType"(1,1), Single = "single"(0,0),
    First = "first"(0,0), Last = "last"(0,0), Tail = "tail"(0,0), Skip = "skip"(1,1), Take = "take"(1,1),
    Intersect = "intersect"(1,1), Exclude = "exclude"(1,1), Union = "union"(1,1), Combine = "combine"(1,1),
    Iif = "iif"(2,3), ToBoolean = "toBoolean"(0,0), ConvertsToBoolean = "convertsToBoolean"(0,0),
    ToInteger = "toInteger"(0,0), ConvertsToInteger = "convertsToInteger"(0,0),
    ToDecimal = "toDecimal"(0,0), ConvertsToDecimal = "convertsToDecimal"(0,0),
    ToStringF = "toString"(0,0), ConvertsToString = "convertsToString"(0,0),
    ToDate = "toDate"(0,0), ConvertsToDate = "convertsToDate"(0,0), ToDateTime = "toDateTime"(0,0),
    ConvertsToDateTime = "convertsToDateTime"(0,0), ToTime = "toTime"(0,0),
    ConvertsToTime = "convertsToTime"(0,0), ToQuantity = "toQuantity"(0,1),
    ConvertsToQuantity = "convertsToQuantity"(0,1), IndexOf = "indexOf"(1,1),
    Substring = "substring"(1,2), StartsWith = "startsWith"(1,1), EndsWith = "endsWith"(1,1),
    ContainsF = "contains"(1,1), Upper = "upper"(0,0), Lower = "lower"(0,0), Replace = "replace"(2,2),
    Matches = "matches"(1,1), MatchesFull = "matchesFull"(1,1), ReplaceMatches = "replaceMatches"(2,2),
    Length = "length"(0,0), ToChars = "toChars"(0,0), Trim = "trim"(0,0), Split = "split"(1,1),
    Join = "join"(0,1), Encode = "encode"(1,1), Decode = "decode"(1,1), Escape = "escape"(1,1),
    Unescape = "unescape"(1,1), Abs = "abs"(0,0), Ceiling = "ceiling"(0,0), Exp = "exp"(0,0),
    Floor = "floor"(0,0), Ln = "ln"(0,0), Log = "log"(1,1), Power = "power"(1,1), Round = "round"(0,1),
    Sqrt = "sqrt"(0,0), Truncate = "truncate"(0,0), Children = "children"(0,0),
    Descendants = "descendants"(0,0), Trace = "trace"(1,2), Now = "now"(0,0),
    TimeOfDay = "timeOfDay"(0,0), Today = "today"(0,0), Not = "not"(0,0), As = "as"(1,1), Is = "is"(1,1),
    Aggregate = "aggregate"(1,2), Type = "type"(0,0), Sort = "sort"(0,9), LowBoundary = "lowBoundary"(0,1),
    HighBoundary = "highBoundary"(0,1), Precision = "precision"(0,0), Comparable = "comparable"(1,1),
    Extension = "extension"(1,1), HasValue = "hasValue"(0,0), GetValue = "getValue"(0,0),
    Resolve = "resolve"(0,0), MemberOf = "memberOf"(1,1), ConformsTo = "conformsTo"(1,1),
    HtmlChecks = "htmlChecks"(0,0), HtmlChecks2 = "htmlchecks"(0,0), DefineVariable = "defineVariable"(1,2),
    Subsumes = "subsumes"(1,1), SubsumedBy = "subsumedBy"(1,1), ElementDefinition = "elementDefinition"(0,0),
    Slice = "slice"(2,2), CheckModifiers = "checkModifiers"(1,1),
}

/// A parsed expression tree.
///
/// `pos` fields keep each node's source offset for runtime error messages; not all errors use
/// them yet.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Node {
    Lit(Lit),
    /// A member name evaluated against the focus (`name` at the start of a path or after `.`).
    Member {
        target: Option<Box<Node>>,
        name: String,
        /// `_name`, precomputed for primitive-extension lookup.
        underscore: String,
        pos: usize,
        /// Set when this member and its targets are a path of member names
        /// (`Encounter.period.start`, `system`), the commonest FHIRPath: typed documents walk
        /// it straight through their records when locations are off.
        path: Option<Box<MemberPath>>,
    },
    Call {
        target: Option<Box<Node>>,
        func: Func,
        args: Vec<Node>,
        /// For `is`/`as`/`ofType`: the type argument.
        type_arg: Option<TypeSpec>,
        pos: usize,
    },
    Index(Box<Node>, Box<Node>),
    Neg(Box<Node>),
    Binary(BinOp, Box<Node>, Box<Node>),
    IsType(Box<Node>, TypeSpec),
    AsType(Box<Node>, TypeSpec),
    Var(String, usize),
    This,
    IndexVar,
    Total,
}

/// A path of member names, optionally led by the type name its focus must have.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberPath {
    pub type_name: Option<String>,
    pub names: Vec<String>,
}

impl MemberPath {
    /// The path of member `name` after `target`, when it is one: member names that start with
    /// a lower-case letter and have no other upper-case letter (so no choice-type JSON name,
    /// which is an error), after an optional leading type name.
    fn of(target: Option<&Node>, name: &str) -> Option<MemberPath> {
        let mut path = match target {
            Some(Node::Member { path: Some(p), .. }) => (**p).clone(),
            Some(_) => return None,
            None if name.starts_with(|c: char| c.is_ascii_uppercase())
                && name.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                return Some(MemberPath {
                    type_name: Some(name.to_owned()),
                    names: Vec::new(),
                });
            }
            None => MemberPath {
                type_name: None,
                names: Vec::new(),
            },
        };
        let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        plain.then(|| {
            path.names.push(name.to_owned());
            path
        })
    }
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

/// Parses an expression.
pub fn parse(src: &str) -> Result<Node, FhirPathError> {
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        i: 0,
        depth: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(syntax(src, 0, "expected an expression"));
    }
    let n = p.expr(0)?;
    if p.peek() != &Tok::Eof {
        let pos = p.pos();
        return Err(syntax(
            src,
            pos,
            format!(
                "unexpected {}: expected an operator or end of expression",
                p.describe()
            ),
        ));
    }
    Ok(n)
}

fn binop_info(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::Ident(s) => match s.as_str() {
            "implies" => (BinOp::Implies, 1),
            "or" => (BinOp::Or, 2),
            "xor" => (BinOp::Xor, 2),
            "and" => (BinOp::And, 3),
            "in" => (BinOp::In, 4),
            "contains" => (BinOp::Contains, 4),
            "div" => (BinOp::IntDiv, 10),
            "mod" => (BinOp::Mod, 10),
            _ => return None,
        },
        Tok::Sym(s) => match *s {
            "=" => (BinOp::Eq, 5),
            "~" => (BinOp::Equiv, 5),
            "!=" => (BinOp::Ne, 5),
            "!~" => (BinOp::NotEquiv, 5),
            "<" => (BinOp::Lt, 6),
            "<=" => (BinOp::Le, 6),
            ">" => (BinOp::Gt, 6),
            ">=" => (BinOp::Ge, 6),
            "|" => (BinOp::Union, 7),
            "+" => (BinOp::Add, 9),
            "-" => (BinOp::Sub, 9),
            "&" => (BinOp::Concat, 9),
            "*" => (BinOp::Mul, 10),
            "/" => (BinOp::Div, 10),
            _ => return None,
        },
        _ => return None,
    })
}

const CALENDAR_UNITS: &[&str] = &[
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

impl<'s> Parser<'s> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }
    fn bump(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn describe(&self) -> String {
        match self.peek() {
            Tok::Eof => "end of expression".into(),
            Tok::Ident(s) | Tok::Delim(s) => format!("`{s}`"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Num(s) => format!("number {s}"),
            Tok::DateTime(s) => format!("@{s}"),
            Tok::Time(s) => format!("@T{s}"),
            Tok::Ext(s) => format!("%{s}"),
            Tok::Special(s) => format!("${s}"),
            Tok::Sym(s) => format!("`{s}`"),
        }
    }
    fn expect_sym(&mut self, s: &'static str) -> Result<(), FhirPathError> {
        if self.peek() == &Tok::Sym(s) {
            self.bump();
            Ok(())
        } else {
            Err(syntax(
                self.src,
                self.pos(),
                format!("expected `{s}`, found {}", self.describe()),
            ))
        }
    }

    fn enter(&mut self) -> Result<(), FhirPathError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax(self.src, self.pos(), "expression nested too deeply"));
        }
        Ok(())
    }

    fn expr(&mut self, min_prec: u8) -> Result<Node, FhirPathError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        loop {
            // `is` / `as` with a type specifier (precedence 8)
            if let Tok::Ident(k) = self.peek()
                && (k == "is" || k == "as")
                && min_prec <= 8
            {
                let is = k == "is";
                self.bump();
                let tpos = self.pos();
                let ts = self.type_spec()?;
                check_type(&ts, tpos)?;
                lhs = if is {
                    Node::IsType(Box::new(lhs), ts)
                } else {
                    Node::AsType(Box::new(lhs), ts)
                };
                continue;
            }
            let Some((op, prec)) = binop_info(self.peek()) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.bump();
            if self.peek() == &Tok::Eof {
                return Err(syntax(
                    self.src,
                    self.pos(),
                    "expected an expression after the operator, found end of expression",
                ));
            }
            let rhs = self.expr(prec + 1)?;
            lhs = Node::Binary(op, Box::new(lhs), Box::new(rhs));
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn type_spec(&mut self) -> Result<TypeSpec, FhirPathError> {
        let first = self.ident_name()?;
        if self.peek() == &Tok::Sym(".") && matches!(self.peek_at(1), Tok::Ident(_) | Tok::Delim(_))
        {
            self.bump();
            let second = self.ident_name()?;
            return Ok(TypeSpec {
                namespace: Some(first),
                name: second,
            });
        }
        Ok(TypeSpec {
            namespace: None,
            name: first,
        })
    }

    fn ident_name(&mut self) -> Result<String, FhirPathError> {
        match self.peek().clone() {
            Tok::Ident(s) | Tok::Delim(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(syntax(
                self.src,
                self.pos(),
                format!("expected an identifier, found {}", self.describe()),
            )),
        }
    }

    fn unary(&mut self) -> Result<Node, FhirPathError> {
        match self.peek() {
            Tok::Sym("-") => {
                self.bump();
                self.enter()?;
                let n = self.unary()?;
                self.depth -= 1;
                Ok(Node::Neg(Box::new(n)))
            }
            Tok::Sym("+") => {
                self.bump();
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    fn postfix(&mut self) -> Result<Node, FhirPathError> {
        let mut n = self.term()?;
        loop {
            match self.peek() {
                Tok::Sym(".") => {
                    self.bump();
                    n = self.invocation(Some(n))?;
                }
                Tok::Sym("[") => {
                    self.bump();
                    let idx = self.expr(0)?;
                    self.expect_sym("]")?;
                    n = Node::Index(Box::new(n), Box::new(idx));
                }
                _ => return Ok(n),
            }
        }
    }

    fn invocation(&mut self, target: Option<Node>) -> Result<Node, FhirPathError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(name) | Tok::Delim(name) => {
                let delimited = matches!(self.peek(), Tok::Delim(_));
                self.bump();
                if !delimited && self.peek() == &Tok::Sym("(") {
                    return self.call(target, name, pos);
                }
                let path = MemberPath::of(target.as_ref(), &name).map(Box::new);
                Ok(Node::Member {
                    target: target.map(Box::new),
                    underscore: format!("_{name}"),
                    name,
                    pos,
                    path,
                })
            }
            Tok::Special(s) if target.is_none() => {
                self.bump();
                Ok(match s.as_str() {
                    "this" => Node::This,
                    "index" => Node::IndexVar,
                    _ => Node::Total,
                })
            }
            _ => Err(syntax(
                self.src,
                pos,
                format!(
                    "expected a member name or function call, found {}",
                    self.describe()
                ),
            )),
        }
    }

    fn call(
        &mut self,
        target: Option<Node>,
        name: String,
        pos: usize,
    ) -> Result<Node, FhirPathError> {
        self.expect_sym("(")?;
        let mut args = Vec::new();
        if self.peek() != &Tok::Sym(")") {
            loop {
                args.push(self.expr(0)?);
                if self.peek() == &Tok::Sym(",") {
                    self.bump();
                    continue;
                }
                break;
            }
        }
        self.expect_sym(")")?;
        let Some((func, min, max)) = Func::lookup(&name) else {
            return Err(FhirPathError::Semantic {
                offset: Some(pos),
                message: format!("unknown function `{name}`"),
            });
        };
        if args.len() < min || args.len() > max {
            return Err(FhirPathError::Semantic {
                offset: Some(pos),
                message: format!(
                    "function `{name}` takes {} argument(s), got {}",
                    if min == max {
                        min.to_string()
                    } else {
                        format!("{min}..{max}")
                    },
                    args.len()
                ),
            });
        }
        let type_arg = if matches!(func, Func::Is | Func::As | Func::OfType) {
            let ts = type_from_node(&args[0]).ok_or_else(|| FhirPathError::Semantic {
                offset: Some(pos),
                message: format!("`{name}` expects a type name"),
            })?;
            check_type(&ts, pos)?;
            Some(ts)
        } else {
            None
        };
        Ok(Node::Call {
            target: target.map(Box::new),
            func,
            args,
            type_arg,
            pos,
        })
    }

    fn term(&mut self) -> Result<Node, FhirPathError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Num(s) => {
                self.bump();
                let unit = match self.peek().clone() {
                    Tok::Str(u) => {
                        self.bump();
                        Some(u)
                    }
                    Tok::Ident(u) if CALENDAR_UNITS.contains(&u.as_str()) => {
                        self.bump();
                        Some(u)
                    }
                    _ => None,
                };
                let dec = || {
                    Decimal::parse(&s).ok_or_else(|| syntax(self.src, pos, "number out of range"))
                };
                if let Some(u) = unit {
                    return Ok(Node::Lit(Lit::Quantity(dec()?, u)));
                }
                if s.contains('.') {
                    Ok(Node::Lit(Lit::Dec(dec()?)))
                } else {
                    match s.parse::<i64>() {
                        Ok(v) => Ok(Node::Lit(Lit::Int(v))),
                        Err(_) => Ok(Node::Lit(Lit::Dec(dec()?))),
                    }
                }
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Node::Lit(Lit::Str(s)))
            }
            Tok::DateTime(s) => {
                self.bump();
                let Some((d, has_t)) = DateTime::parse(&s) else {
                    return Err(syntax(
                        self.src,
                        pos,
                        format!("invalid date/time literal `@{s}`"),
                    ));
                };
                Ok(Node::Lit(if has_t {
                    Lit::DateTime(d)
                } else {
                    Lit::Date(d)
                }))
            }
            Tok::Time(s) => {
                self.bump();
                let Some(t) = Time::parse(&s) else {
                    return Err(syntax(
                        self.src,
                        pos,
                        format!("invalid time literal `@T{s}`"),
                    ));
                };
                Ok(Node::Lit(Lit::Time(t)))
            }
            Tok::Ext(name) => {
                self.bump();
                Ok(Node::Var(name, pos))
            }
            Tok::Sym("(") => {
                self.bump();
                let e = self.expr(0)?;
                self.expect_sym(")")?;
                Ok(e)
            }
            Tok::Sym("{") => {
                self.bump();
                self.expect_sym("}")?;
                Ok(Node::Lit(Lit::Empty))
            }
            Tok::Ident(s) if s == "true" || s == "false" => {
                self.bump();
                Ok(Node::Lit(Lit::Bool(s == "true")))
            }
            Tok::Ident(_) | Tok::Delim(_) | Tok::Special(_) => self.invocation(None),
            _ => Err(syntax(
                self.src,
                pos,
                format!("expected an expression, found {}", self.describe()),
            )),
        }
    }
}

fn type_from_node(n: &Node) -> Option<TypeSpec> {
    match n {
        Node::Member {
            target: None, name, ..
        } => Some(TypeSpec {
            namespace: None,
            name: name.clone(),
        }),
        Node::Member {
            target: Some(t),
            name,
            ..
        } => match &**t {
            Node::Member {
                target: None,
                name: ns,
                ..
            } => Some(TypeSpec {
                namespace: Some(ns.clone()),
                name: name.clone(),
            }),
            _ => None,
        },
        _ => None,
    }
}

const SYSTEM_TYPES: &[&str] = &[
    "Boolean", "String", "Integer", "Long", "Decimal", "Date", "DateTime", "Time", "Quantity",
];

/// A type name must exist: System types, or FHIR types of the embedded definitions.
fn check_type(ts: &TypeSpec, pos: usize) -> Result<(), FhirPathError> {
    let defs = crate::definitions::Definitions::r4();
    let ok = match ts.namespace.as_deref() {
        // `System.Patient` is a well-formed question with the answer "no".
        Some("System") => true,
        Some("FHIR") => defs.type_def(&ts.name).is_some(),
        Some(_) => false,
        None => SYSTEM_TYPES.contains(&ts.name.as_str()) || defs.type_def(&ts.name).is_some(),
    };
    if ok {
        Ok(())
    } else {
        let q = match &ts.namespace {
            Some(ns) => format!("{ns}.{}", ts.name),
            None => ts.name.clone(),
        };
        Err(FhirPathError::Semantic {
            offset: Some(pos),
            message: format!("unknown type `{q}`"),
        })
    }
}
