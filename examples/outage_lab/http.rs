//! `--http`: the same scenarios over real sockets on 127.0.0.1, in real time (20 s each),
//! to show that nothing depends on the simulation.
//!
//! - The three upstreams are axum servers on free ports, answering as the simulation says
//!   (`upstream::Services`): after the drawn latency, with a 200 or a 503, or never.
//! - The homepage is a front server with the bounded queue, and one worker *process* per
//!   worker, as gunicorn's: this program again, with `--serve-worker`, each with its own
//!   breakers in its own registry, calling the upstreams with reqwest. The front hands each
//!   request to a free worker over HTTP.
//! - A load generator sends open-loop requests to the front with reqwest.
//! - `fleet`'s `shared` variant gives every worker process `RedisStore` as its default
//!   store, on a `redis-server` the lab starts and stops (with the `redis` feature).

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use failfast::{Transition, registry};
use serde::Deserialize;
use tokio::time::Instant;

use super::client::{CallError, Upstreams};
use super::homepage;
use super::record::{Measured, Outcome, Recorder};
use super::scenario::{Pace, Scenario, Service, Timeline, Variant};
use super::sim::{self, Load};
use super::traffic::{self, Pool, Serve};
use super::upstream::{Reply, Services};

/// The upstreams, reached with reqwest.
#[derive(Clone)]
pub struct HttpUpstreams {
    client: reqwest::Client,
    urls: Arc<[String; 3]>,
}

impl HttpUpstreams {
    fn new(ports: [u16; 3], client_timeout: Duration) -> HttpUpstreams {
        let client = reqwest::Client::builder()
            .timeout(client_timeout)
            .no_proxy()
            .build()
            .expect("a plain HTTP client");
        HttpUpstreams {
            client,
            urls: Arc::new(ports.map(|port| format!("http://127.0.0.1:{port}/"))),
        }
    }

    /// One call: `Ok` on a 2xx.
    pub async fn call(&self, service: Service) -> Result<(), CallError> {
        let response = self
            .client
            .get(&self.urls[service.index()])
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    CallError::ClientTimeout
                } else {
                    CallError::Connect(e.to_string())
                }
            })?;
        let status = response.status();
        let _ = response.bytes().await;
        if status.is_success() {
            Ok(())
        } else {
            Err(CallError::Status(status.as_u16()))
        }
    }
}

/// The behaviour of the current run, which the upstream servers follow (none between
/// runs).
type Current = Arc<Mutex<Option<Arc<Services>>>>;

/// The servers and processes that outlive one run: the runtime, the upstreams, and the
/// redis-server once `shared` needs it.
pub struct Lab {
    runtime: tokio::runtime::Runtime,
    load: Load,
    ports: [u16; 3],
    /// What the upstreams do: the current run's behaviour.
    services: Current,
    redis: Option<Result<RedisServer, String>>,
    runs: u32,
}

impl Lab {
    /// Starts the three upstream servers.
    pub fn start(load: Load) -> Result<Lab, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))?;
        let services: Current = Arc::default();
        let mut ports = [0; 3];
        for service in Service::ALL {
            let router = Router::new()
                .route("/", get(upstream))
                .with_state((service, services.clone()));
            ports[service.index()] = runtime.block_on(listen(router))?.0;
        }
        Ok(Lab {
            runtime,
            load,
            ports,
            services,
            redis: None,
            runs: 0,
        })
    }

    /// Runs `variant` of `scenario` for the HTTP timeline; `None` when it cannot run here
    /// (said on stderr).
    pub fn run(
        &mut self,
        scenario: Scenario,
        variant: Variant,
        seed: u64,
    ) -> Result<Option<Measured>, String> {
        self.runs += 1;
        let store = match variant {
            Variant::Shared => match self.redis_url() {
                Ok(url) => Some((
                    url,
                    format!("outage-lab-{}-{}", std::process::id(), self.runs),
                )),
                Err(why) => {
                    eprintln!(
                        "  {:<22} {:<9} skipped: {why}",
                        scenario.name(),
                        variant.name()
                    );
                    return Ok(None);
                }
            },
            _ => None,
        };
        let spec = WorkerSpec {
            scenario,
            variant,
            ports: self.ports,
            store,
        };
        let workers = Workers::spawn(&spec, self.load.workers)?;
        let measured =
            self.runtime
                .block_on(drive(scenario, self.load, seed, &self.services, &workers))?;
        drop(workers);
        *self.services.lock().unwrap() = None;
        Ok(Some(measured))
    }

    /// The URL of the lab's own redis-server, started on first use.
    fn redis_url(&mut self) -> Result<String, String> {
        if !cfg!(feature = "redis") {
            return Err(
                "the shared breaker over HTTP goes through Redis: build the lab with \
                        --features redis"
                    .into(),
            );
        }
        let redis = self.redis.get_or_insert_with(RedisServer::start);
        redis.as_ref().map(|r| r.url()).map_err(Clone::clone)
    }
}

