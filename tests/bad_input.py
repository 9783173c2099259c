"""The one test of a table of bad inputs, shared by the test modules that keep such a table: each case's call
raises a ValueError whose message matches the case's pattern (it names the argument and what was wrong)."""

import pytest


def bad_input_test(cases: dict):
    """A test parametrized over `cases` (name -> (call, message pattern)); assign it to a test_* name."""

    @pytest.mark.parametrize("case", cases)
    def test(case):
        call, match = cases[case]
        with pytest.raises(ValueError, match=match):
            call()

    return test
