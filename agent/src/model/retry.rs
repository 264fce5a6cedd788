//! The HTTP transport under async-openai: retries with exponential backoff and jitter on 429,
//! 5xx and connection errors, honouring `Retry-After`. Plugged in through async-openai's tower
//! middleware hook so the policy is ours and observable.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use rand::Rng;
use reqwest::header::{HeaderMap, RETRY_AFTER};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A server's `Retry-After` is honoured up to this bound.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Exponential backoff with "equal jitter": half fixed, half random, so retries spread out
    /// but never collapse to zero.
    pub fn backoff(&self, retry_index: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry_index))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter_ms)
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

fn is_retryable_status(status: reqwest::StatusCode) -> bool {
    status.as_u16() == 429 || status.is_server_error()
}

fn is_transient(err: &reqwest::Error) -> bool {
    err.is_connect() || err.is_timeout() || err.is_request()
}

/// A tower service executing async-openai's replayable requests with our retry policy.
#[derive(Clone)]
pub struct RetryingTransport {
    client: reqwest::Client,
    policy: RetryPolicy,
    /// Attempts used by the most recent call, read by the model client for the trajectory.
    last_attempts: Arc<AtomicU32>,
}

impl RetryingTransport {
    pub fn new(client: reqwest::Client, policy: RetryPolicy) -> Self {
        Self {
            client,
            policy,
            last_attempts: Arc::new(AtomicU32::new(0)),
        }
    }

    pub fn attempts_counter(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.last_attempts)
    }

    async fn execute(self, factory: HttpRequestFactory) -> Result<reqwest::Response, OpenAIError> {
        let mut retry_index = 0u32;
        loop {
            self.last_attempts.store(retry_index + 1, Ordering::Relaxed);
            let request = factory.build().await?;
            let url = request.url().to_string();
            let can_retry = retry_index < self.policy.max_retries;
            match self.client.execute(request).await {
                Ok(response) if can_retry && is_retryable_status(response.status()) => {
                    let delay = retry_after(response.headers())
                        .map(|d| d.min(self.policy.max_retry_after))
                        .unwrap_or_else(|| self.policy.backoff(retry_index));
                    tracing::warn!(
                        status = response.status().as_u16(),
                        delay_ms = delay.as_millis() as u64,
                        attempt = retry_index + 1,
                        "model endpoint {url} asked us to retry"
                    );
                    tokio::time::sleep(delay).await;
                }
                Ok(response) => return Ok(response),
                Err(err) if can_retry && is_transient(&err) => {
                    let delay = self.policy.backoff(retry_index);
                    tracing::warn!(
                        delay_ms = delay.as_millis() as u64,
                        attempt = retry_index + 1,
                        "model endpoint {url}: {err}; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(err) => return Err(OpenAIError::Reqwest(err)),
            }
            retry_index += 1;
        }
    }
}

impl tower::Service<HttpRequestFactory> for RetryingTransport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        Box::pin(self.clone().execute(factory))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let policy = RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(10),
        };
        for i in 0..8 {
            let d = policy.backoff(i);
            let full = (100u64 << i).min(1000);
            assert!(d.as_millis() as u64 >= full / 2, "retry {i}: {d:?}");
            assert!(d.as_millis() as u64 <= full, "retry {i}: {d:?}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        let future = std::time::SystemTime::now() + Duration::from_secs(30);
        headers.insert(
            RETRY_AFTER,
            httpdate::fmt_http_date(future).parse().unwrap(),
        );
        let d = retry_after(&headers).unwrap();
        assert!(
            d <= Duration::from_secs(30) && d >= Duration::from_secs(28),
            "{d:?}"
        );
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
