//! Parameters: values given to a stack when it is deployed.

use crate::element::{ElementBody, TemplateElement, add_element};
use crate::tree::{Node, Scope};
use crate::validation::Issue;
use crate::value::{Expr, Value};

/// The type of a parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParameterType {
    /// `String`.
    String,
    /// `Number`: an integer or a float, passed as a string.
    Number,
    /// `List<Number>`.
    NumberList,
    /// `CommaDelimitedList`.
    CommaDelimitedList,
    /// An AWS-specific type, checked by CloudFormation against the account: for example
    /// `AWS::EC2::VPC::Id` or `List<AWS::EC2::Subnet::Id>`.
    AwsSpecific(String),
    /// A Systems Manager parameter type, such as `AWS::SSM::Parameter::Value<String>`.
    SsmParameter(String),
}

impl ParameterType {
    pub(crate) fn name(&self) -> &str {
        match self {
            ParameterType::String => "String",
            ParameterType::Number => "Number",
            ParameterType::NumberList => "List<Number>",
            ParameterType::CommaDelimitedList => "CommaDelimitedList",
            ParameterType::AwsSpecific(name) | ParameterType::SsmParameter(name) => name,
        }
    }

    fn is_list(&self) -> bool {
        match self {
            ParameterType::NumberList | ParameterType::CommaDelimitedList => true,
            ParameterType::AwsSpecific(name) => name.starts_with("List<"),
            ParameterType::SsmParameter(name) => {
                name.contains("List<") || name.contains("CommaDelimitedList")
            }
            ParameterType::String | ParameterType::Number => false,
        }
    }
}

/// The declaration of a parameter. `ParameterProps::new(type)` gives one without
/// constraints; set the fields you need.
#[derive(Clone, Debug)]
pub struct ParameterProps {
    /// The parameter's type.
    pub parameter_type: ParameterType,
    /// What the parameter is for, shown in the console.
    pub description: Option<String>,
    /// The value used when none is given at deploy time.
    pub default: Option<String>,
    /// The only values accepted.
    pub allowed_values: Vec<String>,
    /// A regular expression the whole value must match (`String` only).
    pub allowed_pattern: Option<String>,
    /// The message shown when a constraint is broken.
    pub constraint_description: Option<String>,
    /// The shortest value accepted (`String` only).
    pub min_length: Option<u32>,
    /// The longest value accepted (`String` only).
    pub max_length: Option<u32>,
    /// The smallest value accepted (`Number` only).
    pub min_value: Option<f64>,
    /// The largest value accepted (`Number` only).
    pub max_value: Option<f64>,
    /// Masks the value in the console and in API responses (for secrets).
    pub no_echo: bool,
}

impl ParameterProps {
    /// A parameter of the given type without constraints.
    pub fn new(parameter_type: ParameterType) -> ParameterProps {
        ParameterProps {
            parameter_type,
            description: None,
            default: None,
            allowed_values: Vec::new(),
            allowed_pattern: None,
            constraint_description: None,
            min_length: None,
            max_length: None,
            min_value: None,
            max_value: None,
            no_echo: false,
        }
    }
}

pub(crate) struct ParameterData {
    pub(crate) props: ParameterProps,
}

/// A parameter in a stack's `Parameters` section.
#[derive(Clone, Debug)]
pub struct CfnParameter {
    node: Node,
}

impl CfnParameter {
    /// Declares a parameter. Its constraints are checked against each other and against
    /// the default at construction.
    pub fn new(scope: &impl Scope, id: &str, props: ParameterProps) -> CfnParameter {
        let issues = check_parameter(&props);
        let node = add_element(scope, id, ElementBody::Parameter(ParameterData { props }));
        node.report_all(issues);
        CfnParameter { node }
    }

    /// The parameter's value as a string (`Ref`).
    pub fn value_as_string(&self) -> Value<String> {
        Value::from_expr(Expr::Ref(self.node.downgrade()))
    }

