import Glibc

/// The text clean-up CLIP applies before tokenizing: a subset of ftfy.fix_text (entities,
/// ligatures, full-width forms, curly quotes, line breaks, control characters, NFC), then
/// html.unescape twice, whitespace collapsed, lower case. ftfy's mojibake repair is left out:
/// labels typed by a user are not double-encoded UTF-8.
public enum TextCleaning {
    /// The full clean-up, matching open_clip's `_clean_lower`.
    public static func clean(_ text: String) -> String {
        var t = fixText(text)
        t = unescapeHTML(unescapeHTML(t, requireSemicolon: false), requireSemicolon: false)
        t = collapseWhitespace(t)
        return t.lowercased()
    }

    /// The ftfy subset. Like ftfy, works line by line, repeats until nothing changes, and stops
    /// decoding entities from the first line holding a '<' on (it may be real HTML).
    static func fixText(_ text: String) -> String {
        var unescape = true
        var result = String.UnicodeScalarView()
        var segment = String.UnicodeScalarView()
        func flush() {
            if segment.isEmpty { return }
            var s = String(segment)
            if unescape && s.unicodeScalars.contains("<") { unescape = false }
            for _ in 0..<16 {  // ftfy loops to a fixed point; two rounds always suffice here
                let before = s
                if unescape { s = unescapeHTML(s, requireSemicolon: true) }
                s = canonicalComposition(fixCharacters(s))
                if s == before { break }
            }
            result.append(contentsOf: s.unicodeScalars)
            segment = String.UnicodeScalarView()
        }
        for scalar in text.unicodeScalars {
            segment.append(scalar)
            if scalar == "\n" { flush() }
        }
        flush()
        return String(result)
    }

