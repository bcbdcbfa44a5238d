use failfast::timeout;

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

trait Inventory {
    fn stock(&self, item: u32) -> Result<u32, ApiError>;
}

struct Warehouse;

impl Inventory for Warehouse {
    #[timeout("3s")]
    fn stock(&self, item: u32) -> Result<u32, ApiError> {
        Ok(item)
    }
}

fn main() {}
