use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;
impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

struct Order {
    id: u32,
}

#[circuit_breaker(fallback = queued, fallback_on = "failure")]
fn place(order: Order) -> Result<u32, ApiError> {
    Ok(order.id)
}

fn queued(_order: Order) -> Result<u32, ApiError> {
    Ok(0)
}

fn main() {}
