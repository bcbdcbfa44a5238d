use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(fallback = cached)]
async fn fetch(user: u64) -> Result<u64, ApiError> {
    Ok(user)
}

fn cached(user: u64) -> Result<u64, ApiError> {
    Ok(user)
}

fn main() {}
