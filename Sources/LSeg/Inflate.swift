/// DEFLATE (RFC 1951) and gzip (RFC 1952) decoding, so the CLIP vocabulary can be read as the
/// `.txt.gz` that CLIP ships without a zlib dependency. Decoding only; never trusts a length.
public enum Inflate {
    /// Output limit when none is given: well above any vocabulary, far below memory exhaustion.
    public static let defaultMaxOutput = 512 << 20

    /// True when `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: [UInt8]) -> Bool {
        data.count >= 2 && data[0] == 0x1F && data[1] == 0x8B
    }

    /// Decodes a gzip file (all concatenated members), checking each member's CRC-32 and length.
    public static func gunzip(_ data: [UInt8], name: String = "gzip data", maxOutput: Int = defaultMaxOutput) throws -> [UInt8] {
        var output: [UInt8] = []
        var position = 0
        repeat {
            position = try gunzipMember(data, from: position, name: name, maxOutput: maxOutput, into: &output)
        } while position < data.count
        return output
    }

    /// Decodes a raw DEFLATE stream (no zlib or gzip wrapper).
    public static func inflate(_ data: [UInt8], name: String = "deflate data", maxOutput: Int = defaultMaxOutput) throws -> [UInt8] {
        var output: [UInt8] = []
        var decoder = DeflateDecoder(input: data, start: 0, name: name, maxOutput: maxOutput)
        try decoder.run(into: &output)
        return output
    }

    private static func gunzipMember(_ data: [UInt8], from start: Int, name: String, maxOutput: Int,
                                     into output: inout [UInt8]) throws -> Int {
        func fail(_ what: String) -> LSegError { .compressedData(file: name, what: what) }
        var p = start
        guard data.count - p >= 10 else { throw fail("gzip header truncated at byte \(p)") }
        guard data[p] == 0x1F, data[p + 1] == 0x8B else { throw fail("not gzip data (bad magic at byte \(p))") }
        guard data[p + 2] == 8 else { throw fail("gzip compression method \(data[p + 2]) is not DEFLATE") }
        let flags = data[p + 3]
        guard flags & 0xE0 == 0 else { throw fail("gzip header has reserved flag bits set") }
        p += 10
        if flags & 0x04 != 0 {  // FEXTRA
            guard data.count - p >= 2 else { throw fail("gzip extra field truncated") }
            let length = Int(data[p]) | Int(data[p + 1]) << 8
            p += 2
            guard data.count - p >= length else { throw fail("gzip extra field truncated") }
            p += length
        }
        for bit: UInt8 in [0x08, 0x10] where flags & bit != 0 {  // FNAME, FCOMMENT: zero-terminated
            guard let end = data[p...].firstIndex(of: 0) else { throw fail("gzip name or comment is not terminated") }
            p = end + 1
        }
        if flags & 0x02 != 0 {  // FHCRC
            guard data.count - p >= 2 else { throw fail("gzip header CRC truncated") }
            p += 2
        }
        let before = output.count
        var decoder = DeflateDecoder(input: data, start: p, name: name, maxOutput: maxOutput)
        try decoder.run(into: &output)
        p = decoder.consumedBytes
        guard data.count - p >= 8 else { throw fail("gzip trailer truncated") }
        let storedCRC = UInt32(data[p]) | UInt32(data[p + 1]) << 8 | UInt32(data[p + 2]) << 16 | UInt32(data[p + 3]) << 24
        let storedSize = UInt32(data[p + 4]) | UInt32(data[p + 5]) << 8 | UInt32(data[p + 6]) << 16 | UInt32(data[p + 7]) << 24
        let crc = output.withUnsafeBufferPointer { CRC32.checksum(UnsafeBufferPointer(rebasing: $0[before...])) }
        guard crc == storedCRC else { throw fail("gzip CRC-32 mismatch (data corrupt)") }
        guard UInt32(truncatingIfNeeded: output.count - before) == storedSize else { throw fail("gzip length mismatch (data corrupt)") }
        return p + 8
    }
}

/// CRC-32 as used by gzip and PNG (reflected polynomial 0xEDB88320).
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { checksum($0) }
    }
}

