//! Why a template string could not be evaluated while loading.

use super::parse::ParseError;

impl EvalError {
    /// Whether this is, or wraps, `{{user}}` of a variable that has no value.
    pub fn is_variable_not_set(&self) -> bool {
        match self {
            EvalError::VariableNotSet { .. } => true,
            EvalError::InAction { error, .. }
            | EvalError::InCondition { error, .. }
            | EvalError::Calling { error, .. } => error.is_variable_not_set(),
            _ => false,
        }
    }
}

/// Why a template string could not be evaluated while loading. The messages are worded
/// as Go's `text/template` and Packer word them, so they match what Packer prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// An action failed; `action` is the action as written (`{{user `x`}}`).
    #[error("{action}: {error}")]
    InAction {
        action: String,
        error: Box<EvalError>,
    },
    /// The condition of an `{{if}}` failed; `condition` is the pipeline as written.
    #[error("{{{{if {condition}}}}}: {error}")]
    InCondition {
        condition: String,
        error: Box<EvalError>,
    },
    /// Function `function` failed.
    #[error("error calling {function}: {error}")]
    Calling {
        function: String,
        error: Box<EvalError>,
    },
    /// `{{with}}` or `{{range}}` over a value computed while loading.
    #[error(
        "{{{{{keyword} {pipe}}}}}: `{keyword}` over a value known while loading is not supported by Kiln"
    )]
    UnsupportedControl { keyword: &'static str, pipe: String },
    /// `nil` in the place of a function.
    #[error("nil is not a command")]
    NilCommand,
    /// `.Field` or `$x` where the value is needed while loading.
    #[error("template data is not available while loading")]
    TemplateData,
    /// A function with fixed parameters given another number of arguments.
    #[error("wrong number of args for {function}: want {want} got {got}")]
    WrongArgCount {
        function: String,
        want: usize,
        got: usize,
    },
    /// A variadic function given fewer than its fixed arguments.
    #[error("wrong number of args for {function}: want at least {want} got {got}")]
    TooFewArgs {
        function: String,
        want: usize,
        got: usize,
    },
    /// A literal that is not an integer where one is expected; `found` as written.
    #[error("expected integer; found {found}")]
    ExpectedInteger { found: String },
    /// A literal that is not a string where one is expected; `found` as written.
    #[error("expected string; found {found}")]
    ExpectedString { found: String },
    /// A literal `nil` passed where a value of type `expected` is expected.
    #[error("cannot assign nil to {expected}")]
    NilArgument { expected: &'static str },
    /// A computed nil passed where a value of type `expected` is expected.
    #[error("invalid value; expected {expected}")]
    NilValue { expected: &'static str },
    /// A computed value of type `got` passed where `expected` is expected.
    #[error("wrong type for value; expected {expected}; got {got}")]
    WrongType {
        expected: &'static str,
        got: &'static str,
    },
    /// `{{env}}` outside variable defaults.
    #[error("env vars are not allowed here")]
    EnvNotAllowed,
    /// `{{build_name}}`, `{{build_type}}` or `{{packer_version}}` where Packer does not
    /// provide it.
    #[error("{function} not available")]
    NotAvailable { function: &'static str },
    /// `{{isotime}}` with more than one layout.
    #[error("too many values, 1 needed: [{}]", .values.join(" "))]
    TooManyValues { values: Vec<String> },
    /// `{{split}}` with a negative index.
    #[error("runtime error: index out of range [{index}]")]
    NegativeSplitIndex { index: i64 },
    /// `{{split}}` with an index past the parts.
    #[error(
        "the substring {index} was unavailable using the separator value, {separator}, only {found} values were found"
    )]
    SubstringUnavailable {
        index: i64,
        separator: String,
        found: usize,
    },
    /// `{{sed}}`, removed from Packer.
    #[error(
        "template function `sed` is deprecated use `replace` or `replace_all` instead.Documentation: https://www.packer.io/docs/templates/engine"
    )]
    SedDeprecated,
    /// `{{consul_key}}` outside the variables section.
    #[error("consul_key is not allowed here")]
    ConsulKeyNotAllowed,
    /// `{{vault}}` outside the variables section.
    #[error("Vault vars are only allowed in the variables section")]
    VaultNotAllowed,
    /// `{{aws_secretsmanager}}` outside the variables section.
    #[error("AWS Secrets Manager is only allowed in the variables section")]
    SecretsManagerNotAllowed,
    /// A secrets function in the variables section, which Kiln does not run.
    #[error(
        "`{function}` is not supported by Kiln: it would contact a secrets service while loading the template"
    )]
    SecretsService { function: String },
    /// `{{len}}` of a value that has no length.
    #[error("len of type {ty}")]
    LenOfType { ty: &'static str },
    /// `{{index}}` past the end of a string.
    #[error("index out of range: {index}")]
    IndexOutOfRange { index: i64 },
    /// `{{index}}` into a string with an index that is not an integer.
    #[error("cannot index slice/array with type {ty}")]
    IndexType { ty: &'static str },
    /// `{{index}}` into a value that cannot be indexed.
    #[error("can't index item of type {ty}")]
    NotIndexable { ty: &'static str },
    /// `{{eq}}` with one argument.
    #[error("missing argument for comparison")]
    MissingComparisonArgument,
    /// `{{lt}}`, `{{le}}`, `{{gt}}` or `{{ge}}` of booleans or nil.
    #[error("invalid type for comparison")]
    InvalidComparisonType,
    /// A comparison of values of different types.
    #[error("incompatible types for comparison")]
    IncomparableTypes,
    /// A Packer or Go function Kiln does not implement.
    #[error("`{function}` is not supported by Kiln in JSON templates")]
    UnsupportedFunction { function: String },
    /// `{{user}}` of a variable that has no value, in a variable's value.
    #[error(
        "variable not set: {name}: Packer treats all variables used to interpolate other user variables as required"
    )]
    VariableNotSet { name: String },
    /// `{{user}}` of a variable whose own value failed (reported where it failed).
    #[error("variable {name:?} could not be interpolated")]
    VariableFailed { name: String },
    /// Variables whose values read each other; `cycle` starts and ends with the same
    /// name.
    #[error("variables refer to each other in a cycle: {}", .cycle.join(" → "))]
    VariableCycle { cycle: Vec<String> },
    /// The value of variable `name` is not a valid template.
    #[error("{}", .error.message)]
    VariableSyntax { name: String, error: ParseError },
    /// `{{user}}` where no variables can be read (folding constants).
    #[error("no variables while folding constants")]
    NoVariables,
}
