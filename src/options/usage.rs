//! Usage errors in one line: clap's message shortened and completed with
//! what an option accepts, shared by the command line and `--extra-opts`.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue};

/// A value longer than this is not echoed back whole, so that the option
/// it was given to stays in view.
const MAX_VALUE: usize = 64;

/// clap's message for `e`, on one line, with a huge value shortened and
/// the values an option accepts named when it refused another.
pub fn usage_message(e: &clap::Error) -> String {
    let mut line = first_line(&e.to_string());
    // clap names no values for an option given without one: say nothing
    // then rather than end the line on "possible values:".
    if let Some(ContextValue::Strings(valid)) = e.get(ContextKind::ValidValue)
        && !valid.is_empty()
    {
        line.push_str(&format!("; possible values: {}", valid.join(", ")));
    }
    if let Some(ContextValue::String(value)) = e.get(ContextKind::InvalidValue)
        && value.len() > MAX_VALUE
    {
        let head: String = value.chars().take(16).collect();
        line = line.replace(
            value.as_str(),
            &format!("{head}... ({} bytes)", value.len()),
        );
    }
    line
}

/// clap only says that some argument is not UTF-8; name its option.
pub fn not_utf8(args: &[OsString]) -> String {
    let mut previous: Option<&str> = None;
    for arg in args.iter().skip(1) {
        let Some(text) = arg.to_str() else {
            let bytes = arg.as_encoded_bytes();
            let own = match bytes {
                [b'-', b'-', ..] => bytes.split(|&b| b == b'=').next(),
                [b'-', _, ..] => bytes.get(..2),
                _ => None,
            };
            let option = own
                .map(|name| String::from_utf8_lossy(name).into_owned())
                .or_else(|| previous.filter(|p| p.starts_with('-')).map(str::to_string));
            return match option {
                Some(option) => format!("the value of {option} is not valid UTF-8"),
                None => format!(
                    "the argument {:?} is not valid UTF-8",
                    String::from_utf8_lossy(bytes)
                ),
            };
        };
        previous = Some(text);
    }
    "an argument is not valid UTF-8".into()
}

/// clap's messages end with usage hints on further lines; keep the first.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or("invalid arguments");
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}
