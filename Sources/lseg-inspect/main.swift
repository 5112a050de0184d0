// Entry point; the command is InspectCommand.swift.
Inspect.main()
