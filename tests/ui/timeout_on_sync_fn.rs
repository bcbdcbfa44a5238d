use failfast::timeout;

#[derive(Debug)]
struct ApiError;

impl From<failfast::Error> for ApiError {
    fn from(_: failfast::Error) -> Self {
        ApiError
    }
}

#[timeout("3s")]
fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
