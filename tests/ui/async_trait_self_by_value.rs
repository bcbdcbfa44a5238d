use async_trait::async_trait;
use failfast::retry;

#[derive(Clone)]
struct Request {
    body: String,
}

#[async_trait]
trait Deliver {
    async fn send(self) -> Result<String, std::io::Error>;
}

#[async_trait]
impl Deliver for Request {
    #[retry(attempts = 3)]
    async fn send(self) -> Result<String, std::io::Error> {
        Ok(self.body)
    }
}

fn main() {}
