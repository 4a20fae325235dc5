#!/usr/bin/env bash
# Fuzzes the readers with libFuzzer (+ AddressSanitizer). New interesting inputs land in corpus/,
# which the test suite replays (FuzzCorpusTests) on every `swift test`.
#
#     Tests/Fuzz/run.sh [SECONDS]      # default 60
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${TMPDIR:-/tmp}/finetop-fuzz"
mkdir -p "$out"
swiftc -sanitize=fuzzer,address -parse-as-library -O -module-name FinetopCore \
  "$root"/Sources/FinetopCore/*.swift "$here/FuzzReaders.swift" -o "$out/fuzz-readers"
"$out/fuzz-readers" -max_total_time="${1:-60}" -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
  -dict="$here/json.dict" "$here/corpus"
