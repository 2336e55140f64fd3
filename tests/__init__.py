"""drkit's test suite; a package so that `tests.s3fixtures` can be imported by conftest.py."""
