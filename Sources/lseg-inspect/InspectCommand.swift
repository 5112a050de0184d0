import ArgumentParser
import Foundation
import Runtime


struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lseg-inspect",
        abstract: "Show what a .pack holds: metadata, graphs, op counts and tensors.")

    @Argument(help: "The .pack file to inspect.")
    var pack: String?

    @Flag(help: "Print the same information as JSON, for scripts.")
    var json = false

    @Flag(help: "Also decode every tensor and verify every checksum.")
    var verify = false

    @Flag(help: "List the ops the converter supports instead of inspecting a pack.")
    var ops = false

    func run() throws {
        do {
            if ops {
                printOps()
                return
            }
            guard let pack else { throw ValidationError("give a .pack file, or --ops") }
            let url = URL(fileURLWithPath: pack)
            let info = try Pack.readDirectory(url.path)
            if verify {
                _ = try Pack.read(url.path)
                try Pack.verifyGraphs(info, file: pack)
            }
            let report = InspectReport(file: pack, info: info, verified: verify)
            if json {
                print(try report.json())
            } else {
                print(report.text(), terminator: "")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("lseg-inspect: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    private func printOps() {
        let table = supportedOpsTable()
        if json {
            let rows = table.map { ["op": $0.op, "note": $0.note] }
            if let data = try? JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        let width = table.map(\.op.count).max() ?? 0
        for row in table {
            print(row.note.isEmpty ? row.op : row.op.padding(toLength: width + 2, withPad: " ", startingAt: 0) + row.note)
        }
    }
}