/// One run: the front and its pool, the breaker sampler, the load; everything measured.
async fn drive(
    scenario: Scenario,
    load: Load,
    seed: u64,
    services_slot: &Mutex<Option<Arc<Services>>>,
    workers: &Workers,
) -> Result<Measured, String> {
    let timeline = Timeline::HTTP;
    let recorder = Arc::new(Recorder::new(timeline, load.workers));
    let services = Arc::new(Services::new(
        scenario,
        timeline,
        seed ^ ((scenario as u64) << 8),
    ));
    *services_slot.lock().unwrap() = Some(services.clone());

    // The front: the bounded queue, each worker forwarding to its process.
    let forward = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let pages: Arc<[String]> = workers
        .ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/page"))
        .collect();
    let serve: Serve = Arc::new(move |worker, token| {
        let (forward, url) = (forward.clone(), pages[worker].clone());
        Box::pin(async move {
            match forward.get(format!("{url}?token={token}")).send().await {
                Ok(response) => page_outcome(response).await,
                Err(_) => Outcome::Error,
            }
        })
    });
    let (pool, pool_tasks) = Pool::start(load.workers, load.queue, recorder.clone(), serve);
    let (front_port, front_task) =
        listen(Router::new().route("/", get(front)).with_state(pool)).await?;

    let sampler = tokio::spawn(sample_workers(
        recorder.clone(),
        workers.ports.clone(),
        timeline,
    ));
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("http://127.0.0.1:{front_port}/");
    traffic::generate(load.rps, timeline, recorder.clone(), |token| {
        let request = client.get(format!("{url}?token={token}")).send();
        Some(async move {
            match request.await {
                Ok(response) if response.status() == StatusCode::SERVICE_UNAVAILABLE => {
                    Outcome::TurnedAway
                }
                Ok(response) => page_outcome(response).await,
                Err(_) => Outcome::Error,
            }
        })
    })
    .await;
    sampler.abort();
    front_task.abort();
    drop(pool_tasks);
    Ok(recorder.finish(Service::ALL.map(|service| services.calls().series(service))))
}

/// What a page response says: `full` or `degraded` with a 200, an error otherwise.
async fn page_outcome(response: reqwest::Response) -> Outcome {
    let ok = response.status().is_success();
    match response.text().await.as_deref() {
        Ok("full") if ok => Outcome::Full,
        Ok("degraded") if ok => Outcome::Degraded,
        _ => Outcome::Error,
    }
}

#[derive(Deserialize)]
struct Token {
    token: u64,
}

/// The front's one route: queue the request, or turn it away with a 503.
async fn front(
    State(pool): State<Pool>,
    Query(Token { token }): Query<Token>,
) -> (StatusCode, &'static str) {
    let Some(answer) = pool.submit(token) else {
        return (StatusCode::SERVICE_UNAVAILABLE, "queue full");
    };
    match answer.await {
        Ok(Outcome::Full) => (StatusCode::OK, "full"),
        Ok(Outcome::Degraded) => (StatusCode::OK, "degraded"),
        _ => (StatusCode::BAD_GATEWAY, "error"),
    }
}

