#!/usr/bin/env bash
# Fuzzes the readers with libFuzzer (+ AddressSanitizer). New interesting inputs land in corpus/,
# which the test suite replays (FuzzCorpusTests) on every `swift test`.
#
#     Tests/Fuzz/run.sh [SECONDS]      # default 60
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${TMPDIR:-/tmp}/finetop-fuzz"
mkdir -p "$out/modules"
# FinetopCore decodes TensorBoard events with swift-protobuf: build it once as a static library.
proto="$root/.build/checkouts/swift-protobuf/Sources/SwiftProtobuf"
[[ -d "$proto" ]] || (cd "$root" && swift package resolve)
if [[ ! -f "$out/libSwiftProtobuf.a" ]]; then
  swiftc -sanitize=fuzzer,address -parse-as-library -O -wmo -swift-version 6 -module-name SwiftProtobuf -package-name swift_protobuf \
    -emit-module -emit-module-path "$out/modules/SwiftProtobuf.swiftmodule" \
    -emit-library -static "$proto"/*.swift -o "$out/libSwiftProtobuf.a"
fi
# FinetopCore as a static library, then the fuzz target (FinetopTestSupport) and the harness.
swiftc -sanitize=fuzzer,address -parse-as-library -O -wmo -swift-version 6 -module-name FinetopCore -I "$out/modules" \
  -emit-module -emit-module-path "$out/modules/FinetopCore.swiftmodule" \
  -emit-library -static "$root"/Sources/FinetopCore/*.swift "$root"/Sources/FinetopCore/Generated/*.swift \
  -o "$out/libFinetopCore.a"
swiftc -sanitize=fuzzer,address -parse-as-library -O -swift-version 6 -module-name FuzzReaders -I "$out/modules" \
  "$root"/Sources/FinetopTestSupport/*.swift "$here/FuzzReaders.swift" \
  "$out/libFinetopCore.a" "$out/libSwiftProtobuf.a" -o "$out/fuzz-readers"
"$out/fuzz-readers" -max_total_time="${1:-60}" -max_len=65536 -timeout=5 -rss_limit_mb=2048 \
  -dict="$here/json.dict" "$here/corpus"
