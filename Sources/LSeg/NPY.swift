import Glibc
import Runtime

/// NumPy's .npy format (versions 1.0, 2.0, 3.0), C order, little-endian: the exchange format
/// for reference tensors. Everything in the header is checked before the data is touched.
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// numpy descr <-> our dtype. One-byte types take any byte-order mark numpy may write.
    static func dtype(descr: String) -> DType? {
        switch descr {
        case "<f4": return .float32
        case "<f2": return .float16
        case "<f8": return .float64
        case "<i8": return .int64
        case "<i4": return .int32
        case "<i2": return .int16
        case "<u2": return .uint16
        case "|u1", "<u1", "=u1": return .uint8
        case "|i1", "<i1", "=i1": return .int8
        case "|b1", "<b1", "=b1": return .bool
        default: return nil
        }
    }

    static func descr(_ dtype: DType) -> String? {
        switch dtype {
        case .float32: return "<f4"
        case .float16: return "<f2"
        case .float64: return "<f8"
        case .int64: return "<i8"
        case .int32: return "<i4"
        case .int16: return "<i2"
        case .uint16: return "<u2"
        case .uint8: return "|u1"
        case .int8: return "|i1"
        case .bool: return "|b1"
        case .uint32, .uint64, .bfloat16: return nil
        }
    }

    public static func read(path: String) throws -> Tensor {
        guard let data = FileIO.contents(atPath: path) else { throw LSegError.io(file: path, what: "cannot read file") }
        return try decode(data, name: path)
    }

    public static func write(_ tensor: Tensor, to path: String) throws {
        let bytes = try encode(tensor, name: path)
        do { try FileIO.write(bytes, toPath: path) } catch {
            throw LSegError.io(file: path, what: "cannot write: \(LSegError.systemText(error))")
        }
    }

    /// Parses a whole .npy file held in memory.
    public static func decode(_ data: [UInt8], name: String = "npy data") throws -> Tensor {
        func fail(_ what: String) -> LSegError { .npy(file: name, what: what) }
        guard data.count >= 10, data[0..<6].elementsEqual(magic) else { throw fail("not a .npy file (bad magic)") }
        let major = data[6], minor = data[7]
        let headerStart: Int, headerLength: Int
        switch major {
        case 1:
            headerStart = 10
            headerLength = Int(data[8]) | Int(data[9]) << 8
        case 2, 3:
            guard data.count >= 12 else { throw fail("header length truncated") }
            headerStart = 12
            headerLength = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        default:
            throw fail("format version \(major).\(minor) is not supported (1.0, 2.0, 3.0 are)")
        }
        guard minor == 0 else { throw fail("format version \(major).\(minor) is not supported (1.0, 2.0, 3.0 are)") }
        guard headerLength <= data.count - headerStart else {
            throw fail("header of \(headerLength) bytes runs past the end of the \(data.count)-byte file")
        }
        let headerBytes = data[headerStart..<(headerStart + headerLength)]
        // Versions 1 and 2 promise latin-1 (in practice ASCII); 3 allows UTF-8.
        guard major == 3 || headerBytes.allSatisfy({ $0 < 0x80 }),
              let header = String(validating: headerBytes, as: UTF8.self) else { throw fail("header is not text") }
        var parser = HeaderParser(text: header, name: name)
        let fields = try parser.parseDictionary()
        guard Set(fields.keys) == ["descr", "fortran_order", "shape"] else {
            throw fail("header keys \(fields.keys.sorted()) are not descr, fortran_order, shape")
        }
        guard case .string(let descr)? = fields["descr"] else { throw fail("descr is not a string") }
        guard case .bool(let fortran)? = fields["fortran_order"] else { throw fail("fortran_order is not True or False") }
        guard case .tuple(let shape)? = fields["shape"] else { throw fail("shape is not a tuple of integers") }
        guard !fortran else { throw fail("fortran_order True is not supported: save a C-ordered array (np.ascontiguousarray)") }
        guard let dtype = dtype(descr: descr) else {
            if descr.hasPrefix(">") { throw fail("big-endian dtype '\(descr)' is not supported: save with '<' byte order") }
            throw fail("dtype '\(descr)' is not supported (<f4 <f2 <f8 <i8 <i4 <i2 <u2 |u1 |i1 |b1 are)")
        }
        guard let count = Tensor.checkedElementCount(shape, limit: Int.max / 8) else {
            throw fail("shape \(shape) is negative or overflows")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        let dataStart = headerStart + headerLength
        guard !overflow, byteCount == data.count - dataStart else {
            throw fail("shape \(shape) of \(descr) needs \(overflow ? "more than Int.max" : String(byteCount)) data bytes, file has \(data.count - dataStart)")
        }
        let storage = data.withUnsafeBytes { TensorStorage(copying: UnsafeRawBufferPointer(rebasing: $0[dataStart...])) }
        if dtype == .bool {
            for i in 0..<count where storage.pointer.load(fromByteOffset: i, as: UInt8.self) > 1 {
                throw fail("bool element \(i) holds \(storage.pointer.load(fromByteOffset: i, as: UInt8.self)), not 0 or 1")
            }
        }
        return Tensor(dtype: dtype, shape: shape, storage: storage)
    }

    /// The .npy bytes numpy itself would write for this array (version 1.0 unless the header
    /// needs 2.0), header padded for 64-byte alignment of the data.
    public static func encode(_ tensor: Tensor, name: String = "tensor") throws -> [UInt8] {
        guard let d = descr(tensor.dtype) else { throw LSegError.npy(file: name, what: "dtype \(tensor.dtype) has no .npy form here") }
        let shape: String
        switch tensor.shape.count {
        case 0: shape = "()"
        case 1: shape = "(\(tensor.shape[0]),)"
        default: shape = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(d)', 'fortran_order': False, 'shape': \(shape), }"
        // numpy leaves room to grow the first axis in place: 21 digits minus the ones used.
        if let first = tensor.shape.first { header += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        var major: UInt8 = 1
        var prefix = 10
        if (header.utf8.count + 1 + prefix + 63) / 64 * 64 - prefix > 65535 { major = 2; prefix = 12 }
        let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        let length = header.utf8.count
        var out = magic + [major, 0]
        if major == 1 {
            out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        } else {
            out += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24 & 0xFF)]
        }
        out += Array(header.utf8)
        tensor.withUnsafeBytes { out += $0 }
        return out
    }

    enum HeaderValue: Equatable {
        case string(String)
        case bool(Bool)
        case tuple([Int])
    }

    /// A parser for the one Python literal numpy writes: a dict of strings, booleans and int tuples.
    struct HeaderParser {
        let s: [Character]
        var i = 0
        let name: String

        init(text: String, name: String) {
            s = Array(text)
            self.name = name
        }

        func fail(_ what: String) -> LSegError { .npy(file: name, what: "header: \(what) at character \(i)") }

        mutating func skipSpace() { while i < s.count && s[i].isWhitespace { i += 1 } }

        mutating func expect(_ c: Character) throws {
            skipSpace()
            guard i < s.count, s[i] == c else { throw fail("expected '\(c)'") }
            i += 1
        }

        mutating func parseDictionary() throws -> [String: HeaderValue] {
            try expect("{")
            var result: [String: HeaderValue] = [:]
            while true {
                skipSpace()
                if i < s.count && s[i] == "}" { i += 1; break }
                guard case .string(let key) = try parseValue() else { throw fail("dictionary key is not a string") }
                try expect(":")
                guard result[key] == nil else { throw fail("key '\(key)' repeated") }
                result[key] = try parseValue()
                skipSpace()
                if i < s.count && s[i] == "," { i += 1; continue }
                try expect("}")
                break
            }
            skipSpace()
            guard i == s.count else { throw fail("text after the dictionary") }
            return result
        }

        mutating func parseValue() throws -> HeaderValue {
            skipSpace()
            guard i < s.count else { throw fail("value missing") }
            let c = s[i]
            if c == "'" || c == "\"" {
                i += 1
                var text = ""
                while i < s.count && s[i] != c { text.append(s[i]); i += 1 }
                guard i < s.count else { throw fail("string not terminated") }
                i += 1
                return .string(text)
            }
            if c == "(" {
                i += 1
                var values: [Int] = []
                while true {
                    skipSpace()
                    if i < s.count && s[i] == ")" { i += 1; break }
                    values.append(try parseInteger())
                    skipSpace()
                    if i < s.count && s[i] == "," { i += 1; continue }
                    try expect(")")
                    break
                }
                return .tuple(values)
            }
            for (word, value) in [("True", true), ("False", false)] where s.count - i >= word.count && String(s[i..<(i + word.count)]) == word {
                i += word.count
                return .bool(value)
            }
            throw fail("unexpected '\(c)'")
        }

        mutating func parseInteger() throws -> Int {
            var value = 0
            let start = i
            while i < s.count, let d = s[i].wholeNumberValue, s[i].isASCII {
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(d)
                guard !o1 && !o2 else { throw fail("integer overflows") }
                value = a
                i += 1
            }
            if i < s.count && s[i] == "L" { i += 1 }  // Python 2 long suffix in old files
            guard i > start else { throw fail("expected a non-negative integer") }
            return value
        }
    }
}
