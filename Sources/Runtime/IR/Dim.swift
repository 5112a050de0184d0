/// One dimension of a declared shape: a number, or a named symbol such as `N`, `H`, `W`
/// that is bound when a `Plan` is made for concrete inputs.
public enum Dim: Hashable, Sendable, Codable, CustomStringConvertible {
    case fixed(Int)
    case symbol(String)

    public var value: Int? {
        if case .fixed(let v) = self { return v }
        return nil
    }

    public var description: String {
        switch self {
        case .fixed(let v): return String(v)
        case .symbol(let s): return s
        }
    }

    // Encoded as a bare number or a bare string, which keeps the pack's graph section readable.
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) { self = .fixed(v) } else { self = .symbol(try c.decode(String.self)) }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .fixed(let v): try c.encode(v)
        case .symbol(let s): try c.encode(s)
        }
    }
}

extension Array where Element == Dim {
    /// The concrete shape when every dimension is fixed.
    public var concrete: [Int]? {
        var out: [Int] = []
        out.reserveCapacity(count)
        for d in self {
            guard let v = d.value else { return nil }
            out.append(v)
        }
        return out
    }
}
