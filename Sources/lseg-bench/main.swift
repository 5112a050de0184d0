import ArgumentParser

@main
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lseg-bench")
    func run() throws { print("not yet") }
}
