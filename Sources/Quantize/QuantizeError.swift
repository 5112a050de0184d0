/// Errors of lseg-quantize: each names the file, node or tensor at fault.
public enum QuantizeError: Error, CustomStringConvertible, Equatable {
    case badArgument(String)
    case noCalibrationImages(folder: String)
    case badGraph(graph: String, node: String, what: String)
    case evaluation(String)

    public var description: String {
        switch self {
        case .badArgument(let s): return s
        case .noCalibrationImages(let folder): return "\(folder): no readable PNG or JPEG images found for calibration"
        case .badGraph(let graph, let node, let what): return "graph '\(graph)', node '\(node)': \(what)"
        case .evaluation(let s): return s
        }
    }
}
