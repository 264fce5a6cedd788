//! The judge: when candidates tie on tests and votes, a model call compares them side by side
//! (`prompts/judge_system.md`, `prompts/judge_request.md`) and names one. Its answer is read
//! leniently; an answer that names no tied candidate, or a failed call, falls back to the
//! smallest change, and the record says so.

use minijinja::context;
use serde::Serialize;

use crate::model::{ChatRequest, Message, ModelClient, Usage};
use crate::prompts::Prompts;

/// Characters of each candidate's diff shown to the judge, at most.
const MAX_DIFF_CHARS: usize = 12_000;
/// Characters of a diff shown however small the window: below this the judge sees nothing.
const MIN_DIFF_CHARS: usize = 300;
/// Tokens of the window kept for the judge's answer.
const ANSWER_TOKENS: usize = 512;
/// Characters of the judge's answer kept in the record.
const MAX_ANSWER_CHARS: usize = 2_000;

/// One tied candidate as the judge sees it.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeCandidate {
    pub attempt: usize,
    pub diff: String,
    pub passed: usize,
    pub total: usize,
    /// Attempts whose change is equivalent to this one (itself included).
    pub votes: usize,
    /// Lines added plus removed, for the fallback.
    #[serde(skip)]
    pub changed_lines: usize,
}

pub struct JudgeRequest<'a> {
    pub task: &'a str,
    pub candidates: &'a [JudgeCandidate],
    pub model: &'a dyn ModelClient,
    pub prompts: &'a Prompts,
    /// The judge model's context window in tokens, when known (see [`Budget`]).
    pub context_window: Option<u32>,
}

/// How many characters the task and each diff get so that the request fits the window: the
/// share of the window compaction allows, less the answer, the system prompt and the
/// request's own text; the task at most a third of it, the rest split evenly between the
/// candidates. Cut text keeps its head and tail around a line that says how much was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    task_chars: usize,
    diff_chars: usize,
}

impl Budget {
    fn new(window: Option<u32>, fixed_chars: usize, task_chars: usize, candidates: usize) -> Self {
        let Some(window) = window else {
            return Self {
                task_chars,
                diff_chars: MAX_DIFF_CHARS,
            };
        };
        let tokens = (window as f64 * crate::session::compaction::COMPACT_AT) as usize;
        let chars =
            tokens.saturating_sub(ANSWER_TOKENS) * crate::session::compaction::CHARS_PER_TOKEN;
        let room = chars.saturating_sub(fixed_chars);
        let task_chars = task_chars.min(room / 3);
        let diff_chars = (room - task_chars) / candidates.max(1);
        Self {
            task_chars,
            diff_chars: diff_chars.clamp(MIN_DIFF_CHARS, MAX_DIFF_CHARS),
        }
    }
}

/// What the judge was asked and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeRecord {
    /// The attempts compared.
    pub asked: Vec<usize>,
    /// The judge's answer (clipped), or the error of the call.
    pub answer: String,
    pub choice: usize,
    /// The judge's reason, when it gave one.
    pub reason: Option<String>,
    /// Set when the answer was not used: why, and what was chosen instead.
    pub fallback: Option<String>,
    pub usage: Usage,
}

/// Asks the judge to choose among `request.candidates` (at least two).
pub async fn judge(request: JudgeRequest<'_>) -> JudgeRecord {
    let asked: Vec<usize> = request.candidates.iter().map(|c| c.attempt).collect();
    let reply = ask(&request, &asked).await;
    let (answer, usage, parsed) = match reply {
        Ok((text, usage)) => {
            let parsed = parse_choice(&text, &asked);
            (text, usage, parsed)
        }
        Err(error) => (
            error.clone(),
            Usage::default(),
            Err(format!("the judge could not be asked: {error}")),
        ),
    };
    let answer = agent_tools::text::truncate_middle(&answer, MAX_ANSWER_CHARS);
    match parsed {
        Ok((choice, reason)) => JudgeRecord {
            asked,
            answer,
            choice,
            reason,
            fallback: None,
            usage,
        },
        Err(why) => {
            let choice = fallback_choice(request.candidates);
            JudgeRecord {
                asked,
                answer,
                choice,
                reason: None,
                fallback: Some(format!(
                    "{why}; chose attempt {choice}, the smallest change among the tied"
                )),
                usage,
            }
        }
    }
}

