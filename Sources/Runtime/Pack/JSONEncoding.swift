/// The pack's JSON coder: what the graph section (and other small JSON files) are written and
/// read with, without Foundation. Its output is byte for byte what Foundation's JSONEncoder gives
/// with `.sortedKeys` and non-finite floats as the strings "inf", "-inf" and "nan" (the format
/// packs were first written in): keys sorted by their UTF-8 bytes, no spaces, "/" escaped as
/// "\/", floats in Swift's shortest round-trip form without a trailing ".0".
public enum JSONCoding {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONTreeEncoder(codingPath: [])
        try encoder.encodeValue(value)
        var out: [UInt8] = []
        JSONWriter.write(encoder.result ?? .object(JSONObjectBox()), to: &out)
        return out
    }

    /// Decodes `T` from a JSON document. Errors are `DecodingError`s whose context carries the
    /// coding path (a syntax error is `.dataCorrupted` at the top with the byte offset).
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: UnsafeRawBufferPointer) throws -> T {
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch let e as JSONSyntaxError {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: [], debugDescription: e.description))
        }
        return try JSONTreeDecoder(value: root, codingPath: []).decodeValue(T.self)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try bytes.withUnsafeBytes { try decode(type, from: $0) }
    }

    static let positiveInfinity = "inf", negativeInfinity = "-inf", nan = "nan"
}

// MARK: - Encoding: Codable calls build a tree, then the writer serializes it.

final class JSONObjectBox { var members: [String: JSONNode] = [:] }
final class JSONArrayBox { var items: [JSONNode] = [] }

/// A node of the tree being encoded; containers are boxes because Codable fills them after
/// handing them out.
enum JSONNode {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array(JSONArrayBox)
    case object(JSONObjectBox)
}

