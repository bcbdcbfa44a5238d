use failfast::retry;
use std::future::Future;
use std::pin::Pin;

// A boxed future that is not an async block written in the body: failfast cannot reach
// the work inside it. (`Box::pin(async move { .. })`, the shape #[async_trait] writes, is
// wrapped: see tests/trait_methods.rs.)
struct Client;

impl Client {
    async fn call(&self) -> Result<u8, ()> {
        Ok(1)
    }

    #[retry]
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<u8, ()>> + Send + '_>> {
        Box::pin(self.call())
    }
}

fn main() {}
