#!/bin/sh
# The image's entrypoint, named as in AWS's images. SAM replaces it with its own aws-lambda-rie,
# which starts /var/runtime/bootstrap; run elsewhere it starts the bootstrap with the handler given.
exec /var/runtime/bootstrap "$@"
