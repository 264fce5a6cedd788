//! Print, for each patch of a JSON list, the files it modifies as the eval script resets them
//! (`testspec::modified_files`), as a JSON list of lists. For checking against other readers.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line example

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: modified_files PATCHES.json");
        return ExitCode::FAILURE;
    };
    let patches: Vec<String> = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files: Vec<Vec<String>> = patches
        .iter()
        .map(|p| agent_harness::testspec::modified_files(p))
        .collect();
    println!("{}", serde_json::Value::from(files));
    ExitCode::SUCCESS
}
