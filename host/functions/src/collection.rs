//! Collection functions: alltrue, anytrue, chunklist, coalesce, coalescelist, compact,
//! concat, contains, distinct, element, flatten, index, keys, length, lookup, merge,
//! range, reverse, setintersection, setproduct, setunion, slice, sort, values, zipmap.
//!
//! HCL values have no set type: functions that return a set return a list without
//! duplicates, ordered as cty orders sets (see [`args::set_of`]).

use hcl::eval::FuncArgs;
use hcl::{Map, Value};
use unicode_segmentation::UnicodeSegmentation;

use super::args::{self, invalid, kind, list, num, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    alltrue(1) anytrue(1) chunklist(2) coalesce(0..) coalescelist(0..) compact(1)
    concat(0..) contains(2) distinct(1) element(2) flatten(1) index(2) keys(1) length(1)
    lookup(2..) merge(0..) range(0..) reverse(1) setintersection(1..) setproduct(0..)
    setunion(1..) slice(3) sort(1) values(1) zipmap(2)
};

fn alltrue(args: FuncArgs) -> Result<Value> {
    let mut all = true;
    for item in list(&args[0], "list")? {
        all &= !item.is_null() && args::boolean(item, "list")?;
    }
    Ok(Value::Bool(all))
}

fn anytrue(args: FuncArgs) -> Result<Value> {
    let mut any = false;
    for item in list(&args[0], "list")? {
        any |= !item.is_null() && args::boolean(item, "list")?;
    }
    Ok(Value::Bool(any))
}

