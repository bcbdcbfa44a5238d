use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;
impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

#[circuit_breaker(fallback_on = "failure")]
fn no_fallback() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(fallback = cached, fallback_on = "errors")]
fn misspelt() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(fallback = cached, fallback_on = "opne")]
fn typo() -> Result<(), ApiError> {
    Ok(())
}

#[circuit_breaker(fallback = cached, fallback_on = Failure)]
fn not_a_string() -> Result<(), ApiError> {
    Ok(())
}

fn cached() -> Result<(), ApiError> {
    Ok(())
}

struct Client;

impl Client {
    #[circuit_breaker(fallback = Self::offline, fallback_on = "failure")]
    fn consume(self) -> Result<(), ApiError> {
        Ok(())
    }

    fn offline(self) -> Result<(), ApiError> {
        Ok(())
    }
}

fn main() {}
