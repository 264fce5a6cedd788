//! Parse a test log with one of the harness's log parsers and print the status map as JSON.
//! `cargo run -p agent-harness --example parse_log -- pytest-options test_output.txt [VERSION]`
//! (VERSION: `4.1.0`, the default, or `5` for the 5.x parsers)
//! Useful to check a log against the official parser's reading of it.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example

use std::process::ExitCode;

use agent_harness::LogParser;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (parser, path, version) = match args.as_slice() {
        [parser, path] => (parser, path, "4.1.0"),
        [parser, path, version] => (parser, path, version.as_str()),
        _ => {
            eprintln!("usage: parse_log PARSER FILE [4.1.0|5]");
            return ExitCode::FAILURE;
        }
    };
    let version: agent_harness::grading::HarnessVersion = match version.parse() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let parser: LogParser = match parser.parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let map: serde_json::Map<String, serde_json::Value> = parser
        .parse_as(&text, version)
        .into_iter()
        .map(|(k, v)| (k, serde_json::Value::String(v.as_word().to_string())))
        .collect();
    println!("{}", serde_json::Value::Object(map));
    ExitCode::SUCCESS
}
