"""Parametrizes the shared recipe tests of ``recipe_card.py`` by the tables of the
module that imports them."""

# test name -> (its parameters, the module's table of them)
SHARED_TESTS = {
    "test_stage_constants_are_the_papers": ("config, card", "CARDS"),
    "test_each_stage_starts_from_the_previous_stage": ("config, previous", "CHAIN"),
    "test_first_stage_without_its_initial_weights_names_the_file": ("config, weights", "INITIAL_WEIGHTS"),
}


def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ in SHARED_TESTS:
        names, table = SHARED_TESTS[metafunc.function.__name__]
        rows = sorted(getattr(metafunc.module, table).items())
        metafunc.parametrize(names, rows, ids=[config for config, _ in rows])
