"""``raie`` subcommands that talk to Kafka, registered through the ``raie.commands`` entry points.

Each module imports kafka only inside its handler, so that building the
``raie`` parser (for any command) stays fast and works without a broker.
"""
