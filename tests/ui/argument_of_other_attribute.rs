use failfast::retry;

#[retry(attempts = 3, reset = "30s")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
