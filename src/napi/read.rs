//! Reading the JS values of a call by hand: a wrong type is a `TypeError` that names the field,
//! and nothing is read twice (a getter or Proxy trap of the caller's runs once).

use napi::bindgen_prelude::*;
use napi::{JsValue, Unknown, ValueType};

use crate::args::{HeartbeatArg, KeepTools, NumberArg, RawArgs};

fn type_error(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

/// Not given, `undefined` and `null` are all "no value".
fn given(value: Unknown) -> Result<Option<(ValueType, Unknown)>> {
    Ok(match value.get_type()? {
        ValueType::Undefined | ValueType::Null => None,
        kind => Some((kind, value)),
    })
}

pub(super) fn read_signal(options: Option<Unknown>) -> Result<Option<Object>> {
    let Some(options) = options.map(given).transpose()?.flatten() else {
        return Ok(None);
    };
    let options = match options {
        (ValueType::Object, options) => Object::from_unknown(options)?,
        _ => return Err(type_error("options must be an object".into())),
    };
    let not_a_signal = || type_error("options.signal must be an AbortSignal".into());
    let signal = match given(options.get_named_property("signal")?)? {
        None => return Ok(None),
        Some((ValueType::Object, signal)) => Object::from_unknown(signal)?,
        Some(_) => return Err(not_a_signal()),
    };
    let add: Unknown = signal.get_named_property("addEventListener")?;
    if add.get_type()? != ValueType::Function {
        return Err(not_a_signal());
    }
    Ok(Some(signal))
}

fn wrong(name: &str, expected: &str) -> Error {
    type_error(format!("findTools: args.{name} must be {expected}"))
}

pub(super) fn read_args(args: Unknown) -> Result<RawArgs> {
    if args.get_type()? != ValueType::Object || args.is_array()? {
        return Err(type_error("findTools: args must be an object".into()));
    }
    let object = Object::from_unknown(args)?;
    let field = |name: &str| given(object.get_named_property(name)?);
    let string = |name: &str| -> Result<Option<String>> {
        match field(name)? {
            None => Ok(None),
            Some((ValueType::String, v)) => String::from_unknown(v).map(Some),
            Some(_) => Err(wrong(name, "a string")),
        }
    };
    let number = |name: &str| -> Result<NumberArg> {
        match field(name)? {
            None => Ok(NumberArg::Missing),
            Some((ValueType::Number, v)) => f64::from_unknown(v).map(NumberArg::Number),
            Some((ValueType::String, v)) => String::from_unknown(v).map(NumberArg::Text),
            Some(_) => Err(wrong(name, "a number or a numeric string")),
        }
    };
    let request_heartbeat = match field("request_heartbeat")? {
        None => None,
        Some((ValueType::Boolean, v)) => Some(HeartbeatArg::Bool(bool::from_unknown(v)?)),
        Some((ValueType::String, v)) => Some(HeartbeatArg::Text(String::from_unknown(v)?)),
        Some(_) => return Err(wrong("request_heartbeat", "a boolean or a string")),
    };
    Ok(RawArgs {
        query: string("query")?,
        agent_id: string("agent_id")?,
        keep_tools: read_keep_tools(field("keep_tools")?)?,
        limit: number("limit")?,
        min_score: number("min_score")?,
        request_heartbeat,
    })
}

fn read_keep_tools(value: Option<(ValueType, Unknown)>) -> Result<KeepTools> {
    match value {
        None => Ok(KeepTools::Missing),
        Some((ValueType::String, v)) => String::from_unknown(v).map(KeepTools::Csv),
        Some((ValueType::Object, v)) if v.is_array()? => {
            // Element by element, never pre-sized from `length`: a sparse `new Array(2 ** 32 - 1)`
            // must be a TypeError at its first hole, not a 100 GB allocation that aborts.
            let array = Object::from_unknown(v)?;
            let mut list = Vec::new();
            for index in 0..array.get_array_length_unchecked()? {
                let item: Unknown = array.get_element(index)?;
                if item.get_type()? != ValueType::String {
                    return Err(wrong(&format!("keep_tools[{index}]"), "a string"));
                }
                list.push(String::from_unknown(item)?);
            }
            Ok(KeepTools::List(list))
        }
        Some(_) => Err(wrong(
            "keep_tools",
            "a comma-separated string or an array of strings",
        )),
    }
}
