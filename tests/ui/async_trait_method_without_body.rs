use async_trait::async_trait;
use failfast::retry;

#[derive(Debug)]
struct ApiError;

#[async_trait]
trait Inventory {
    #[retry(attempts = 3)]
    async fn stock(&self, item: u32) -> Result<u32, ApiError>;
}

fn main() {}