    /// The parameter's value as a number (`Ref` of a `Number` parameter).
    pub fn value_as_number(&self) -> Value<f64> {
        Value::from_expr(Expr::Ref(self.node.downgrade()))
    }

    /// The parameter's value as a list (`Ref` of a list parameter).
    pub fn value_as_list(&self) -> Value<Vec<String>> {
        Value::from_expr(Expr::Ref(self.node.downgrade()))
    }
}

impl Scope for CfnParameter {
    fn node(&self) -> &Node {
        &self.node
    }
}

impl TemplateElement for CfnParameter {}

fn check_parameter(props: &ParameterProps) -> Vec<Issue> {
    let mut issues = Vec::new();
    let kind = &props.parameter_type;
    let is_string = *kind == ParameterType::String;
    let is_number = *kind == ParameterType::Number;
    if !is_string
        && (props.min_length.is_some()
            || props.max_length.is_some()
            || props.allowed_pattern.is_some())
    {
        issues.push(Issue::new(
            "parameter_constraint_for_type",
            format!("min_length, max_length and allowed_pattern apply to String parameters, not {}; remove them or change the type", kind.name()),
        ));
    }
    if !is_number && (props.min_value.is_some() || props.max_value.is_some()) {
        issues.push(Issue::new(
            "parameter_constraint_for_type",
            format!("min_value and max_value apply to Number parameters, not {}; remove them or change the type", kind.name()),
        ));
    }
    if let (Some(min), Some(max)) = (props.min_length, props.max_length)
        && min > max
    {
        issues.push(Issue::new(
            "parameter_bounds_inverted",
            format!("min_length {min} is greater than max_length {max}; swap them"),
        ));
    }
    if let (Some(min), Some(max)) = (props.min_value, props.max_value)
        && min > max
    {
        issues.push(Issue::new(
            "parameter_bounds_inverted",
            format!("min_value {min} is greater than max_value {max}; swap them"),
        ));
    }
    let pattern = match &props.allowed_pattern {
        // CloudFormation matches the whole value against the pattern.
        Some(pattern) => {
            match regex::Regex::new(&format!("^(?:{pattern})$")) {
                Ok(regex) => Some(regex),
                Err(_) => {
                    issues.push(Issue::new(
                    "parameter_pattern_invalid",
                    format!("allowed_pattern `{pattern}` is not a regular expression; fix its syntax"),
                ));
                    None
                }
            }
        }
        None => None,
    };
    if let Some(default) = &props.default {
        let values: Vec<&str> = if kind.is_list() {
            default.split(',').map(str::trim).collect()
        } else {
            vec![default.as_str()]
        };
        let mut broken = Vec::new();
        for value in values {
            if !props.allowed_values.is_empty() && !props.allowed_values.iter().any(|v| v == value)
            {
                broken.push(format!(
                    "`{value}` is not one of the allowed values {:?}",
                    props.allowed_values
                ));
            }
            let length = value.chars().count() as u32;
            if props.min_length.is_some_and(|min| length < min)
                || props.max_length.is_some_and(|max| length > max)
            {
                broken.push(format!(
                    "`{value}` has {length} characters, outside the allowed length"
                ));
            }
            if pattern.as_ref().is_some_and(|regex| !regex.is_match(value)) {
                broken.push(format!("`{value}` does not match allowed_pattern"));
            }
            if is_number || *kind == ParameterType::NumberList {
                match value.parse::<f64>() {
                    Ok(number) => {
                        if props.min_value.is_some_and(|min| number < min)
                            || props.max_value.is_some_and(|max| number > max)
                        {
                            broken.push(format!("{value} is outside the allowed range"));
                        }
                    }
                    Err(_) => broken.push(format!("`{value}` is not a number")),
                }
            }
        }
        for reason in broken {
            issues.push(Issue::new(
                "parameter_default_invalid",
                format!("the default breaks the parameter's own constraints: {reason}; change the default or the constraints"),
            ));
        }
    }
    issues
}
