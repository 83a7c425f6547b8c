//! Decoding a configuration block (JSON values) into a typed struct, with errors that
//! say which attribute is wrong and how, as data rather than prose. The host decodes
//! builders' configurations with it, and the guest SDK components' (so a component's
//! errors cross the WIT boundary by kind, see `configure.validate`).
//!
//! serde_json's own errors are English sentences that quote the offending value
//! (`invalid type: string "hunter2", expected u16`): a secret given to the wrong
//! attribute would be printed, and the attribute's name would have to be parsed back out
//! of the sentence. This deserializer reads `serde_json::Value`s itself, so that each
//! error is a [`Problem`] (unknown attribute with the expected names, missing attribute,
//! wrong type with the type found and the one expected) at a path of attribute names,
//! and a type error never carries the value.

use std::fmt;

pub mod duration;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};

/// What is wrong with one attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The attribute is not one of these.
    UnknownField {
        /// The names that are expected here.
        expected: Vec<String>,
    },
    /// A required attribute is missing.
    MissingField,
    /// The value has the wrong type: `found` is its kind (`a string`), `expected` what
    /// the attribute takes (`a number`, `a list`, `u16`).
    WrongType {
        /// The kind of value given, never the value.
        found: String,
        /// What the attribute takes.
        expected: String,
    },
    /// Anything else, in words (a duration that does not parse, a value out of range).
    Invalid(String),
}

/// A decoding error: the problem and the attribute path it is at (outermost first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Attribute names (and list indexes) from the block down to the offending value.
    pub path: Vec<String>,
    /// What is wrong.
    pub problem: Problem,
}

impl DecodeError {
    fn new(problem: Problem) -> Self {
        DecodeError {
            path: Vec::new(),
            problem,
        }
    }

    /// The error, one level further out: `segment` is prepended to its path.
    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.insert(0, segment.into());
        self
    }

    /// The block's attribute the error is about: the path's first element, or the
    /// unknown or missing attribute itself when it is at the top.
    pub fn field(&self) -> Option<&str> {
        self.path.first().map(String::as_str)
    }

    /// What is wrong, in words, without the attribute's name.
    pub fn message(&self) -> String {
        let inner = || {
            if self.path.len() > 1 {
                format!(" (at {})", self.path[1..].join("."))
            } else {
                String::new()
            }
        };
        match &self.problem {
            Problem::UnknownField { .. } => "is not a known attribute".to_owned(),
            Problem::MissingField => "is required".to_owned(),
            Problem::WrongType { found, expected } => {
                format!("must be {}, not {found}{}", article(expected), inner())
            }
            Problem::Invalid(m) => format!("{m}{}", inner()),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.field(), &self.problem) {
            (Some(field), Problem::Invalid(_)) => write!(f, "`{field}`: {}", self.message()),
            (Some(field), _) => write!(f, "`{field}` {}", self.message()),
            (None, _) => f.write_str(&self.message()),
        }
    }
}

impl std::error::Error for DecodeError {}

impl de::Error for DecodeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DecodeError::new(Problem::Invalid(msg.to_string()))
    }

    fn invalid_type(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(Problem::WrongType {
            found: kind_of(&unexp).to_owned(),
            expected: exp.to_string(),
        })
    }

    fn invalid_value(unexp: de::Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        DecodeError::new(Problem::Invalid(format!(
            "{} is not valid here: expected {exp}",
            kind_of(&unexp)
        )))
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        DecodeError::new(Problem::Invalid(format!(
            "has {len} elements, where {exp} are expected"
        )))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DecodeError::new(Problem::Invalid(format!(
            "{variant:?} is not one of {}",
            expected
                .iter()
                .map(|e| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DecodeError {
            path: vec![field.to_owned()],
            problem: Problem::UnknownField {
                expected: expected.iter().map(|e| (*e).to_owned()).collect(),
            },
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DecodeError {
            path: vec![field.to_owned()],
            problem: Problem::MissingField,
        }
    }
}

/// The kind of an unexpected value, without the value.
fn kind_of(unexp: &de::Unexpected<'_>) -> &'static str {
    use de::Unexpected as U;
    match unexp {
        U::Bool(_) => "a boolean",
        U::Unsigned(_) | U::Signed(_) | U::Float(_) => "a number",
        U::Char(_) | U::Str(_) => "a string",
        U::Bytes(_) => "bytes",
        U::Unit | U::Option => "null",
        U::NewtypeStruct | U::NewtypeVariant => "a value",
        U::Seq => "a list",
        U::Map => "an object",
        U::Enum | U::UnitVariant | U::TupleVariant | U::StructVariant => "a variant",
        U::Other(_) => "a value",
    }
}

/// `expected` as a noun phrase: serde's expectations are often bare type names.
fn article(expected: &str) -> String {
    let plain = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "a whole number"
        }
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" | "string" | "a borrowed string" => "a string",
        "a sequence" => "a list",
        "a map" => "an object",
        other => return other.to_owned(),
    };
    plain.to_owned()
}

/// Deserializes the attributes `config` into `T`.
pub fn decode<T: serde::de::DeserializeOwned>(
    config: &Map<String, Value>,
) -> Result<T, DecodeError> {
    T::deserialize(MapDe(config))
}

/// Deserializes the JSON text `json` (an object) into `T`; a text that is not JSON is
/// an error of kind [`Problem::Invalid`].
pub fn decode_str<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, DecodeError> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        DecodeError::new(Problem::Invalid(format!("not a JSON configuration: {e}")))
    })?;
    decode_value(&value)
}

