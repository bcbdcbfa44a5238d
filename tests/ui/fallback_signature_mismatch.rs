use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

#[circuit_breaker(fallback = cached)]
fn fetch(user: u64, page: u32) -> Result<Vec<u64>, ApiError> {
    let _ = (user, page);
    Ok(vec![])
}

fn cached(user: u64) -> Result<Vec<u64>, ApiError> {
    Ok(vec![user])
}

fn main() {}
