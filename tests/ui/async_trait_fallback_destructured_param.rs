use async_trait::async_trait;
use failfast::circuit_breaker;

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

#[async_trait]
trait Pages {
    async fn page(&self, at: (u64, u32)) -> Result<u64, ApiError>;
}

struct Site;

impl Site {
    async fn cached(&self, at: (u64, u32)) -> Result<u64, ApiError> {
        Ok(at.0)
    }
}

#[async_trait]
impl Pages for Site {
    #[circuit_breaker(fallback = cached)]
    async fn page(&self, (user, page): (u64, u32)) -> Result<u64, ApiError> {
        Ok(user + u64::from(page))
    }
}

fn main() {}
