// Decoding side of JSONCoding: a Decoder over a parsed JSONValue, with Foundation JSONDecoder's
// rules (integers must be exact, floats must fit, "inf"/"-inf"/"nan" strings for non-finite
// floats, null only for optionals).

private func describe(_ type: Any.Type) -> String { String(describing: type) }

private func mismatch(_ type: Any.Type, _ value: JSONValue, _ path: [CodingKey]) -> DecodingError {
    if case .null = value {
        return .valueNotFound(type, DecodingError.Context(codingPath: path, debugDescription: "expected \(describe(type)), found null"))
    }
    return .typeMismatch(type, DecodingError.Context(codingPath: path, debugDescription: "expected \(describe(type)), found \(value.kindName)"))
}

private func corrupted(_ path: [CodingKey], _ what: String) -> DecodingError {
    .dataCorrupted(DecodingError.Context(codingPath: path, debugDescription: what))
}

private func integer<I: FixedWidthInteger>(_ type: I.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> I {
    guard case .number(let text) = value else { throw mismatch(type, value, path) }
    if let v = I(text) { return v }
    // "3.0" and "1e2" are integers too, as for Foundation; "3.5" and out-of-range values are not.
    if let d = Double(text), d.isFinite, let v = I(exactly: d) { return v }
    throw corrupted(path, "number \(text) does not fit in \(describe(type))")
}

private func floating<F: BinaryFloatingPoint & LosslessStringConvertible>(_ type: F.Type, _ value: JSONValue, _ path: [CodingKey]) throws -> F {
    switch value {
    case .number(let text):
        guard let v = F(text) else { throw corrupted(path, "number \(text) is not a \(describe(type))") }
        // Overflow to infinity and underflow of a nonzero number to zero are refused.
        guard v.isFinite, v != 0 || isZeroMantissa(text) else {
            throw corrupted(path, "number \(text) does not fit in \(describe(type))")
        }
        return v
    case .string(let s):
        switch s {
        case JSONCoding.positiveInfinity: return .infinity
        case JSONCoding.negativeInfinity: return -.infinity
        case JSONCoding.nan: return .nan
        default: throw mismatch(type, value, path)
        }
    default: throw mismatch(type, value, path)
    }
}

/// Whether a JSON number's mantissa (before any exponent) has only zero digits ("0.000e5").
private func isZeroMantissa(_ text: String) -> Bool {
    for c in text.utf8 {
        if c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { break }
        if c >= UInt8(ascii: "1") && c <= UInt8(ascii: "9") { return false }
    }
    return true
}

final class JSONTreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: JSONValue, codingPath: [CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    func decodeValue<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONTreeDecoder.decode(type, from: value, at: codingPath)
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, at path: [CodingKey]) throws -> T {
        switch type {
        case is String.Type:
            guard case .string(let s) = value else { throw mismatch(type, value, path) }
            return s as! T
        case is Bool.Type:
            guard case .bool(let b) = value else { throw mismatch(type, value, path) }
            return b as! T
        case is Float.Type: return try floating(Float.self, value, path) as! T
        case is Double.Type: return try floating(Double.self, value, path) as! T
        case is Int.Type: return try integer(Int.self, value, path) as! T
        case is Int8.Type: return try integer(Int8.self, value, path) as! T
        case is Int16.Type: return try integer(Int16.self, value, path) as! T
        case is Int32.Type: return try integer(Int32.self, value, path) as! T
        case is Int64.Type: return try integer(Int64.self, value, path) as! T
        case is UInt.Type: return try integer(UInt.self, value, path) as! T
        case is UInt8.Type: return try integer(UInt8.self, value, path) as! T
        case is UInt16.Type: return try integer(UInt16.self, value, path) as! T
        case is UInt32.Type: return try integer(UInt32.self, value, path) as! T
        case is UInt64.Type: return try integer(UInt64.self, value, path) as! T
        default: return try T(from: JSONTreeDecoder(value: value, codingPath: path))
        }
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(JSONKeyedDecoding<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .array(let items) = value else { throw mismatch([Any].self, value, codingPath) }
        return JSONUnkeyedDecoding(items: items, codingPath: codingPath)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { JSONSingleValueDecoding(decoder: self) }
}

/// The coding-path key of an array element (shared by the encoder and the decoder).
struct JSONIndexKey: CodingKey {
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { index = intValue }
}

private struct JSONKeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    let codingPath: [CodingKey]

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }
    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> JSONValue {
        guard let v = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(codingPath: codingPath,
                                                                      debugDescription: "no value for key '\(key.stringValue)'"))
        }
        return v
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try member(key) { return true }
        return false
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try JSONTreeDecoder.decode(type, from: try member(key), at: codingPath + [key])
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONTreeDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }
    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try JSONTreeDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }
    func superDecoder() throws -> Decoder { JSONTreeDecoder(value: members["super"] ?? .null, codingPath: codingPath) }
    func superDecoder(forKey key: Key) throws -> Decoder {
        JSONTreeDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct JSONUnkeyedDecoding: UnkeyedDecodingContainer {
    let items: [JSONValue]
    let codingPath: [CodingKey]
    var currentIndex = 0
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    init(items: [JSONValue], codingPath: [CodingKey]) {
        self.items = items
        self.codingPath = codingPath
    }

    private func next(_ type: Any.Type) throws -> JSONValue {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, DecodingError.Context(codingPath: codingPath + [JSONIndexKey(currentIndex)],
                                                                         debugDescription: "array has no more elements"))
        }
        return items[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        if case .null = try next(Never.self) { currentIndex += 1; return true }
        return false
    }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let v = try JSONTreeDecoder.decode(type, from: try next(type), at: codingPath + [JSONIndexKey(currentIndex)])
        currentIndex += 1
        return v
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let c = try JSONTreeDecoder(value: try next([String: Any].self), codingPath: codingPath + [JSONIndexKey(currentIndex)]).container(keyedBy: type)
        currentIndex += 1
        return c
    }
    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
        let c = try JSONTreeDecoder(value: try next([Any].self), codingPath: codingPath + [JSONIndexKey(currentIndex)]).unkeyedContainer()
        currentIndex += 1
        return c
    }
    mutating func superDecoder() throws -> Decoder {
        let d = JSONTreeDecoder(value: try next(Any.self), codingPath: codingPath + [JSONIndexKey(currentIndex)])
        currentIndex += 1
        return d
    }
}

private struct JSONSingleValueDecoding: SingleValueDecodingContainer {
    let decoder: JSONTreeDecoder
    var codingPath: [CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool {
        if case .null = decoder.value { return true }
        return false
    }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(type) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeValue(type) }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeValue(type) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeValue(type) }
    func decode(_ type: Float.Type) throws -> Float { try decoder.decodeValue(type) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeValue(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeValue(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeValue(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeValue(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeValue(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeValue(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeValue(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeValue(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeValue(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeValue(type) }
}
