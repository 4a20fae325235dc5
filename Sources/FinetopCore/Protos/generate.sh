#!/usr/bin/env bash
# Regenerates ../Generated/*.pb.swift from the trimmed TensorBoard protos here. The generated code
# is committed, so a build never needs protoc or the plugin; run this only after editing a .proto.
#
#     apt-get install protobuf-compiler
#     (cd .build/checkouts/swift-protobuf && swift build -c release --product protoc-gen-swift)
#     Sources/FinetopCore/Protos/generate.sh [PATH/TO/protoc-gen-swift]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
plugin="${1:-$root/.build/checkouts/swift-protobuf/.build/release/protoc-gen-swift}"
cd "$here"
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=../Generated --swift_opt=Visibility=Internal *.proto
