use async_trait::async_trait;
use failfast::timeout;

#[derive(Debug)]
enum ApiError {
    Down,
}

#[async_trait]
trait Inventory {
    async fn stock(&self, item: u32) -> Result<u32, ApiError>;
}

struct Warehouse;

#[async_trait]
impl Inventory for Warehouse {
    #[timeout("3s")]
    async fn stock(&self, item: u32) -> Result<u32, ApiError> {
        if item == 0 { Err(ApiError::Down) } else { Ok(item) }
    }
}

fn main() {}
