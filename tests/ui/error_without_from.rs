use failfast::circuit_breaker;

#[derive(Debug)]
enum ApiError {
    Down,
}

#[circuit_breaker]
fn fetch() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

fn main() {}