async fn ask(request: &JudgeRequest<'_>, asked: &[usize]) -> Result<(String, Usage), String> {
    let messages = messages(request, asked)?;
    let response = request
        .model
        .chat(ChatRequest {
            messages: &messages,
            tools: &[],
            require_tool: false,
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok((response.message.text().to_string(), response.usage))
}

/// The system and user messages, the task and the diffs cut to the [`Budget`].
fn messages(request: &JudgeRequest<'_>, asked: &[usize]) -> Result<[Message; 2], String> {
    let numbers = asked
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let system = request
        .prompts
        .render("judge_system.md", context! {})
        .map_err(|e| e.to_string())?;
    let render = |task: &str, candidates: &[JudgeCandidate], cut: bool| {
        request
            .prompts
            .render(
                "judge_request.md",
                context! { task => task, candidates => candidates, numbers => &numbers, cut => cut },
            )
            .map_err(|e| e.to_string())
    };
    // The request's own text: everything but the task and the diffs.
    let bare: Vec<JudgeCandidate> = request
        .candidates
        .iter()
        .map(|c| JudgeCandidate {
            diff: String::new(),
            ..c.clone()
        })
        .collect();
    let fixed = system.chars().count() + render("", &bare, true)?.chars().count();
    let budget = Budget::new(
        request.context_window,
        fixed,
        request.task.chars().count(),
        request.candidates.len(),
    );
    let task = agent_tools::text::truncate_middle(request.task, budget.task_chars);
    let shown: Vec<JudgeCandidate> = request
        .candidates
        .iter()
        .map(|c| JudgeCandidate {
            diff: agent_tools::text::truncate_middle(&c.diff, budget.diff_chars),
            ..c.clone()
        })
        .collect();
    let cut = task != request.task
        || shown
            .iter()
            .zip(request.candidates)
            .any(|(s, c)| s.diff != c.diff);
    let user = render(&task, &shown, cut)?;
    Ok([Message::system(system), Message::user(user)])
}

/// The chosen attempt and the reason, from `CHOICE: n` / `REASON: ...`, a JSON object with a
/// `choice`, or a text that names exactly one of the asked candidates. `Err` says why the
/// answer could not be used.
pub fn parse_choice(text: &str, asked: &[usize]) -> Result<(usize, Option<String>), String> {
    let lower = text.to_ascii_lowercase();
    let reason = lower.find("reason:").map(|at| {
        text[at + "reason:".len()..]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let reason = reason.filter(|r| !r.is_empty());
    let named = lower
        .find("choice")
        .and_then(|at| first_number(&lower[at + "choice".len()..]));
    let named = named.or_else(|| json_choice(text));
    if let Some(n) = named {
        return if asked.contains(&n) {
            Ok((n, reason))
        } else {
            Err(format!(
                "the judge chose {n}, which is not one of the candidates {asked:?}"
            ))
        };
    }
    let mentioned: Vec<usize> = asked
        .iter()
        .copied()
        .filter(|n| {
            ["candidate ", "attempt ", "candidate #", "attempt #"]
                .iter()
                .any(|p| mentions(&lower, &format!("{p}{n}")))
        })
        .collect();
    match mentioned.as_slice() {
        [one] => Ok((*one, reason)),
        [] if text.trim().is_empty() => Err("the judge's answer was empty".into()),
        [] => Err("the judge's answer named no candidate".into()),
        _ => Err("the judge's answer named several candidates and no CHOICE".into()),
    }
}

/// Whether `needle` occurs in `text` not followed by another digit.
fn mentions(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// The first number after a `:`/`=`/spaces/`#`/quotes, within the next few characters.
fn first_number(rest: &str) -> Option<usize> {
    let start = rest
        .char_indices()
        .take(24)
        .find(|(_, c)| c.is_ascii_digit())
        .map(|(i, _)| i)?;
    let between = &rest[..start];
    if !between
        .chars()
        .all(|c| c.is_whitespace() || ":=#\"'*`(){}[]".contains(c) || c.is_ascii_alphabetic())
    {
        return None;
    }
    let digits: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// `{"choice": n}` anywhere in the text.
fn json_choice(text: &str) -> Option<usize> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let value: serde_json::Value = serde_json::from_str(text.get(start..=end)?).ok()?;
    let choice = value.get("choice")?;
    choice
        .as_u64()
        .map(|n| n as usize)
        .or_else(|| choice.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The smallest change among the tied, then the lowest attempt number.
pub fn fallback_choice(candidates: &[JudgeCandidate]) -> usize {
    candidates
        .iter()
        .min_by_key(|c| (c.changed_lines, c.attempt))
        .map(|c| c.attempt)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_read_in_every_spelling() {
        let asked = [1, 2, 3];
        assert_eq!(
            parse_choice("CHOICE: 2\nREASON: handles the empty list.", &asked),
            Ok((2, Some("handles the empty list.".into())))
        );
        assert_eq!(
            parse_choice("**Choice**: candidate 3", &asked).map(|c| c.0),
            Ok(3)
        );
        assert_eq!(
            parse_choice(
                "```json\n{\"choice\": \"1\", \"reason\": \"x\"}\n```",
                &asked
            )
            .map(|c| c.0),
            Ok(1)
        );
        assert_eq!(
            parse_choice("I prefer candidate 2 because it is smaller.", &asked).map(|c| c.0),
            Ok(2)
        );
    }

    #[test]
    fn answers_that_name_no_tied_candidate_are_refused_with_the_cause() {
        let asked = [1, 3];
        assert!(
            parse_choice("CHOICE: 2", &asked)
                .unwrap_err()
                .contains("not one of")
        );
        assert!(parse_choice("", &asked).unwrap_err().contains("empty"));
        assert!(
            parse_choice("Both look fine to me.", &asked)
                .unwrap_err()
                .contains("named no candidate")
        );
        assert!(
            parse_choice("candidate 1 or candidate 3", &asked)
                .unwrap_err()
                .contains("several")
        );
        // "candidate 13" is not candidate 1.
        assert!(parse_choice("candidate 13", &asked).is_err());
    }

    #[test]
    fn the_fallback_is_the_smallest_change_then_the_first_attempt() {
        let c = |attempt, changed_lines| JudgeCandidate {
            attempt,
            diff: String::new(),
            passed: 0,
            total: 0,
            votes: 1,
            changed_lines,
        };
        assert_eq!(fallback_choice(&[c(1, 9), c(2, 2), c(3, 2)]), 2);
    }

    #[test]
    fn a_small_window_cuts_the_diffs_to_fit_and_no_window_keeps_the_cap() {
        let none = Budget::new(None, 2_000, 500, 3);
        assert_eq!(none.diff_chars, MAX_DIFF_CHARS);
        assert_eq!(none.task_chars, 500);
        // 4096 tokens: 80% less the answer is 2764 tokens, 8292 characters; less 2000 fixed
        // and the 500-character task, 5792 for three diffs.
        let small = Budget::new(Some(4096), 2_000, 500, 3);
        assert_eq!(
            small,
            Budget {
                task_chars: 500,
                diff_chars: 1930
            }
        );
        // A long task takes at most a third of the room.
        let long_task = Budget::new(Some(4096), 2_000, 100_000, 3);
        assert_eq!(long_task.task_chars, 6292 / 3);
        // However small the window, each diff keeps a few lines.
        assert_eq!(
            Budget::new(Some(512), 2_000, 500, 3).diff_chars,
            MIN_DIFF_CHARS
        );
    }

    #[test]
    fn the_prompts_render_every_candidate_with_its_number() {
        let prompts = Prompts::load(None).unwrap();
        let candidates = [
            JudgeCandidate {
                attempt: 2,
                diff: "+a\n".into(),
                passed: 1,
                total: 2,
                votes: 2,
                changed_lines: 1,
            },
            JudgeCandidate {
                attempt: 3,
                diff: "+b\n".into(),
                passed: 1,
                total: 2,
                votes: 1,
                changed_lines: 1,
            },
        ];
        let text = prompts
            .render(
                "judge_request.md",
                context! { task => "T", candidates => candidates, numbers => "2, 3" },
            )
            .unwrap();
        assert!(text.contains("<candidate number=\"2\">"), "{text}");
        assert!(text.contains("2 attempts made this same change"), "{text}");
        assert!(text.contains("<candidate number=\"3\">") && text.contains("+b"));
        assert!(text.contains("Choose one of the candidates 2, 3."));
        let system = prompts.render("judge_system.md", context! {}).unwrap();
        assert!(system.starts_with("You compare candidate changes"));
    }
}
