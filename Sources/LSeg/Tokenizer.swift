import Glibc
import Runtime

/// CLIP's byte-level BPE tokenizer (OpenAI CLIP's SimpleTokenizer, as open_clip ships it):
/// clean the text, split it with CLIP's pattern, map UTF-8 bytes to printable characters,
/// apply the merges, look the pieces up. 49408 ids: 256 bytes, 256 bytes + "</w>", 48894
/// merges, then start-of-text 49406 and end-of-text 49407.
public final class Tokenizer: @unchecked Sendable {
    public static let startOfText: Int64 = 49406
    public static let endOfText: Int64 = 49407
    public static let defaultContextLength = 77
    /// Merge lines CLIP uses: lines 1 ..< 49152 - 256 - 2 + 1 of the file (line 0 is a header).
    public static let mergeCount = 49152 - 256 - 2

    /// Token string -> id.
    public let encoder: [String: Int32]
    public var vocabularySize: Int { encoder.count }

    private let byteSymbols: [Int32]          // byte -> id of its printable character
    private let byteEndSymbols: [Int32]       // byte -> id of that character + "</w>"
    private let merges: [UInt64: (rank: Int32, merged: Int32)]  // (left id, right id) -> rank and result
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = PThreadLock()
    private static let cacheLimit = 100_000

