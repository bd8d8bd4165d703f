from tests.faults.conftest import fault_stack  # noqa: F401  (the stack these tests talk to)
