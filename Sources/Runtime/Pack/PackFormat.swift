/// Byte layout constants of the pack container (formats/PACK.md is the spec; keep them in step).
enum PackFormat {
    static let magic: [UInt8] = Array("LSEGPACK".utf8)
    /// The newest major this code reads and writes. Major 2 = 1.x plus graphs whose Conv/QConv
    /// carry fused `preActivation` / `residual` attributes, which a 1.x reader would ignore (it skips
    /// unknown JSON keys) and so run a different graph; a pack without them is written as 1.x.
    static let major: UInt16 = 2
    static let oldestMajor: UInt16 = 1
    /// The newest minor this code reads and writes (written only when a pack needs it).
    static let minor: UInt16 = 1
    /// Size of the header this version writes; readers accept larger headers from later minors.
    static let headerSize = 128
    /// Headers larger than this are refused, so a corrupt size cannot make a reader hash gigabytes.
    static let maxHeaderSize = 4096
    static let alignment = 64

    // Header field offsets.
    static let majorOffset = 8
    static let minorOffset = 10
    static let headerSizeOffset = 12
    static let fileSizeOffset = 16
    static let dataOffsetOffset = 24
    static let dataSizeOffset = 32
    static let directoryOffsetOffset = 40
    static let directorySizeOffset = 48
    static let tensorCountOffset = 56
    static let graphOffsetOffset = 64
    static let graphStoredSizeOffset = 72
    static let graphRawSizeOffset = 80
    static let directoryChecksumOffset = 88
    static let graphChecksumOffset = 96
    static let headerChecksumOffset = 104

    /// Fixed part of a directory entry, before dims, name and quantization parameters.
    static let entryFixedSize = 48
    static let maxRank = 64
    /// Bounds for sizes read from a file before anything is allocated from them.
    static let maxNameLength = 1 << 16
    static let maxQuantCount = 1 << 24
    static let maxGraphRawSize = 1 << 30

    // Entry flag bits.
    static let flagQuant: UInt8 = 1
    static let flagQuantAxis: UInt8 = 2

    /// Rounds up to the blob alignment; nil on overflow.
    static func aligned(_ n: Int) -> Int? {
        let (s, o) = n.addingReportingOverflow(alignment - 1)
        return o ? nil : s & ~(alignment - 1)
    }
}

/// How a tensor's bytes are stored.
public enum PackCodec: UInt8, Sendable, Codable, CustomStringConvertible {
    /// Stored as is; can be mapped straight from the file.
    case raw = 0
    /// One zstd frame (with content size and content checksum).
    case zstd = 1
    /// Byte-shuffled by element width, then one zstd frame.
    case shuffleZstd = 2
    /// Byte-shuffled by element width; each byte plane then stored raw or as its own zstd frame
    /// (formats/PACK.md, "Byte planes"). Pack 1.1 on.
    case planes = 3

    public var description: String {
        switch self {
        case .raw: return "raw"
        case .zstd: return "zstd"
        case .shuffleZstd: return "shuffle+zstd"
        case .planes: return "planes"
        }
    }
}

/// One directory entry: where a tensor's bytes are and how they are stored.
public struct PackTensorEntry: Sendable, Equatable, Codable {
    /// Unique in the pack: `<graph>/<initializer>`.
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var quant: QuantParams?
    /// Absolute file offset, a multiple of 64.
    public var offset: Int
    public var storedSize: Int
    public var rawSize: Int
    public var codec: PackCodec
    /// XXH64 (seed 0) of the stored bytes.
    public var checksum: UInt64
}

/// A graph as the graph section stores it: structure only; weights are named directory entries.
public struct PackGraphRecord: Sendable, Codable {
    public var name: String
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var nodes: [Node]
    public var valueInfo: [String: ValueInfo]
    /// Initializer name -> directory entry name.
    public var initializers: [String: String]

    /// Node counts per op type, sorted by name.
    public var opHistogram: [(String, Int)] {
        Graph(name: name, nodes: nodes).opHistogram
    }
}

/// The graph section's content (zstd-compressed JSON with sorted keys).
struct PackGraphSection: Codable {
    var metadata: Metadata
    var graphs: [PackGraphRecord]
}

/// What a pack holds, read without decoding any tensor.
public struct PackInfo: Sendable {
    public var majorVersion: Int
    public var minorVersion: Int
    public var fileSize: Int
    public var metadata: Metadata
    public var graphs: [PackGraphRecord]
    public var tensors: [PackTensorEntry]
    /// Stored and decoded bytes of the graph section.
    public var graphSectionStoredSize: Int
    public var graphSectionRawSize: Int

    public var storedTensorBytes: Int { tensors.reduce(0) { $0 + $1.storedSize } }
    public var rawTensorBytes: Int { tensors.reduce(0) { $0 + $1.rawSize } }
}
