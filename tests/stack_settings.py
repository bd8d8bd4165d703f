"""What the suite's local stacks change from the template to save CPU, never to change behaviour."""

from concurrent.futures import ThreadPoolExecutor

# The IVR check reads the clone's record every 0.25 s while a caller waits, not every 0.06 s: the
# same answers for a quarter of the reads. On 2 cores the suite is CPU-bound, and these reads were
# most of its AWS calls (moto's GetItem: 2,764 of 8,207 requests in the e2e, fault and CLI tests).
# `make bench` measures the readiness lag with the template's 0.06 s.
FEWER_IVR_READS = {"IVR_MAX_POLL_SECONDS": "0.25"}

# The functions a call reaches. StackOptions.provisioned warms every function of the template, the
# housekeeping too, which these stacks never run before their first schedule: each environment
# started for nothing is half a second of CPU.
CALL_FUNCTIONS = ("WebhookFunction", "IvrCheckFunction", "CloneWorkerFunction")


def warm(stack, function_ids=CALL_FUNCTIONS, count=1):
    """`count` warm environments for each of these functions of a started stack, started side by side
    (as StackOptions.provisioned does for every function), before the test makes its first call."""
    with ThreadPoolExecutor(len(function_ids)) as starter:
        list(starter.map(lambda function_id: stack.runtime.pools[function_id].provision(count), function_ids))
