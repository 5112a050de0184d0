import Glibc

// lseg-run's own command-line parsing: swift-argument-parser imports Foundation, which would put
// FoundationEssentials (about 4 MB) back into the static device binary. Help follows that
// library's layout so the CLIs look alike.

/// One option of a subcommand: `--name <value>` (or a flag when `valueName` is nil).
struct OptionSpec {
    var name: String
    var short: Character? = nil
    var valueName: String? = nil
    var help: String
    /// Shown as "(default: ...)" after the help.
    var defaultText: String? = nil
    /// May be given more than once (values are collected in order).
    var repeats = false
    /// Must be given.
    var required = false

    var isFlag: Bool { valueName == nil }
    var usage: String {
        var s = "--\(name)"
        if let valueName { s += " <\(valueName)>" }
        if repeats { s += " ..." }
        return required ? s : "[\(s)]"
    }
    var label: String {
        var s = short.map { "-\($0), " } ?? ""
        s += "--\(name)"
        if let valueName { s += " <\(valueName)>" }
        return s
    }
}

/// A positional argument; a variadic one takes all remaining positionals (at least one).
struct PositionalSpec {
    var name: String
    var help: String
    var variadic = false
}

struct CommandSpec {
    var name: String
    var abstract: String
    var discussion: String? = nil
    var positionals: [PositionalSpec] = []
    var options: [OptionSpec] = []
}

/// A command-line mistake: printed as one line, exit code 64 (EX_USAGE, as swift-argument-parser).
struct UsageError: Error, CustomStringConvertible {
    var description: String
}

/// What a subcommand was given.
struct ParsedArguments {
    var positionals: [String: [String]] = [:]
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    func positional(_ name: String) -> String { positionals[name]?.first ?? "" }
    func positionalList(_ name: String) -> [String] { positionals[name] ?? [] }
    func string(_ name: String) -> String? { values[name]?.last }
    func strings(_ name: String) -> [String] { values[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let v = Int(text) else { throw UsageError(description: "the value '\(text)' is invalid for --\(name) (want an integer)") }
        return v
    }

    func float(_ name: String) throws -> Float? {
        guard let text = string(name) else { return nil }
        guard let v = Float(text), v.isFinite else { throw UsageError(description: "the value '\(text)' is invalid for --\(name) (want a number)") }
        return v
    }
}

enum ArgumentParsing {
    static let helpOption = OptionSpec(name: "help", short: "h", help: "Show help information.")

