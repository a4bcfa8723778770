//! Counts the attempts the SDK's retry loop really made for one call, so "throttled after N
//! attempts" is true even when the shared retry quota (token bucket) stopped retrying before
//! `max_attempts`. The count travels on the final HTTP response as an extension, where
//! [`attempts_of`] reads it back from the `SdkError`.

use aws_sdk_bedrockruntime::config::http::HttpResponse;
use aws_sdk_bedrockruntime::config::interceptors::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextMut,
};
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::error::{BoxError, SdkError};
use aws_smithy_types::config_bag::{Storable, StoreReplace};

/// Attempts made so far for the current operation (per-operation interceptor state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempts(pub u32);

impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
pub struct CountAttempts;

impl Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "PallasCountAttempts"
    }

    // Runs once per attempt, just before the request is sent.
    fn modify_before_transmit(
        &self,
        _context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = cfg.load::<Attempts>().map_or(0, |a| a.0);
        cfg.interceptor_state().store_put(Attempts(n + 1));
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(attempts), Some(response)) =
            (cfg.load::<Attempts>().copied(), context.response_mut())
        {
            response.add_extension(attempts);
        }
        Ok(())
    }
}

/// The attempts recorded on a failed call's last response, if it got one.
pub fn attempts_of<E, R: 'static>(err: &SdkError<E, R>) -> Option<u32> {
    let raw = err.raw_response()?;
    (raw as &dyn std::any::Any)
        .downcast_ref::<HttpResponse>()?
        .extension::<Attempts>()
        .map(|a| a.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aws_sdk_bedrockruntime::config::{BehaviorVersion, Region};
    use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};

    use super::*;
    use pallas_simulator::{InjectedError, Simulator};

    #[tokio::test]
    async fn failed_calls_carry_the_number_of_attempts_made() {
        let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sim.endpoint_url())
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "secret", None, None, "test",
            ))
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(5)),
            )
            .interceptor(CountAttempts)
            .build();
        let client = aws_sdk_bedrockruntime::Client::from_conf(config);
        let call = || {
            client
                .converse()
                .model_id("anthropic.claude-sonnet-4-6")
                .messages(
                    Message::builder()
                        .role(ConversationRole::User)
                        .content(ContentBlock::Text("hi".into()))
                        .build()
                        .unwrap(),
                )
                .send()
        };
        sim.inject_error(InjectedError::Throttling, 3);
        let err = call().await.unwrap_err();
        assert_eq!(attempts_of(&err), Some(3));
        assert_eq!(sim.requests().len(), 3);
        sim.clear_requests();
        sim.inject_error(InjectedError::AccessDenied, 1);
        let err = call().await.unwrap_err();
        assert_eq!(attempts_of(&err), Some(1), "not retried");
        assert_eq!(sim.requests().len(), 1);
    }
}
