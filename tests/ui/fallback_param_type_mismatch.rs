use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(fallback = cached)]
fn fetch(user: u64) -> Result<u64, ApiError> {
    Ok(user)
}

fn cached(user: &str) -> Result<u64, ApiError> {
    Ok(user.len() as u64)
}

fn main() {}