    /// Builds the tokenizer from the merges file: plain text, or gzip data (`.txt.gz`).
    public convenience init(mergesFileData data: [UInt8], name: String = "bpe vocabulary") throws {
        let bytes = Inflate.isGzip(data) ? try Inflate.gunzip(data, name: name) : data
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LSegError.vocabulary(file: name, what: "merges file is not valid UTF-8")
        }
        try self.init(mergesText: text, name: name)
    }

    /// Reads the merges file at `path` (plain or gzip).
    public convenience init(mergesFile path: String) throws {
        guard let data = FileIO.contents(atPath: path) else {
            throw LSegError.io(file: path, what: "cannot read the BPE merges file")
        }
        try self.init(mergesFileData: data, name: path)
    }

    public init(mergesText text: String, name: String = "bpe vocabulary") throws {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count > Self.mergeCount else {
            throw LSegError.vocabulary(file: name, what: "has \(lines.count) lines, CLIP needs a header and \(Self.mergeCount) merges")
        }
        let byteChars = Self.byteToUnicode()
        var vocabulary: [String] = []
        vocabulary.reserveCapacity(49408)
        let byteOrder = Self.byteOrder()
        for b in byteOrder { vocabulary.append(byteChars[b]) }
        for b in byteOrder { vocabulary.append(byteChars[b] + "</w>") }
        var pairs: [(Substring, Substring)] = []
        pairs.reserveCapacity(Self.mergeCount)
        for (n, line) in lines[1...Self.mergeCount].enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw LSegError.vocabulary(file: name, what: "line \(n + 2) is not a pair of symbols: '\(line.prefix(40))'")
            }
            pairs.append((parts[0], parts[1]))
            vocabulary.append(String(parts[0] + parts[1]))
        }
        vocabulary.append("<|startoftext|>")
        vocabulary.append("<|endoftext|>")
        var encoder: [String: Int32] = [:]
        encoder.reserveCapacity(vocabulary.count)
        // Later entries win on duplicates, as with Python's dict(zip(vocab, ids)).
        for (id, token) in vocabulary.enumerated() { encoder[token] = Int32(id) }
        self.encoder = encoder
        byteSymbols = (0..<256).map { encoder[byteChars[$0]]! }
        byteEndSymbols = (0..<256).map { encoder[byteChars[$0] + "</w>"]! }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(pairs.count)
        for (rank, (a, b)) in pairs.enumerated() {
            // Merging works on ids, which is exact because every symbol is itself a vocabulary entry.
            guard let left = encoder[String(a)], let right = encoder[String(b)], let merged = encoder[String(a + b)] else {
                throw LSegError.vocabulary(file: name, what: "merge \(rank) ('\(a) \(b)') uses a symbol that is not in the vocabulary")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.merges = merges
    }

    /// Bytes in the order CLIP lists them: printable ones first, then the rest.
    private static func byteOrder() -> [Int] {
        let printable = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
        let printableSet = Set(printable)
        return printable + (0..<256).filter { !printableSet.contains($0) }
    }

    /// CLIP's byte -> printable character table: printable Latin-1 bytes map to themselves, the
    /// others to U+0100 onwards, so BPE never sees whitespace or control characters.
    static func byteToUnicode() -> [String] {
        let printable = Set(Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF))
        var table = [String](repeating: "", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if printable.contains(b) {
                table[b] = String(Character(Unicode.Scalar(UInt32(b))!))
            } else {
                table[b] = String(Character(Unicode.Scalar(next)!))
                next += 1
            }
        }
        return table
    }

    /// Token ids for one text, without start/end tokens.
    public func encode(_ text: String) -> [Int64] {
        var ids: [Int64] = []
        for piece in Self.pretokenize(TextCleaning.clean(text)) {
            // OpenAI's CLIP spells the special tokens <|startoftext|>, open_clip <start_of_text>;
            // either, typed in a label, is the special token.
            if piece == "<|startoftext|>" || piece == "<start_of_text>" { ids.append(Self.startOfText); continue }
            if piece == "<|endoftext|>" || piece == "<end_of_text>" { ids.append(Self.endOfText); continue }
            for id in bpe(piece) { ids.append(Int64(id)) }
        }
        return ids
    }

    /// CLIP's input: for each text, start-of-text, the ids, end-of-text, zero padding to
    /// `contextLength`. Longer texts are cut and end with end-of-text (open_clip's behaviour).
    public func tokenize(_ texts: [String], contextLength: Int = defaultContextLength) -> [[Int64]] {
        texts.map { text in
            var ids = [Self.startOfText] + encode(text) + [Self.endOfText]
            if ids.count > contextLength {
                ids.removeLast(ids.count - contextLength)
                if contextLength > 0 { ids[contextLength - 1] = Self.endOfText }
            }
            return ids + [Int64](repeating: 0, count: contextLength - ids.count)
        }
    }

    /// BPE of one pre-token, memoised.
    func bpe(_ piece: String) -> [Int32] {
        cacheLock.lock()
        if let hit = cache[piece] { cacheLock.unlock(); return hit }
        cacheLock.unlock()
        let bytes = Array(piece.utf8)
        guard !bytes.isEmpty else { return [] }
        var word = bytes.map { byteSymbols[Int($0)] }
        word[word.count - 1] = byteEndSymbols[Int(bytes[bytes.count - 1])]
        while word.count > 1 {
            var best: (rank: Int32, merged: Int32, left: Int32, right: Int32)? = nil
            for i in 0..<(word.count - 1) {
                let key = UInt64(UInt32(word[i])) << 32 | UInt64(UInt32(word[i + 1]))
                if let m = merges[key], best == nil || m.rank < best!.rank {
                    best = (m.rank, m.merged, word[i], word[i + 1])
                }
            }
            guard let merge = best else { break }
            var next: [Int32] = []
            next.reserveCapacity(word.count)
            var i = 0
            while i < word.count {
                if i + 1 < word.count && word[i] == merge.left && word[i + 1] == merge.right {
                    next.append(merge.merged)
                    i += 2
                } else {
                    next.append(word[i])
                    i += 1
                }
            }
            word = next
        }
        cacheLock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[piece] = word
        cacheLock.unlock()
        return word
    }

    /// CLIP's pattern `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
    /// (case-insensitive), matched over Unicode scalars by hand.
    static func pretokenize(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var pieces: [String] = []
        func isLetter(_ c: Unicode.Scalar) -> Bool {
            switch c.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
            default: return false
            }
        }
        func isNumber(_ c: Unicode.Scalar) -> Bool {
            switch c.properties.generalCategory {
            case .decimalNumber, .letterNumber, .otherNumber: return true
            default: return false
            }
        }
        func isSpace(_ c: Unicode.Scalar) -> Bool { TextCleaning.isPythonSpace(c) }
        func matches(_ literal: String, at i: Int) -> Bool {
            let l = Array(literal.unicodeScalars)
            guard s.count - i >= l.count else { return false }
            for k in 0..<l.count where String(s[i + k]).lowercased() != String(l[k]) { return false }
            return true
        }
        let literals = ["<|startoftext|>", "<|endoftext|>", "<start_of_text>", "<end_of_text>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
        var i = 0
        while i < s.count {
            let c = s[i]
            if isSpace(c) { i += 1; continue }
            if c == "<" || c == "'", let literal = literals.first(where: { matches($0, at: i) }) {
                let n = literal.unicodeScalars.count
                pieces.append(String(String.UnicodeScalarView(s[i..<(i + n)])))
                i += n
                continue
            }
            var j = i + 1
            if isLetter(c) {
                while j < s.count && isLetter(s[j]) { j += 1 }
            } else if !isNumber(c) {
                while j < s.count && !isSpace(s[j]) && !isLetter(s[j]) && !isNumber(s[j]) { j += 1 }
            }
            pieces.append(String(String.UnicodeScalarView(s[i..<j])))
            i = j
        }
        return pieces
    }
}