    private static let ligatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{02BC}n", 0x01F1: "DZ", 0x01F2: "Dz", 0x01F3: "dz",
        0x01C4: "D\u{017D}", 0x01C5: "D\u{017E}", 0x01C6: "d\u{017E}", 0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj",
        0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi",
        0xFB04: "ffl", 0xFB05: "\u{017F}t", 0xFB06: "st",
    ]

    /// Per-character fixes: latin ligatures, full/half-width forms, curly quotes, line breaks,
    /// control characters.
    private static func fixCharacters(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = Array(s.unicodeScalars)[...]
        while let c = scalars.popFirst() {
            let v = c.value
            if let l = ligatures[v] {
                out.append(contentsOf: l.unicodeScalars)
            } else if v == 0x3000 {
                out.append(" ")
            } else if (0xFF01..<0xFFF0).contains(v) {
                out.append(contentsOf: (WidthForms.nfkc[v] ?? String(c)).unicodeScalars)
            } else if v == 0x02BC || (0x2018...0x201B).contains(v) {
                out.append("'")
            } else if (0x201C...0x201F).contains(v) {
                out.append("\"")
            } else if v == 0x0D {
                out.append("\n")
                if scalars.first == "\n" { scalars.removeFirst() }
            } else if v == 0x2028 || v == 0x2029 || v == 0x85 {
                out.append("\n")
            } else if v < 0x09 || v == 0x0B || (0x0E..<0x20).contains(v) || v == 0x7F || (0x206A..<0x2070).contains(v)
                        || v == 0xFEFF || (0xFFF9..<0xFFFD).contains(v) {
                continue
            } else {
                out.append(c)
            }
        }
        return String(out)
    }

    /// NFC, by the Swift standard library's own normalizer (the one String comparison uses):
    /// FoundationEssentials has no precomposedStringWithCanonicalMapping, and the device build
    /// links no ICU.
    static func canonicalComposition(_ s: String) -> String {
        String(decoding: s._nfcCodeUnits, as: UTF8.self)
    }

    /// Labels split on ',' lose surrounding blanks as with Foundation's
    /// `trimmingCharacters(in: .whitespaces)`: tab and the space separators (category Zs).
    public static func trimmingBlanks<S: StringProtocol>(_ text: S) -> String {
        func isBlank(_ c: Unicode.Scalar) -> Bool { c == "\t" || c.properties.generalCategory == .spaceSeparator }
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !isBlank($0) }),
              let last = scalars.lastIndex(where: { !isBlank($0) }) else { return "" }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[first...last])
        return String(out)
    }

    /// Whitespace as Python's str.split() sees it: Unicode White_Space plus the separators 0x1C-0x1F.
    static func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }

    /// `" ".join(text.split())`.
    static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for c in text.unicodeScalars {
            if isPythonSpace(c) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(c)
            }
        }
        return String(out)
    }

    /// Named entities decoded: the common ones (HTML5 has 2231; these cover what appears in
    /// labels and captions). Names marked legacy decode without a semicolon too, as in html.unescape.
    private static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": "\u{A0}", "copy": "\u{A9}",
        "reg": "\u{AE}", "trade": "\u{2122}", "hellip": "\u{2026}", "mdash": "\u{2014}", "ndash": "\u{2013}",
        "lsquo": "\u{2018}", "rsquo": "\u{2019}", "ldquo": "\u{201C}", "rdquo": "\u{201D}", "laquo": "\u{AB}",
        "raquo": "\u{BB}", "deg": "\u{B0}", "times": "\u{D7}", "divide": "\u{F7}", "middot": "\u{B7}",
        "bull": "\u{2022}", "euro": "\u{20AC}", "pound": "\u{A3}", "yen": "\u{A5}", "cent": "\u{A2}",
        "sect": "\u{A7}", "para": "\u{B6}", "shy": "\u{AD}", "iexcl": "\u{A1}", "iquest": "\u{BF}",
        "plusmn": "\u{B1}", "micro": "\u{B5}", "frac12": "\u{BD}", "frac14": "\u{BC}", "frac34": "\u{BE}",
        "eacute": "\u{E9}", "Eacute": "\u{C9}", "egrave": "\u{E8}", "agrave": "\u{E0}", "aacute": "\u{E1}",
        "uuml": "\u{FC}", "ouml": "\u{F6}", "auml": "\u{E4}", "Uuml": "\u{DC}", "Ouml": "\u{D6}", "Auml": "\u{C4}",
        "szlig": "\u{DF}", "ccedil": "\u{E7}", "ntilde": "\u{F1}", "oslash": "\u{F8}", "aring": "\u{E5}",
    ]
    private static let legacyEntities: Set<String> = [
        "amp", "lt", "gt", "quot", "nbsp", "copy", "reg", "deg", "times", "divide", "middot", "laquo", "raquo",
        "pound", "yen", "cent", "sect", "para", "shy", "iexcl", "iquest", "plusmn", "micro", "frac12", "frac14",
        "frac34", "eacute", "Eacute", "egrave", "agrave", "aacute", "uuml", "ouml", "auml", "Uuml", "Ouml",
        "Auml", "szlig", "ccedil", "ntilde", "oslash", "aring",
    ]
    /// html.unescape maps these numeric references (Windows-1252 bytes) to what was meant.
    private static let windows1252: [UInt32: UInt32] = [
        0x80: 0x20AC, 0x82: 0x201A, 0x83: 0x0192, 0x84: 0x201E, 0x85: 0x2026, 0x86: 0x2020, 0x87: 0x2021,
        0x88: 0x02C6, 0x89: 0x2030, 0x8A: 0x0160, 0x8B: 0x2039, 0x8C: 0x0152, 0x8E: 0x017D, 0x91: 0x2018,
        0x92: 0x2019, 0x93: 0x201C, 0x94: 0x201D, 0x95: 0x2022, 0x96: 0x2013, 0x97: 0x2014, 0x98: 0x02DC,
        0x99: 0x2122, 0x9A: 0x0161, 0x9B: 0x203A, 0x9C: 0x0153, 0x9E: 0x017E, 0x9F: 0x0178,
        0x00: 0xFFFD, 0x0D: 0x0D, 0x81: 0x81, 0x8D: 0x8D, 0x8F: 0x8F, 0x90: 0x90, 0x9D: 0x9D,
    ]

    /// Decodes character references like Python's html.unescape (`requireSemicolon: false`) or
    /// only the unambiguous ones ending in ';' like ftfy (`true`).
    static func unescapeHTML(_ text: String, requireSemicolon: Bool) -> String {
        let s = Array(text.unicodeScalars)
        guard s.contains("&") else { return text }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            guard s[i] == "&", i + 1 < s.count else { out.append(s[i]); i += 1; continue }
            if let (replacement, end) = reference(s, at: i, requireSemicolon: requireSemicolon) {
                out.append(contentsOf: replacement.unicodeScalars)
                i = end
            } else {
                out.append(s[i])
                i += 1
            }
        }
        return String(out)
    }

    /// The reference starting at `s[at]` == '&': its text and the index after it.
    private static func reference(_ s: [Unicode.Scalar], at start: Int, requireSemicolon: Bool) -> (String, Int)? {
        var i = start + 1
        if s[i] == "#" {
            i += 1
            var hex = false
            if i < s.count && (s[i] == "x" || s[i] == "X") { hex = true; i += 1 }
            let digitsStart = i
            var value: UInt64 = 0
            while i < s.count, let d = hex ? hexDigit(s[i]) : decDigit(s[i]) {
                value = min(value * (hex ? 16 : 10) + UInt64(d), 0x11_0000)  // clamp: anything larger is invalid anyway
                i += 1
            }
            guard i > digitsStart else { return nil }
            let hasSemicolon = i < s.count && s[i] == ";"
            if requireSemicolon && !hasSemicolon { return nil }
            if hasSemicolon { i += 1 }
            let v = UInt32(value)
            if let mapped = windows1252[v] { return (String(Character(Unicode.Scalar(mapped)!)), i) }
            if (0xD800...0xDFFF).contains(v) || v > 0x10FFFF { return ("\u{FFFD}", i) }
            if (0x01...0x08).contains(v) || v == 0x0B || (0x0E...0x1F).contains(v) || (0x7F...0x9F).contains(v)
                || (0xFDD0...0xFDEF).contains(v) || v & 0xFFFE == 0xFFFE {
                return ("", i)
            }
            return (String(Character(Unicode.Scalar(v)!)), i)
        }
        var name = ""
        while i < s.count, s[i].properties.isAlphabetic || decDigit(s[i]) != nil, name.unicodeScalars.count < 32 {
            name.unicodeScalars.append(s[i])
            i += 1
        }
        guard !name.isEmpty else { return nil }
        if i < s.count && s[i] == ";", let r = namedEntities[name] { return (r, i + 1) }
        if requireSemicolon { return nil }
        // Without ';', html.unescape takes the longest legacy name the text starts with.
        var prefix = name
        while prefix.count >= 2 {
            if legacyEntities.contains(prefix), let r = namedEntities[prefix] {
                return (r, start + 1 + prefix.unicodeScalars.count)
            }
            prefix.removeLast()
        }
        return nil
    }

    private static func decDigit(_ c: Unicode.Scalar) -> Int? {
        (48...57).contains(c.value) ? Int(c.value - 48) : nil
    }

    private static func hexDigit(_ c: Unicode.Scalar) -> Int? {
        switch c.value {
        case 48...57: return Int(c.value - 48)
        case 65...70: return Int(c.value - 55)
        case 97...102: return Int(c.value - 87)
        default: return nil
        }
    }
}