/// An upstream's one route: whatever the simulation says, after its latency.
async fn upstream(State((service, services)): State<(Service, Current)>) -> StatusCode {
    let services = services.lock().unwrap().clone();
    let Some(services) = services else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    match services.reply(service) {
        Reply::Answer(latency) => {
            tokio::time::sleep(latency).await;
            StatusCode::OK
        }
        Reply::Error(latency) => {
            tokio::time::sleep(latency).await;
            StatusCode::SERVICE_UNAVAILABLE
        }
        Reply::Hang => {
            // Until the caller gives up and closes the connection (a minute at most).
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::GATEWAY_TIMEOUT
        }
    }
}

/// Serves `router` on a free port of 127.0.0.1, in the background; returns the port and
/// the server's task.
async fn listen(router: Router) -> Result<(u16, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((port, task))
}

/// Every second, the state of the failing service's breaker in each worker process and
/// the trial calls each made since the last look.
async fn sample_workers(recorder: Arc<Recorder>, ports: Vec<u16>, timeline: Timeline) {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(900))
        .build()
        .expect("a plain HTTP client");
    let mut seen = vec![0u64; ports.len()];
    let start = Instant::now();
    for second in 0..timeline.total {
        tokio::time::sleep_until(start + Duration::from_secs(second) + Duration::from_millis(950))
            .await;
        let (mut closed, mut open, mut half_open) = (0, 0, 0);
        for (port, seen) in ports.iter().zip(&mut seen) {
            let url = format!("http://127.0.0.1:{port}/breakers");
            let Ok(response) = client.get(url).send().await else {
                continue;
            };
            let Ok(text) = response.text().await else {
                continue;
            };
            let mut words = text.split_whitespace();
            match words.next() {
                Some("open") => open += 1,
                Some("half-open") => half_open += 1,
                Some(_) => closed += 1,
                None => continue,
            }
            let probes: u64 = words.next().and_then(|n| n.parse().ok()).unwrap_or(*seen);
            for _ in *seen..probes {
                recorder.probe(Instant::now());
            }
            *seen = probes.max(*seen);
        }
        if closed + open + half_open > 0 {
            recorder.states(second, closed, open, half_open);
        }
    }
}

// --- The worker processes ---------------------------------------------------------------

/// What a worker process serves: `scenario,variant,auth,recs,popular[,redis url,prefix]`.
struct WorkerSpec {
    scenario: Scenario,
    variant: Variant,
    ports: [u16; 3],
    /// The Redis URL and key prefix of the shared store.
    store: Option<(String, String)>,
}

impl WorkerSpec {
    fn encode(&self) -> String {
        let mut spec = format!(
            "{},{},{},{},{}",
            self.scenario, self.variant, self.ports[0], self.ports[1], self.ports[2]
        );
        if let Some((url, prefix)) = &self.store {
            spec += &format!(",{url},{prefix}");
        }
        spec
    }

    fn decode(spec: &str) -> Option<WorkerSpec> {
        use clap::ValueEnum;
        let parts: Vec<&str> = spec.split(',').collect();
        let port = |i: usize| parts.get(i)?.parse().ok();
        Some(WorkerSpec {
            scenario: Scenario::from_str(parts.first()?, false).ok()?,
            variant: Variant::from_str(parts.get(1)?, false).ok()?,
            ports: [port(2)?, port(3)?, port(4)?],
            store: match (parts.get(5), parts.get(6)) {
                (Some(url), Some(prefix)) => Some((url.to_string(), prefix.to_string())),
                _ => None,
            },
        })
    }
}

/// The worker processes of one run; stopped on drop.
struct Workers {
    children: Vec<(Child, Option<ChildStdin>)>,
    ports: Vec<u16>,
}

