import ArgumentParser

@main
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lseg-convert")
    func run() throws { print("not yet") }
}
