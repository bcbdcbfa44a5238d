#!/usr/bin/env bash
# Builds the AFL++ harness of the attributes and fuzzes it for FUZZ_SECONDS (default 60),
# then prints what the run did. Exits 1 when it found a crash (a panic of the macro, an
# expansion that does not parse, an error without a message or off the input).
#
#   FUZZ_SECONDS=600 nice -n 10 failfast-macros/fuzz/run.sh
#
# FUZZ_OUT (default target/afl) keeps the queue between runs: a second run resumes from
# it. Installs cargo-afl when it is missing (`cargo install`, about 2 minutes on 2 cores:
# it builds AFL++ from the source it ships; stable toolchain).
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_OUT:-target/afl}

# The version of the `afl` crate in Cargo.lock.
afl_version=0.18.2
if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $afl_version "; then
    echo "== installing cargo-afl $afl_version"
    cargo install cargo-afl --version "$afl_version" --locked --quiet
fi

cargo afl build --release --quiet

# A plain log instead of the screen UI; resume from `$out` when it is there; no CPU
# scaling or core-dump checks (this is not a tuned fuzzing box).
export AFL_NO_UI=1 AFL_AUTORESUME=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export AFL_SUPPRESS_DEBUG=1 AFL_QUIET=1
mkdir -p "$out"
echo "== fuzzing the attributes for ${seconds}s (log: $out/afl.log)"
cargo afl fuzz -V "$seconds" -t 1000 -x expand.dict -i seeds -o "$out" \
    target/release/expand >"$out/afl.log" 2>&1 || {
    tail -20 "$out/afl.log" >&2
    exit 1
}

stats=$out/default/fuzzer_stats
stat() { sed -n "s/^$1 *: //p" "$stats"; }
echo "executions: $(stat execs_done) ($(stat execs_per_sec)/s over $(stat run_time)s in total)"
echo "corpus: $(stat corpus_count) inputs, $(stat corpus_found) found; edges: $(stat edges_found) of $(stat total_edges) ($(stat bitmap_cvg))"
echo "crashes: $(stat saved_crashes); hangs (over 1s): $(stat saved_hangs)"

crashes=$(find "$out/default/crashes" -type f -name 'id:*' 2>/dev/null | sort)
for hang in $(find "$out/default/hangs" -type f -name 'id:*' 2>/dev/null | sort); do
    echo "hang: $hang"
done
if [ -n "$crashes" ]; then
    # The first few, replayed outside AFL for their panic message.
    for crash in $(echo "$crashes" | head -3); do
        echo "== crash $crash"
        FUZZ_REPLAY=1 RUST_BACKTRACE=0 target/release/expand <"$crash" 2>&1 |
            grep -v '^note:' | head -8 || true
    done
    echo "replay one: FUZZ_REPLAY=1 $(pwd)/target/release/expand < CRASH"
    exit 1
fi
