use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

#[circuit_breaker(enabled = "yes")]
fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
