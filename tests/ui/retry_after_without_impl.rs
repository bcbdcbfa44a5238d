use failfast::retry;

#[derive(Debug)]
struct Busy;

// `retry_after` alone asks the error's `RetryAfter` impl, which `Busy` lacks.
#[retry(retry_after)]
fn fetch() -> Result<(), Busy> {
    Err(Busy)
}

fn main() {}