/// Deserializes one value into `T`.
pub fn decode_value<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, DecodeError> {
    T::deserialize(ValueDe(value))
}

/// One JSON value, read by serde with [`DecodeError`]s.
struct ValueDe<'a>(&'a Value);

/// An object, as a map of attributes.
struct MapDe<'a>(&'a Map<String, Value>);

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, DecodeError> {
    if let Some(u) = n.as_u64() {
        visitor.visit_u64(u)
    } else if let Some(i) = n.as_i64() {
        visitor.visit_i64(i)
    } else {
        visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// `deserialize_*` methods for numbers, each reading a value through [`weak_number`].
macro_rules! weak_numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
                weak_number(self.0, visitor)
            }
        )*
    };
}

impl<'de, 'a> de::Deserializer<'de> for ValueDe<'a> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(SeqAccess {
                items: items.iter(),
                index: 0,
            }),
            Value::Object(map) => MapDe(map).deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Object(map) if map.len() == 1 => {
                let (variant, value) = map.iter().next().expect("one entry");
                visitor.visit_enum(EnumAccess { variant, value })
            }
            other => Err(de::Error::invalid_type(
                unexpected(other),
                &"a variant name",
            )),
        }
    }

    // Packer's weak typing: HCL converts strings to booleans and numbers and back, and
    // Packer decodes legacy JSON with mapstructure's weakly typed input (which also
    // takes a single value where a list is expected). A value that does not convert is
    // left to `deserialize_any`, whose error names the type found and the one expected.

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::String(s) => match parse_bool(s) {
                Some(b) => visitor.visit_bool(b),
                None => self.deserialize_any(visitor),
            },
            Value::Number(n) => visitor.visit_bool(n.as_f64() != Some(0.0)),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Number(n) => visitor.visit_string(n.to_string()),
            Value::Bool(b) => visitor.visit_str(if *b { "true" } else { "false" }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        match self.0 {
            Value::Null | Value::Array(_) => self.deserialize_any(visitor),
            single => visitor.visit_seq(SeqAccess {
                items: std::slice::from_ref(single).iter(),
                index: 0,
            }),
        }
    }

    weak_numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct tuple tuple_struct map struct identifier
        ignored_any
    }
}

/// A boolean as Go's `strconv.ParseBool` reads one.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A number written as a string (`"2048"`, `"-1"`, `"0.5"`), or a boolean as 1 or 0.
fn weak_number<'de, V: Visitor<'de>>(value: &Value, visitor: V) -> Result<V::Value, DecodeError> {
    match value {
        Value::String(s) => {
            let t = s.trim();
            if let Ok(u) = t.parse::<u64>() {
                visitor.visit_u64(u)
            } else if let Ok(i) = t.parse::<i64>() {
                visitor.visit_i64(i)
            } else if let Some(f) = t.parse::<f64>().ok().filter(|f| f.is_finite()) {
                visitor.visit_f64(f)
            } else {
                de::Deserializer::deserialize_any(ValueDe(value), visitor)
            }
        }
        Value::Bool(b) => visitor.visit_u64(u64::from(*b)),
        _ => de::Deserializer::deserialize_any(ValueDe(value), visitor),
    }
}

impl<'de, 'a> de::Deserializer<'de> for MapDe<'a> {
    type Error = DecodeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DecodeError> {
        visitor.visit_map(MapAccess {
            entries: self.0.iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        struct enum identifier ignored_any
    }
}

fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(_) => de::Unexpected::Float(0.0),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct SeqAccess<'a> {
    items: std::slice::Iter<'a, Value>,
    index: usize,
}

impl<'de, 'a> de::SeqAccess<'de> for SeqAccess<'a> {
    type Error = DecodeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DecodeError> {
        match self.items.next() {
            Some(v) => {
                let index = self.index;
                self.index += 1;
                seed.deserialize(ValueDe(v))
                    .map(Some)
                    .map_err(|e| e.at(format!("[{index}]")))
            }
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<(&'a str, &'a Value)>,
}

impl<'de, 'a> de::MapAccess<'de> for MapAccess<'a> {
    type Error = DecodeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DecodeError> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some((k, v));
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, DecodeError> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| DecodeError::new(Problem::Invalid("a value without its key".into())))?;
        seed.deserialize(ValueDe(value)).map_err(|e| e.at(key))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess<'a> {
    variant: &'a str,
    value: &'a Value,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = DecodeError;
    type Variant = VariantAccess<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantAccess<'a>), DecodeError> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, VariantAccess(self.value)))
    }
}

struct VariantAccess<'a>(&'a Value);