/// A canonical Huffman code as a single lookup table indexed by the next `maxLength` input
/// bits (LSB first); each entry packs symbol << 4 | code length, 0 for unused bit patterns.
private struct HuffmanTable {
    var entries: [UInt32]
    var maxLength: Int

    /// Builds the table from per-symbol code lengths (0 = unused). Incomplete codes are allowed
    /// (a lone distance code is legal); over-subscribed ones are not.
    init(lengths: [UInt8], what: String, name: String) throws {
        var counts = [Int](repeating: 0, count: 16)
        for l in lengths { counts[Int(l)] += 1 }
        counts[0] = 0
        var left = 1
        for len in 1...15 {
            left = left * 2 - counts[len]
            guard left >= 0 else { throw LSegError.compressedData(file: name, what: "over-subscribed \(what) Huffman code") }
        }
        maxLength = max(1, (1...15).last { counts[$0] > 0 } ?? 1)
        entries = [UInt32](repeating: 0, count: 1 << maxLength)
        var nextCode = [Int](repeating: 0, count: 16)
        var code = 0
        for len in 1...15 {
            code = (code + counts[len - 1]) << 1
            nextCode[len] = code
        }
        for (symbol, l) in lengths.enumerated() where l > 0 {
            let len = Int(l)
            let c = nextCode[len]
            nextCode[len] += 1
            var reversed = 0
            for i in 0..<len where c & (1 << i) != 0 { reversed |= 1 << (len - 1 - i) }
            let entry = UInt32(symbol) << 4 | UInt32(len)
            var index = reversed
            while index < entries.count {
                entries[index] = entry
                index += 1 << len
            }
        }
    }
}

private struct DeflateDecoder {
    let input: [UInt8]
    var position: Int
    let name: String
    let maxOutput: Int
    var bitBuffer: UInt64 = 0
    var bitCount = 0

    init(input: [UInt8], start: Int, name: String, maxOutput: Int) {
        self.input = input
        position = start
        self.name = name
        self.maxOutput = maxOutput
    }

    /// Bytes of input used so far, once the final block has been read (partial byte discarded).
    var consumedBytes: Int { position - bitCount / 8 }

    private func fail(_ what: String) -> LSegError { .compressedData(file: name, what: what) }

    private mutating func refill() {
        while bitCount <= 56 && position < input.count {
            bitBuffer |= UInt64(input[position]) << UInt64(bitCount)
            position += 1
            bitCount += 8
        }
    }

    private mutating func bits(_ n: Int) throws -> Int {
        if bitCount < n { refill() }
        guard bitCount >= n else { throw fail("unexpected end of compressed data") }
        let v = Int(bitBuffer & ((1 << UInt64(n)) - 1))
        bitBuffer >>= UInt64(n)
        bitCount -= n
        return v
    }

    private mutating func decode(_ table: HuffmanTable) throws -> Int {
        if bitCount < table.maxLength { refill() }
        // Near the end of the input the peeked bits are padded with zeros; the length check
        // below catches a code that really needs the missing bits.
        let entry = table.entries[Int(bitBuffer & ((1 << UInt64(table.maxLength)) - 1))]
        let len = Int(entry & 15)
        guard len > 0 else { throw fail("invalid Huffman code") }
        guard len <= bitCount else { throw fail("unexpected end of compressed data") }
        bitBuffer >>= UInt64(len)
        bitCount -= len
        return Int(entry >> 4)
    }

