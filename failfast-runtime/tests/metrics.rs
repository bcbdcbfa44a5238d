//! Counters are exact however many threads count at once: per-thread stripes for the
//! first threads, a shared atomic stripe beyond them, and stripes handed on as threads exit.

use failfast_runtime::{Breaker, BreakerConfig, Error};

#[test]
fn counts_are_exact_with_more_threads_than_stripes() {
    let breaker = Breaker::new(
        "metrics::many_threads",
        BreakerConfig::new().failures(u32::MAX),
    );
    // Three waves of 48 threads: more than the stripes at once, and slots reused between waves.
    for _ in 0..3 {
        std::thread::scope(|s| {
            for t in 0..48 {
                let breaker = &breaker;
                s.spawn(move || {
                    for i in 0..1_000 {
                        let fail = (t + i) % 10 == 0;
                        let _ = breaker.call(|| {
                            if fail {
                                Err(Error::Timeout {
                                    after: Default::default(),
                                })
                            } else {
                                Ok(())
                            }
                        });
                    }
                });
            }
        });
    }
    let m = breaker.metrics();
    assert_eq!(m.calls, 3 * 48 * 1_000);
    assert_eq!(m.failures, 3 * 48 * 100);
    assert_eq!(m.successes, 3 * 48 * 900);
    assert_eq!(m.rejections, 0);
}

#[test]
fn rejections_are_counted_exactly_across_threads() {
    let breaker = Breaker::new("metrics::rejections", BreakerConfig::new());
    breaker.force_open();
    std::thread::scope(|s| {
        for _ in 0..40 {
            s.spawn(|| {
                for _ in 0..500 {
                    assert!(breaker.acquire().is_err());
                }
            });
        }
    });
    assert_eq!(breaker.metrics().rejections, 40 * 500);
}
