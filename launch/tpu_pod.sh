#!/usr/bin/env bash
# `gans <args>` on every worker of a Cloud TPU VM pod slice, run from your workstation: each
# worker runs the same command and JAX finds the other workers from the TPU metadata.
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b launch/tpu_pod.sh train \
#       --config experiments/configs/dcgan_digits.py --workdir /mnt/shared/runs/dcgan
#
# Needs: the repository at $REPO_DIR (default ~/gans) on every worker with the package
# installed (`pip install -e .`), and a workdir that every worker mounts at the same path
# (Filestore/NFS). SIGTERM to the `python3 -m gans` process of any one worker (maintenance,
# preemption, or by hand) stops all of them at one agreed step with a checkpoint; run this
# again to resume. Ctrl-C here may end only the ssh sessions: stop a run with SIGTERM instead.
set -euo pipefail
: "${TPU_NAME:?set TPU_NAME to the TPU VM name}" "${ZONE:?set ZONE to its zone}"
REPO_DIR=${REPO_DIR:-'~/gans'}
command="cd $REPO_DIR && GANS_DISTRIBUTED=auto python3 -m gans $(printf '%q ' "$@")"
exec gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$command"
