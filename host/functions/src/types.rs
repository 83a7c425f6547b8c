//! Type conversion and errors: `convert`, and the `try` and `can` that hcl-rs calls where
//! [`super::evaluate`] could not rewrite them (inside `for` expressions).

use std::fmt;

use hcl::eval::FuncArgs;
use hcl::expr::Expression;
use hcl::{Map, ObjectKey, Value};

use super::args::{self, kind, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    convert(2) "try" = try_first(0..) "can" = can_always(1)
};

/// A type constraint, as written in `convert(value, list(string))` or a variable's `type`.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Type {
    Any,
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Tuple(Vec<Type>),
    Object(Vec<Attribute>),
}

/// One attribute of an `object({...})` type.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Attribute {
    name: String,
    ty: Type,
    /// `optional(type)` or `optional(type, default)`.
    optional: Option<Value>,
}

const TYPE_REQUIRED: &str =
    "a type specification is required, such as string, list(number) or object({name = string})";

impl Type {
    /// Reads a type expression.
    pub(super) fn parse(expr: &Expression) -> Result<Type> {
        match expr {
            Expression::Variable(keyword) => match keyword.as_str() {
                "any" => Ok(Type::Any),
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                name @ ("list" | "set" | "map" | "tuple" | "object") => Err(format!(
                    "the {name} type constraint requires an argument specifying its element types"
                )),
                other => Err(format!(
                    "the keyword \"{other}\" is not a valid type specification"
                )),
            },
            Expression::Parenthesis(inner) => Type::parse(inner),
            Expression::FuncCall(call) if !call.name.is_namespaced() => {
                let name = call.name.name.as_str();
                match (name, call.args.as_slice()) {
                    ("list", [elem]) => Ok(Type::List(Box::new(Type::parse(elem)?))),
                    ("set", [elem]) => Ok(Type::Set(Box::new(Type::parse(elem)?))),
                    ("map", [elem]) => Ok(Type::Map(Box::new(Type::parse(elem)?))),
                    ("tuple", [Expression::Array(elems)]) => {
                        elems.iter().map(Type::parse).collect::<Result<_>>().map(Type::Tuple)
                    }
                    ("object", [Expression::Object(attrs)]) => attrs
                        .iter()
                        .map(|(key, value)| Attribute::parse(key, value))
                        .collect::<Result<_>>()
                        .map(Type::Object),
                    ("list" | "set" | "map", _) => Err(format!(
                        "the {name} type constructor requires one argument specifying the element type"
                    )),
                    ("tuple", _) => Err(
                        "the tuple type constructor requires a list of element types".to_owned(),
                    ),
                    ("object", _) => Err(
                        "the object type constructor requires an object of attribute types"
                            .to_owned(),
                    ),
                    ("optional", _) => {
                        Err("optional(...) is only allowed for an object's attributes".to_owned())
                    }
                    _ => Err(format!(
                        "\"{name}\" is not a type constructor; {TYPE_REQUIRED}"
                    )),
                }
            }
            _ => Err(TYPE_REQUIRED.to_owned()),
        }
    }
}

impl Attribute {
    fn parse(key: &ObjectKey, value: &Expression) -> Result<Attribute> {
        let name = match key {
            ObjectKey::Identifier(ident) => ident.to_string(),
            ObjectKey::Expression(Expression::Variable(var)) => var.as_str().to_owned(),
            ObjectKey::Expression(Expression::String(s)) => s.clone(),
            other => return Err(format!("invalid object attribute name {other:?}")),
        };
        if let Expression::FuncCall(call) = value {
            if call.name.name.as_str() == "optional" && !call.name.is_namespaced() {
                let (ty, default) = match call.args.as_slice() {
                    [ty] => (ty, Value::Null),
                    [ty, default] => (ty, literal(default)?),
                    _ => {
                        return Err(
                            "optional(...) takes a type and, optionally, a default value"
                                .to_owned(),
                        )
                    }
                };
                let ty = Type::parse(ty)?;
                let default = convert_value(&default, &ty)
                    .map_err(|e| format!("invalid default for attribute \"{name}\": {e}"))?;
                return Ok(Attribute {
                    name,
                    ty,
                    optional: Some(default),
                });
            }
        }
        Ok(Attribute {
            name,
            ty: Type::parse(value)?,
            optional: None,
        })
    }
}

fn literal(expr: &Expression) -> Result<Value> {
    use hcl::eval::Evaluate;
    expr.evaluate(&hcl::eval::Context::new())
        .map_err(|e| format!("an optional attribute's default must be a literal value: {e}"))
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::List(elem) => write!(f, "list({elem})"),
            Type::Set(elem) => write!(f, "set({elem})"),
            Type::Map(elem) => write!(f, "map({elem})"),
            Type::Tuple(elems) => {
                let elems: Vec<String> = elems.iter().map(Type::to_string).collect();
                write!(f, "tuple([{}])", elems.join(", "))
            }
            Type::Object(attrs) => {
                let attrs: Vec<String> = attrs.iter().map(Attribute::to_string).collect();
                write!(f, "object({{{}}})", attrs.join(", "))
            }
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Expression::String(self.name.clone());
        match &self.optional {
            None => write!(f, "{name} = {}", self.ty),
            Some(Value::Null) => write!(f, "{name} = optional({})", self.ty),
            Some(default) => write!(
                f,
                "{name} = optional({}, {})",
                self.ty,
                Expression::from(default.clone())
            ),
        }
    }
}