enum JSONWriter {
    static func write(_ node: JSONNode, to out: inout [UInt8]) {
        switch node {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let s): out.append(contentsOf: s.utf8)
        case .string(let s): writeString(s, to: &out)
        case .array(let box):
            out.append(UInt8(ascii: "["))
            for (i, item) in box.items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let box):
            out.append(UInt8(ascii: "{"))
            let keys = box.members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                write(box.members[key]!, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for c in s.utf8 {
            switch c {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "/"): out.append(contentsOf: #"\/"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(c >> 4)])
                out.append(hex[Int(c & 15)])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func number<F: BinaryFloatingPoint & CustomStringConvertible>(_ v: F) -> JSONNode {
        if v.isNaN { return .string(JSONCoding.nan) }
        if v.isInfinite { return .string(v < 0 ? JSONCoding.negativeInfinity : JSONCoding.positiveInfinity) }
        var text = v.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return .number(text)
    }
}

/// The node for a primitive, or nil when `value` is a type that encodes itself.
private func primitiveNode<T: Encodable>(_ value: T) -> JSONNode? {
    switch value {
    case let v as String: return .string(v)
    case let v as Bool: return .bool(v)
    case let v as Float: return JSONWriter.number(v)
    case let v as Double: return JSONWriter.number(v)
    case let v as Int: return .number(String(v))
    case let v as Int8: return .number(String(v))
    case let v as Int16: return .number(String(v))
    case let v as Int32: return .number(String(v))
    case let v as Int64: return .number(String(v))
    case let v as UInt: return .number(String(v))
    case let v as UInt8: return .number(String(v))
    case let v as UInt16: return .number(String(v))
    case let v as UInt32: return .number(String(v))
    case let v as UInt64: return .number(String(v))
    default: return nil
    }
}

final class JSONTreeEncoder: Encoder {
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// What this encoder's value encoded to (nil until it encodes something).
    var result: JSONNode?

    init(codingPath: [CodingKey]) { self.codingPath = codingPath }

    func encodeValue<T: Encodable>(_ value: T) throws {
        if let node = primitiveNode(value) { result = node; return }
        try value.encode(to: self)
    }

    /// Encodes `value` on its own and returns its node (`{}` if it encoded nothing, as Foundation).
    static func node<T: Encodable>(for value: T, at path: [CodingKey]) throws -> JSONNode {
        if let node = primitiveNode(value) { return node }
        let child = JSONTreeEncoder(codingPath: path)
        try value.encode(to: child)
        return child.result ?? .object(JSONObjectBox())
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: JSONObjectBox
        if case .object(let existing) = result { box = existing } else {
            box = JSONObjectBox()
            result = .object(box)
        }
        return KeyedEncodingContainer(JSONKeyedEncoding<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        let box: JSONArrayBox
        if case .array(let existing) = result { box = existing } else {
            box = JSONArrayBox()
            result = .array(box)
        }
        return JSONUnkeyedEncoding(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { JSONSingleValueEncoding(encoder: self) }
}

/// An encoder whose result lands in a container slot when it is done (superEncoder).
private final class JSONReferencingEncoder: Encoder {
    let inner: JSONTreeEncoder
    let store: (JSONNode) -> Void
    var codingPath: [CodingKey] { inner.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    init(path: [CodingKey], store: @escaping (JSONNode) -> Void) {
        inner = JSONTreeEncoder(codingPath: path)
        self.store = store
    }
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { defer { flush() }; return inner.container(keyedBy: type) }
    func unkeyedContainer() -> UnkeyedEncodingContainer { defer { flush() }; return inner.unkeyedContainer() }
    func singleValueContainer() -> SingleValueEncodingContainer { JSONSingleValueEncoding(encoder: inner, after: flush) }
    private func flush() { if let r = inner.result { store(r) } }
}

private struct JSONKeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: JSONObjectBox
    let codingPath: [CodingKey]

    func encodeNil(forKey key: Key) throws { box.members[key.stringValue] = .null }
    func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.members[key.stringValue] = try JSONTreeEncoder.node(for: value, at: codingPath + [key])
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONObjectBox()
        box.members[key.stringValue] = .object(nested)
        return KeyedEncodingContainer(JSONKeyedEncoding<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }
    func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        box.members[key.stringValue] = .array(nested)
        return JSONUnkeyedEncoding(box: nested, codingPath: codingPath + [key])
    }
    func superEncoder() -> Encoder { superEncoder(named: "super") }
    func superEncoder(forKey key: Key) -> Encoder { superEncoder(named: key.stringValue) }
    private func superEncoder(named name: String) -> Encoder {
        let box = self.box
        box.members[name] = .object(JSONObjectBox())
        return JSONReferencingEncoder(path: codingPath) { box.members[name] = $0 }
    }
}

private struct JSONUnkeyedEncoding: UnkeyedEncodingContainer {
    let box: JSONArrayBox
    let codingPath: [CodingKey]
    var count: Int { box.items.count }

    func encodeNil() throws { box.items.append(.null) }
    func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try JSONTreeEncoder.node(for: value, at: codingPath + [JSONIndexKey(count)]))
    }
    func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONObjectBox()
        let path = codingPath + [JSONIndexKey(count)]
        box.items.append(.object(nested))
        return KeyedEncodingContainer(JSONKeyedEncoding<NestedKey>(box: nested, codingPath: path))
    }
    func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let nested = JSONArrayBox()
        let path = codingPath + [JSONIndexKey(count)]
        box.items.append(.array(nested))
        return JSONUnkeyedEncoding(box: nested, codingPath: path)
    }
    func superEncoder() -> Encoder {
        let box = self.box, index = box.items.count
        box.items.append(.object(JSONObjectBox()))
        return JSONReferencingEncoder(path: codingPath + [JSONIndexKey(index)]) { box.items[index] = $0 }
    }
}

private struct JSONSingleValueEncoding: SingleValueEncodingContainer {
    let encoder: JSONTreeEncoder
    var after: () -> Void = {}
    var codingPath: [CodingKey] { encoder.codingPath }

    func encodeNil() throws { encoder.result = .null; after() }
    func encode<T: Encodable>(_ value: T) throws {
        encoder.result = try JSONTreeEncoder.node(for: value, at: codingPath)
        after()
    }
    func encode(_ value: Bool) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: String) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Double) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Float) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Int) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Int8) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Int16) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Int32) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: Int64) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: UInt) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: UInt8) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: UInt16) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: UInt32) throws { encoder.result = primitiveNode(value); after() }
    func encode(_ value: UInt64) throws { encoder.result = primitiveNode(value); after() }
}
