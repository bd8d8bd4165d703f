"""What the suite's local stacks change from the template to save CPU, never to change behaviour."""

# The IVR check reads the clone's record every 0.25 s while a caller waits, not every 0.06 s: the
# same answers for a quarter of the reads. On 2 cores the suite is CPU-bound, and these reads were
# most of its AWS calls (moto's GetItem: 2,764 of 8,207 requests in the e2e, fault and CLI tests).
# `make bench` measures the readiness lag with the template's 0.06 s.
FEWER_IVR_READS = {"IVR_MAX_POLL_SECONDS": "0.25"}