/// The type argument of a `convert` call, as the string [`convert`] reads back.
pub(super) fn type_argument(expr: &Expression) -> Result<Expression> {
    let ty = match expr {
        Expression::String(text) => parse_type_text(text)?,
        other => Type::parse(other)?,
    };
    Ok(Expression::String(ty.to_string()))
}

/// Converts `v` to the type written as `type_text` (a variable's `type`, e.g.
/// `list(string)`), as cty converts.
pub fn convert_to(v: &Value, type_text: &str) -> Result<Value> {
    convert_value(v, &parse_type_text(type_text)?)
}

fn parse_type_text(text: &str) -> Result<Type> {
    let expr: Expression = text
        .parse()
        .map_err(|_| format!("{text:?} is not a type; {TYPE_REQUIRED}"))?;
    Type::parse(&expr)
}

/// `convert(value, type)`.
fn convert(args: FuncArgs) -> Result<Value> {
    let ty = match &args[1] {
        Value::String(text) => parse_type_text(text)?,
        _ => return Err(args::invalid("type", TYPE_REQUIRED)),
    };
    convert_value(&args[0], &ty).map_err(|e| args::invalid("value", e))
}

/// Converts `v` to `ty` as cty does: primitives convert between one another where the
/// text allows, collections convert element by element, objects drop attributes the type
/// does not name and fill optional ones.
pub(super) fn convert_value(v: &Value, ty: &Type) -> Result<Value> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        Type::Any => Ok(v.clone()),
        Type::String => match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => {
                args::string(v, "value").map(Value::String)
            }
            _ => Err(format!("string required, got {}", kind(v))),
        },
        Type::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => args::parse_number(s)
                .ok_or_else(|| {
                    format!(
                        "cannot convert {s:?} to number; \
                         given string must be a decimal representation of a number"
                    )
                })
                .and_then(args::num),
            _ => Err(format!("number required, got {}", kind(v))),
        },
        Type::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            Value::String(s) => Err(format!(
                "cannot convert {s:?} to bool; only the strings \"true\" or \"false\" are allowed"
            )),
            _ => Err(format!("bool required, got {}", kind(v))),
        },
        Type::List(elem) | Type::Set(elem) => {
            let Value::Array(items) = v else {
                return Err(format!("{ty} required, got {}", kind(v)));
            };
            let items = items
                .iter()
                .enumerate()
                .map(|(i, item)| convert_value(item, elem).map_err(|e| format!("element {i}: {e}")))
                .collect::<Result<Vec<_>>>()?;
            match ty {
                Type::Set(_) => Ok(Value::Array(args::set_of(items))),
                _ => Ok(Value::Array(items)),
            }
        }
        Type::Tuple(elems) => match v {
            Value::Array(items) if items.len() == elems.len() => items
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (item, elem))| {
                    convert_value(item, elem).map_err(|e| format!("element {i}: {e}"))
                })
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            Value::Array(items) => Err(format!(
                "tuple required with {} elements, got {}",
                elems.len(),
                items.len()
            )),
            _ => Err(format!("{ty} required, got {}", kind(v))),
        },
        Type::Map(elem) => {
            let Value::Object(map) = v else {
                return Err(format!("{ty} required, got {}", kind(v)));
            };
            map.iter()
                .map(|(k, item)| {
                    convert_value(item, elem)
                        .map(|item| (k.clone(), item))
                        .map_err(|e| format!("element {k:?}: {e}"))
                })
                .collect::<Result<Map<_, _>>>()
                .map(Value::Object)
        }
        Type::Object(attrs) => {
            let Value::Object(map) = v else {
                return Err(format!("object required, got {}", kind(v)));
            };
            let mut out = Map::new();
            for attr in attrs {
                let value = match (map.get(&attr.name), &attr.optional) {
                    (Some(Value::Null) | None, Some(default)) => default.clone(),
                    (Some(item), _) => convert_value(item, &attr.ty)
                        .map_err(|e| format!("attribute {:?}: {e}", attr.name))?,
                    (None, None) => {
                        return Err(format!("attribute {:?} is required", attr.name));
                    }
                };
                out.insert(attr.name.clone(), value);
            }
            Ok(Value::Object(out))
        }
    }
}

/// `try(...)` where its arguments all evaluated: the first one.
fn try_first(args: FuncArgs) -> Result<Value> {
    args.first()
        .cloned()
        .ok_or_else(|| "at least one argument is required".to_owned())
}

/// `can(value)` where its argument evaluated: true.
fn can_always(_: FuncArgs) -> Result<Value> {
    Ok(Value::Bool(true))
}
