//! Large tool results cut to `max_tool_result_bytes`: a result of megabytes would fill the
//! model's context (or be refused by the provider) and cost a turn's worth of tokens, so the
//! model gets the start of it and a note saying it was cut and how to ask for less.

use rmcp::model::{CallToolResult, ContentBlock};

/// Cuts the text of `result` to `max` bytes in all, adding a note the model sees.
/// Images and files keep their own limits (see `agent::media`).
pub(super) fn limit(mut result: CallToolResult, max: usize, server: &str) -> CallToolResult {
    let total: usize = result.content.iter().map(text_len).sum();
    if total <= max {
        return result;
    }
    let mut budget = max;
    let mut kept = Vec::with_capacity(result.content.len() + 1);
    for block in result.content.drain(..) {
        match block.as_text() {
            None => kept.push(block),
            Some(t) if t.text.len() <= budget => {
                budget -= t.text.len();
                kept.push(block);
            }
            Some(t) if budget > 0 => {
                let mut end = budget;
                while !t.text.is_char_boundary(end) {
                    end -= 1;
                }
                if end > 0 {
                    kept.push(ContentBlock::text(t.text[..end].to_string()));
                }
                budget = 0;
            }
            Some(_) => {}
        }
    }
    kept.push(ContentBlock::text(format!(
        "[result truncated: the tool returned {} of text; only the first {} are shown \
         (max_tool_result_bytes of server '{server}'). Ask for a smaller part if you need more.]",
        human(total),
        human(max)
    )));
    result.content = kept;
    result.structured_content = None;
    result
}

fn text_len(block: &ContentBlock) -> usize {
    block.as_text().map_or(0, |t| t.text.len())
}

fn human(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(r: &CallToolResult) -> Vec<String> {
        r.content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    #[test]
    fn results_over_the_limit_are_cut_with_a_note_and_small_ones_are_untouched() {
        let small = CallToolResult::success(vec![ContentBlock::text("hello")]);
        assert_eq!(texts(&limit(small, 10, "s")), ["hello"]);

        let big = CallToolResult::success(vec![
            ContentBlock::text("a".repeat(3000)),
            ContentBlock::text("é".repeat(1000)),
        ]);
        let cut = texts(&limit(big, 3001, "notes"));
        // The one byte left would split an "é", so the second block goes entirely.
        assert_eq!(cut.len(), 2);
        assert_eq!(cut[0].len(), 3000);
        assert!(
            cut[1].starts_with(
                "[result truncated: the tool returned 5 KiB of text; only the first 3 KiB"
            ) && cut[1].contains("max_tool_result_bytes of server 'notes'"),
            "{}",
            cut[1]
        );
    }
}
