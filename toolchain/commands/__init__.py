"""One module per CLI verb. Each has ``add_parser(subparsers)`` and ``run(args) -> exit code``."""
COMMANDS = ["boards", "data", "train", "generate", "build", "flash", "ports", "validate", "profile", "learn", "adapt",
            "demo", "report", "fleet", "federate"]
