use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(fallback = cached)]
fn fetch(user: u64) -> Result<Vec<u64>, ApiError> {
    Ok(vec![user])
}

fn cached(user: u64) -> Vec<u64> {
    vec![user]
}

fn main() {}
