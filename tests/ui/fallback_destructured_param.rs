use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(fallback = cached)]
fn fetch((user, page): (u64, u32)) -> Result<u64, ApiError> {
    Ok(user + u64::from(page))
}

fn cached(pair: (u64, u32)) -> Result<u64, ApiError> {
    Ok(pair.0)
}

fn main() {}
