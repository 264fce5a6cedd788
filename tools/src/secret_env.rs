//! Which environment variables hold credentials, by name pattern rather than a short list: the
//! model's commands never get them, and their values are redacted wherever text leaves the run.

/// Words that make a variable a credential when they are one of its `_`-separated parts
/// (`GITHUB_TOKEN`, `DB_PASSWORD`, `AZURE_CLIENT_SECRET`), so `TOKENIZERS_PARALLELISM` is not.
const SECRET_PARTS: &[&str] = &[
    "TOKEN",
    "TOKENS",
    "SECRET",
    "SECRETS",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "PWD",
    "APIKEY",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "COOKIE",
    "PAT",
    "SESSION",
    "PRIVATE",
];

/// Prefixes of whole families of credentials (cloud providers' SDK variables).
const SECRET_PREFIXES: &[&str] = &[
    "AWS_",
    "AZURE_",
    "ARM_CLIENT",
    "GOOGLE_APPLICATION_",
    "GCP_",
    "CLOUDSDK_AUTH",
    "DIGITALOCEAN_",
    "HCLOUD_",
    "OCI_CLI_",
    "VAULT_",
];

/// Exact names that are not caught by the parts above but hand out access.
const SECRET_NAMES: &[&str] = &[
    // The user's ssh and gpg agents sign and authenticate for whoever can reach the socket.
    "SSH_AUTH_SOCK",
    "GPG_AGENT_INFO",
    "KUBECONFIG",
    "DOCKER_AUTH_CONFIG",
    "NETRC",
    "PGPASSFILE",
];

/// Whether a variable of this name holds a credential: a part such as `TOKEN` or `SECRET`, a
/// name ending in `KEY`/`KEYS` (`OPENAI_API_KEY`, `STRIPE_KEY`), or a cloud provider's family.
/// `PWD` alone (the shell's working directory) is not one.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper == "PWD" || upper == "OLDPWD" {
        return false;
    }
    if SECRET_NAMES.contains(&upper.as_str())
        || SECRET_PREFIXES.iter().any(|p| upper.starts_with(p))
    {
        return true;
    }
    let parts: Vec<&str> = upper
        .split(['_', '-', '.'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.iter().any(|p| SECRET_PARTS.contains(p)) {
        return true;
    }
    parts
        .last()
        .is_some_and(|last| *last == "KEY" || *last == "KEYS" || last.ends_with("APIKEY"))
}

/// The names of this process's credential variables (the environment is read once, on the
/// first call).
pub fn secret_env_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| is_secret_env_name(k))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_by_pattern() {
        for name in [
            "OPENAI_API_KEY",
            "GITHUB_TOKEN",
            "GH_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SESSION_TOKEN",
            "DB_PASSWORD",
            "MY_SERVICE_SECRET",
            "AZURE_CLIENT_SECRET",
            "GOOGLE_APPLICATION_CREDENTIALS",
            "HF_TOKEN",
            "HUGGING_FACE_HUB_TOKEN",
            "SLACK_BOT_TOKEN",
            "STRIPE_KEY",
            "NPM_CONFIG__AUTH",
            "SSH_AUTH_SOCK",
            "anthropic_api_key",
            "SENTRY_AUTH_TOKEN",
        ] {
            assert!(is_secret_env_name(name), "{name}");
        }
    }

    #[test]
    fn ordinary_variables_are_kept() {
        for name in [
            "PATH",
            "HOME",
            "PWD",
            "LANG",
            "TOKENIZERS_PARALLELISM",
            "PYTHONPATH",
            "KEYBOARD_LAYOUT",
            "AUTHOR_NAME",
            "TERM",
            "DOCKER_HOST",
            "OPENAI_BASE_URL",
        ] {
            assert!(!is_secret_env_name(name), "{name}");
        }
    }
}