impl<'de, 'a> de::VariantAccess<'de> for VariantAccess<'a> {
    type Error = DecodeError;

    fn unit_variant(self) -> Result<(), DecodeError> {
        de::Deserialize::deserialize(ValueDe(self.0))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, DecodeError> {
        seed.deserialize(ValueDe(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_any(ValueDe(self.0), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DecodeError> {
        de::Deserializer::deserialize_any(ValueDe(self.0), visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        port: u16,
        #[serde(default)]
        names: Vec<String>,
        #[serde(default)]
        nested: Option<Nested>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Nested {
        flag: bool,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Slow,
    }

    fn decode_json(v: serde_json::Value) -> Result<Config, DecodeError> {
        decode(v.as_object().unwrap())
    }

    #[test]
    fn values_decode() {
        let c = decode_json(
            json!({"port": 22, "names": ["a"], "nested": {"flag": true}, "mode": "slow"}),
        )
        .unwrap();
        assert_eq!(c.port, 22);
        assert_eq!(c.names, ["a"]);
        assert_eq!(c.nested, Some(Nested { flag: true }));
        assert_eq!(c.mode, Some(Mode::Slow));
    }

    /// Regression: `ssh_port = var.pw` printed `invalid type: string "hunter2..."`.
    #[test]
    fn a_type_error_names_the_attribute_and_never_the_value() {
        let e = decode_json(json!({"port": "hunter2"})).unwrap_err();
        assert_eq!(e.field(), Some("port"));
        assert_eq!(
            e.problem,
            Problem::WrongType {
                found: "a string".into(),
                expected: "u16".into()
            }
        );
        assert_eq!(e.to_string(), "`port` must be a whole number, not a string");
        let e = decode_json(json!({"port": 22, "names": ["a", [31337]]})).unwrap_err();
        assert_eq!(e.path, ["names", "[1]"]);
        assert!(!e.to_string().contains("31337"), "{e}");
        let e = decode_json(json!({"port": 99999})).unwrap_err();
        assert!(!e.to_string().contains("99999"), "{e}");
        assert_eq!(e.field(), Some("port"));
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Weak {
        headless: bool,
        cpus: u32,
        ratio: f64,
        name: String,
        inline: Vec<String>,
    }

    #[test]
    fn strings_convert_to_booleans_and_numbers_as_packer_converts_them() {
        let w: Weak = decode_value(&json!({
            "headless": "true", "cpus": "2", "ratio": "0.5", "name": 7, "inline": "echo hello"
        }))
        .unwrap();
        assert_eq!(
            w,
            Weak {
                headless: true,
                cpus: 2,
                ratio: 0.5,
                name: "7".into(),
                inline: vec!["echo hello".into()],
            }
        );
        let w: Weak = decode_value(&json!({
            "headless": "0", "cpus": true, "ratio": 1, "name": false, "inline": ["a", 1]
        }))
        .unwrap();
        assert_eq!((w.headless, w.cpus, w.name.as_str()), (false, 1, "false"));
        assert_eq!(w.inline, ["a", "1"]);
        // What does not convert is still a type error naming the attribute.
        let e = decode_value::<Weak>(&json!({
            "headless": "yes", "cpus": 1, "ratio": 1, "name": "n", "inline": []
        }))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`headless` must be true or false, not a string"
        );
        let e = decode_json(json!({"port": "-1"})).unwrap_err();
        assert_eq!(e.field(), Some("port"));
    }

    #[test]
    fn unknown_and_missing_attributes_are_kinds() {
        let e = decode_json(json!({"port": 1, "prot": 2})).unwrap_err();
        assert_eq!(e.field(), Some("prot"));
        assert!(
            matches!(&e.problem, Problem::UnknownField { expected } if expected.contains(&"port".to_owned()))
        );
        let e = decode_json(json!({})).unwrap_err();
        assert_eq!(
            (e.field(), &e.problem),
            (Some("port"), &Problem::MissingField)
        );
        let e = decode_json(json!({"port": 1, "nested": {"flag": "yes"}})).unwrap_err();
        assert_eq!(e.path, ["nested", "flag"]);
        assert_eq!(e.message(), "must be true or false, not a string (at flag)");
        let e = decode_json(json!({"port": 1, "mode": "medium"})).unwrap_err();
        assert_eq!(e.field(), Some("mode"));
    }
}

#[cfg(test)]
mod str_tests {
    #[test]
    fn text_decodes_as_values_do() {
        #[derive(serde::Deserialize)]
        struct C {
            #[allow(dead_code)]
            n: u8,
        }
        let e = super::decode_str::<C>(r#"{"n": "x"}"#).err().unwrap();
        assert_eq!(e.field(), Some("n"));
        assert!(super::decode_str::<C>("{").is_err());
    }
}
