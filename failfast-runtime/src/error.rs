//! The errors failfast itself produces: a rejected call and an elapsed timeout.

use std::fmt;
use std::time::Duration;

use crate::name::BreakerName;

/// A call that failfast refused to run, or cut short.
///
/// Guarded functions return their own error type `E`; failfast's rejections reach the
/// caller through `E: From<Error>`.
///
/// ```
/// use failfast_runtime::{Breaker, BreakerConfig, Error};
///
/// let breaker = Breaker::new("sales_api", BreakerConfig::new());
/// breaker.force_open();
/// let err = breaker.acquire().unwrap_err();
/// assert!(matches!(err, Error::Open { .. }));
/// assert!(err.to_string().starts_with("circuit breaker `sales_api` is open"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The breaker is open: the call was not made.
    Open {
        /// The name of the breaker that rejected the call.
        name: BreakerName,
        /// How long until the breaker lets a trial call through (zero while half-open
        /// trials are running).
        retry_after: Duration,
    },
    /// The timeout elapsed: the future was dropped.
    Timeout {
        /// The timeout that elapsed.
        after: Duration,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Open { name, retry_after } => write!(
                f,
                "circuit breaker `{name}` is open; retry after {:?}",
                readable(*retry_after)
            ),
            Error::Timeout { after } => write!(f, "timed out after {:?}", readable(*after)),
        }
    }
}

impl std::error::Error for Error {}

/// Rounds a duration so its `Debug` form reads well in a message: `59.2s`, `250ms`.
fn readable(d: Duration) -> Duration {
    const TENTH: u128 = 100_000_000;
    const MILLI: u128 = 1_000_000;
    let nanos = d.as_nanos();
    let step = if nanos >= 10 * TENTH {
        TENTH
    } else if nanos >= MILLI {
        MILLI
    } else {
        return d;
    };
    let rounded = (nanos + step / 2) / step * step;
    Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// True when `e`, or any error in its `source()` chain, is an [`Error::Open`].
///
/// ```
/// use failfast_runtime::{is_open, Error};
/// use std::time::Duration;
///
/// let open = Error::Open { name: "db".into(), retry_after: Duration::ZERO };
/// assert!(is_open(&open));
/// assert!(!is_open(&Error::Timeout { after: Duration::from_secs(1) }));
/// ```
pub fn is_open<E: std::error::Error + 'static>(e: &E) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(Error::Open { .. }) = err.downcast_ref::<Error>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// The opposite of [`is_open`], made for `retry_if = failfast::not_open`: retry every
/// error except a breaker's rejection (retrying an open breaker only adds load).
///
/// ```
/// use failfast_runtime::{not_open, Error};
/// use std::time::Duration;
///
/// assert!(not_open(&Error::Timeout { after: Duration::from_secs(1) }));
/// ```
pub fn not_open<E: std::error::Error + 'static>(e: &E) -> bool {
    !is_open(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_rounds_durations() {
        let open = Error::Open {
            name: "sales_api".into(),
            retry_after: Duration::from_millis(59_213),
        };
        assert_eq!(
            open.to_string(),
            "circuit breaker `sales_api` is open; retry after 59.2s"
        );
        let timeout = Error::Timeout {
            after: Duration::from_secs(3),
        };
        assert_eq!(timeout.to_string(), "timed out after 3s");
        let short = Error::Timeout {
            after: Duration::from_micros(250_400),
        };
        assert_eq!(short.to_string(), "timed out after 250ms");
    }

    #[derive(Debug)]
    struct Wrapper(Error);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn is_open_walks_the_source_chain() {
        let open = Error::Open {
            name: "x".into(),
            retry_after: Duration::ZERO,
        };
        assert!(is_open(&Wrapper(open)));
        let timeout = Error::Timeout {
            after: Duration::ZERO,
        };
        assert!(not_open(&Wrapper(timeout)));
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Error>();
    }
}
