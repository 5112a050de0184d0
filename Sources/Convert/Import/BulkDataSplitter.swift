import COnnx

/// Splits an ONNX file into its structure and its bulk weight bytes before libprotobuf-c sees it.
///
/// libprotobuf-c copies every `raw_data` payload out of the input, so unpacking a mapped model
/// holds the weights twice (the mapping's pages and the copies). This walker reads the protobuf
/// wire format along the few paths weights live on (ModelProto.graph = 7 -> GraphProto.initializer
/// = 5 -> TensorProto.raw_data = 9, and GraphProto.node = 1 -> NodeProto.attribute = 5 ->
/// AttributeProto.t = 5 for Constant values) and returns a copy of the file without the large
/// payloads, plus where each one lies in the file. The decoding itself still goes through
/// libprotobuf-c; tensors then take their bytes from the mapping.
///
/// Anything unexpected (a malformed varint or length, a length past its message, a field that
/// protobuf would merge, such as a second `graph`) makes `split` return nil, and the caller
/// unpacks the untouched file instead: the walker never decides that a file is bad.
enum BulkDataSplitter {
    /// raw_data payloads from this size on are kept out of the unpack.
    static let minimumBytes = 4096

    struct Split {
        /// The file without the bulk payloads (lengths of enclosing messages adjusted).
        var pruned: [UInt8]
        /// Initializer index (in GraphProto.initializer order) -> byte range of its raw_data in the file.
        var initializers: [Int: Range<Int>]
        /// (node index, attribute index) -> byte range of the attribute tensor's raw_data.
        var attributes: [NodeAttribute: Range<Int>]
        /// Bytes left out of `pruned`.
        var bulkBytes: Int
    }

    struct NodeAttribute: Hashable {
        var node: Int
        var attribute: Int
    }

    private struct Malformed: Error {}

    /// One field as found on the wire.
    private struct Field {
        var number: UInt64
        var wireType: UInt64
        /// From the key's first byte to the field's end.
        var whole: Range<Int>
        /// The payload of a length-delimited field.
        var payload: Range<Int>
    }

    static func split(_ bytes: UnsafeRawBufferPointer, minimumBytes: Int = minimumBytes) -> Split? {
        guard bytes.count > 0 else { return nil }
        var s = Splitter(bytes: bytes, minimumBytes: minimumBytes)
        do {
            let pruned = try s.model()
            guard s.bulkBytes > 0 else { return nil }
            return Split(pruned: pruned, initializers: s.initializers, attributes: s.attributes, bulkBytes: s.bulkBytes)
        } catch {
            return nil
        }
    }

    private struct Splitter {
        let bytes: UnsafeRawBufferPointer
        let minimumBytes: Int
        var initializers: [Int: Range<Int>] = [:]
        var attributes: [NodeAttribute: Range<Int>] = [:]
        var bulkBytes = 0

        init(bytes: UnsafeRawBufferPointer, minimumBytes: Int) {
            self.bytes = bytes
            self.minimumBytes = minimumBytes
        }

        /// Reads a varint at `at` within `limit`; at most 10 bytes, as protobuf allows.
        func varint(_ at: inout Int, _ limit: Int) throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard at < limit, shift < 64 else { throw Malformed() }
                let b = bytes[at]
                at += 1
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
        }

        /// The fields of the message occupying `range`, in wire order.
        func fields(_ range: Range<Int>) throws -> [Field] {
            var out: [Field] = []
            var at = range.lowerBound
            let end = range.upperBound
            while at < end {
                let start = at
                let key = try varint(&at, end)
                let number = key >> 3, wireType = key & 7
                guard number > 0 else { throw Malformed() }
                var payload = at..<at
                switch wireType {
                case 0: _ = try varint(&at, end)
                case 1: guard end - at >= 8 else { throw Malformed() }; at += 8
                case 5: guard end - at >= 4 else { throw Malformed() }; at += 4
                case 2:
                    let n = try varint(&at, end)
                    guard n <= UInt64(end - at) else { throw Malformed() }
                    payload = at..<(at + Int(n))
                    at += Int(n)
                default: throw Malformed()  // groups do not occur in onnx.proto
                }
                out.append(Field(number: number, wireType: wireType, whole: start..<at, payload: payload))
            }
            return out
        }

