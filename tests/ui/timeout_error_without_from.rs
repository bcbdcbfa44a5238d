use failfast::timeout;

#[derive(Debug)]
struct ApiError;

#[timeout("1s")]
async fn fetch() -> Result<(), ApiError> {
    Ok(())
}

fn main() {}
