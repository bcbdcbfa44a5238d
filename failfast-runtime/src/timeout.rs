//! Give up on a future after a while.

use std::time::Duration;

use crate::error::Error;

/// Awaits `fut` for at most `after`; past that the future is dropped and
/// `Err(E::from(Error::Timeout { after }))` returned. Follows tokio's clock, so a paused
/// test runtime times out on `tokio::time::advance`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use failfast_runtime::{timeout, Error};
/// use std::time::Duration;
///
/// let slow = async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<(), Error>(())
/// };
/// let result = timeout(Duration::from_millis(1), slow).await;
/// assert!(matches!(result, Err(Error::Timeout { .. })));
/// # }
/// ```
pub async fn timeout<T, E: From<Error>, F: Future<Output = Result<T, E>>>(
    after: Duration,
    fut: F,
) -> Result<T, E> {
    match tokio::time::timeout(after, fut).await {
        Ok(result) => result,
        Err(_elapsed) => Err(E::from(Error::Timeout { after })),
    }
}
