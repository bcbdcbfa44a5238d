use failfast::retry;

#[retry(attemps = 3)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
