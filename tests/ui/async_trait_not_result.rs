use async_trait::async_trait;
use failfast::{circuit_breaker, retry};

#[async_trait]
trait Inventory {
    async fn stock(&self, item: u32) -> u32;
    async fn reserve(&self, item: u32);
}

struct Warehouse;

#[async_trait]
impl Inventory for Warehouse {
    #[retry]
    async fn stock(&self, item: u32) -> u32 {
        item
    }

    #[circuit_breaker]
    async fn reserve(&self, item: u32) {
        let _ = item;
    }
}

fn main() {}
