// libFuzzer harness over every reader (see run.sh). Built with FinetopTestSupport's sources, not by SwiftPM.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReaders(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzTarget.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}
