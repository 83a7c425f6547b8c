//! Hash, crypto and UUID functions: bcrypt, md5, sha1, sha256, sha512, uuidv4, uuidv5.
//! Hashes are of the string's UTF-8 bytes, in lower-case hexadecimal.

use hcl::eval::FuncArgs;
use hcl::Value;
use kiln_core::artifact::hex;
use sha2::Digest;

use super::args::{self, invalid, string, Result};
use super::Def;

pub(super) const FUNCTIONS: &[Def] = super::table! {
    bcrypt(1..) md5(1) sha1(1) sha256(1) sha512(1) uuidv4(0) uuidv5(2)
};

fn digest<D: Digest>(args: &[Value]) -> Result<Value> {
    Ok(Value::String(hex(&D::digest(string(&args[0], "str")?))))
}

fn md5(args: FuncArgs) -> Result<Value> {
    digest::<md5::Md5>(&args)
}

fn sha1(args: FuncArgs) -> Result<Value> {
    digest::<sha1::Sha1>(&args)
}

fn sha256(args: FuncArgs) -> Result<Value> {
    digest::<sha2::Sha256>(&args)
}

fn sha512(args: FuncArgs) -> Result<Value> {
    digest::<sha2::Sha512>(&args)
}

/// `bcrypt(str, [cost])`: a `$2a$` hash with a random salt. As Go's bcrypt: the cost
/// defaults to 10 (and so does one below 4), at most 31, and the string may have at
/// most 72 bytes.
fn bcrypt(args: FuncArgs) -> Result<Value> {
    if args.len() > 2 {
        return Err("bcrypt() takes no more than two arguments".to_owned());
    }
    let s = string(&args[0], "str")?;
    let cost = match args.get(1) {
        Some(cost) => args::int(cost, "cost")?,
        None => 10,
    };
    let cost = match cost {
        c if c < 4 => 10,
        c if c > 31 => return Err(invalid("cost", format!("cost {c} is outside 4 to 31"))),
        c => c as u32,
    };
    if s.len() > 72 {
        return Err(invalid("str", "password length exceeds 72 bytes"));
    }
    bcrypt::hash_with_result(&s, cost)
        .map(|hash| Value::String(hash.format_for_version(bcrypt::Version::TwoA)))
        .map_err(|e| format!("error occurred generating password: {e}"))
}

fn uuidv4(_: FuncArgs) -> Result<Value> {
    Ok(Value::String(uuid::Uuid::new_v4().to_string()))
}

/// `uuidv5(namespace, name)`: the namespace is "dns", "url", "oid", "x500" or a UUID.
fn uuidv5(args: FuncArgs) -> Result<Value> {
    let namespace = string(&args[0], "namespace")?;
    let ns = match namespace.as_str() {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other).map_err(|e| {
            invalid(
                "namespace",
                format!("uuidv5() doesn't support namespace {other} ({e})"),
            )
        })?,
    };
    let name = string(&args[1], "name")?;
    Ok(Value::String(
        uuid::Uuid::new_v5(&ns, name.as_bytes()).to_string(),
    ))
}
