import Glibc
import Runtime

/// Errors of the LSeg application layer; each names the file or input and what is wrong.
public enum LSegError: Error, CustomStringConvertible, Equatable {
    /// An image file could not be decoded or encoded.
    case image(file: String, what: String)
    /// An image's header asks for more pixels than allowed; nothing was allocated for it.
    case imageTooLarge(file: String, what: String)
    /// A .npy file is malformed or holds something we do not read.
    case npy(file: String, what: String)
    /// gzip or DEFLATE data is malformed.
    case compressedData(file: String, what: String)
    /// The BPE vocabulary (merges file) is malformed.
    case vocabulary(file: String, what: String)
    /// An argument given to a function is inconsistent (sizes, counts).
    case badArgument(String)
    case io(file: String, what: String)

    public var description: String {
        switch self {
        case .image(let file, let what): return "\(file): \(what)"
        case .imageTooLarge(let file, let what): return "\(file): \(what)"
        case .npy(let file, let what): return "\(file): \(what)"
        case .compressedData(let file, let what): return "\(file): \(what)"
        case .vocabulary(let file, let what): return "\(file): \(what)"
        case .badArgument(let what): return what
        case .io(let file, let what): return "\(file): \(what)"
        }
    }
}

extension LSegError {
    /// One line for a failed file operation: the system's text for the underlying errno when
    /// there is one.
    static func systemText(_ error: any Error) -> String {
        if let e = error as? FileIO.SystemError { return e.description }
        return String(describing: error)
    }
}
