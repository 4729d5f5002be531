pytest_plugins = [
    "tests.fixtures.tokens",
    "tests.fixtures.nats",
    "tests.fixtures.databases",
    "tests.fixtures.stops",
]