    /// Parses a subcommand's arguments; nil when help was asked for.
    static func parse(_ args: [String], for spec: CommandSpec) throws -> ParsedArguments? {
        var parsed = ParsedArguments()
        var loose: [String] = []
        var i = 0
        var optionsEnded = false
        while i < args.count {
            let a = args[i]
            i += 1
            if optionsEnded || a == "-" || !a.hasPrefix("-") || Double(a) != nil {
                loose.append(a)
                continue
            }
            if a == "--" { optionsEnded = true; continue }
            if a == "-h" || a == "--help" { return nil }
            var name: String
            var inline: String?
            if a.hasPrefix("--") {
                name = String(a.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
            } else {
                guard a.count == 2, let o = spec.options.first(where: { $0.short == a.last }) else {
                    throw UsageError(description: "unknown option '\(a)'")
                }
                name = o.name
            }
            guard let option = spec.options.first(where: { $0.name == name }) else {
                throw UsageError(description: "unknown option '\(a)'")
            }
            if option.isFlag {
                guard inline == nil else { throw UsageError(description: "--\(name) takes no value") }
                parsed.flags.insert(name)
                continue
            }
            let value: String
            if let inline {
                value = inline
            } else {
                // The next argument is the value unless it is another option.
                guard i < args.count, !args[i].hasPrefix("-") || args[i] == "-" || Double(args[i]) != nil else {
                    throw UsageError(description: "missing value for '--\(name) <\(option.valueName!)>'")
                }
                value = args[i]
                i += 1
            }
            if !option.repeats, parsed.values[name] != nil {
                throw UsageError(description: "--\(name) is given more than once")
            }
            parsed.values[name, default: []].append(value)
        }
        for p in spec.positionals {
            if p.variadic {
                guard !loose.isEmpty else { throw UsageError(description: "missing expected argument '<\(p.name)> ...'") }
                parsed.positionals[p.name] = loose
                loose = []
            } else {
                guard !loose.isEmpty else { throw UsageError(description: "missing expected argument '<\(p.name)>'") }
                parsed.positionals[p.name] = [loose.removeFirst()]
            }
        }
        if let extra = loose.first { throw UsageError(description: "unexpected argument '\(extra)'") }
        for o in spec.options where o.required && parsed.values[o.name] == nil {
            throw UsageError(description: "missing expected argument '--\(o.name) <\(o.valueName!)>'")
        }
        return parsed
    }

    static func usage(_ tool: String, _ spec: CommandSpec) -> String {
        var parts = ["\(tool) \(spec.name)"]
        parts += spec.positionals.map { $0.variadic ? "<\($0.name)> ..." : "<\($0.name)>" }
        parts += spec.options.map(\.usage)
        return parts.joined(separator: " ")
    }

    static func help(_ tool: String, _ spec: CommandSpec) -> String {
        var out = wrap("OVERVIEW: " + spec.abstract, width: 80, indent: 0) + "\n\n"
        if let d = spec.discussion { out += d + "\n\n" }
        out += "USAGE: \(usage(tool, spec))\n\n"
        if !spec.positionals.isEmpty {
            out += "ARGUMENTS:\n"
            for p in spec.positionals { out += row("<\(p.name)>", p.help) }
            out += "\n"
        }
        out += "OPTIONS:\n"
        for o in spec.options + [helpOption] {
            out += row(o.label, o.help + (o.defaultText.map { " (default: \($0))" } ?? ""))
        }
        return out
    }

    static func overview(_ tool: String, abstract: String, _ commands: [CommandSpec]) -> String {
        var out = wrap("OVERVIEW: " + abstract, width: 80, indent: 0) + "\n\n"
        out += "USAGE: \(tool) <subcommand>\n\nOPTIONS:\n" + row(helpOption.label, helpOption.help) + "\nSUBCOMMANDS:\n"
        for c in commands { out += row(c.name, c.abstract) }
        out += "\n  See '\(tool) help <subcommand>' for detailed help.\n"
        return out
    }

    /// "  label                  text", the text wrapped at 80 columns from column 26; a label too
    /// long for its column puts the text on the next line.
    static func row(_ label: String, _ text: String) -> String {
        let column = 26
        let head = "  " + label
        let body = wrap(text, width: 80 - column, indent: column)
        if head.count < column {
            let first = body.drop { $0 == " " }
            return head + String(repeating: " ", count: column - head.count) + first + "\n"
        }
        return head + "\n" + body + "\n"
    }

    /// `text` broken into lines of at most `width` characters, each indented by `indent` spaces.
    static func wrap(_ text: String, width: Int, indent: Int) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && line.count + 1 + word.count > width {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        let pad = String(repeating: " ", count: indent)
        return lines.map { pad + $0 }.joined(separator: "\n")
    }
}

/// Paths as Foundation's URL(fileURLWithPath:).path gave them, which lseg-run prints: absolute,
/// without "." components, ".." resolved, duplicate slashes collapsed.
enum PathText {
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let cwd = getcwd(&buffer, buffer.count).map { String(cString: $0) } ?? "."
        var parts: [Substring] = []
        for part in (cwd + "/" + path).split(separator: "/") {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `folder` + "/" + `name` (no doubled slash when `folder` ends in one).
    static func appending(_ name: String, to folder: String) -> String {
        folder.hasSuffix("/") ? folder + name : folder + "/" + name
    }

    /// The folder holding `path` ("/a/b" -> "/a").
    static func parent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        return slash == p.startIndex ? "/" : String(p[..<slash])
    }

    static func lastComponent(_ path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }

    /// The last component without its extension ("a/b.png" -> "b").
    static func stem(_ path: String) -> String {
        let name = lastComponent(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }

    /// The extension of the last component, without the dot ("" if none).
    static func pathExtension(_ path: String) -> String {
        let name = lastComponent(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }
}