fn chunklist(args: FuncArgs) -> Result<Value> {
    let items = list(&args[0], "list")?;
    let size = args::int(&args[1], "size")?;
    let size =
        usize::try_from(size).map_err(|_| invalid("size", "the size argument must be positive"))?;
    if items.is_empty() {
        return Ok(Value::Array(vec![]));
    }
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(items.to_vec())]));
    }
    Ok(Value::Array(
        items
            .chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

/// The first argument that is not null (nor, when the arguments are strings, empty).
/// Mixed primitive kinds are unified to strings, as cty does.
fn coalesce(args: FuncArgs) -> Result<Value> {
    let present: Vec<&Value> = args.iter().filter(|a| !a.is_null()).collect();
    let mut kinds: Vec<&str> = present.iter().map(|v| kind(v)).collect();
    kinds.dedup();
    let primitive = present
        .iter()
        .all(|v| matches!(v, Value::Bool(_) | Value::Number(_) | Value::String(_)));
    let as_strings = primitive && (kinds.len() > 1 || kinds == ["string"]);
    if kinds.len() > 1 && !primitive {
        return Err("all arguments must have the same type".to_owned());
    }
    for value in present {
        if !as_strings {
            return Ok(value.clone());
        }
        let s = args::string(value, "vals")?;
        if !s.is_empty() {
            return Ok(Value::String(s));
        }
    }
    Err("no non-null, non-empty-string arguments".to_owned())
}

fn coalescelist(args: FuncArgs) -> Result<Value> {
    if args.is_empty() {
        return Err("at least one argument is required".to_owned());
    }
    for arg in args.iter() {
        match arg {
            Value::Null => continue,
            Value::Array(items) if items.is_empty() => continue,
            Value::Array(_) => return Ok(arg.clone()),
            _ => return Err("coalescelist arguments must be lists or tuples".to_owned()),
        }
    }
    Err("no non-null arguments".to_owned())
}

fn compact(args: FuncArgs) -> Result<Value> {
    let mut out = Vec::new();
    for item in list(&args[0], "list")? {
        if !item.is_null() {
            let s = args::string(item, "list")?;
            if !s.is_empty() {
                out.push(Value::String(s));
            }
        }
    }
    Ok(Value::Array(out))
}

fn concat(args: FuncArgs) -> Result<Value> {
    if args.is_empty() {
        return Err("at least one argument is required".to_owned());
    }
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        match arg {
            Value::Array(items) => out.extend(items.iter().cloned()),
            other => {
                return Err(format!(
                    "all arguments must be lists or tuples; argument {} is {}",
                    i + 1,
                    kind(other)
                ))
            }
        }
    }
    Ok(Value::Array(out))
}

fn contains(args: FuncArgs) -> Result<Value> {
    let items = match &args[0] {
        Value::Array(items) => items,
        Value::Null => return Err("cannot search a nil list or set".to_owned()),
        _ => return Err("argument must be list, tuple, or set".to_owned()),
    };
    Ok(Value::Bool(items.contains(&args[1])))
}

fn distinct(args: FuncArgs) -> Result<Value> {
    let mut out: Vec<Value> = Vec::new();
    for item in list(&args[0], "list")? {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    Ok(Value::Array(out))
}

/// `element(list, index)`: the index wraps around the list's length. A negative index is
/// an error, as in the cty release Packer pins (v1.13).
fn element(args: FuncArgs) -> Result<Value> {
    let items = match &args[0] {
        Value::Array(items) => items,
        other => return Err(format!("cannot read elements from {}", kind(other))),
    };
    let index = args::int(&args[1], "index")?;
    if index < 0 {
        return Err(invalid(
            "index",
            "cannot use element function with a negative index",
        ));
    }
    if items.is_empty() {
        return Err("cannot use element function with an empty list".to_owned());
    }
    Ok(items[index as usize % items.len()].clone())
}

fn flatten(args: FuncArgs) -> Result<Value> {
    fn into(items: &[Value], out: &mut Vec<Value>) {
        for item in items {
            match item {
                Value::Array(inner) => into(inner, out),
                other => out.push(other.clone()),
            }
        }
    }
    let items = match &args[0] {
        Value::Array(items) => items,
        _ => return Err("can only flatten lists, sets and tuples".to_owned()),
    };
    let mut out = Vec::new();
    into(items, &mut out);
    Ok(Value::Array(out))
}

/// `index(list, value)`: Packer's own, the position of the first equal element.
fn index(args: FuncArgs) -> Result<Value> {
    let items = match &args[0] {
        Value::Array(items) => items,
        _ => return Err("argument must be a list or tuple".to_owned()),
    };
    if items.is_empty() {
        return Err("cannot search an empty list".to_owned());
    }
    match items.iter().position(|item| item == &args[1]) {
        Some(i) => Ok(Value::from(i)),
        None => Err("item not found".to_owned()),
    }
}

fn sorted_entries(v: &Value) -> Result<Vec<(&String, &Value)>> {
    let map = match v {
        Value::Object(map) => map,
        _ => return Err(invalid("inputMap", "must have map or object type")),
    };
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    Ok(entries)
}

/// `keys(map)`, in lexicographical order.
fn keys(args: FuncArgs) -> Result<Value> {
    Ok(Value::Array(
        sorted_entries(&args[0])?
            .into_iter()
            .map(|(k, _)| Value::from(k.clone()))
            .collect(),
    ))
}

/// `values(map)`, in the lexicographical order of their keys.
fn values(args: FuncArgs) -> Result<Value> {
    Ok(Value::Array(
        sorted_entries(&args[0])?
            .into_iter()
            .map(|(_, v)| v.clone())
            .collect(),
    ))
}

/// `length(value)`: grapheme clusters of a string, elements of a collection.
fn length(args: FuncArgs) -> Result<Value> {
    match &args[0] {
        Value::String(s) => Ok(Value::from(s.graphemes(true).count())),
        Value::Array(items) => Ok(Value::from(items.len())),
        Value::Object(map) => Ok(Value::from(map.len())),
        Value::Null => Err(invalid("value", "argument must not be null")),
        _ => Err("argument must be a string, a collection type, or a structural type".to_owned()),
    }
}

/// `lookup(map, key, default)`; without a default a missing key is an error.
fn lookup(args: FuncArgs) -> Result<Value> {
    args::at_most(&args, 3)?;
    let map = match &args[0] {
        Value::Object(map) => map,
        _ => {
            return Err(invalid(
                "inputMap",
                "lookup() requires a map as the first argument",
            ))
        }
    };
    let key = args::string(&args[1], "key")?;
    match (map.get(&key), args.get(2)) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(invalid(
            "inputMap",
            format!("the given object has no attribute {key:?}"),
        )),
    }
}

/// `merge(maps...)`: later maps win; null arguments are skipped.
fn merge(args: FuncArgs) -> Result<Value> {
    let mut out = Map::new();
    for arg in args.iter() {
        match arg {
            Value::Null => {}
            Value::Object(map) => out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone()))),
            other => {
                return Err(format!(
                    "arguments must be maps or objects, got {:?}",
                    kind(other)
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

/// `range(end)`, `range(start, end)` or `range(start, end, step)`; at most 1024 values.
fn range(args: FuncArgs) -> Result<Value> {
    let nums = args
        .iter()
        .map(|a| args::number(a, "params"))
        .collect::<Result<Vec<f64>>>()?;
    let (start, end, step) = match nums[..] {
        [end] => (0.0, end, if end < 0.0 { -1.0 } else { 1.0 }),
        [start, end] => (start, end, if end < start { -1.0 } else { 1.0 }),
        [start, end, step] => (start, end, step),
        _ => return Err("must have one, two, or three arguments".to_owned()),
    };
    if step == 0.0 {
        return Err(invalid("step", "step must not be zero"));
    }
    if step < 0.0 && end > start {
        return Err(invalid(
            "end",
            "end must be less than start when step is negative",
        ));
    }
    if step > 0.0 && end < start {
        return Err(invalid(
            "end",
            "end must be greater than start when step is positive",
        ));
    }
    let mut out = Vec::new();
    let mut n = start;
    while (step > 0.0 && n < end) || (step < 0.0 && n > end) {
        if out.len() >= 1024 {
            return Err("more than 1024 values were generated; either decrease the \
                        difference between start and end or use a smaller step"
                .to_owned());
        }
        out.push(num(n)?);
        n += step;
    }
    Ok(Value::Array(out))
}

fn reverse(args: FuncArgs) -> Result<Value> {
    match &args[0] {
        Value::Array(items) => Ok(Value::Array(items.iter().rev().cloned().collect())),
        other => Err(invalid(
            "list",
            format!("can only reverse list or tuple values, not {}", kind(other)),
        )),
    }
}

fn sets(args: &[Value]) -> Result<Vec<&[Value]>> {
    args.iter()
        .enumerate()
        .map(|(i, a)| list(a, &format!("sets[{i}]")))
        .collect()
}

fn setunion(args: FuncArgs) -> Result<Value> {
    let all = sets(&args)?;
    Ok(Value::Array(args::set_of(
        all.into_iter().flatten().cloned(),
    )))
}

fn setintersection(args: FuncArgs) -> Result<Value> {
    let all = sets(&args)?;
    let (first, rest) = all
        .split_first()
        .expect("setintersection has one parameter");
    Ok(Value::Array(args::set_of(
        first
            .iter()
            .filter(|item| rest.iter().all(|set| set.contains(item)))
            .cloned(),
    )))
}

/// `setproduct(sets...)`: every combination, the first argument varying slowest.
fn setproduct(args: FuncArgs) -> Result<Value> {
    if args.len() < 2 {
        return Err("at least two arguments are required".to_owned());
    }
    let sets = sets(&args)?;
    let size = sets
        .iter()
        .try_fold(1u64, |n, set| n.checked_mul(set.len() as u64))
        .unwrap_or(u64::MAX);
    if size > super::eval::MAX_ITERATIONS {
        return Err(format!(
            "the product holds {size} elements, more than the {} Kiln makes",
            super::eval::MAX_ITERATIONS
        ));
    }
    let mut product: Vec<Vec<Value>> = vec![vec![]];
    for set in sets {
        product = product
            .iter()
            .flat_map(|prefix| {
                set.iter().map(move |item| {
                    let mut row = prefix.clone();
                    row.push(item.clone());
                    row
                })
            })
            .collect();
    }
    Ok(Value::Array(
        product.into_iter().map(Value::Array).collect(),
    ))
}

fn slice(args: FuncArgs) -> Result<Value> {
    let items = match &args[0] {
        Value::Array(items) => items,
        _ => return Err(invalid("list", "must be a list or tuple value")),
    };
    let start = args::int(&args[1], "start_index")?;
    let end = args::int(&args[2], "end_index")?;
    let len = items.len() as i64;
    let check = |param: &str, what: &str, i: i64| match i {
        i if i < 0 => Err(invalid(param, format!("{what} must not be less than zero"))),
        i if i > len => Err(invalid(
            param,
            format!("{what} must not be greater than the length of the list"),
        )),
        _ => Ok(()),
    };
    check("start_index", "start index", start)?;
    check("end_index", "end index", end)?;
    if start > end {
        return Err(invalid(
            "start_index",
            "start index must not be greater than end index",
        ));
    }
    Ok(Value::Array(items[start as usize..end as usize].to_vec()))
}

/// `sort(list)`: the elements as strings, in lexicographical order.
fn sort(args: FuncArgs) -> Result<Value> {
    let items = list(&args[0], "list")?;
    if let Some(i) = items.iter().position(Value::is_null) {
        return Err(format!(
            "given list element {i} is null; a null string cannot be sorted"
        ));
    }
    let mut strings = args::strings(&args[0], "list")?;
    strings.sort();
    Ok(Value::Array(strings.into_iter().map(Value::from).collect()))
}

fn zipmap(args: FuncArgs) -> Result<Value> {
    let keys = list(&args[0], "keys")?;
    let values = list(&args[1], "values")?;
    if keys.len() != values.len() {
        return Err(format!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        ));
    }
    let mut out = Map::new();
    for (i, (k, v)) in keys.iter().zip(values).enumerate() {
        if k.is_null() {
            return Err(invalid(
                "keys",
                format!("keys list has null value at index {i}"),
            ));
        }
        out.insert(args::string(k, "keys")?, v.clone());
    }
    Ok(Value::Object(out))
}
