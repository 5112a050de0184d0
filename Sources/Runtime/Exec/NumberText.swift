import Glibc

/// Numbers as printf's `%.Nf` and `%.Ng` write them (through the C library's vsnprintf), in place
/// of Foundation's String(format:), which FoundationEssentials does not have. Only doubles pass
/// through C, so no format string can misread an argument.
public enum NumberText {
    /// `%.{digits}f`: fixed point with `digits` decimals (0...40).
    public static func fixed(_ value: Double, digits: Int) -> String {
        printf("%.*f", value, precision: digits)
    }

    /// `%.{significant}g`: the shorter of fixed and exponent notation, `significant` digits (1...40).
    public static func general(_ value: Double, significant: Int) -> String {
        printf("%.*g", value, precision: significant)
    }

    private static func printf(_ format: String, _ value: Double, precision: Int) -> String {
        let p = Int32(max(0, min(precision, 40)))
        // 40 digits of precision plus the integer part of the largest double (309 digits) fit.
        var buffer = [CChar](repeating: 0, count: 400)
        let n = withVaList([p, value]) { args in
            buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, args) }
        }
        guard n >= 0 else { return String(value) }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
