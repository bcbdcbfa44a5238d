//! The runtime by hand, without the attributes: closures and futures.

mod common;

use std::cell::Cell;
use std::time::Duration;

use common::ApiError;
use failfast::{Breaker, BreakerConfig, Error, Jitter, RetryPolicy, State};
use tokio::time::{Instant, advance, sleep};

#[test]
fn a_breaker_guards_closures() {
    let breaker = Breaker::new(
        "plain::closures",
        BreakerConfig::new()
            .failures(2)
            .reset(Duration::from_secs(60)),
    );
    let calls = Cell::new(0);
    let down = || {
        calls.set(calls.get() + 1);
        Err::<(), _>(ApiError::Down)
    };
    assert_eq!(breaker.call(down), Err(ApiError::Down));
    assert_eq!(breaker.call(down), Err(ApiError::Down));
    assert!(matches!(
        breaker.call(down),
        Err(ApiError::Failfast(Error::Open { .. }))
    ));
    assert_eq!(calls.get(), 2);
    assert_eq!(breaker.state(), State::Open);
    assert!(
        failfast::registry().get("plain::closures").is_none(),
        "Breaker::new is standalone"
    );

    // call_with: only some errors count.
    let breaker = Breaker::new("plain::classified", BreakerConfig::new().failures(1));
    let bad = || Err::<(), _>(ApiError::BadRequest);
    assert_eq!(
        breaker.call_with(common::dependency_fault, bad),
        Err(ApiError::BadRequest)
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_breaker_guards_futures() {
    let breaker = Breaker::new(
        "plain::futures",
        BreakerConfig::new()
            .failures(1)
            .reset(Duration::from_secs(5)),
    );
    let down = async { Err::<(), _>(ApiError::Down) };
    assert_eq!(breaker.call_async(down).await, Err(ApiError::Down));
    let rejected = breaker.call_async(async { Ok::<_, ApiError>(()) }).await;
    assert_eq!(
        rejected,
        Err(ApiError::Failfast(Error::Open {
            name: "plain::futures".into(),
            retry_after: Duration::from_secs(5)
        }))
    );
    advance(Duration::from_secs(5)).await;
    assert_eq!(
        breaker.call_async(async { Ok::<_, ApiError>(()) }).await,
        Ok(())
    );
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn retry_and_timeout_by_hand() {
    let policy = RetryPolicy::new()
        .attempts(3)
        .delay(Duration::from_millis(100))
        .jitter(Jitter::None);
    let start = Instant::now();
    let mut tries = 0;
    let result: Result<(), ApiError> = failfast::retry_async(&policy, || {
        tries += 1;
        failfast::timeout(Duration::from_secs(1), async {
            sleep(Duration::from_secs(2)).await;
            Ok(())
        })
    })
    .await;
    assert_eq!(
        result,
        Err(ApiError::Failfast(Error::Timeout {
            after: Duration::from_secs(1)
        }))
    );
    assert_eq!(tries, 3);
    assert_eq!(start.elapsed(), Duration::from_millis(3000 + 100 + 200));

    let mut sync_tries = 0;
    let policy = policy.delay(Duration::from_millis(1));
    let result = failfast::retry(&policy, || {
        sync_tries += 1;
        if sync_tries < 2 {
            Err(ApiError::Down)
        } else {
            Ok(sync_tries)
        }
    });
    assert_eq!(result, Ok(2));
}
