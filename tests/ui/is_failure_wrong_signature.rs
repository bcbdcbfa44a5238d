use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

fn transient(status: u16) -> bool {
    status >= 500
}

#[circuit_breaker(is_failure = transient)]
fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
