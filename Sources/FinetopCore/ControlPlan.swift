/// A plan the job carries out on its own, written once into control.json (`"plan"`): today
/// gradual unfreezing, one more group of layers every `everyEpochs` epochs (ULMFiT's move).
/// A later revision that carries the same `id` continues the plan; `cancel` stops it.
public struct ControlPlan: Sendable, Equatable {
    /// What the plan does.
    public enum Kind: String, Sendable, CaseIterable {
        /// Unfreeze `groups[0]`, then `groups[1]`, … one group every `everyEpochs` epochs.
        case gradualUnfreeze = "gradual_unfreeze"
    }

    public var id: String
    public var kind: Kind
    /// The groups of layer names (model-line row names), unfrozen in this order; none empty.
    public var groups: [[String]]
    /// Epochs between two steps; at least 1.
    public var everyEpochs: Int
    /// The newly unfrozen group's rate as a factor of the head's (nil: the head's rate).
    public var lrFactor: Double?
    public var cancel: Bool

    public init(id: String, kind: Kind = .gradualUnfreeze, groups: [[String]], everyEpochs: Int = 1,
                lrFactor: Double? = nil, cancel: Bool = false) {
        self.id = id
        self.kind = kind
        self.groups = groups
        self.everyEpochs = everyEpochs
        self.lrFactor = lrFactor
        self.cancel = cancel
    }

    /// The JSON text, keys in a fixed order.
    public var json: String {
        let g = groups.map { "[" + $0.map(JSONText.string).joined(separator: ", ") + "]" }.joined(separator: ", ")
        return "{\"id\": " + JSONText.string(id) + ", \"kind\": " + JSONText.string(kind.rawValue)
            + ", \"groups\": [" + g + "], \"every_epochs\": \(everyEpochs), \"lr_factor\": "
            + (lrFactor.map(JSONText.number) ?? "null") + ", \"cancel\": \(cancel)}"
    }

    /// What is wrong with the plan, or nil when a job can carry it out.
    public var problem: String? {
        if id.isEmpty { return "\"plan\".id must be a non-empty string" }
        if groups.isEmpty { return "\"plan\".groups must list at least one group" }
        if let n = groups.firstIndex(where: \.isEmpty) { return "\"plan\".groups[\(n)] is empty" }
        if everyEpochs < 1 { return "\"plan\".every_epochs must be a whole number ≥ 1" }
        if let f = lrFactor, !ControlFile.isPositiveRate(f) { return "\"plan\".lr_factor must be a positive number or null" }
        return nil
    }

    /// Reads the `"plan"` object of control.json; throws a message naming the bad field.
    static func parse(_ v: JSONValue, path: String) throws(ReadError) -> ControlPlan {
        func bad(_ problem: String) -> ReadError { ReadError(path: path, problem: problem) }
        guard case .object = v else { throw bad("\"plan\" must be an object") }
        guard let id = v["id"]?.string else { throw bad("\"plan\".id must be a non-empty string") }
        guard let k = v["kind"]?.string, let kind = Kind(rawValue: k) else {
            throw bad("\"plan\".kind must be one of: " + Kind.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let items = v["groups"]?.array else { throw bad("\"plan\".groups must be a list of lists of layer names") }
        var groups: [[String]] = []
        for (n, item) in items.enumerated() {
            guard let names = item.array else { throw bad("\"plan\".groups[\(n)] must be a list of layer names") }
            var group: [String] = []
            for name in names {
                guard let s = name.string else { throw bad("\"plan\".groups[\(n)] must hold layer names (strings)") }
                group.append(s)
            }
            groups.append(group)
        }
        guard let every = v["every_epochs"]?.int else { throw bad("\"plan\".every_epochs must be a whole number ≥ 1") }
        var factor: Double?
        if let f = v["lr_factor"], f != .null {
            guard let d = f.double else { throw bad("\"plan\".lr_factor must be a positive number or null") }
            factor = d
        }
        var cancel = false
        if let c = v["cancel"], c != .null {
            guard let b = c.bool else { throw bad("\"plan\".cancel must be true or false") }
            cancel = b
        }
        let plan = ControlPlan(id: id, kind: kind, groups: groups, everyEpochs: every, lrFactor: factor, cancel: cancel)
        if let problem = plan.problem { throw bad(problem) }
        return plan
    }
}
