use failfast::retry;

#[retry(delay = "100ms", attempts = 3, delay = "200ms")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
