"""Shared pytest configuration."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a test that takes more than about a second")
