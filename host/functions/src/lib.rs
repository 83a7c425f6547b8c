//! Packer's HCL2 function library, declared into hcl-rs evaluation contexts, with the Go
//! time formatting it and the legacy JSON templates share ([`gotime`]) and the bounded
//! reading of the files templates name ([`read_regular`]).
//!
//! The functions follow what Packer documents, which is mostly go-cty's standard library
//! (and Terraform's functions Packer copied) plus a few of Packer's own. Arguments are
//! converted the way cty converts them (a number passes where a string is expected, a
//! numeric string where a number is), and errors name the offending argument; hcl-rs
//! prefixes them with the function's name.
//!
//! Each family lives in its own module as a table of [`Def`]s; [`declare`] walks the
//! tables. [`evaluate`] must be used instead of hcl-rs's `Evaluate` so that `try` and
//! `can` see their arguments' errors and `convert` accepts type expressions.

mod args;
mod collection;
mod crypto;
mod datetime;
mod encoding;
mod eval;
mod files;
mod filesystem;
mod format;
pub mod gotime;
mod network;
mod numeric;
mod string;
mod types;
mod yaml;

use hcl::eval::{Context, Func, FuncArgs, FuncDef, ParamType};
use hcl::Value;

pub use eval::evaluate;
pub use files::{read_regular, MAX_FILE_SIZE};
pub use types::convert_to;

/// One function of the library: its name, how many arguments it always takes, whether
/// more may follow, and its body.
///
/// Every parameter is declared as `any`: the bodies convert and check their arguments
/// themselves, so that conversions and messages match Packer's.
pub(crate) struct Def {
    name: &'static str,
    params: usize,
    variadic: bool,
    func: Func,
}

impl Def {
    /// A function taking `params` arguments, and any number after them when `variadic`.
    pub(crate) const fn new(name: &'static str, params: usize, variadic: bool, func: Func) -> Def {
        Def {
            name,
            params,
            variadic,
            func,
        }
    }

    fn func_def(&self) -> FuncDef {
        let builder = FuncDef::builder().params(vec![ParamType::Any; self.params]);
        match self.variadic {
            true => builder.variadic_param(ParamType::Any).build(self.func),
            false => builder.build(self.func),
        }
    }
}

/// A family's table of functions, each named as its Rust function is unless a name is
/// given: `md5(1)` takes exactly one argument, `bcrypt(1..)` one or more, and
/// `"try" = try_first(0..)` is HCL's `try`.
macro_rules! table {
    (@more ..) => { true };
    (@more) => { false };
    (@name $hcl:literal $name:ident) => { $hcl };
    (@name $name:ident) => { stringify!($name) };
    ($($($hcl:literal =)? $name:ident ($params:literal $($more:tt)?))*) => {
        &[$(crate::Def::new(
            crate::table!(@name $($hcl)? $name),
            $params,
            crate::table!(@more $($more)?),
            $name,
        )),*]
    };
}
pub(crate) use table;

/// Every family's table.
const FAMILIES: &[&[Def]] = &[
    numeric::FUNCTIONS,
    string::FUNCTIONS,
    format::FUNCTIONS,
    collection::FUNCTIONS,
    encoding::FUNCTIONS,
    yaml::FUNCTIONS,
    filesystem::FUNCTIONS,
    datetime::FUNCTIONS,
    crypto::FUNCTIONS,
    network::FUNCTIONS,
    types::FUNCTIONS,
    UNSUPPORTED,
];

/// Packer functions Kiln declares only to explain why it does not run them.
const UNSUPPORTED: &[Def] = &[
    Def::new("aws_secretsmanager", 0, true, external_service),
    Def::new("aws_secretsmanager_raw", 0, true, external_service),
    Def::new("consul_key", 0, true, external_service),
    Def::new("vault", 0, true, external_service),
    Def::new("rsadecrypt", 0, true, rsadecrypt),
];

/// `env()`, declared only where Packer allows it.
const ENV: Def = Def::new("env", 1, false, env);

/// Declares every function Packer's HCL2 offers into `ctx`. `env()` only when `with_env` is
/// true (Packer allows env() only in variable defaults).
pub fn declare(ctx: &mut Context<'_>, with_env: bool) {
    datetime::start_time();
    for def in FAMILIES.iter().flat_map(|family| family.iter()) {
        ctx.declare_func(def.name, def.func_def());
    }
    if with_env {
        ctx.declare_func(ENV.name, ENV.func_def());
    }
    declare_budget(ctx);
}

/// Declares `env()` alone: the context of a variable's default.
pub fn declare_env_only(ctx: &mut Context<'_>) {
    ctx.declare_func(ENV.name, ENV.func_def());
    declare_budget(ctx);
}

/// The functions the evaluation adds to expressions (see [`eval`]): every `for`
/// collection is counted, every divisor checked.
fn declare_budget(ctx: &mut Context<'_>) {
    let one = |f: hcl::eval::Func| {
        hcl::eval::FuncDef::builder()
            .param(hcl::eval::ParamType::Any)
            .build(f)
    };
    ctx.declare_func(eval::FOR_BUDGET, one(eval::for_budget));
    ctx.declare_func(eval::DIVISOR, one(eval::divisor));
    ctx.declare_func(eval::MODULUS, one(eval::modulus));
}

/// The name of every function the library has, `env` included.
pub fn names() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .flat_map(|family| family.iter())
        .chain([&ENV])
        .map(|def| def.name)
}

/// `env(name)`: the process environment's value of `name`, or "" when it is unset.
fn env(args: FuncArgs) -> Result<Value, String> {
    let name = args::string(&args[0], "key")?;
    Ok(Value::from(std::env::var(&name).unwrap_or_default()))
}

fn external_service(_: FuncArgs) -> Result<Value, String> {
    Err("not supported by Kiln: it reaches an external service; \
         pass the value in a variable instead"
        .to_owned())
}

fn rsadecrypt(_: FuncArgs) -> Result<Value, String> {
    Err("not supported by Kiln; decrypt the value beforehand and pass it in a variable".to_owned())
}

#[cfg(test)]
mod tests;
