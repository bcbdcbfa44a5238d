//! `#[timeout]` on async fns.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use common::ApiError;
use failfast::{Error, timeout};
use tokio::time::{Instant, sleep};

#[timeout("3s")]
async fn takes(secs: u64) -> Result<u64, ApiError> {
    sleep(Duration::from_secs(secs)).await;
    Ok(secs)
}

#[tokio::test(start_paused = true)]
async fn a_call_within_the_deadline_returns_its_value() {
    let start = Instant::now();
    assert_eq!(takes(2).await, Ok(2));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_late_call_is_dropped_at_the_deadline() {
    let start = Instant::now();
    assert_eq!(
        takes(10).await,
        Err(ApiError::Failfast(Error::Timeout {
            after: Duration::from_secs(3)
        }))
    );
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

static DROPPED: AtomicBool = AtomicBool::new(false);

struct SetOnDrop;
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        DROPPED.store(true, SeqCst);
    }
}

const LIMIT: Duration = Duration::from_millis(250);

#[timeout(after = LIMIT)]
async fn never_finishes() -> Result<(), ApiError> {
    let _guard = SetOnDrop;
    sleep(Duration::from_secs(3600)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_timed_out_future_is_dropped_and_a_duration_expression_works() {
    assert_eq!(
        never_finishes().await,
        Err(ApiError::Failfast(Error::Timeout { after: LIMIT }))
    );
    assert!(
        DROPPED.load(SeqCst),
        "the call's future was dropped, releasing what it held"
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_errors_convert_into_boxed_errors() {
    #[timeout("1s")]
    async fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        sleep(Duration::from_secs(2)).await;
        Ok(())
    }
    let error = boxed().await.unwrap_err();
    let failfast = error
        .downcast_ref::<Error>()
        .expect("the failfast error inside the box");
    assert_eq!(
        failfast,
        &Error::Timeout {
            after: Duration::from_secs(1)
        }
    );
    assert_eq!(error.to_string(), failfast.to_string());
}
