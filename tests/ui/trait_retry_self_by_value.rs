use failfast::retry;

#[derive(Clone)]
struct Request {
    body: String,
}

trait Deliver {
    fn send(self) -> Result<String, std::io::Error>;
}

impl Deliver for Request {
    #[retry(attempts = 3)]
    fn send(self) -> Result<String, std::io::Error> {
        Ok(self.body)
    }
}

fn main() {}
