/// The inner loops of the network, on raw pointers: they dominate the run time, and bounds checks
/// and copy-on-write checks per element make a debug build many times slower.
/// The loops themselves are `@_optimize(speed)` functions (closures are not covered by the
/// attribute), so they run optimized even in a debug build, where the demo usually runs
/// (`swift run finetop`). Matrices are row-major; `x` is `rows × inputs`, `w` is `inputs × outputs`.
enum Kernels {
    typealias In = UnsafePointer<Double>
    typealias Out = UnsafeMutablePointer<Double>

    /// `out = x·w + b`.
    static func affine(_ x: [Double], _ w: [Double], _ b: [Double], into out: inout [Double],
                       rows: Int, inputs: Int, outputs: Int) {
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                b.withUnsafeBufferPointer { bb in
                    out.withUnsafeMutableBufferPointer { ob in
                        guard let xp = xb.baseAddress, let wp = wb.baseAddress, let bp = bb.baseAddress,
                              let op = ob.baseAddress else { return }
                        affineLoop(xp, wp, bp, op, rows, inputs, outputs)
                    }
                }
            }
        }
    }

    @_optimize(speed)
    private static func affineLoop(_ x: In, _ w: In, _ b: In, _ out: Out, _ rows: Int, _ inputs: Int, _ outputs: Int) {
        var i = 0
        while i < rows {
            let o = out + i * outputs
            o.update(from: b, count: outputs)
            let xi = x + i * inputs
            var k = 0
            while k < inputs {
                let v = xi[k]
                // ReLU outputs and blank pixels are mostly zero.
                if v != 0 {
                    let wk = w + k * outputs
                    var j = 0
                    while j < outputs {
                        o[j] += v * wk[j]
                        j += 1
                    }
                }
                k += 1
            }
            i += 1
        }
    }

    /// `dw = xᵀ·dz`, `db = Σ rows of dz` (overwriting both).
    static func weightGradient(_ x: [Double], _ dz: [Double], into dw: inout [Double], _ db: inout [Double],
                               rows: Int, inputs: Int, outputs: Int) {
        x.withUnsafeBufferPointer { xb in
            dz.withUnsafeBufferPointer { zb in
                dw.withUnsafeMutableBufferPointer { wb in
                    db.withUnsafeMutableBufferPointer { bb in
                        guard let xp = xb.baseAddress, let zp = zb.baseAddress, let wp = wb.baseAddress,
                              let bp = bb.baseAddress else { return }
                        weightGradientLoop(xp, zp, wp, bp, rows, inputs, outputs)
                    }
                }
            }
        }
    }

    @_optimize(speed)
    private static func weightGradientLoop(_ x: In, _ dz: In, _ dw: Out, _ db: Out,
                                           _ rows: Int, _ inputs: Int, _ outputs: Int) {
        dw.update(repeating: 0, count: inputs * outputs)
        db.update(repeating: 0, count: outputs)
        var i = 0
        while i < rows {
            let zi = dz + i * outputs
            var j = 0
            while j < outputs {
                db[j] += zi[j]
                j += 1
            }
            let xi = x + i * inputs
            var k = 0
            while k < inputs {
                let v = xi[k]
                if v != 0 {
                    let wk = dw + k * outputs
                    j = 0
                    while j < outputs {
                        wk[j] += v * zi[j]
                        j += 1
                    }
                }
                k += 1
            }
            i += 1
        }
    }

    /// `dx = dz·wᵀ`.
    static func inputGradient(_ dz: [Double], _ w: [Double], into dx: inout [Double],
                              rows: Int, inputs: Int, outputs: Int) {
        dz.withUnsafeBufferPointer { zb in
            w.withUnsafeBufferPointer { wb in
                dx.withUnsafeMutableBufferPointer { xb in
                    guard let zp = zb.baseAddress, let wp = wb.baseAddress, let xp = xb.baseAddress else { return }
                    inputGradientLoop(zp, wp, xp, rows, inputs, outputs)
                }
            }
        }
    }

    @_optimize(speed)
    private static func inputGradientLoop(_ dz: In, _ w: In, _ dx: Out, _ rows: Int, _ inputs: Int, _ outputs: Int) {
        var i = 0
        while i < rows {
            let zi = dz + i * outputs
            let xi = dx + i * inputs
            var k = 0
            while k < inputs {
                let wk = w + k * outputs
                var s = 0.0
                var j = 0
                while j < outputs {
                    s += zi[j] * wk[j]
                    j += 1
                }
                xi[k] = s
                k += 1
            }
            i += 1
        }
    }

    /// Zeroes negatives in place; NaN stays NaN, so a diverged run shows it.
    static func relu(_ a: inout [Double]) {
        a.withUnsafeMutableBufferPointer { ab in
            guard let p = ab.baseAddress else { return }
            reluLoop(p, ab.count)
        }
    }

    @_optimize(speed)
    private static func reluLoop(_ a: Out, _ count: Int) {
        var i = 0
        while i < count {
            if a[i] < 0 { a[i] = 0 }
            i += 1
        }
    }

    /// Zeroes the gradient where the ReLU output was not positive (its derivative there is 0).
    static func maskWhereNotPositive(_ g: inout [Double], by output: [Double]) {
        output.withUnsafeBufferPointer { ob in
            g.withUnsafeMutableBufferPointer { gb in
                guard let op = ob.baseAddress, let gp = gb.baseAddress else { return }
                maskLoop(gp, op, gb.count)
            }
        }
    }

    @_optimize(speed)
    private static func maskLoop(_ g: Out, _ output: In, _ count: Int) {
        var i = 0
        while i < count {
            if !(output[i] > 0) { g[i] = 0 }
            i += 1
        }
    }

    /// One Adam update of `p` given its gradient `g`, bias-corrected step size `rate`.
    static func adamStep(_ p: inout [Double], _ g: [Double], _ m: inout [Double], _ v: inout [Double],
                         _ rate: Double) {
        g.withUnsafeBufferPointer { gb in
            p.withUnsafeMutableBufferPointer { pb in
                m.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        guard let gp = gb.baseAddress, let pp = pb.baseAddress, let mp = mb.baseAddress,
                              let vp = vb.baseAddress else { return }
                        adamLoop(pp, gp, mp, vp, gb.count, rate)
                    }
                }
            }
        }
    }

    @_optimize(speed)
    private static func adamLoop(_ p: Out, _ g: In, _ m: Out, _ v: Out, _ count: Int, _ rate: Double) {
        let b1 = AdamConstants.beta1
        let b2 = AdamConstants.beta2
        let eps = AdamConstants.epsilon
        var i = 0
        while i < count {
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] -= rate * m[i] / (v[i].squareRoot() + eps)
            i += 1
        }
    }

    /// `p -= rate · g`.
    static func descend(_ p: inout [Double], _ g: [Double], _ rate: Double) {
        g.withUnsafeBufferPointer { gb in
            p.withUnsafeMutableBufferPointer { pb in
                guard let gp = gb.baseAddress, let pp = pb.baseAddress else { return }
                var i = 0
                while i < gb.count {
                    pp[i] -= rate * gp[i]
                    i += 1
                }
            }
        }
    }
}
