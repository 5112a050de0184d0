import ArgumentParser

@main
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lseg-inspect")
    func run() throws { print("not yet") }
}
