use failfast::retry;

#[retry(budget = None)]
fn fetch() -> Result<(), std::io::Error> {
    Ok(())
}

#[retry(budget = "")]
fn fetch_again() -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {}
