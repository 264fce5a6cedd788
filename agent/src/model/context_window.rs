//! How many tokens the model's context holds: from the server (llama.cpp's `/props`, vLLM's and
//! llama.cpp's `/v1/models`), else a table of known models.

use std::time::Duration;

use serde_json::Value;

/// Asks the server at `base_url` (ending in `/v1`) for the context window of `model`.
/// `None` when the server does not say (OpenAI does not) or cannot be reached quickly.
pub async fn from_server(base_url: &str, api_key: Option<&str>, model: &str) -> Option<u32> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let get = |url: String| {
        let mut req = client.get(url);
        if let Some(key) = api_key {
            req = req.bearer_auth(key);
        }
        async move {
            let resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            let bytes = resp.bytes().await.ok()?;
            serde_json::from_slice::<Value>(&bytes).ok()
        }
    };
    let root = base_url.trim_end_matches('/').trim_end_matches("/v1");
    if let Some(props) = get(format!("{root}/props")).await
        && let Some(n) = n_ctx_from_props(&props)
    {
        return Some(n);
    }
    let models = get(format!("{}/models", base_url.trim_end_matches('/'))).await?;
    n_ctx_from_models(&models, model)
}

/// llama.cpp: `default_generation_settings.n_ctx` (or `n_ctx` at the top in older builds).
pub fn n_ctx_from_props(props: &Value) -> Option<u32> {
    props
        .pointer("/default_generation_settings/n_ctx")
        .or_else(|| props.get("n_ctx"))
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// vLLM: `data[i].max_model_len`; llama.cpp: `data[i].meta.n_ctx_train` (the trained size,
/// an upper bound). The entry whose id is `model` wins, else the only one.
pub fn n_ctx_from_models(models: &Value, model: &str) -> Option<u32> {
    let data = models.get("data")?.as_array()?;
    let entry = data
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model))
        .or_else(|| (data.len() == 1).then(|| &data[0]))?;
    entry
        .get("max_model_len")
        .or_else(|| entry.pointer("/meta/n_ctx_train"))
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
}

/// Context windows of well-known models, by the longest matching name prefix.
pub fn from_table(model: &str) -> Option<u32> {
    const KNOWN: &[(&str, u32)] = &[
        ("gpt-4o", 128_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-4-turbo", 128_000),
        ("gpt-3.5-turbo", 16_385),
        ("o1", 200_000),
        ("o3", 200_000),
        ("o4-mini", 200_000),
        ("gpt-5", 400_000),
        ("claude", 200_000),
        ("qwen2.5-coder", 32_768),
        ("qwen2.5", 32_768),
        ("qwen3", 32_768),
        ("llama3.1", 131_072),
        ("llama-3.1", 131_072),
        ("gemma3", 32_768),
        ("deepseek", 65_536),
    ];
    let lower = model.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    KNOWN
        .iter()
        .filter(|(prefix, _)| name.starts_with(prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn servers_and_table_are_read() {
        assert_eq!(
            n_ctx_from_props(&json!({"default_generation_settings": {"n_ctx": 16384}})),
            Some(16384)
        );
        assert_eq!(n_ctx_from_props(&json!({"x": 1})), None);
        let vllm = json!({"data": [{"id": "m", "max_model_len": 8192}, {"id": "n", "max_model_len": 4096}]});
        assert_eq!(n_ctx_from_models(&vllm, "n"), Some(4096));
        assert_eq!(n_ctx_from_models(&vllm, "other"), None);
        let llama = json!({"data": [{"id": "q.gguf", "meta": {"n_ctx_train": 32768}}]});
        assert_eq!(n_ctx_from_models(&llama, "local"), Some(32768));
        assert_eq!(from_table("gpt-4o-mini"), Some(128_000));
        assert_eq!(from_table("openai/Qwen2.5-Coder-1.5B"), Some(32_768));
        assert_eq!(from_table("local"), None);
    }
}
