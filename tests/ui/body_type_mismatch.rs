use failfast::{circuit_breaker, retry};

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

#[retry]
#[circuit_breaker]
async fn fetch() -> Result<u32, ApiError> {
    Ok("not a number")
}

#[retry]
fn fetch_sync() -> Result<u32, ApiError> {
    Ok("not a number")
}

fn main() {}
