import ArgumentParser

@main
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lseg-quantize")
    func run() throws { print("not yet") }
}
