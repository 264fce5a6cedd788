//! Shaping text for a model: head-and-tail truncation with an explicit marker.

/// Keeps the first and last parts of `text` so that at most `max_chars` characters remain,
/// with a line in the middle saying how much was cut. Cuts on line boundaries when it can.
pub fn truncate_middle(text: &str, max_chars: usize) -> String {
    let total = text.chars().count();
    if total <= max_chars {
        return text.to_string();
    }
    let head_budget = max_chars / 2;
    let tail_budget = max_chars - head_budget;
    let head_end = byte_index_of_char(text, head_budget);
    let tail_start = byte_index_of_char(text, total - tail_budget);
    // Prefer whole lines: pull the head back to its last newline, push the tail to its next.
    let head_end = text[..head_end]
        .rfind('\n')
        .map(|i| i + 1)
        .filter(|&i| i > 0)
        .unwrap_or(head_end);
    let tail_start = text[tail_start..]
        .find('\n')
        .map(|i| tail_start + i + 1)
        .filter(|&i| i < text.len())
        .unwrap_or(tail_start);
    let head = &text[..head_end];
    let tail = &text[tail_start..];
    let cut = &text[head_end..tail_start];
    let cut_lines = cut.lines().count();
    let cut_chars = cut.chars().count();
    format!(
        "{head}\n[... {cut_chars} characters ({cut_lines} lines) cut from the middle of this output ...]\n{tail}"
    )
}

fn byte_index_of_char(text: &str, char_index: usize) -> usize {
    text.char_indices()
        .nth(char_index)
        .map(|(i, _)| i)
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_unchanged() {
        assert_eq!(truncate_middle("abc", 10), "abc");
    }

    #[test]
    fn long_text_keeps_head_and_tail_with_marker() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let out = truncate_middle(&text, 200);
        assert!(out.starts_with("line 0\n"));
        assert!(out.ends_with("line 999\n"));
        assert!(out.contains("cut from the middle"));
        assert!(out.len() < 400);
    }

    #[test]
    fn multibyte_text_does_not_panic() {
        let text = "é".repeat(500);
        let out = truncate_middle(&text, 100);
        assert!(out.contains("characters"));
    }
}