        func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
            var v = v
            while v >= 0x80 {
                out.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }

        func appendVerbatim(_ r: Range<Int>, to out: inout [UInt8]) {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[r]))
        }

        /// A length-delimited field with a new payload (same field number).
        func appendMessage(_ number: UInt64, _ payload: [UInt8], to out: inout [UInt8]) {
            appendVarint(number << 3 | 2, to: &out)
            appendVarint(UInt64(payload.count), to: &out)
            out.append(contentsOf: payload)
        }

        mutating func model() throws -> [UInt8] {
            let fs = try fields(0..<bytes.count)
            // protobuf merges repeated occurrences of a singular message; leave such files alone.
            guard fs.filter({ $0.number == 7 }).count == 1 else { throw Malformed() }
            var out: [UInt8] = []
            for f in fs {
                if f.number == 7 {
                    guard f.wireType == 2 else { throw Malformed() }
                    appendMessage(7, try graph(f.payload), to: &out)
                } else {
                    appendVerbatim(f.whole, to: &out)
                }
            }
            return out
        }

        mutating func graph(_ range: Range<Int>) throws -> [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(min(range.count, 1 << 20))
            var initializer = 0, node = 0
            for f in try fields(range) {
                switch (f.number, f.wireType) {
                case (5, 2):
                    let (t, bulk) = try tensor(f.payload)
                    if let bulk { initializers[initializer] = bulk }
                    appendMessage(5, t, to: &out)
                    initializer += 1
                case (1, 2):
                    appendMessage(1, try self.node(f.payload, index: node), to: &out)
                    node += 1
                case (5, _), (1, _): throw Malformed()  // protobuf-c would refuse these anyway
                default: appendVerbatim(f.whole, to: &out)
                }
            }
            return out
        }

        mutating func node(_ range: Range<Int>, index: Int) throws -> [UInt8] {
            let fs = try fields(range)
            // Most nodes carry no tensor attribute: copied as they are.
            var out: [UInt8] = []
            var attribute = 0
            for f in fs {
                if f.number == 5 && f.wireType == 2 {
                    appendMessage(5, try self.attribute(f.payload, key: NodeAttribute(node: index, attribute: attribute)), to: &out)
                    attribute += 1
                } else if f.number == 5 {
                    throw Malformed()
                } else {
                    appendVerbatim(f.whole, to: &out)
                }
            }
            return out
        }

        mutating func attribute(_ range: Range<Int>, key: NodeAttribute) throws -> [UInt8] {
            let fs = try fields(range)
            let tensorFields = fs.filter { $0.number == 5 }
            // Small attributes, and a tensor given twice (merged by protobuf), stay as they are.
            guard tensorFields.count == 1, tensorFields[0].wireType == 2, range.count >= minimumBytes else {
                return Array(UnsafeRawBufferPointer(rebasing: bytes[range]))
            }
            var out: [UInt8] = []
            for f in fs {
                if f.number == 5 {
                    let (t, bulk) = try tensor(f.payload)
                    if let bulk { attributes[key] = bulk }
                    appendMessage(5, t, to: &out)
                } else {
                    appendVerbatim(f.whole, to: &out)
                }
            }
            return out
        }

        /// A TensorProto without its raw_data when that is large and given once.
        mutating func tensor(_ range: Range<Int>) throws -> ([UInt8], Range<Int>?) {
            let fs = try fields(range)
            let raw = fs.filter { $0.number == 9 }
            guard raw.count == 1, raw[0].wireType == 2, raw[0].payload.count >= minimumBytes else {
                return (Array(UnsafeRawBufferPointer(rebasing: bytes[range])), nil)
            }
            var out: [UInt8] = []
            for f in fs where f.number != 9 { appendVerbatim(f.whole, to: &out) }
            bulkBytes += raw[0].payload.count
            return (out, raw[0].payload)
        }
    }
}
