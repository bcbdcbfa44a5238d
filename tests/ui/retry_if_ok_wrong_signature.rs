use failfast::retry;

struct Response {
    status: u16,
}

fn unavailable(status: &u16) -> bool {
    *status == 503
}

#[retry(retry_if_ok = unavailable)]
fn fetch() -> Result<Response, std::io::Error> {
    Ok(Response { status: 200 })
}

fn main() {
    let _ = fetch().map(|r| r.status);
}