    private static let lengthBase: [Int] = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                            67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra: [Int] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    private static let distanceBase: [Int] = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra: [Int] = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10,
                                               11, 11, 12, 12, 13, 13]
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    mutating func run(into output: inout [UInt8]) throws {
        let start = output.count
        var final = false
        while !final {
            final = try bits(1) == 1
            switch try bits(2) {
            case 0: try storedBlock(into: &output, start: start)
            case 1:
                let lit = [UInt8](repeating: 8, count: 144) + [UInt8](repeating: 9, count: 112)
                    + [UInt8](repeating: 7, count: 24) + [UInt8](repeating: 8, count: 8)
                try codedBlock(literals: HuffmanTable(lengths: lit, what: "literal", name: name),
                               distances: HuffmanTable(lengths: [UInt8](repeating: 5, count: 30), what: "distance", name: name),
                               into: &output, start: start)
            case 2:
                let (lit, dist) = try dynamicTables()
                try codedBlock(literals: lit, distances: dist, into: &output, start: start)
            default: throw fail("invalid DEFLATE block type 3")
            }
        }
        // Return whole unused bytes to the input so a gzip trailer can be read after us.
        bitBuffer = 0
        bitCount -= bitCount % 8
    }

    private mutating func storedBlock(into output: inout [UInt8], start: Int) throws {
        bitBuffer >>= UInt64(bitCount % 8)
        bitCount -= bitCount % 8
        let length = try bits(16)
        let complement = try bits(16)
        guard length == complement ^ 0xFFFF else { throw fail("stored block length check failed") }
        guard output.count - start + length <= maxOutput else { throw fail("output exceeds \(maxOutput) bytes") }
        // Bytes already pulled into the bit buffer come first, then straight from the input.
        var remaining = length
        while remaining > 0 && bitCount >= 8 {
            output.append(UInt8(try bits(8)))
            remaining -= 1
        }
        guard input.count - position >= remaining else { throw fail("stored block truncated") }
        output.append(contentsOf: input[position..<(position + remaining)])
        position += remaining
    }

    private mutating func dynamicTables() throws -> (HuffmanTable, HuffmanTable) {
        let literalCount = try bits(5) + 257
        let distanceCount = try bits(5) + 1
        let codeLengthCount = try bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw fail("too many literal or distance codes") }
        var codeLengthLengths = [UInt8](repeating: 0, count: 19)
        for i in 0..<codeLengthCount { codeLengthLengths[Self.codeLengthOrder[i]] = UInt8(try bits(3)) }
        let codeLengthTable = try HuffmanTable(lengths: codeLengthLengths, what: "code length", name: name)
        var lengths: [UInt8] = []
        lengths.reserveCapacity(literalCount + distanceCount)
        while lengths.count < literalCount + distanceCount {
            let symbol = try decode(codeLengthTable)
            switch symbol {
            case 0...15: lengths.append(UInt8(symbol))
            case 16:
                guard let previous = lengths.last else { throw fail("repeat code with no previous length") }
                lengths += [UInt8](repeating: previous, count: 3 + (try bits(2)))
            case 17: lengths += [UInt8](repeating: 0, count: 3 + (try bits(3)))
            default: lengths += [UInt8](repeating: 0, count: 11 + (try bits(7)))
            }
        }
        guard lengths.count == literalCount + distanceCount else { throw fail("code lengths overrun the table") }
        guard lengths[256] != 0 else { throw fail("no end-of-block code") }
        return (try HuffmanTable(lengths: Array(lengths[0..<literalCount]), what: "literal", name: name),
                try HuffmanTable(lengths: Array(lengths[literalCount...]), what: "distance", name: name))
    }

    private mutating func codedBlock(literals: HuffmanTable, distances: HuffmanTable,
                                     into output: inout [UInt8], start: Int) throws {
        while true {
            let symbol = try decode(literals)
            if symbol < 256 {
                guard output.count - start < maxOutput else { throw fail("output exceeds \(maxOutput) bytes") }
                output.append(UInt8(symbol))
                continue
            }
            if symbol == 256 { return }
            let li = symbol - 257
            guard li < 29 else { throw fail("invalid length symbol \(symbol)") }
            let length = Self.lengthBase[li] + (try bits(Self.lengthExtra[li]))
            let di = try decode(distances)
            guard di < 30 else { throw fail("invalid distance symbol \(di)") }
            let distance = Self.distanceBase[di] + (try bits(Self.distanceExtra[di]))
            guard distance <= output.count - start else { throw fail("distance \(distance) reaches before the start of the data") }
            guard output.count - start + length <= maxOutput else { throw fail("output exceeds \(maxOutput) bytes") }
            var from = output.count - distance
            // Byte by byte: a copy may overlap the bytes it is producing (distance < length).
            for _ in 0..<length {
                output.append(output[from])
                from += 1
            }
        }
    }
}
