use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

trait Inventory {
    #[circuit_breaker("inventory")]
    fn stock(&self, item: u32) -> Result<u32, ApiError>;
}

fn main() {}
