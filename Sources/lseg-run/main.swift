import ArgumentParser

@main
struct Main: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lseg-run")
    func run() throws { print("not yet") }
}
