import Convert

/// The ops `--ops` lists: ONNX op type and the opsets the converter accepts it at.
func supportedOpsTable() -> [(op: String, note: String)] {
    let newest = ONNXImporter.supportedOpsets.upperBound
    var rows = ONNXImporter.supportedOps.map { (op: $0.opType, note: "opset \($0.since)-\(newest)") }
    rows.append((op: "Constant", note: "opset \(ONNXImporter.supportedOpsets.lowerBound)-\(newest) (becomes an initializer)"))
    return rows.sorted { $0.op < $1.op }
}
