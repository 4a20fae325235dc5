/// The inner loops of the network, on raw buffers: they dominate the run time, and bounds checks
/// and copy-on-write checks per element make a debug build several times slower.
/// Matrices are row-major; `x` is `rows × inputs`, `w` is `inputs × outputs`.
enum Kernels {
    /// `out = x·w + b`.
    static func affine(_ x: [Double], _ w: [Double], _ b: [Double], into out: inout [Double],
                       rows: Int, inputs: Int, outputs: Int) {
        x.withUnsafeBufferPointer { xb in
            w.withUnsafeBufferPointer { wb in
                b.withUnsafeBufferPointer { bb in
                    out.withUnsafeMutableBufferPointer { ob in
                        guard let xp = xb.baseAddress, let wp = wb.baseAddress, let bp = bb.baseAddress,
                              let op = ob.baseAddress else { return }
                        for i in 0..<rows {
                            let o = op + i * outputs
                            o.update(from: bp, count: outputs)
                            let xi = xp + i * inputs
                            for k in 0..<inputs {
                                let v = xi[k]
                                if v == 0 { continue }  // ReLU outputs and blank pixels are mostly zero
                                let wk = wp + k * outputs
                                for j in 0..<outputs { o[j] += v * wk[j] }
                            }
                        }
                    }
                }
            }
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
                        wp.update(repeating: 0, count: inputs * outputs)
                        bp.update(repeating: 0, count: outputs)
                        for i in 0..<rows {
                            let zi = zp + i * outputs
                            for j in 0..<outputs { bp[j] += zi[j] }
                            let xi = xp + i * inputs
                            for k in 0..<inputs {
                                let v = xi[k]
                                if v == 0 { continue }
                                let wk = wp + k * outputs
                                for j in 0..<outputs { wk[j] += v * zi[j] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `dx = dz·wᵀ`.
    static func inputGradient(_ dz: [Double], _ w: [Double], into dx: inout [Double],
                              rows: Int, inputs: Int, outputs: Int) {
        dz.withUnsafeBufferPointer { zb in
            w.withUnsafeBufferPointer { wb in
                dx.withUnsafeMutableBufferPointer { xb in
                    guard let zp = zb.baseAddress, let wp = wb.baseAddress, let xp = xb.baseAddress else { return }
                    for i in 0..<rows {
                        let zi = zp + i * outputs
                        let xi = xp + i * inputs
                        for k in 0..<inputs {
                            let wk = wp + k * outputs
                            var s = 0.0
                            for j in 0..<outputs { s += zi[j] * wk[j] }
                            xi[k] = s
                        }
                    }
                }
            }
        }
    }

    static func relu(_ a: inout [Double]) {
        a.withUnsafeMutableBufferPointer { ab in
            for i in ab.indices where !(ab[i] > 0) && !ab[i].isNaN { ab[i] = 0 }
        }
    }

    /// Zeroes the gradient where the ReLU output was not positive (its derivative there is 0).
    static func maskWhereNotPositive(_ g: inout [Double], by output: [Double]) {
        output.withUnsafeBufferPointer { ob in
            g.withUnsafeMutableBufferPointer { gb in
                for i in gb.indices where !(ob[i] > 0) { gb[i] = 0 }
            }
        }
    }

    /// One Adam update of `p` given its gradient `g`, bias-corrected step size `rate`.
    static func adamStep(_ p: inout [Double], _ g: [Double], _ m: inout [Double], _ v: inout [Double],
                         _ rate: Double) {
        let b1 = AdamConstants.beta1
        let b2 = AdamConstants.beta2
        let eps = AdamConstants.epsilon
        g.withUnsafeBufferPointer { gb in
            p.withUnsafeMutableBufferPointer { pb in
                m.withUnsafeMutableBufferPointer { mb in
                    v.withUnsafeMutableBufferPointer { vb in
                        guard let gp = gb.baseAddress, let pp = pb.baseAddress, let mp = mb.baseAddress,
                              let vp = vb.baseAddress else { return }
                        for i in 0..<gb.count {
                            let gi = gp[i]
                            mp[i] = b1 * mp[i] + (1 - b1) * gi
                            vp[i] = b2 * vp[i] + (1 - b2) * gi * gi
                            pp[i] -= rate * mp[i] / (vp[i].squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }

    /// `p -= rate · g`.
    static func descend(_ p: inout [Double], _ g: [Double], _ rate: Double) {
        g.withUnsafeBufferPointer { gb in
            p.withUnsafeMutableBufferPointer { pb in
                guard let gp = gb.baseAddress, let pp = pb.baseAddress else { return }
                for i in 0..<gb.count { pp[i] -= rate * gp[i] }
            }
        }
    }
}
