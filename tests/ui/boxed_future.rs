use failfast::retry;
use std::future::Future;
use std::pin::Pin;

// What #[async_trait] turns `async fn fetch(&self) -> Result<u8, ()>` into.
struct Client;

impl Client {
    #[retry]
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<u8, ()>> + Send + '_>> {
        Box::pin(async move { Ok(1) })
    }
}

fn main() {}