impl Workers {
    fn spawn(spec: &WorkerSpec, count: usize) -> Result<Workers, String> {
        let exe: PathBuf = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut workers = Workers {
            children: Vec::new(),
            ports: Vec::new(),
        };
        for _ in 0..count {
            let mut child = Command::new(&exe)
                .arg("--serve-worker")
                .arg(spec.encode())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("cannot start a worker process: {e}"))?;
            let mut line = String::new();
            let stdout = child.stdout.take().expect("piped");
            let _ = BufReader::new(stdout).read_line(&mut line);
            let stdin = child.stdin.take();
            workers.children.push((child, stdin));
            let port = line
                .trim()
                .parse()
                .map_err(|_| format!("a worker process did not start: {line:?}"))?;
            workers.ports.push(port);
        }
        Ok(workers)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for (child, stdin) in &mut self.children {
            drop(stdin.take()); // the worker exits when its stdin closes
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `--serve-worker SPEC`: one homepage worker process. Prints its port, serves
/// `GET /page?token=N` (`full`, `degraded`, or a 502) and `GET /breakers` (the failing
/// service's breaker state and how many trial calls it made), until stdin closes.
pub fn serve_worker(spec: &str) -> ExitCode {
    let Some(spec) = WorkerSpec::decode(spec) else {
        eprintln!("error: bad --serve-worker spec {spec:?}");
        return ExitCode::from(2);
    };
    homepage::set_pace(Pace::HTTP);
    if let Some((url, prefix)) = &spec.store {
        if let Err(e) = shared_store(url, prefix) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(worker(spec));
    ExitCode::SUCCESS
}

#[cfg(feature = "redis")]
fn shared_store(url: &str, prefix: &str) -> Result<(), String> {
    let store = failfast::RedisStore::builder()
        .prefix(prefix)
        .connect(url)
        .map_err(|e| e.to_string())?;
    failfast::set_default_store(store).map_err(|e| e.to_string())
}

#[cfg(not(feature = "redis"))]
fn shared_store(_url: &str, _prefix: &str) -> Result<(), String> {
    Err("built without the redis feature".into())
}

/// The worker's server.
async fn worker(spec: WorkerSpec) {
    let clients = homepage::clients(spec.scenario, spec.variant, 1)[0];
    let up = Upstreams::Http(HttpUpstreams::new(spec.ports, Pace::HTTP.client_timeout));
    let failing = clients
        .breakers
        .map(|names| names[spec.scenario.failing().index()]);
    let probes = Arc::new(AtomicU64::new(0));
    let _subscription = failing.map(|name| {
        let probes = probes.clone();
        registry().subscribe(move |t: &Transition| {
            if &*t.name == name && t.to == failfast::State::HalfOpen {
                probes.fetch_add(1, Relaxed);
            }
        })
    });
    let page = {
        let up = up.clone();
        move |Query(Token { token }): Query<Token>| async move {
            match sim::outcome(homepage::homepage(&clients, &up, token).await) {
                Outcome::Full => (StatusCode::OK, "full"),
                Outcome::Degraded => (StatusCode::OK, "degraded"),
                _ => (StatusCode::BAD_GATEWAY, "error"),
            }
        }
    };
    let breakers = move || async move {
        // Nothing without breakers (`bare`).
        let Some(name) = failing else {
            return String::new();
        };
        let state = registry()
            .get(name)
            .map_or(failfast::State::Closed, |b| b.state());
        let state = match state {
            failfast::State::Open | failfast::State::ForcedOpen => "open",
            failfast::State::HalfOpen => "half-open",
            _ => "closed",
        };
        format!("{state} {}", probes.load(Relaxed))
    };
    let router = Router::new()
        .route("/page", get(page))
        .route("/breakers", get(breakers));
    let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
        return;
    };
    let Ok(SocketAddr::V4(addr)) = listener.local_addr() else {
        return;
    };
    println!("{}", addr.port());
    // Stop when the lab closes our stdin (or dies).
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    let _ = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = stdin_closed.await;
        })
        .await;
}

// --- redis-server -------------------------------------------------------------------------

/// The lab's own `redis-server` on a free loopback port, without persistence; stopped on
/// drop.
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    fn start() -> Result<RedisServer, String> {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("outage-lab-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    "redis-server is not installed (apt-get install redis-server)".to_owned()
                } else {
                    format!("cannot start redis-server: {e}")
                }
            })?;
        let server = RedisServer { child, port, dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if server.ping() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not answer within 5 s".into())
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn ping(&self) -> bool {
        use std::io::Write;
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
