use failfast::retry;

#[retry(delay = "5 parsecs")]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
